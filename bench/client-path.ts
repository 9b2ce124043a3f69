/**
 * Client to client through two home nodes and a relay on loopback (three node processes): the
 * devices speak the client channel, the sender's device publishes unstamped frames made with
 * sealFrame, its home node stamps them (stamp worker threads), the relay forwards them, and the
 * recipient's device watches at its own home node. Both devices live in this process, so one
 * clock times the whole path. Latency one message at a time, then messages/s with 32 in
 * flight and the stamp's share of the sending node's CPU.
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

interface SenderCpu { cpu: { main: number, other: number }, stampMs: number }

export async function benchClientPath (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const count = quick ? 100 : 500
  const floodMs = quick ? 3000 : 10_000
  const aliceDevice = Ed25519KeyPair.generate()
  const bobDevice = Ed25519KeyPair.generate()
  const users = [toHex(aliceDevice.publicKey), toHex(bobDevice.publicKey)]
  const nodes: NodeProcess[] = []
  const clients: ClientConnection[] = []
  try {
    progress('client to client: starting a relay and two home nodes')
    const [relay, homeA, homeB] = await Promise.all([NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp')])
    nodes.push(relay, homeA, homeB)
    await relay.start({ relay: true })
    await Promise.all([homeA.start({ users, bootstrap: [relay.addrs[0]] }), homeB.start({ users, bootstrap: [relay.addrs[0]] })])
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
    // the path: the relay in both home nodes' meshes of the bucket
    for (const home of [homeA, homeB]) {
      await waitFor(async () => (await home.call<string[]>('mesh-peers', { topic: topicHex })).includes(relay.peerId), 60_000, 'client to client: a home node never meshed with the relay')
    }
    const seal = (): Uint8Array => sealFrame({ sender: a, recipientPublic: b.publicKey, topic, contentType: 'text/plain', body: randomBytes(200) })
    progress(`client to client: latency, ${count} messages one at a time (stamps included)`)
    const samples: number[] = []
    for (let i = 0; i < count + 20; i++) {
      const frame = seal()
      const h = envelopeKey(frame)
      const t0 = nowMs()
      const got = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error('client to client: message lost')) }, 10_000)
        waiter = () => { if (arrived.has(h)) { clearTimeout(timer); resolve() } }
      })
      got.catch(() => {})
      await alice.publish(topic.topic, frame, { timeoutMs: 10_000 })
      if (!arrived.has(h)) await got
      waiter = undefined
      if (i >= 20) samples.push(arrived.get(h)! - t0)
    }
    await sleep(500)
    progress(`client to client: messages/s for ${floodMs / 1000} s, 32 in flight`)
    const pool = Array.from({ length: quick ? 1500 : 4000 }, seal)
    const keys = new Set(pool.map(envelopeKey))
    const cpu0 = await homeA.call<SenderCpu>('stats')
    let next = 0
    let sent = 0
    const start = nowMs()
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (nowMs() - start < floodMs && next < pool.length) {
        await alice.publish(topic.topic, pool[next++], { timeoutMs: 30_000 })
        sent++
      }
    }))
    const cpu1 = await homeA.call<SenderCpu>('stats')
    const publishedMs = nowMs() - start
    const delivered = (): number => [...keys].filter(k => arrived.has(k)).length
    await waitFor(async () => await Promise.resolve(delivered() >= sent), 30_000, `client to client: ${sent - delivered()} of ${sent} lost`, 100)
    const last = Math.max(...[...keys].map(k => arrived.get(k) ?? 0))
    const perSecond = (sent * 1000) / (last - start)
    const cpuMs = (cpu1.cpu.main + cpu1.cpu.other) - (cpu0.cpu.main + cpu0.cpu.other)
    const stampMs = cpu1.stampMs - cpu0.stampMs
    const mainMs = cpu1.cpu.main - cpu0.cpu.main
    const evalMs = stampEvaluationCpuMs()
    const stampCpuMs = [...keys].reduce((sum, k) => sum + (evaluations.get(k) ?? 0), 0) * evalMs
    const s = summary(samples)
    const publishRate = (sent * 1000) / publishedMs
    return [
      {
        scenario: 'client to client latency via home node, relay, home node (stamps included)',
        unit: 'ms',
        ours: { median: s.median, p99: s.p99 },
        target: 'p50 < 10, p99 < 50',
        notes: `${count} messages one at a time, publish request to the recipient device's WATCH push; 1 KiB frames, stamp_bits 4`
      },
      {
        scenario: 'client to client messages/s, 32 in flight (stamps included)',
        unit: 'messages/s',
        ours: { median: perSecond, count: sent },
        baseline: { name: 'stamping alone on one core: 1000 / (stamp CPU ms per message)', median: (sent * 1000) / Math.max(1, stampCpuMs) },
        ratio: perSecond / ((sent * 1000) / Math.max(1, stampCpuMs)),
        better: 'higher',
        notes: `${sent}/${sent} delivered (published at ${publishRate.toFixed(0)}/s); the sending node over the flood: ${cpuMs.toFixed(0)} ms CPU (process.cpuUsage, all threads), the JavaScript main thread ${mainMs.toFixed(0)} ms (${((mainMs * 100) / Math.max(1, cpuMs)).toFixed(0)}%, /proc); stamps ${stampCpuMs.toFixed(0)} ms CPU = ${((stampCpuMs * 100) / Math.max(1, cpuMs)).toFixed(0)}% of the node's CPU (scrypt evaluations from the frames' nonces x ${evalMs.toFixed(3)} ms CPU per evaluation measured here); the stamp threads were busy ${stampMs.toFixed(0)} ms of wall time (worker.performance.eventLoopUtilization, waiting for a core included); ${(stampCpuMs / Math.max(1, sent)).toFixed(1)} ms of stamp CPU per message`
      }
    ]
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.close() }))
    await stopAll(nodes)
  }
}
