/**
 * Relay throughput across two node processes on 127.0.0.1 (docs/PERFORMANCE.md "Scenarios"):
 * 1 KiB frames stamped before the run go from a sender straight into gossipsub on the bucket
 * topic, as a relay forwards them, to a receiving node that checks, stores and matches each.
 * Baselines in the same run: bare gossipsub with one stamp check and one grouped LevelDB write
 * per message, and bare gossipsub alone. Also the one-hop latency, the receiver's heap growth
 * per message, and the opt-in steady-rate memory run.
 */
import { generateX25519, toHex } from '../src/index.js'
import { deriveTopic } from '../src/topic/index.js'
import { summary } from './stats.js'
import type { ScenarioResult } from './report.js'
import { NodeProcess, REQUEST_TIMEOUT_MS, stopAll, waitCount, waitFor, type Mode } from './worker-client.js'

export interface Pair { senderSecret: string, recipientPublic: string, topic: string, key: string }

export function newPair (): Pair {
  const alice = generateX25519()
  const bob = generateX25519()
  const t = deriveTopic(alice.secretKey, bob.publicKey)
  return { senderSecret: toHex(alice.secretKey), recipientPublic: toHex(bob.publicKey), topic: toHex(t.topic), key: toHex(t.key) }
}

interface Hop { sender: NodeProcess, receiver: NodeProcess, pair: Pair }

/**
 * Two processes of one mode on one pair's bucket, the receiver in the sender's mesh. stamp_bits
 * 0, so that 10^5 frames are stamped before the run in no time: the receiver's check is the
 * same one scrypt evaluation at any stamp_bits.
 */
async function startHop (mode: Mode): Promise<Hop> {
  const sender = await NodeProcess.spawn(mode)
  const receiver = await NodeProcess.spawn(mode)
  const hop = { sender, receiver, pair: newPair() }
  try {
    await sender.start({ stampBits: 0 })
    await receiver.start({ stampBits: 0, bootstrap: [sender.addrs[0]] })
    for (const n of [sender, receiver]) await n.call('join', { topic: hop.pair.topic, key: hop.pair.key })
    await waitFor(async () => (await sender.call<string[]>('mesh-peers')).includes(receiver.peerId), 60_000, `${mode}: the receiver never joined the sender's mesh`)
  } catch (err) {
    await stopAll([sender, receiver])
    throw err
  }
  return hop
}

async function latency (hop: Hop, count: number): Promise<{ median: number, p99: number }> {
  await hop.sender.call('prepare', { n: count + 20, ...hop.pair })
  await hop.receiver.call('report-each', { on: true })
  const samples: number[] = []
  for (let i = 0; i < count + 20; i++) {
    const sent = await hop.sender.call<{ hash: string, t: number }>('publish-one', { index: i })
    const t = await hop.receiver.waitReceived(sent.hash)
    if (i >= 20) samples.push(t - sent.t)
  }
  await hop.receiver.call('report-each', { on: false })
  const s = summary(samples)
  return { median: s.median, p99: s.p99 }
}

/** CPU time split: the JavaScript thread, and every other thread (LevelDB, GC helpers). */
interface CpuSplit { main: number, other: number }
export interface LiveMemory { heapMb: number, anonMb: number }
interface Throughput { live: { before: LiveMemory, after: LiveMemory }, perSecond: number, sent: number, received: number, senderPeakRssMb: number, receiverPeakRssMb: number, senderCpu: CpuSplit, receiverCpu: CpuSplit, receiverNode?: unknown }

function cpuPer (before: CpuSplit, after: CpuSplit, n: number): CpuSplit {
  return { main: ((after.main - before.main) * 1000) / Math.max(1, n), other: ((after.other - before.other) * 1000) / Math.max(1, n) }
}

const cpuText = (c: CpuSplit): string => `${(c.main + c.other).toFixed(0)} (main ${c.main.toFixed(0)} + other ${c.other.toFixed(0)})`

async function throughput (hop: Hop, durationMs: number, rate: number): Promise<Throughput> {
  const { sender, receiver } = hop
  if (!(await sender.call<string[]>('mesh-peers')).includes(receiver.peerId)) throw new Error(`relay (${sender.mode}): the receiver left the sender's mesh before the flood`)
  await sender.call('prepare', { n: Math.ceil((durationMs / 1000) * rate), ...hop.pair })
  await sender.call('reset')
  await receiver.call('reset')
  const before = await receiver.call<LiveMemory>('live-memory')
  const s0 = (await sender.call<{ cpu: CpuSplit }>('stats')).cpu
  const r0 = (await receiver.call<{ cpu: CpuSplit }>('stats')).cpu
  const flood = await sender.call<{ sent: number }>('flood', { durationMs })
  await waitCount(receiver, flood.sent, 120_000)
  const rs = await receiver.call<{ receivedCount: number, firstReceived: number, lastReceived: number, peakRss: number, cpu: CpuSplit, node?: unknown }>('stats')
  const ss = await sender.call<{ peakRss: number, cpu: CpuSplit }>('stats')
  const after = await receiver.call<LiveMemory>('live-memory')
  return {
    live: { before, after },
    perSecond: (rs.receivedCount * 1000) / Math.max(1, rs.lastReceived - rs.firstReceived),
    sent: flood.sent,
    received: rs.receivedCount,
    senderPeakRssMb: ss.peakRss,
    receiverPeakRssMb: rs.peakRss,
    senderCpu: cpuPer(s0, ss.cpu, rs.receivedCount),
    receiverCpu: cpuPer(r0, rs.cpu, rs.receivedCount),
    receiverNode: rs.node
  }
}

const MODES: Mode[] = ['bare', 'bare-store', 'asmtp']
const NAMES: Record<Mode, string> = {
  asmtp: 'asmtp',
  'bare-store': 'bare gossipsub + verifyStamp + grouped LevelDB write',
  bare: 'bare gossipsub'
}

export async function benchRelayThroughput (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const count = quick ? 100 : 500
  const durationMs = quick ? 2000 : 10_000
  // the floods take turns, so that a change in the machine's load between them moves all
  const rounds = quick ? 1 : 2
  const hops: Partial<Record<Mode, Hop>> = {}
  const lat: Partial<Record<Mode, { median: number, p99: number }>> = {}
  const tps: Record<Mode, Throughput[]> = { bare: [], 'bare-store': [], asmtp: [] }
  try {
    for (const mode of MODES) {
      progress(`relay (${mode}): starting two node processes`)
      hops[mode] = await startHop(mode)
      if (mode !== 'bare-store') {
        progress(`relay (${mode}): latency, ${count} frames one at a time`)
        lat[mode] = await latency(hops[mode], count)
      }
    }
    for (let round = 1; round <= rounds; round++) {
      for (const mode of MODES) {
        progress(`relay (${mode}): throughput, 1 KiB for ${durationMs / 1000} s, round ${round} of ${rounds}`)
        const tp = await throughput(hops[mode]!, durationMs, 30_000)
        const lost = tp.sent - tp.received
        if (lost > 0) throw new Error(`relay (${mode}): ${lost} of ${tp.sent} frames lost (receiving node: ${JSON.stringify(tp.receiverNode ?? null)})`)
        tps[mode].push(tp)
      }
    }
  } finally {
    await stopAll(Object.values(hops).flatMap(h => [h.sender, h.receiver]))
  }
  const mean = (mode: Mode): number => tps[mode].reduce((s, t) => s + t.perSecond, 0) / tps[mode].length
  const rounds$ = (mode: Mode): string => tps[mode].map(t => t.perSecond.toFixed(0)).join(', ')
  const detail = (mode: Mode): string => {
    const t = tps[mode][0]
    return `${NAMES[mode]}: ${rounds$(mode)}/s, ${tps[mode].reduce((n, x) => n + x.received, 0)} delivered, CPU µs per frame sender ${cpuText(t.senderCpu)}, receiver ${cpuText(t.receiverCpu)}, peak RSS ${t.senderPeakRssMb.toFixed(0)} / ${t.receiverPeakRssMb.toFixed(0)} MB`
  }
  const heapPer = (mode: Mode): number => {
    const t = tps[mode][0]
    return ((t.live.after.heapMb - t.live.before.heapMb) * 1048576) / Math.max(1, t.received)
  }
  const heapText = (mode: Mode): string => {
    const t = tps[mode][0]
    return `${NAMES[mode]} ${t.live.before.heapMb.toFixed(0)} -> ${t.live.after.heapMb.toFixed(0)} MB over ${t.received} frames (anonymous RSS ${t.live.before.anonMb.toFixed(0)} -> ${t.live.after.anonMb.toFixed(0)} MB)`
  }
  return [
    { scenario: 'relay hop latency (publish to stored and matched, 2 processes)', unit: 'ms', ours: { median: lat.asmtp!.median, p99: lat.asmtp!.p99 }, baseline: { name: 'bare gossipsub StrictNoSign, same transports', median: lat.bare!.median, p99: lat.bare!.p99 }, ratio: lat.asmtp!.median / lat.bare!.median, better: 'lower' },
    {
      scenario: 'relay throughput, 1 KiB frames stamped before the run',
      unit: 'frames/s',
      ours: { median: mean('asmtp') },
      baseline: { name: NAMES['bare-store'], median: mean('bare-store') },
      ratio: mean('asmtp') / mean('bare-store'),
      better: 'higher',
      target: '>= 0.6',
      notes: `mean of ${rounds} round${rounds > 1 ? 's' : ''} taking turns, stamp_bits 0 (one scrypt check per frame as at any stamp_bits); ${detail('asmtp')}; ${detail('bare-store')}; ${detail('bare')}`
    },
    { scenario: 'relay throughput against bare gossipsub without storage (context)', unit: 'frames/s', ours: { median: mean('asmtp') }, baseline: { name: NAMES.bare, median: mean('bare') }, ratio: mean('asmtp') / mean('bare'), better: 'higher' },
    { scenario: `receiver heap growth per frame, ${durationMs / 1000} s flood`, unit: 'bytes', ours: { median: heapPer('asmtp') }, baseline: { name: 'bare gossipsub, same flood', median: heapPer('bare') }, ratio: heapPer('asmtp') / heapPer('bare'), better: 'lower', notes: `heap after a full GC, first round: ${heapText('asmtp')}; ${heapText('bare')}` }
  ]
}

/** The steady-rate memory run (opt-in: `--only steady`): rate, length, sampling period. */
const STEADY_RATE = Number(process.env.ASMTP_BENCH_STEADY_RATE ?? 2000)
const STEADY_MS = Number(process.env.ASMTP_BENCH_STEADY_S ?? 150) * 1000
const STEADY_SAMPLE_MS = 15_000

/** The receiver's heap after a full GC every 15 s at a steady rate, asmtp against bare gossipsub. */
export async function benchSteady (progress: (s: string) => void): Promise<ScenarioResult[]> {
  const series: Record<'asmtp' | 'bare', LiveMemory[]> = { bare: [], asmtp: [] }
  for (const mode of ['bare', 'asmtp'] as const) {
    progress(`steady (${mode}): starting two node processes`)
    const hop = await startHop(mode)
    try {
      await hop.sender.call('prepare', { n: Math.ceil((STEADY_MS / 1000) * STEADY_RATE), ...hop.pair })
      series[mode].push(await hop.receiver.call<LiveMemory>('live-memory'))
      const flood = hop.sender.call<{ sent: number }>('flood', { durationMs: STEADY_MS, rate: STEADY_RATE }, STEADY_MS + REQUEST_TIMEOUT_MS)
      flood.catch(() => {})
      const start = Date.now()
      for (let k = 1; k * STEADY_SAMPLE_MS <= STEADY_MS; k++) {
        await new Promise(resolve => setTimeout(resolve, Math.max(0, start + k * STEADY_SAMPLE_MS - Date.now())))
        series[mode].push(await hop.receiver.call<LiveMemory>('live-memory'))
      }
      const { sent } = await flood
      await waitCount(hop.receiver, sent, 30_000)
      const { receivedCount } = await hop.receiver.call<{ receivedCount: number }>('stats')
      if (receivedCount < sent) throw new Error(`steady (${mode}): ${sent - receivedCount} of ${sent} lost`)
    } finally {
      await stopAll([hop.sender, hop.receiver])
    }
  }
  const growth = (m: LiveMemory[]): number => m[m.length - 1].heapMb - m[0].heapMb
  const text = (m: LiveMemory[]): string => m.map(x => x.heapMb.toFixed(0)).join(' ')
  return [{
    scenario: `steady ${STEADY_RATE}/s for ${STEADY_MS / 1000} s: receiver heap growth after GC`,
    unit: 'MB',
    ours: { median: growth(series.asmtp) },
    baseline: { name: 'bare gossipsub at the same rate', median: growth(series.bare) },
    ratio: growth(series.asmtp) / Math.max(1, growth(series.bare)),
    better: 'lower',
    notes: `heap after a full GC every ${STEADY_SAMPLE_MS / 1000} s, asmtp: ${text(series.asmtp)} MB; bare: ${text(series.bare)} MB`
  }]
}
