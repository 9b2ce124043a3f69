/**
 * Benchmarks across node processes on 127.0.0.1: one hop (A -> B) latency and sustained 1 KiB
 * throughput, and a 5-node chain, each for asmtp nodes and for the baseline (bare gossipsub with
 * the same transports) in the same run. Workers are killed on exit and on Ctrl-C.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { Ed25519KeyPair, generateX25519, toHex } from '../src/index.js'
import { envelopeHash } from '../src/envelope/index.js'
import { sealFrame } from '../src/frame/index.js'
import { connectClient, type ClientConnection } from '../src/channel/index.js'
import { deriveTopic } from '../src/topic/index.js'
import { nowMs, summary } from './stats.js'
import type { ScenarioResult } from './report.js'

type Mode = 'asmtp' | 'bare'
const WORKER = fileURLToPath(new URL('./node-worker.js', import.meta.url))
const REQUEST_TIMEOUT_MS = 120_000
const live = new Set<ChildProcess>()

function killAll (): void {
  for (const c of live) c.kill('SIGKILL')
}
process.on('exit', killAll)
process.on('SIGINT', () => { killAll(); process.exit(130) })
process.on('SIGTERM', () => { killAll(); process.exit(143) })

class Worker {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  readonly received = new Map<string, number>()
  private waiters: Array<() => void> = []
  peerId = ''
  addrs: string[] = []
  publicId = ''
  clientAddress: string | null = null

  private constructor (private readonly child: ChildProcess) {
    child.on('message', (msg: { id?: number, ok?: boolean, result?: unknown, error?: string, event?: string, hash?: string, t?: number }) => {
      if (msg.event === 'received' && msg.hash !== undefined && msg.t !== undefined) {
        this.received.set(msg.hash, msg.t)
        const w = this.waiters
        this.waiters = []
        for (const f of w) f()
        return
      }
      if (msg.id === undefined) return
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.ok === true) p.resolve(msg.result)
      else p.reject(new Error(msg.error ?? 'worker error'))
    })
    child.on('exit', (code) => {
      live.delete(child)
      for (const p of this.pending.values()) p.reject(new Error(`worker exited with ${code}`))
      this.pending.clear()
    })
  }

  static async spawn (mode: Mode): Promise<Worker> {
    // ASMTP_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every node process (docs/PERFORMANCE.md)
    const profDir = process.env.ASMTP_BENCH_CPU_PROF
    // --expose-gc: the memory figures are taken after a full GC (command live-memory), never
    // during a timed window
    const execArgv = ['--expose-gc', ...(profDir !== undefined && profDir !== '' ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])]
    const child = fork(WORKER, [mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv })
    live.add(child)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('worker did not start')) }, 30_000)
      child.once('message', () => { clearTimeout(timer); resolve() })
      child.once('error', reject)
    })
    return new Worker(child)
  }

  async call<T> (cmd: string, args: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`worker ${cmd} timed out`)) }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ id, cmd, ...args })
    })
  }

  async waitReceived (hash: string, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const t = this.received.get(hash)
      if (t !== undefined) return t
      if (Date.now() > deadline) throw new Error('message lost: not received within the timeout')
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, 100)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  async start (bootstrap: string[], users: string[] = [], rendezvousIntervalMs?: number): Promise<void> {
    const r = await this.call<{ peerId: string, addrs: string[], publicId?: string, clientAddress?: string | null }>('start', { bootstrap, users, rendezvousIntervalMs })
    this.peerId = r.peerId
    this.addrs = r.addrs
    this.publicId = r.publicId ?? ''
    this.clientAddress = r.clientAddress ?? null
  }

  async stop (): Promise<void> {
    await this.call('stop').catch(() => {})
    this.child.disconnect()
    live.delete(this.child)
  }
}

async function waitSubscribed (a: Worker, peerId: string, timeoutMs = 60_000, topic?: string): Promise<number> {
  const start = Date.now()
  for (;;) {
    if ((await a.call<string[]>('subscribers', { topic })).includes(peerId)) return Date.now() - start
    if (Date.now() - start > timeoutMs) throw new Error('nodes of the pair never met on their topic')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

interface Net { workers: Worker[], pair: { senderSecret: string, recipientPublic: string, topic: string, key: string }, meetMs: number }

/** n processes bootstrapped in a chain (each dials the previous one); the two ends join a pairwise topic. */
async function startChain (mode: Mode, n: number, relaysJoin: boolean): Promise<Net> {
  const workers = await Promise.all(Array.from({ length: n }, async () => await Worker.spawn(mode)))
  for (let i = 0; i < n; i++) await workers[i].start(i === 0 ? [] : [workers[i - 1].addrs[0]])
  const alice = generateX25519()
  const bob = generateX25519()
  const t = deriveTopic(alice.secretKey, bob.publicKey)
  const pair = { senderSecret: toHex(alice.secretKey), recipientPublic: toHex(bob.publicKey), topic: toHex(t.topic), key: toHex(t.key) }
  const joiners = relaysJoin ? workers : [workers[0], workers[n - 1]]
  for (const w of joiners) await w.call('join', { topic: pair.topic, key: pair.key })
  const first = workers[0]
  const last = workers[n - 1]
  // wait until every hop of the path is subscribed (a chain for the baseline, the two ends for asmtp)
  let meetMs = 0
  if (relaysJoin) {
    for (let i = 0; i + 1 < n; i++) meetMs += await waitSubscribed(workers[i], workers[i + 1].peerId)
  } else {
    meetMs = await waitSubscribed(first, last.peerId)
  }
  return { workers, pair, meetMs }
}

async function latency (net: Net, count: number): Promise<{ median: number, p99: number }> {
  const sender = net.workers[0]
  const receiver = net.workers[net.workers.length - 1]
  await sender.call('prepare', { n: count + 20, size: 1024, ...net.pair })
  await receiver.call('report-each', { on: true })
  const samples: number[] = []
  for (let i = 0; i < count + 20; i++) {
    const sent = await sender.call<{ hash: string, t: number }>('publish-one', { index: i })
    const t = await receiver.waitReceived(sent.hash)
    if (i >= 20) samples.push(t - sent.t)
  }
  await receiver.call('report-each', { on: false })
  const s = summary(samples)
  return { median: s.median, p99: s.p99 }
}

/** CPU time split: the JavaScript thread, and every other thread (LevelDB, GC helpers). */
interface CpuSplit { main: number, other: number }
interface LiveMemory { heapMb: number, anonMb: number }
interface Throughput { receiverLive: { before: LiveMemory, after: LiveMemory }, receiverNode?: unknown, perSecond: number, sent: number, received: number, senderPeakRssMb: number, receiverPeakRssMb: number, receiverRssGrowthMb: number, senderCpu: CpuSplit, receiverCpu: CpuSplit }

/** µs per delivered envelope from two readings in ms. */
function cpuPer (before: CpuSplit, after: CpuSplit, n: number): CpuSplit {
  return { main: ((after.main - before.main) * 1000) / Math.max(1, n), other: ((after.other - before.other) * 1000) / Math.max(1, n) }
}

const liveText = (l: { before: LiveMemory, after: LiveMemory }): string =>
  `receiver after a full GC, before -> after the flood: heap ${l.before.heapMb.toFixed(0)} -> ${l.after.heapMb.toFixed(0)} MB, anonymous RSS ${l.before.anonMb.toFixed(0)} -> ${l.after.anonMb.toFixed(0)} MB`

const cpuText = (c: CpuSplit): string => `${(c.main + c.other).toFixed(0)} (main ${c.main.toFixed(0)}, other threads ${c.other.toFixed(0)})`

async function throughput (net: Net, durationMs: number, rate: number): Promise<Throughput> {
  const sender = net.workers[0]
  const receiver = net.workers[net.workers.length - 1]
  await sender.call('prepare', { n: Math.ceil((durationMs / 1000) * rate), size: 1024, ...net.pair })
  await sender.call('reset')
  await receiver.call('reset')
  const receiverLive0 = await receiver.call<LiveMemory>('live-memory')
  const senderCpu0 = (await sender.call<{ cpu: CpuSplit }>('stats')).cpu
  const receiverCpu0 = (await receiver.call<{ cpu: CpuSplit }>('stats')).cpu
  const flood = await sender.call<{ sent: number, failed: number, ms: number }>('flood', { durationMs })
  // let in-flight messages land: until all arrived, or the count has not moved for 5 s (bounded)
  await waitCount(receiver, flood.sent, 120_000)
  const rs = await receiver.call<{ receivedCount: number, firstReceived: number, lastReceived: number, peakRss: number, rssSamples: number[], node?: unknown, cpu: CpuSplit }>('stats')
  const ss = await sender.call<{ peakRss: number, cpu: CpuSplit }>('stats')
  const receiverLive1 = await receiver.call<LiveMemory>('live-memory')
  const span = Math.max(1, rs.lastReceived - rs.firstReceived)
  const early = rs.rssSamples.slice(0, Math.max(1, Math.floor(rs.rssSamples.length / 4)))
  return {
    receiverLive: { before: receiverLive0, after: receiverLive1 },
    receiverNode: rs.node,
    perSecond: (rs.receivedCount * 1000) / span,
    sent: flood.sent,
    received: rs.receivedCount,
    senderPeakRssMb: ss.peakRss,
    receiverPeakRssMb: rs.peakRss,
    receiverRssGrowthMb: rs.peakRss - Math.max(...early),
    senderCpu: cpuPer(senderCpu0, ss.cpu, rs.receivedCount),
    receiverCpu: cpuPer(receiverCpu0, rs.cpu, rs.receivedCount)
  }
}

async function stopAll (net: Net | undefined): Promise<void> {
  if (net !== undefined) await Promise.all(net.workers.map(async w => { await w.stop() }))
}

/** Mean of the rounds' figures; memory figures are the first round's (fresh processes). */
function meanThroughput (rounds: Throughput[]): Throughput {
  const mean = (f: (t: Throughput) => number): number => rounds.reduce((sum, t) => sum + f(t), 0) / rounds.length
  const cpu = (f: (t: Throughput) => CpuSplit): CpuSplit => ({ main: mean(t => f(t).main), other: mean(t => f(t).other) })
  return {
    ...rounds[0],
    perSecond: mean(t => t.perSecond),
    sent: rounds.reduce((n, t) => n + t.sent, 0),
    received: rounds.reduce((n, t) => n + t.received, 0),
    senderCpu: cpu(t => t.senderCpu),
    receiverCpu: cpu(t => t.receiverCpu)
  }
}

export async function benchOneHop (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const count = quick ? 100 : 500
  const durationMs = quick ? 2000 : 10_000
  // the floods of the two pairs take turns, so that a change in the machine's load between
  // them moves both: the ratio of one pair of runs moved by 0.05 from run to run
  const rounds = quick ? 1 : 2
  const nets: Partial<Record<Mode, Net>> = {}
  const lat: Partial<Record<Mode, { median: number, p99: number }>> = {}
  const tps: Record<Mode, Throughput[]> = { bare: [], asmtp: [] }
  try {
    for (const mode of ['bare', 'asmtp'] as Mode[]) {
      progress(`one hop (${mode}): starting two node processes`)
      const net = await startChain(mode, 2, mode === 'bare')
      nets[mode] = net
      progress(`one hop (${mode}): latency, ${count} envelopes one at a time`)
      lat[mode] = await latency(net, count)
    }
    for (let round = 1; round <= rounds; round++) {
      for (const mode of ['bare', 'asmtp'] as Mode[]) {
        progress(`one hop (${mode}): throughput, 1 KiB for ${durationMs / 1000} s, round ${round} of ${rounds}`)
        const tp = await throughput(nets[mode]!, durationMs, 30_000)
        // a baseline that loses messages is no baseline (the one before 10:39 lost 3 in 4)
        const lost = tp.sent - tp.received
        if (lost > 0) throw new Error(`one hop (${mode}): ${lost} of ${tp.sent} messages lost (receiving node: ${JSON.stringify(tp.receiverNode ?? null)})`)
        tps[mode].push(tp)
      }
    }
  } finally {
    await Promise.all(Object.values(nets).map(async net => { await stopAll(net) }))
  }
  const a = { lat: lat.asmtp!, tp: meanThroughput(tps.asmtp) }
  const b = { lat: lat.bare!, tp: meanThroughput(tps.bare) }
  const perRound = (mode: Mode): string => tps[mode].map(t => t.perSecond.toFixed(0)).join(' and ')
  return [
    { scenario: 'one hop latency (publish to receive, 2 processes)', unit: 'ms', ours: { median: a.lat.median, p99: a.lat.p99 }, baseline: { name: 'bare gossipsub StrictNoSign, same transports', median: b.lat.median, p99: b.lat.p99 }, ratio: a.lat.median / b.lat.median, better: 'lower' },
    {
      scenario: 'one hop throughput, 1 KiB envelopes',
      unit: 'envelopes/s',
      ours: { median: a.tp.perSecond, count: a.tp.received, peakRssMb: a.tp.receiverPeakRssMb },
      baseline: { name: 'bare gossipsub StrictNoSign, 1 KiB random payloads', median: b.tp.perSecond, count: b.tp.received, peakRssMb: b.tp.receiverPeakRssMb },
      ratio: a.tp.perSecond / b.tp.perSecond,
      better: 'higher',
      target: '>= 0.6',
      notes: `mean of ${rounds} round${rounds > 1 ? 's' : ''} taking turns (asmtp ${perRound('asmtp')}/s, bare ${perRound('bare')}/s); memory from the first round; asmtp: ${a.tp.received}/${a.tp.sent} delivered, peak RSS sender ${a.tp.senderPeakRssMb.toFixed(0)} MB, receiver ${a.tp.receiverPeakRssMb.toFixed(0)} MB (growth after the first quarter ${a.tp.receiverRssGrowthMb.toFixed(0)} MB), CPU µs per envelope sender ${cpuText(a.tp.senderCpu)}, receiver ${cpuText(a.tp.receiverCpu)}, ${liveText(a.tp.receiverLive)}; bare: ${b.tp.received}/${b.tp.sent} delivered, peak RSS sender ${b.tp.senderPeakRssMb.toFixed(0)} MB, receiver ${b.tp.receiverPeakRssMb.toFixed(0)} MB (growth ${b.tp.receiverRssGrowthMb.toFixed(0)} MB), CPU µs per message sender ${cpuText(b.tp.senderCpu)}, receiver ${cpuText(b.tp.receiverCpu)}, ${liveText(b.tp.receiverLive)}`
    }
  ]
}

/** The steady-rate memory run (opt-in: `--only steady`): rate, length, sampling period. */
const STEADY_RATE = Number(process.env.ASMTP_BENCH_STEADY_RATE ?? 2000)
const STEADY_MS = Number(process.env.ASMTP_BENCH_STEADY_S ?? 150) * 1000
const STEADY_SAMPLE_MS = 15_000

/**
 * Memory at a steady rate for longer than gossipsub's two-minute caches: the receiver's heap
 * after a full GC every 15 s, asmtp against bare gossipsub at the same rate. Not in the default
 * run (about 6 minutes); each sample's GC pauses the receiver for a few ms.
 */
export async function benchSteady (progress: (s: string) => void): Promise<ScenarioResult[]> {
  const series: Record<Mode, LiveMemory[]> = { bare: [], asmtp: [] }
  const delivered: Record<Mode, string> = { bare: '', asmtp: '' }
  for (const mode of ['bare', 'asmtp'] as Mode[]) {
    let net: Net | undefined
    try {
      progress(`steady (${mode}): starting two node processes`)
      net = await startChain(mode, 2, mode === 'bare')
      const sender = net.workers[0]
      const receiver = net.workers[1]
      await sender.call('prepare', { n: Math.ceil((STEADY_MS / 1000) * STEADY_RATE), size: 1024, ...net.pair })
      await sender.call('reset')
      await receiver.call('reset')
      series[mode].push(await receiver.call<LiveMemory>('live-memory'))
      const flood = sender.call<{ sent: number }>('flood', { durationMs: STEADY_MS, rate: STEADY_RATE }, STEADY_MS + REQUEST_TIMEOUT_MS)
      // awaited below, after the samples; a failure meanwhile must not go unhandled
      flood.catch(() => {})
      const start = Date.now()
      for (let k = 1; k * STEADY_SAMPLE_MS <= STEADY_MS; k++) {
        await new Promise(resolve => setTimeout(resolve, Math.max(0, start + k * STEADY_SAMPLE_MS - Date.now())))
        const m = await receiver.call<LiveMemory>('live-memory')
        series[mode].push(m)
        progress(`steady (${mode}): ${k * STEADY_SAMPLE_MS / 1000} s, receiver heap after GC ${m.heapMb.toFixed(0)} MB, anonymous RSS ${m.anonMb.toFixed(0)} MB`)
      }
      const { sent } = await flood
      await waitCount(receiver, sent, 30_000)
      const { receivedCount } = await receiver.call<{ receivedCount: number }>('stats')
      if (receivedCount < sent) throw new Error(`steady (${mode}): ${sent - receivedCount} of ${sent} lost`)
      delivered[mode] = `${receivedCount}/${sent}`
    } finally {
      await stopAll(net)
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
    notes: `heap after a full GC every ${STEADY_SAMPLE_MS / 1000} s, asmtp: ${text(series.asmtp)} MB (anonymous RSS ${series.asmtp[0].anonMb.toFixed(0)} -> ${series.asmtp[series.asmtp.length - 1].anonMb.toFixed(0)}), ${delivered.asmtp} delivered; bare: ${text(series.bare)} MB (anonymous RSS ${series.bare[0].anonMb.toFixed(0)} -> ${series.bare[series.bare.length - 1].anonMb.toFixed(0)}), ${delivered.bare} delivered`
  }]
}

/** Until the receiver counted `n` envelopes, or the count stood still for 5 s, or `timeoutMs`. */
async function waitCount (receiver: Worker, n: number, timeoutMs: number): Promise<void> {
  let last = -1
  let still = Date.now()
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = await receiver.call<{ receivedCount: number }>('stats')
    if (s.receivedCount >= n) return
    if (s.receivedCount !== last) {
      last = s.receivedCount
      still = Date.now()
    } else if (Date.now() - still > 5_000) {
      return
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

export async function benchChain (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const count = quick ? 100 : 300
  const out: Record<Mode, { lat: { median: number, p99: number }, meetMs: number }> = {} as never
  for (const mode of ['bare', 'asmtp'] as Mode[]) {
    let net: Net | undefined
    try {
      progress(`5-node chain (${mode}): starting five node processes`)
      net = await startChain(mode, 5, mode === 'bare')
      progress(`5-node chain (${mode}): latency, ${count} envelopes`)
      out[mode] = { lat: await latency(net, count), meetMs: net.meetMs }
    } finally {
      await stopAll(net)
    }
  }
  return [{
    scenario: '5-node chain latency, end to end',
    unit: 'ms',
    ours: { median: out.asmtp.lat.median, p99: out.asmtp.lat.p99 },
    baseline: { name: 'bare gossipsub relayed hop by hop through 5 subscribed processes', median: out.bare.lat.median, p99: out.bare.lat.p99 },
    ratio: out.asmtp.lat.median / out.bare.lat.median,
    better: 'lower',
    notes: `asmtp nodes are bootstrapped in a chain; the two ends find each other through the DHT in ${out.asmtp.meetMs} ms and then talk directly, so the path is one hop`
  }]
}

/**
 * End to end: a client of node A publishes through its node, a client of node B receives it on a
 * WATCH. Both clients live in this process, so one clock times the whole path.
 */
export async function benchEndToEnd (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const count = quick ? 100 : 500
  const floodMs = quick ? 2000 : 5000
  const aliceDevice = Ed25519KeyPair.generate()
  const bobDevice = Ed25519KeyPair.generate()
  const users = [toHex(aliceDevice.publicKey), toHex(bobDevice.publicKey)]
  const workers = await Promise.all([Worker.spawn('asmtp'), Worker.spawn('asmtp')])
  const clients: ClientConnection[] = []
  try {
    progress('end to end: starting two node processes with client channels')
    await workers[0].start([], users)
    await workers[1].start([workers[0].addrs[0]], users)
    const connect = async (w: Worker, device: Ed25519KeyPair): Promise<ClientConnection> => {
      const [host, port] = w.clientAddress!.split(':') as [string, string]
      const c = await connectClient({ host, port: Number(port), remoteId: w.publicId, device })
      clients.push(c)
      return c
    }
    const alice = await connect(workers[0], aliceDevice)
    const bob = await connect(workers[1], bobDevice)
    const a = generateX25519()
    const b = generateX25519()
    const topic = deriveTopic(a.secretKey, b.publicKey)
    await alice.registerTopic(topic.topic, topic.key)
    await bob.registerTopic(topic.topic, topic.key)
    const arrived = new Map<string, number>()
    let waiter: (() => void) | undefined
    await bob.watch((e) => {
      arrived.set(toHex(envelopeHash(e.data)), nowMs())
      waiter?.()
    })
    await waitSubscribed(workers[0], workers[1].peerId, 60_000, toHex(topic.topic))
    const seal = (): Uint8Array => sealFrame({ sender: a, recipientPublic: b.publicKey, topic, contentType: 'text/plain', body: randomBytes(200) })
    progress(`end to end: latency, ${count} messages one at a time`)
    const samples: number[] = []
    for (let i = 0; i < count + 20; i++) {
      const env = seal()
      const h = toHex(envelopeHash(env))
      const t0 = nowMs()
      const got = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error('end to end: message lost')) }, 10_000)
        waiter = () => { if (arrived.has(h)) { clearTimeout(timer); resolve() } }
      })
      await alice.publish(topic.topic, env, { timeoutMs: 10_000 })
      if (!arrived.has(h)) await got
      if (i >= 20) samples.push(arrived.get(h)! - t0)
    }
    waiter = undefined
    progress(`end to end: messages/s for ${floodMs / 1000} s, 32 in flight`)
    const pool = Array.from({ length: quick ? 3000 : 15000 }, seal)
    const before = arrived.size
    let next = 0
    let sent = 0
    const start = nowMs()
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (nowMs() - start < floodMs && next < pool.length) {
        await alice.publish(topic.topic, pool[next++])
        sent++
      }
    }))
    const deadline = Date.now() + 30_000
    while (arrived.size - before < sent && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    const received = arrived.size - before
    if (received < sent) throw new Error(`end to end: ${sent - received} of ${sent} messages lost`)
    const perSecond = (received * 1000) / (Math.max(...[...arrived.values()].slice(before)) - start)
    const s = summary(samples)
    return [{
      scenario: 'end to end: client of A to a watching client of B',
      unit: 'ms',
      ours: { median: s.median, p99: s.p99 },
      target: 'p50 < 5, p99 < 25',
      notes: `messages/s with 32 in flight: ${perSecond.toFixed(0)} (${received}/${sent} delivered); the ratio to one hop is in the next line`
    }]
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.close() }))
    await Promise.all(workers.map(async w => { await w.stop() }))
  }
}

/** Two asmtp node processes on one pairwise topic, met and ready (for other benchmark files). */
export async function startPair (): Promise<Net> {
  return await startChain('asmtp', 2, false)
}

/** The nodes' own default schedule: lookups back off from 1 s to the 30 s round. */
const SCALE_RENDEZVOUS_MS = 30_000
/** How long all pairs may take to meet. */
const SCALE_MEET_TIMEOUT_MS = 240_000
/** Node processes started at once. */
const SCALE_START_BATCH = 4

interface ScalePair { a: number, b: number, senderSecret: string, recipientPublic: string, topic: string, key: string }

/**
 * Scale: `nodes` asmtp processes on loopback (each bootstrapped to one of the first three), 100
 * user pairs spread over them at random; every pair sends one message: delivery ratio, latency,
 * RSS per node, and the time a node added last takes to find its pair.
 */
export async function benchScale (size: number, progress: (s: string) => void, pairCount = 100): Promise<ScenarioResult[]> {
  const workers: Worker[] = []
  try {
    progress(`scale ${size}: starting ${size} node processes`)
    const startAt = Date.now()
    // the first three one by one (the others bootstrap to them), then the rest a few at a time
    const first = Math.min(3, size)
    for (let i = 0; i < first; i++) {
      const w = await Worker.spawn('asmtp')
      await w.start(i === 0 ? [] : [workers[i - 1].addrs[0]], [], SCALE_RENDEZVOUS_MS)
      workers.push(w)
    }
    for (let i = first; i < size; i += SCALE_START_BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(SCALE_START_BATCH, size - i) }, async (_x, j) => {
        const w = await Worker.spawn('asmtp')
        await w.start([workers[(i + j) % first].addrs[0]], [], SCALE_RENDEZVOUS_MS)
        return w
      }))
      workers.push(...batch)
    }
    const startedMs = Date.now() - startAt
    const pairs: ScalePair[] = []
    for (let p = 0; p < pairCount; p++) {
      const a = Math.floor(Math.random() * size)
      let b = Math.floor(Math.random() * (size - 1))
      if (b >= a) b++
      const x = generateX25519()
      const y = generateX25519()
      const t = deriveTopic(x.secretKey, y.publicKey)
      pairs.push({ a, b, senderSecret: toHex(x.secretKey), recipientPublic: toHex(y.publicKey), topic: toHex(t.topic), key: toHex(t.key) })
    }
    progress(`scale ${size}: registering ${pairCount} pairs`)
    await Promise.all(workers.map(async (w, i) => {
      const mine = pairs.filter(p => p.a === i || p.b === i).map(p => ({ topic: p.topic, key: p.key }))
      await w.call('join-many', { topics: mine })
      await w.call('report-each', { on: true })
    }))
    progress(`scale ${size}: waiting for every pair to meet`)
    const meetStart = Date.now()
    const met = new Set<number>()
    let reported = meetStart
    while (met.size < pairs.length) {
      // ask every node at once which of its pairs have their other node on the topic
      await Promise.all(workers.map(async (w, i) => {
        const mine = pairs.map((p, k) => ({ p, k })).filter(({ p, k }) => p.a === i && !met.has(k))
        if (mine.length === 0) return
        const peers = await w.call<string[][]>('subscribers-many', { topics: mine.map(({ p }) => p.topic) })
        mine.forEach(({ p, k }, j) => { if (peers[j].includes(workers[p.b].peerId)) met.add(k) })
      }))
      if (met.size === pairs.length) break
      if (Date.now() - reported >= 5_000) {
        reported = Date.now()
        progress(`scale ${size}: ${met.size}/${pairCount} pairs met after ${((reported - meetStart) / 1000).toFixed(0)} s`)
      }
      if (Date.now() - meetStart > SCALE_MEET_TIMEOUT_MS) {
        const p = pairs.find((_p, k) => !met.has(k))!
        const direct = (await workers[p.a].call<string[]>('conns')).includes(workers[p.b].peerId)
        const ga = await workers[p.a].call<{ peers: string[], out: string[], in: string[] }>('gossip-peers')
        const bid = workers[p.b].peerId
        const detail = `gossip peer ${ga.peers.includes(bid)}, outbound stream ${ga.out.includes(bid)}, inbound stream ${ga.in.includes(bid)}`
        throw new Error(`only ${met.size}/${pairCount} pairs met within ${SCALE_MEET_TIMEOUT_MS / 1000} s; e.g. nodes ${p.a} and ${p.b} (connected: ${direct}; ${detail})`)
      }
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    const meetAllMs = Date.now() - meetStart
    progress(`scale ${size}: one message per pair`)
    const latencies: number[] = []
    let delivered = 0
    for (const p of pairs) {
      const sent = await workers[p.a].call<{ hash: string, t: number }>('publish-to', { ...p })
      try {
        latencies.push(await workers[p.b].waitReceived(sent.hash, 10_000) - sent.t)
        delivered++
      } catch {
        // counted as lost below
      }
    }
    const rss = await Promise.all(workers.map(async w => await w.call<number>('rss')))
    progress(`scale ${size}: a new node joins and finds its pair`)
    const late = await Worker.spawn('asmtp')
    workers.push(late)
    await late.start([workers[0].addrs[0]], [], SCALE_RENDEZVOUS_MS)
    const partner = workers[Math.floor(Math.random() * size)]
    const x = generateX25519()
    const t = deriveTopic(x.secretKey, generateX25519().publicKey)
    await partner.call('join-many', { topics: [{ topic: toHex(t.topic), key: toHex(t.key) }] })
    const joinStart = Date.now()
    await late.call('join-many', { topics: [{ topic: toHex(t.topic), key: toHex(t.key) }] })
    await waitSubscribed(late, partner.peerId, 120_000, toHex(t.topic))
    const findMs = Date.now() - joinStart
    const s = summary(latencies)
    const rssSorted = [...rss].sort((a, b) => a - b)
    if (delivered < pairCount) throw new Error(`scale ${size}: ${pairCount - delivered} of ${pairCount} messages lost`)
    return [{
      scenario: `scale: ${size} nodes, ${pairCount} pairs`,
      unit: 'ms',
      ours: { median: s.median, p99: s.p99, count: delivered },
      notes: `delivery ${delivered}/${pairCount} (${Math.round((delivered * 100) / pairCount)}%), ${size} processes started in ${(startedMs / 1000).toFixed(0)} s, RSS per node median ${rssSorted[Math.floor(rss.length / 2)].toFixed(0)} MB, max ${rssSorted[rss.length - 1].toFixed(0)} MB; all pairs met in ${meetAllMs} ms; a new node found its pair in ${findMs} ms`
    }]
  } finally {
    await Promise.all(workers.map(async w => { await w.stop() }))
  }
}
