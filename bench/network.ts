/**
 * Benchmarks of whole networks of node processes on 127.0.0.1 (relays and home nodes): a new
 * pair's first message, the time until every pair of a 50-process network delivers, and an
 * idle node's CPU, memory and bytes sent. Each stops itself within bounded waits.
 */
import { nowMs, summary } from './stats.js'
import type { ScenarioResult } from './report.js'
import { newPair, type Pair } from './net.js'
import { NodeProcess, sleep, stopAll, waitFor } from './worker-client.js'

/** Node processes started at once. */
const START_BATCH = 4

interface Network { relays: NodeProcess[], homes: NodeProcess[] }

/**
 * Relays first (each bootstraps to the ones before it), then home nodes bootstrapped to every
 * relay, a few at a time; `onHome` runs as each home node has started.
 */
async function startNetwork (relayCount: number, homeCount: number, net: Network, onHome?: (home: NodeProcess, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < relayCount; i++) {
    const r = await NodeProcess.spawn('asmtp')
    net.relays.push(r)
    await r.start({ relay: true, bootstrap: net.relays.slice(0, i).map(x => x.addrs[0]) })
  }
  const bootstrap = net.relays.map(r => r.addrs[0])
  for (let i = 0; i < homeCount; i += START_BATCH) {
    await Promise.all(Array.from({ length: Math.min(START_BATCH, homeCount - i) }, async (_x, j) => {
      const h = await NodeProcess.spawn('asmtp')
      net.homes[i + j] = h
      await h.start({ bootstrap })
      await onHome?.(h, i + j)
    }))
  }
}

async function waitRelayConnected (homes: NodeProcess[], timeoutMs: number): Promise<void> {
  await Promise.all(homes.map(async h => {
    await waitFor(async () => (await h.call<{ relaysConnected: number }>('status')).relaysConnected > 0, timeoutMs, 'a home node found no relay', 200)
  }))
}

interface NetPair extends Pair { a: number, b: number }

function randomPairs (n: number, homes: number): NetPair[] {
  return Array.from({ length: n }, () => {
    const a = Math.floor(Math.random() * homes)
    let b = Math.floor(Math.random() * (homes - 1))
    if (b >= a) b++
    return { ...newPair(), a, b }
  })
}

/** 1 relay + 9 home nodes: from both nodes having registered a new topic to its first message delivered. */
export async function benchFirstMessage (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const net: Network = { relays: [], homes: [] }
  try {
    progress('first message: starting 1 relay and 9 home nodes')
    await startNetwork(1, 9, net)
    await waitRelayConnected(net.homes, 60_000)
    for (const h of net.homes) await h.call('report-each', { on: true })
    const pairs = randomPairs(quick ? 4 : 10, net.homes.length)
    const first: number[] = []
    const second: number[] = []
    for (const [k, p] of pairs.entries()) {
      progress(`first message: pair ${k + 1} of ${pairs.length}`)
      const [a, b] = [net.homes[p.a], net.homes[p.b]]
      await Promise.all([a, b].map(async n => { await n.call('join-many', { topics: [{ topic: p.topic, key: p.key }] }) }))
      const t0 = nowMs()
      const sent = await a.call<{ hash: string }>('publish-to', { ...p })
      first.push(await b.waitReceived(sent.hash, 30_000) - t0)
      const again = await a.call<{ hash: string, t: number }>('publish-to', { ...p })
      second.push(await b.waitReceived(again.hash, 10_000) - again.t)
    }
    const f = summary(first)
    const s = summary(second)
    return [{
      scenario: 'a new pair\'s first message, 10 nodes (1 relay + 9 home nodes)',
      unit: 'ms',
      ours: { median: f.median, p99: Math.max(...first) },
      baseline: { name: 'the same pair\'s second message', median: s.median, p99: Math.max(...second) },
      ratio: f.median / s.median,
      better: 'lower',
      target: '< 2000',
      notes: `${pairs.length} pairs one after another, from both registrations answered to the recipient node's match (publish, stamp and relay included; the "p99" column is the maximum): ${first.map(x => x.toFixed(0)).join(', ')} ms`
    }]
  } finally {
    await stopAll([...net.relays, ...net.homes])
  }
}

/** The version 1 figure: 50 processes, 100 pairs, all met after 134 s (docs/PERFORMANCE.md). */
const V1_SCALE_50_MS = 134_000
const SCALE_DELIVERY_TIMEOUT_MS = 240_000

/**
 * `size` node processes (3 relays, quick: 2), `pairCount` pairs of home nodes at random: from the
 * first spawn until every pair's first message is delivered (each pair sends once both of its
 * nodes started and registered), and the delivery ratio.
 */
export async function benchScale (size: number, pairCount: number, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const relayCount = size >= 25 ? 3 : 2
  const homeCount = size - relayCount
  const net: Network = { relays: [], homes: [] }
  const pairs = randomPairs(pairCount, homeCount)
  try {
    progress(`scale ${size}: starting ${relayCount} relays and ${homeCount} home nodes`)
    const t0 = nowMs()
    await startNetwork(relayCount, homeCount, net, async (h, i) => {
      await h.call('report-each', { on: true })
      const mine = pairs.filter(p => p.a === i || p.b === i).map(p => ({ topic: p.topic, key: p.key }))
      await h.call('join-many', { topics: mine })
    })
    const startedMs = nowMs() - t0
    progress(`scale ${size}: every pair sends one message`)
    const sent = await Promise.all(pairs.map(async p => await net.homes[p.a].call<{ hash: string, t: number }>('publish-to', { ...p })))
    const deadline = Date.now() + SCALE_DELIVERY_TIMEOUT_MS
    const arrivals = await Promise.all(pairs.map(async (p, k) => {
      try {
        return await net.homes[p.b].waitReceived(sent[k].hash, Math.max(0, deadline - Date.now()))
      } catch {
        return undefined
      }
    }))
    const delivered = arrivals.filter(t => t !== undefined)
    const lastMs = Math.max(...delivered) - t0
    const latency = summary(arrivals.flatMap((t, k) => t === undefined ? [] : [t - sent[k].t]))
    const rss = (await Promise.all([...net.relays, ...net.homes].map(async w => await w.call<number>('rss')))).sort((a, b) => a - b)
    if (delivered.length < pairCount) throw new Error(`scale ${size}: ${pairCount - delivered.length} of ${pairCount} first messages not delivered within ${SCALE_DELIVERY_TIMEOUT_MS / 1000} s`)
    return [{
      scenario: `scale: ${size} nodes, ${pairCount} pairs, start until every pair delivered`,
      unit: 'ms',
      ours: { median: lastMs, count: delivered.length },
      ...(size === 50 && pairCount === 100 ? { baseline: { name: 'version 1: 50 processes, 100 pairs, all pairs met after (docs/PERFORMANCE.md)', median: V1_SCALE_50_MS }, ratio: lastMs / V1_SCALE_50_MS, better: 'lower' as const } : {}),
      notes: `delivery ${delivered.length}/${pairCount}; ${relayCount} relays + ${homeCount} home nodes started (and registered) in ${(startedMs / 1000).toFixed(1)} s, 4 at a time; first-message latency after that p50 ${latency.median.toFixed(0)} ms, p99 ${latency.p99.toFixed(0)} ms; RSS per node median ${rss[Math.floor(rss.length / 2)].toFixed(0)} MB, max ${rss[rss.length - 1].toFixed(0)} MB`
    }]
  } finally {
    await stopAll([...net.relays, ...net.homes])
  }
}

interface IdleSample { cpu: { main: number, other: number }, socketBytes: number, t: number }

async function idleFigures (n: NodeProcess, begin: IdleSample): Promise<{ cpuPct: number, bytesPerS: number, rssMb: number }> {
  const end = await n.call<IdleSample>('stats')
  const ms = end.t - begin.t
  return {
    cpuPct: (((end.cpu.main + end.cpu.other) - (begin.cpu.main + begin.cpu.other)) * 100) / ms,
    bytesPerS: ((end.socketBytes - begin.socketBytes) * 1000) / ms,
    rssMb: await n.call<number>('rss')
  }
}

/**
 * An idle home node (met: a relay and the other node of its pair in its bucket, no traffic)
 * over a window, beside an idle bare gossipsub node of three on one topic, measured at once.
 */
export async function benchIdle (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const windowMs = quick ? 15_000 : 60_000
  const nodes: NodeProcess[] = []
  try {
    progress('idle: a relay and two home nodes of one pair; three bare gossipsub nodes')
    const [relay, a, b, x, y, z] = await Promise.all([...Array.from({ length: 3 }, async () => await NodeProcess.spawn('asmtp')), ...Array.from({ length: 3 }, async () => await NodeProcess.spawn('bare'))])
    nodes.push(relay, a, b, x, y, z)
    await relay.start({ relay: true })
    await Promise.all([a.start({ bootstrap: [relay.addrs[0]] }), b.start({ bootstrap: [relay.addrs[0]] })])
    const pair = newPair()
    for (const n of [a, b]) await n.call('join', { topic: pair.topic, key: pair.key })
    await x.start()
    await Promise.all([y.start({ bootstrap: [x.addrs[0]] }), z.start({ bootstrap: [x.addrs[0]] })])
    for (const n of [x, y, z]) await n.call('join', { topic: pair.topic, key: pair.key })
    await waitFor(async () => {
      const peers = await a.call<string[]>('bucket-peers')
      return peers.includes(relay.peerId) && (await relay.call<string[]>('bucket-peers', { topic: pair.topic })).includes(b.peerId)
    }, 60_000, 'idle: the pair never met in its bucket')
    await waitFor(async () => (await y.call<string[]>('bucket-peers')).includes(x.peerId), 60_000, 'idle: bare nodes never met')
    // let start-up work (catch-up, identify, DHT) settle before the window
    await sleep(3000)
    progress(`idle: measuring for ${windowMs / 1000} s`)
    const watched = [a, relay, y]
    const begin = await Promise.all(watched.map(async n => await n.call<IdleSample>('stats')))
    await sleep(windowMs)
    const [home, rel, base] = await Promise.all(watched.map(async (n, i) => await idleFigures(n, begin[i])))
    const text = (f: { cpuPct: number, bytesPerS: number, rssMb: number }): string => `CPU ${f.cpuPct.toFixed(2)}%, RSS ${f.rssMb.toFixed(0)} MB, ${f.bytesPerS.toFixed(0)} bytes/s sent`
    return [
      { scenario: `idle home node over ${windowMs / 1000} s: CPU`, unit: '% of a core', ours: { median: home.cpuPct }, baseline: { name: 'an idle bare gossipsub node of three on one topic, same window', median: base.cpuPct }, ratio: home.cpuPct / Math.max(0.01, base.cpuPct), better: 'lower', notes: `home node ${text(home)}; relay ${text(rel)}; bare ${text(base)} (process.cpuUsage; bytes written to TCP sockets)` },
      { scenario: `idle home node over ${windowMs / 1000} s: RSS`, unit: 'MB', ours: { median: home.rssMb }, baseline: { name: 'idle bare gossipsub node', median: base.rssMb }, ratio: home.rssMb / base.rssMb, better: 'lower' },
      { scenario: `idle home node over ${windowMs / 1000} s: bytes sent`, unit: 'bytes/s', ours: { median: home.bytesPerS }, baseline: { name: 'idle bare gossipsub node', median: base.bytesPerS }, ratio: home.bytesPerS / Math.max(1, base.bytesPerS), better: 'lower' }
    ]
  } finally {
    await stopAll(nodes)
  }
}
