/**
 * Faults on the namespace testbed (docs/NODE.md "Faults"): a home cut off from the internet
 * while its user sends, and random loss on every link.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { latencies, MailNet, percentiles, tally } from './helpers/nat-net.js'
import { needsRoot } from './helpers/root.js'

const skip = needsRoot('ip', 'iptables', 'ss')
const CUT_MS = 30_000
/** The bound on delivery after a heal. */
const AFTER_HEAL_MS = 10_000

const texts = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i}`)

test(`a home router drops everything for ${CUT_MS / 1000} s while its user sends 50 messages: after the heal all arrive within ${AFTER_HEAL_MS / 1000} s, none twice`, { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await bob.watch()
    alice.command({ op: 'send', to: 'bob', prefix: 'before', count: 1 })
    await bob.until('the first message', () => bob.received().length >= 1 ? true : undefined, 60_000)

    const cutAt = Date.now()
    net.bed.partition('router1', true)
    alice.command({ op: 'send', to: 'bob', prefix: 'cut', count: 50 })
    await alice.until('50 acknowledgements during the cut', () => alice.acks().length >= 51 ? true : undefined, CUT_MS)
    assert.equal(bob.received().length, 1, 'nothing crossed the cut')
    // the cut lasts its full length, whatever the sends took
    await new Promise(resolve => setTimeout(resolve, Math.max(0, cutAt + CUT_MS - Date.now())))
    net.bed.partition('router1', false)
    const healAt = Date.now()
    await bob.until('50 messages after the heal', () => bob.received().length >= 51 ? true : undefined, 60_000)
    const lastAt = Math.max(...bob.received().map(m => m.at ?? 0))
    const afterHeal = lastAt - healAt
    const got = await bob.inbox()
    assert.deepEqual(tally(['before 0', ...texts('cut', 50)], got), { missing: [], duplicated: [] }, 'every message exactly once')
    assert.equal(got.length, 51)
    console.log(`# partition ${CUT_MS / 1000} s: 50 sent, 50 accepted, 50 delivered, 0 lost, 0 duplicated; the last arrived ${afterHeal} ms after the heal; peak RSS MiB ${net.peakRss()}`)
    assert.ok(afterHeal <= AFTER_HEAL_MS, `all arrived ${afterHeal} ms after the heal (bound ${AFTER_HEAL_MS} ms)`)
  } finally {
    await net.destroy()
  }
})

test('10% random loss on every link during 200 messages: all arrive, none twice', { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await bob.watch()
    net.bed.loss(0.1)
    alice.command({ op: 'send', to: 'bob', prefix: 'lossy', count: 200, retryMs: 120_000 })
    await alice.until('200 acknowledgements', evs => evs.find(e => e.ev === 'sent' || e.ev === 'error'), 300_000)
    await bob.until('200 messages', () => bob.received().length >= 200 ? true : undefined, 180_000)
    const got = await bob.inbox()
    assert.deepEqual(tally(texts('lossy', 200), got), { missing: [], duplicated: [] }, 'every message exactly once')
    assert.equal(got.length, 200)
    const latency = latencies(alice, bob)
    const { p50, p99 } = percentiles(latency)
    const retries = alice.events.find(e => e.ev === 'sent')?.retries ?? 0
    console.log(`# loss 10%: 200 sent, 200 accepted (${retries} sends retried), 200 delivered, 0 lost, 0 duplicated; latency p50 ${p50} ms, p99 ${p99} ms; peak RSS MiB ${net.peakRss()}`)
  } finally {
    await net.destroy()
  }
})

test('a home node finds the mesh again on its own after every relay restarts', { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await bob.watch()
    alice.command({ op: 'send', to: 'bob', prefix: 'first', count: 1 })
    await bob.until('the first message', () => bob.received().length >= 1 ? true : undefined, 60_000)

    await Promise.all([net.stop('relay1'), net.stop('relay2')])
    await Promise.all([net.start('relay1'), net.start('relay2')])
    const relaysBack = Date.now()
    alice.command({ op: 'send', to: 'bob', prefix: 'relays', count: 1 })
    await bob.until('mail after the relays restarted', () => bob.received().length >= 2 ? true : undefined, 60_000)
    const afterRelays = Date.now() - relaysBack

    const got = await bob.inbox()
    assert.deepEqual(tally(['first 0', 'relays 0'], got), { missing: [], duplicated: [] })
    console.log(`# relays restarted: mail resumed after ${afterRelays} ms; peak RSS MiB ${net.peakRss()}`)
  } finally {
    await net.destroy()
  }
})
