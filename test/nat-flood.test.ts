/**
 * A hostile peer on the internet floods the relays with junk frames (docs/NODE.md "Faults"):
 * bad stamps, and a share of well-stamped frames on random topics. The users' mail still gets
 * through, the flooder is scored down and disconnected, and every node's memory stays bounded.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { Device, latencies, MailNet, percentiles, tally, type NodeHost } from './helpers/nat-net.js'
import { needsRoot } from './helpers/root.js'

const skip = needsRoot('ip', 'iptables', 'ss')
const FLOODER = fileURLToPath(new URL('./helpers/flooder-main.js', import.meta.url))
const FLOOD_MS = 90_000
const N = 20
/** A bound far above what a node needs, far below what an unbounded queue reaches in a flood. */
const MAX_RSS_BYTES = 1024 * 1024 * 1024
const NODES: NodeHost[] = ['relay1', 'relay2', 'home1', 'home2']

test('a flood of junk frames: mail still arrives, the flooder is disconnected, memory stays bounded', { skip }, async () => {
  const net = await MailNet.create()
  const peak = new Map<NodeHost, number>()
  const sampler = setInterval(() => {
    for (const h of NODES) void net.rss(h).then(r => { peak.set(h, Math.max(peak.get(h) ?? 0, r)) })
  }, 500)
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await bob.watch()
    const flooder = new Device('alice', net.bed.spawn('inet', process.execPath, [FLOODER, `${net.relayAddr('relay1')},${net.relayAddr('relay2')}`, '4', '4', String(FLOOD_MS)]))
    const ready = await flooder.until('the flooder', evs => evs.find(e => e.ev === 'ready' || e.ev === 'fatal'), 60_000)
    assert.equal(ready.ev, 'ready', ready.error)
    const flooderId = ready.peerId ?? ''
    await flooder.until('the flood to start', evs => evs.some(e => e.ev === 'tick' && (e.sent ?? 0) > 100) ? true : undefined, 30_000)

    alice.command({ op: 'send', to: 'bob', prefix: 'flood', count: N })
    await bob.until(`${N} messages during the flood`, () => bob.received().length >= N ? true : undefined, 120_000)
    const got = await bob.inbox()
    assert.deepEqual(tally(Array.from({ length: N }, (_, i) => `flood ${i}`), got), { missing: [], duplicated: [] })

    await flooder.until('both relays to cut the flooder off', () =>
      net.disconnectedPeers('relay1').has(flooderId) && net.disconnectedPeers('relay2').has(flooderId) ? true : undefined, 60_000)
    const cutAt = flooder.events.length
    await flooder.until('the flooder to have no connection left', evs =>
      evs.slice(cutAt).some(e => (e.ev === 'tick' || e.ev === 'done') && e.connections === 0) ? true : undefined, 30_000)
    const latency = latencies(alice, bob)
    const { p50, p99 } = percentiles(latency)
    for (const h of NODES) assert.ok((peak.get(h) ?? 0) < MAX_RSS_BYTES, `${h} peak RSS ${peak.get(h)} bytes`)
    const mib = (h: NodeHost): string => ((peak.get(h) ?? 0) / 1048576).toFixed(0)
    console.log(`# flood: ${flooder.events.filter(e => e.ev === 'tick').at(-1)?.sent ?? 0} junk frames published; ${N} sent, ${N} delivered, 0 lost, 0 duplicated; latency p50 ${p50} ms, p99 ${p99} ms; peak RSS MiB relay1 ${mib('relay1')}, relay2 ${mib('relay2')}, home1 ${mib('home1')}, home2 ${mib('home2')}`)
  } finally {
    clearInterval(sampler)
    await net.destroy()
  }
})
