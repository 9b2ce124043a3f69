/**
 * Crashes under load (docs/STORAGE.md "What survives"): the sender's and the recipient's home
 * nodes are each SIGKILLed at random moments of a 1,000-message burst and restarted, with
 * storage.sync at its default. Every message the sender's node acknowledged arrives once.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MailNet, tally, type NodeHost } from './helpers/nat-net.js'
import { needsRoot } from './helpers/root.js'

const skip = needsRoot('ip', 'iptables', 'ss')
const BURST = 1000
const KILLS_EACH = 3

test(`both home nodes SIGKILLed ${KILLS_EACH} times each during a ${BURST}-message burst: every acknowledged message arrives exactly once`, { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await bob.watch()
    alice.command({ op: 'send', to: 'bob', prefix: 'burst', count: BURST, retryMs: 120_000 })
    const victims: NodeHost[] = []
    for (let i = 0; i < KILLS_EACH; i++) victims.push('home1', 'home2')
    const kills: string[] = []
    for (const victim of victims) {
      // a random moment of the burst: after 5 to 40 more acknowledgements
      const target = alice.acks().length + 5 + Math.floor(Math.random() * 35)
      await alice.until(`${target} acknowledgements`, evs => evs.filter(e => e.ev === 'ack').length >= target || evs.some(e => e.ev === 'sent' || e.ev === 'error') ? true : undefined, 180_000)
      if (alice.events.some(e => e.ev === 'sent' || e.ev === 'error')) break
      await net.stop(victim, 'SIGKILL')
      kills.push(`${victim}@${alice.acks().length}`)
      await net.start(victim)
    }
    const done = await alice.until('the end of the burst', evs => evs.find(e => e.ev === 'sent' || e.ev === 'error'), 600_000)
    assert.equal(done.ev, 'sent', `every send was acknowledged in the end: ${done.error ?? ''}`)
    assert.equal(kills.length, 2 * KILLS_EACH, `kills: ${kills.join(', ')}`)
    const acked = [...new Set(alice.acks().map(a => a.text ?? ''))]
    assert.equal(acked.length, BURST)
    const got = await bob.inboxWith(acked, 180_000)
    const t = tally(acked, got)
    assert.deepEqual({ missing: t.missing.length, duplicated: t.duplicated.length }, { missing: 0, duplicated: 0 }, `missing ${t.missing.slice(0, 5).join(', ')}; duplicated ${t.duplicated.slice(0, 5).join(', ')}`)
    assert.equal(got.length, BURST)
    console.log(`# kill -9 under a burst: ${BURST} sent, ${acked.length} accepted (${done.retries ?? 0} sends retried), ${got.length} delivered, 0 lost, 0 duplicated; kills at ${kills.join(', ')}; peak RSS MiB ${net.peakRss()}`)
  } finally {
    await net.destroy()
  }
})

test('a home node SIGKILLed while cut off, with acknowledged mail not yet out, delivers all of it after restart and heal', { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await bob.watch()
    alice.command({ op: 'send', to: 'bob', prefix: 'warm', count: 1 })
    await bob.until('the first message', () => bob.received().length >= 1 ? true : undefined, 60_000)
    net.bed.partition('router1', true)
    // acknowledged, and held by the stem while its successor no longer answers
    alice.command({ op: 'send', to: 'bob', prefix: 'held', count: 20 })
    await alice.until('20 acknowledgements', () => alice.acks().length >= 21 ? true : undefined, 60_000)
    await net.stop('home1', 'SIGKILL')
    await net.start('home1')
    net.bed.partition('router1', false)
    const expected = ['warm 0', ...Array.from({ length: 20 }, (_, i) => `held ${i}`)]
    await bob.until('20 messages', () => bob.received().length >= 21 ? true : undefined, 90_000)
    const got = await bob.inbox()
    assert.deepEqual(tally(expected, got), { missing: [], duplicated: [] }, 'every acknowledged message exactly once')
    console.log(`# kill -9 during a cut: 20 sent, 20 accepted, 20 delivered, 0 lost, 0 duplicated; peak RSS MiB ${net.peakRss()}`)
  } finally {
    await net.destroy()
  }
})
