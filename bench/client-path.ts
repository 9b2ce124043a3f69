/**
 * Client to client through two home nodes and two relays on loopback (four node processes):
 * the devices speak the client channel, the sender's device publishes unstamped frames made
 * with sealFrame, its home node stamps them (stamp worker threads) and sends them down the stem
 * (Dandelion++: to a relay it dialled, which forwards or fluffs), the relays carry the bucket,
 * and the recipient's device watches at its own home node. Both devices live in this process,
 * so one clock times the whole path. Two rounds on fresh networks: with the stem, and with
 * part 1's delivery (own frames fluffed at once) as the same-run baseline. Each round: latency
 * one message at a time (with the stem's hop count per message), then messages/s with 32 in
 * flight, the stamp's share of the sending node's CPU, and CPU and bytes sent per delivered
 * envelope over all four processes.
 */
import { createHash, randomBytes } from 'node:crypto'
import { Ed25519KeyPair, generateX25519, toHex } from '../src/index.js'
import { decodeFrame, sealFrame, stampDigest, GOSSIP_FRAME_HEADER_BYTES } from '../src/frame/index.js'
import { connectClient, type ClientConnection } from '../src/channel/index.js'
import { deriveTopic } from '../src/topic/index.js'
import { nowMs, summary } from './stats.js'
import type { ScenarioResult } from './report.js'
import { NodeProcess, sleep, stopAll, waitFor } from './worker-client.js'

/** CPU ms of one scrypt evaluation of the stamp, measured on this process's thread (process.cpuUsage). */
function stampEvaluationCpuMs (): number {
  const input = new Uint8Array(randomBytes(32))
  for (let i = 0; i < 20; i++) stampDigest(input)
  const u0 = process.cpuUsage()
  const n = 200
  for (let i = 0; i < n; i++) stampDigest(input)
  const u = process.cpuUsage(u0)
  return (u.user + u.system) / 1000 / n
}

const envelopeKey = (frame: Uint8Array): string => createHash('sha256').update(frame.subarray(GOSSIP_FRAME_HEADER_BYTES)).digest('hex')

interface WorkerStats { cpu: { main: number, other: number }, stampMs: number, socketBytes: number }
interface StemCounters { sent: number, forwarded: number }

interface Round {
  latency: { median: number, p99: number }
  hops: Map<number, number>
  perSecond: number
  sent: number
  publishRate: number
  senderCpuMs: number
  senderMainMs: number
  stampCpuMs: number
  stampThreadMs: number
  evalMs: number
  /** over all four processes, per delivered envelope of the flood */
  cpuMsPerEnvelope: number
  bytesPerEnvelope: number
}

async function round (stem: boolean, count: number, floodMs: number, floodPool: number, progress: (s: string) => void): Promise<Round> {
  const label = stem ? 'stem' : 'part 1'
  const aliceDevice = Ed25519KeyPair.generate()
  const bobDevice = Ed25519KeyPair.generate()
  const users = [toHex(aliceDevice.publicKey), toHex(bobDevice.publicKey)]
  const nodes: NodeProcess[] = []
  const clients: ClientConnection[] = []
  try {
    progress(`client to client (${label}): starting two relays and two home nodes`)
    const [relay1, relay2, homeA, homeB] = await Promise.all([NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp')])
    nodes.push(relay1, relay2, homeA, homeB)
    const stemOff = !stem
    await relay1.start({ relay: true, stemOff })
    await relay2.start({ relay: true, stemOff, bootstrap: [relay1.addrs[0]] })
    const bootstrap = [relay1.addrs[0], relay2.addrs[0]]
    await Promise.all([homeA.start({ users, bootstrap, stemOff }), homeB.start({ users, bootstrap, stemOff })])
    const connect = async (w: NodeProcess, device: Ed25519KeyPair): Promise<ClientConnection> => {
      const at = w.clientAddress!.lastIndexOf(':')
      const c = await connectClient({ host: w.clientAddress!.slice(0, at), port: Number(w.clientAddress!.slice(at + 1)), remoteId: w.publicId, device })
      clients.push(c)
      return c
    }
    const alice = await connect(homeA, aliceDevice)
    const bob = await connect(homeB, bobDevice)
    const a = generateX25519()
    const b = generateX25519()
    const topic = deriveTopic(a.secretKey, b.publicKey)
    const topicHex = toHex(topic.topic)
    await alice.registerTopic(topic.topic, topic.key)
    await bob.registerTopic(topic.topic, topic.key)
    const arrived = new Map<string, number>()
    // the stamp search starts at nonce 0: a frame with nonce k cost its node k + 1 evaluations
    const evaluations = new Map<string, number>()
    let waiter: (() => void) | undefined
    await bob.watch((e) => {
      arrived.set(envelopeKey(e.data), nowMs())
      evaluations.set(envelopeKey(e.data), Number(decodeFrame(e.data).nonce) + 1)
      waiter?.()
    })
    // the paths: both relays in both home nodes' meshes of the bucket
    for (const home of [homeA, homeB]) {
      for (const relay of [relay1, relay2]) {
        await waitFor(async () => (await home.call<string[]>('mesh-peers', { topic: topicHex })).includes(relay.peerId), 60_000, `client to client (${label}): a home node never meshed with a relay`)
      }
    }
    const stemHops = async (): Promise<number> => {
      const all = await Promise.all(nodes.map(async n => (await n.call<{ stem: StemCounters }>('status')).stem))
      return all.reduce((sum, c) => sum + c.sent + c.forwarded, 0)
    }
    const seal = (): Uint8Array => sealFrame({ sender: a, recipientPublic: b.publicKey, topic, contentType: 'text/plain', body: randomBytes(200) })
    progress(`client to client (${label}): latency, ${count} messages one at a time (stamps included)`)
    const samples: number[] = []
    const hops = new Map<number, number>()
    for (let i = 0; i < count + 20; i++) {
      const frame = seal()
      const h = envelopeKey(frame)
      const before = await stemHops()
      const t0 = nowMs()
      const got = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`client to client (${label}): message lost`)) }, 30_000)
        waiter = () => { if (arrived.has(h)) { clearTimeout(timer); resolve() } }
      })
      got.catch(() => {})
      await alice.publish(topic.topic, frame, { timeoutMs: 10_000 })
      if (!arrived.has(h)) await got
      waiter = undefined
      if (i >= 20) {
        samples.push(arrived.get(h)! - t0)
        const n = (await stemHops()) - before
        hops.set(n, (hops.get(n) ?? 0) + 1)
      }
    }
    await sleep(500)
    progress(`client to client (${label}): messages/s for ${floodMs / 1000} s, 32 in flight`)
    const pool = Array.from({ length: floodPool }, seal)
    const keys = new Set(pool.map(envelopeKey))
    const stats = async (): Promise<WorkerStats[]> => await Promise.all(nodes.map(async n => await n.call<WorkerStats>('stats')))
    const s0 = await stats()
    let next = 0
    let sent = 0
    const start = nowMs()
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (nowMs() - start < floodMs && next < pool.length) {
        await alice.publish(topic.topic, pool[next++], { timeoutMs: 30_000 })
        sent++
      }
    }))
    const publishedMs = nowMs() - start
    const delivered = (): number => [...keys].filter(k => arrived.has(k)).length
    await waitFor(async () => await Promise.resolve(delivered() >= sent), 60_000, `client to client (${label}): ${sent - delivered()} of ${sent} lost`, 100)
    const s1 = await stats()
    const last = Math.max(...[...keys].map(k => arrived.get(k) ?? 0))
    const cpu = (w: WorkerStats): number => w.cpu.main + w.cpu.other
    const sender = nodes.indexOf(homeA)
    const evalMs = stampEvaluationCpuMs()
    const allCpu = s1.reduce((sum, w, i) => sum + cpu(w) - cpu(s0[i]), 0)
    const allBytes = s1.reduce((sum, w, i) => sum + w.socketBytes - s0[i].socketBytes, 0)
    return {
      latency: summary(samples),
      hops,
      perSecond: (sent * 1000) / (last - start),
      sent,
      publishRate: (sent * 1000) / publishedMs,
      senderCpuMs: cpu(s1[sender]) - cpu(s0[sender]),
      senderMainMs: s1[sender].cpu.main - s0[sender].cpu.main,
      stampCpuMs: [...keys].reduce((sum, k) => sum + (evaluations.get(k) ?? 0), 0) * evalMs,
      stampThreadMs: s1[sender].stampMs - s0[sender].stampMs,
      evalMs,
      cpuMsPerEnvelope: allCpu / Math.max(1, sent),
      bytesPerEnvelope: allBytes / Math.max(1, sent)
    }
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.close() }))
    await stopAll(nodes)
  }
}

const hopText = (hops: Map<number, number>): string => [...hops.entries()].sort((x, y) => x[0] - y[0]).map(([n, c]) => `${n} hop${n === 1 ? '' : 's'}: ${c}`).join(', ')

export async function benchClientPath (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const count = quick ? 100 : 500
  const floodMs = quick ? 3000 : 10_000
  const pool = quick ? 1500 : 4000
  const plain = await round(false, count, floodMs, pool, progress)
  const stem = await round(true, count, floodMs, pool, progress)
  const rate = (r: Round): ScenarioResult => ({
    scenario: `client to client messages/s, 32 in flight (stamps included${r === stem ? ', stem' : ', part 1'})`,
    unit: 'messages/s',
    ours: { median: r.perSecond, count: r.sent },
    baseline: { name: 'stamping alone on one core: 1000 / (stamp CPU ms per message)', median: (r.sent * 1000) / Math.max(1, r.stampCpuMs) },
    ratio: r.perSecond / ((r.sent * 1000) / Math.max(1, r.stampCpuMs)),
    better: 'higher',
    notes: `${r.sent}/${r.sent} delivered (published at ${r.publishRate.toFixed(0)}/s); the sending node over the flood: ${r.senderCpuMs.toFixed(0)} ms CPU (process.cpuUsage, all threads), the JavaScript main thread ${r.senderMainMs.toFixed(0)} ms (${((r.senderMainMs * 100) / Math.max(1, r.senderCpuMs)).toFixed(0)}%, /proc); stamps ${r.stampCpuMs.toFixed(0)} ms CPU = ${((r.stampCpuMs * 100) / Math.max(1, r.senderCpuMs)).toFixed(0)}% of the node's CPU (scrypt evaluations from the frames' nonces x ${r.evalMs.toFixed(3)} ms CPU per evaluation measured here); the stamp threads were busy ${r.stampThreadMs.toFixed(0)} ms of wall time (worker.performance.eventLoopUtilization, waiting for a core included); ${(r.stampCpuMs / Math.max(1, r.sent)).toFixed(1)} ms of stamp CPU per message`
  })
  return [
    {
      scenario: 'client to client latency via home node, relays, home node (stamps included, part 1: no stem)',
      unit: 'ms',
      ours: { median: plain.latency.median, p99: plain.latency.p99 },
      target: 'p50 < 10, p99 < 50',
      notes: `${count} messages one at a time, publish request to the recipient device's WATCH push; 1 KiB frames, stamp_bits 4; own frames fluffed at once`
    },
    {
      scenario: 'client to client latency via home node, relays, home node (stamps included, stem)',
      unit: 'ms',
      ours: { median: stem.latency.median, p99: stem.latency.p99 },
      baseline: { name: 'part 1 (no stem), same run', median: plain.latency.median, p99: plain.latency.p99 },
      ratio: stem.latency.median / plain.latency.median,
      better: 'lower',
      target: 'p50 < 30, p99 < 150',
      notes: `stem hops per message (sends to a successor over all nodes): ${hopText(stem.hops)}`
    },
    rate(plain),
    rate(stem),
    {
      scenario: 'CPU per delivered envelope, all four processes (stem)',
      unit: 'ms',
      ours: { median: stem.cpuMsPerEnvelope },
      baseline: { name: 'part 1 (no stem), same run', median: plain.cpuMsPerEnvelope },
      ratio: stem.cpuMsPerEnvelope / plain.cpuMsPerEnvelope,
      better: 'lower',
      notes: 'process.cpuUsage of the two relays and two home nodes over the 32-in-flight flood, stamps included, divided by the envelopes delivered'
    },
    {
      scenario: 'bytes sent per delivered envelope, all four processes (stem)',
      unit: 'bytes',
      ours: { median: stem.bytesPerEnvelope },
      baseline: { name: 'part 1 (no stem), same run', median: plain.bytesPerEnvelope },
      ratio: stem.bytesPerEnvelope / plain.bytesPerEnvelope,
      better: 'lower',
      notes: 'bytes written to TCP sockets by the four node processes over the flood (the client channel included), divided by the envelopes delivered'
    }
  ]
}
