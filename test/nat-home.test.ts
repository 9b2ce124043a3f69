/**
 * Home nodes behind NAT (docs/NODE.md "Behind NAT"), in network namespaces: mail both ways
 * between two home nodes that only ever dial out to public relays, and mail to a recipient
 * whose node is down while one of the two relays is down too.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ADDRESS } from './helpers/netns.js'
import { CLIENT_PORT, latencies, MailNet, percentiles, tally } from './helpers/nat-net.js'
import { needsRoot } from './helpers/root.js'

const skip = needsRoot('ip', 'iptables', 'ss')
const N = 20
const DELIVERY_MS = 90_000

const texts = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix} ${i}`)

test('two NATed home nodes exchange mail through the relays only, never connected to each other, accepting nothing from the internet', { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await Promise.all([alice.watch(), bob.watch()])
    alice.command({ op: 'send', to: 'bob', prefix: 'a2b', count: N })
    bob.command({ op: 'send', to: 'alice', prefix: 'b2a', count: N })
    await bob.until(`${N} messages from alice`, () => bob.received().length >= N ? true : undefined, DELIVERY_MS)
    await alice.until(`${N} messages from bob`, () => alice.received().length >= N ? true : undefined, DELIVERY_MS)
    for (const [d, prefix] of [[bob, 'a2b'], [alice, 'b2a']] as const) {
      const got = await d.inbox()
      const t = tally(texts(prefix, N), got)
      assert.deepEqual(t, { missing: [], duplicated: [] }, `${d.user}: every message exactly once`)
      assert.equal(got.length, N)
    }

    // who each home node ever connected to: the relays, never the other home node
    const relays = new Set([net.info('relay1').peerId, net.info('relay2').peerId])
    for (const [home, other] of [['home1', 'home2'], ['home2', 'home1']] as const) {
      const peers = net.connectedPeers(home)
      assert.ok(peers.size > 0, `${home} logged its connections`)
      assert.ok(!peers.has(net.info(other).peerId), `${home} never connected to ${other}`)
      for (const p of peers) assert.ok(relays.has(p), `${home} connected only to relays, not ${p}`)
      const remote = net.bed.peersOf(home).filter(a => a !== '127.0.0.1')
      for (const a of remote) assert.ok(a === ADDRESS.relay1 || a === ADDRESS.relay2, `${home}'s TCP connections go to relays only, not ${a}`)
      const listening = net.bed.exec(home, ['ss', '-tlnH']).split('\n').filter(l => l.trim() !== '').map(l => l.trim().split(/\s+/)[3])
      assert.deepEqual(listening, [`127.0.0.1:${CLIENT_PORT}`], `${home} listens only for its devices`)
    }
    // a connection attempt from the internet to a home router goes nowhere
    const probe = net.bed.exec('relay1', [process.execPath, '-e',
      `const s=require('net').connect(${CLIENT_PORT},'${ADDRESS.router1}');s.setTimeout(1500,()=>{console.log('timeout');process.exit(0)});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)})`]).trim()
    assert.equal(probe, 'timeout')
    assert.ok(net.bed.refusedInbound('router1') > 0, 'router1 dropped the attempt')

    const latency = latencies(alice, bob)
    const { p50, p99 } = percentiles(latency)
    console.log(`# home to home, no faults: ${N} + ${N} sent, ${N} + ${N} delivered, 0 lost, 0 duplicated; alice→bob latency p50 ${p50} ms, p99 ${p99} ms; peak RSS MiB ${net.peakRss()}`)
  } finally {
    await net.destroy()
  }
})

test('mail to a home node that is down while one relay is down too arrives once both are back', { skip }, async () => {
  const net = await MailNet.create()
  try {
    const alice = net.device('alice')
    alice.command({ op: 'send', to: 'bob', prefix: 'warm', count: 1 })
    await alice.until('the first send', evs => evs.find(e => e.ev === 'sent'), 60_000)
    await net.stop('home2')
    await net.stop('relay2')
    alice.command({ op: 'send', to: 'bob', prefix: 'offline', count: N })
    await alice.until(`${N} acknowledgements`, evs => evs.filter(e => e.ev === 'sent').length >= 2 ? true : undefined, DELIVERY_MS)
    assert.equal(alice.acks().length, N + 1)
    await net.start('relay2')
    await net.start('home2')
    const bob = net.device('bob')
    const expected = ['warm 0', ...texts('offline', N)]
    const got = await bob.inboxWith(expected, DELIVERY_MS)
    assert.deepEqual(tally(expected, got), { missing: [], duplicated: [] }, 'every message exactly once')
    assert.equal(got.length, N + 1)
    console.log(`# offline recipient and relay2 down: ${N + 1} sent, ${N + 1} accepted, ${got.length} delivered, 0 lost, 0 duplicated; peak RSS MiB ${net.peakRss()}`)
  } finally {
    await net.destroy()
  }
})
