/**
 * One benchmark node in its own process, driven by the parent over IPC: either a real asmtp
 * node (AsmtpNode: validation, MAC, LevelDB store) or the baseline, a bare libp2p host with the
 * same transports and gossipsub StrictNoSign. Timestamps are process.hrtime (CLOCK_MONOTONIC,
 * shared by all processes of the machine), so latencies are measured inside the processes.
 */
import '../src/polyfill.js'
import { randomBytes, createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { Ed25519KeyPair, fromHex, toHex, x25519KeyPairFromSecret } from '../src/index.js'
import { envelopeHash } from '../src/envelope/index.js'
import { decodeFrame, sealFrame, GOSSIP_FRAME_HEADER_BYTES } from '../src/frame/index.js'
import { envelopeMac } from '../src/envelope/mac.js'
import { AsmtpNode } from '../src/node/index.js'
import { waitForOutboundDrain } from '../src/node/libp2p.js'
import { loopbackConfig, type NodeConfig } from '../src/config/index.js'

type Mode = 'asmtp' | 'bare'
interface Request { id: number, cmd: string, [k: string]: unknown }

const mode = (process.argv[2] ?? 'asmtp') as Mode
let asmtp: AsmtpNode | undefined
let asmtpConfig: NodeConfig | undefined
let asmtpKey: Ed25519KeyPair | undefined
let bare: Libp2p<{ identify: unknown, pubsub: GossipSub }> | undefined
let dir: string | undefined
let topicName = ''
let topicId: Uint8Array = new Uint8Array(32)
let prepared: Uint8Array[] = []
let receivedCount = 0
let firstReceived = 0
let lastReceived = 0
let reportEach = false
let peakRss = 0
const rssSamples: number[] = []

const now = (): number => Number(process.hrtime.bigint()) / 1e6
const hashHex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
const send = (msg: unknown): void => { process.send?.(msg) }

const sampler = setInterval(() => {
  const rss = process.memoryUsage().rss / 1024 / 1024
  peakRss = Math.max(peakRss, rss)
  rssSamples.push(rss)
}, 250)
sampler.unref()

/**
 * CPU time of this process in ms: the main (JavaScript) thread and all other threads (libuv's
 * pool with LevelDB's writes, LevelDB compaction, V8's GC helpers), from /proc on Linux; the
 * split is { main: total, other: 0 } where /proc is not there.
 */
function cpuMs (): { main: number, other: number } {
  const u = process.cpuUsage()
  const total = (u.user + u.system) / 1000
  try {
    // utime and stime are fields 14 and 15 of /proc/<pid>/task/<tid>/stat, in clock ticks (10 ms)
    const st = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
    const main = (Number(f[11]) + Number(f[12])) * 10
    return { main, other: Math.max(0, total - main) }
  } catch {
    return { main: total, other: 0 }
  }
}

function onReceived (data: Uint8Array): void {
  const t = now()
  receivedCount++
  if (firstReceived === 0) firstReceived = t
  lastReceived = t
  if (reportEach) send({ event: 'received', hash: hashHex(data), t })
}

async function start (bootstrap: string[], rendezvousIntervalMs: number, users: string[]): Promise<{ peerId: string, addrs: string[], publicId?: string, clientAddress?: string | null }> {
  if (mode === 'asmtp') {
    dir = await mkdtemp(join(tmpdir(), 'asmtp-bench-'))
    const config = loopbackConfig({ dir, bootstrap, users, retentionMs: 3600_000, limits: { maxPeerMessagesPerSecond: 1_000_000, maxPublishQueue: 4096 } })
    asmtpConfig = config
    asmtpKey = Ed25519KeyPair.generate()
    asmtp = new AsmtpNode({ config, nodeKey: asmtpKey, rendezvousIntervalMs })
    asmtp.on('envelope', (e) => { if (e.source !== 'local') onReceived(e.data) })
    await asmtp.start()
    return { peerId: asmtp.peerId, addrs: asmtp.getMultiaddrs(), publicId: asmtp.publicId, clientAddress: asmtp.clientAddress }
  }
  bare = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (m) => new Uint8Array(createHash('sha256').update(m.data).digest()),
        allowPublishToZeroTopicPeers: true,
        fallbackToFloodsub: false,
        emitSelf: false,
        maxInboundDataLength: 65536 + 1024
      })
    }
  })
  bare.services.pubsub.addEventListener('message', (e) => { onReceived(e.detail.data) })
  for (const addr of bootstrap) await bare.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
  return { peerId: bare.peerId.toString(), addrs: bare.getMultiaddrs().map(String) }
}

function subscribers (topicHex?: string): string[] {
  if (asmtp !== undefined) return asmtp.topicPeers(topicHex !== undefined ? fromHex(topicHex, 32) : topicId)
  return bare?.services.pubsub.getSubscribers(topicName).map(String) ?? []
}

async function publish (data: Uint8Array): Promise<void> {
  if (asmtp !== undefined) await asmtp.publish(topicId, data)
  else {
    // the node's publishing back-pressure (gossipsub has none, STACK.md): without it the bare
    // sender buffered 1 GB within 5 s, its stream was aborted and 3 of 4 messages were lost
    await waitForOutboundDrain(bare!.services.pubsub)
    await bare!.services.pubsub.publish(topicName, data)
  }
}

async function handle (req: Request): Promise<unknown> {
  switch (req.cmd) {
    case 'start':
      return await start(req.bootstrap as string[], (req.rendezvousIntervalMs as number | undefined) ?? 1000, (req.users as string[] | undefined) ?? [])
    case 'join': {
      topicId = fromHex(req.topic as string, 32)
      topicName = 'bench/' + (req.topic as string)
      if (asmtp !== undefined) await asmtp.registerTopic(topicId, fromHex(req.key as string, 32), 'bench-user')
      else bare!.services.pubsub.subscribe(topicName)
      return null
    }
    case 'join-many': {
      // scale benchmark: several pairwise topics on one node
      const topics = req.topics as Array<{ topic: string, key: string }>
      for (const t of topics) await asmtp!.registerTopic(fromHex(t.topic, 32), fromHex(t.key, 32), 'bench-user')
      return null
    }
    case 'publish-to': {
      const topic = { topic: fromHex(req.topic as string, 32), key: fromHex(req.key as string, 32) }
      const data = sealFrame({ sender: x25519KeyPairFromSecret(fromHex(req.senderSecret as string, 32)), recipientPublic: fromHex(req.recipientPublic as string, 32), topic, contentType: 'text/plain', body: randomBytes(200) })
      const t = now()
      await asmtp!.publish(topic.topic, data)
      return { hash: toHex(envelopeHash(data)), t }
    }
    case 'gossip-peers': {
      const ps = asmtp!.host.services.pubsub as unknown as { getPeers: () => Array<{ toString: () => string }>, streamsOutbound: Map<string, unknown>, streamsInbound: Map<string, unknown> }
      return { peers: ps.getPeers().map(String), out: [...ps.streamsOutbound.keys()], in: [...ps.streamsInbound.keys()] }
    }
    case 'conns':
      return asmtp?.host.getConnections().map(c => c.remotePeer.toString()) ?? []
    case 'live-memory': {
      // a full GC first (the workers run with --expose-gc), so the heap counts what is retained,
      // not garbage V8 has not collected yet; RssAnon leaves out mapped files (LevelDB tables)
      const gc = (globalThis as { gc?: () => void }).gc
      if (gc === undefined) throw new Error('the worker needs --expose-gc')
      gc()
      let anonMb = process.memoryUsage().rss / 1048576
      try {
        const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
        if (m !== null) anonMb = Number(m[1]) / 1024
      } catch {
        // no /proc (not Linux): total RSS stands in
      }
      return { heapMb: process.memoryUsage().heapUsed / 1048576, anonMb }
    }
    case 'rss':
      return process.memoryUsage().rss / 1024 / 1024
    case 'subscribers':
      return subscribers(req.topic as string | undefined)
    case 'subscribers-many':
      return (req.topics as string[]).map(t => subscribers(t))
    case 'prepare': {
      const n = req.n as number
      const size = req.size as number
      if (mode === 'asmtp') {
        const sender = x25519KeyPairFromSecret(fromHex(req.senderSecret as string, 32))
        const recipientPublic = fromHex(req.recipientPublic as string, 32)
        const topic = { topic: topicId, key: fromHex(req.key as string, 32) }
        const body = randomBytes(Math.max(1, size - 200))
        // A few real sealed envelopes, then distinct variants with a correct MAC: the relaying
        // node checks shape and MAC only (it cannot open envelopes), so its work is the same,
        // and preparing 10^5 envelopes does not take minutes of the sender's CPU.
        const seeds = Array.from({ length: 16 }, () => sealFrame({ sender, recipientPublic, topic, contentType: 'application/octet-stream', body }))
        prepared = Array.from({ length: n }, (_, i) => {
          const wire = new Uint8Array(seeds[i % seeds.length])
          new DataView(wire.buffer).setUint32(wire.length - 64, i)
          wire.set(envelopeMac(topic, decodeFrame(wire), wire.subarray(GOSSIP_FRAME_HEADER_BYTES, wire.length - 32)), wire.length - 32)
          return wire
        })
      } else {
        prepared = Array.from({ length: n }, () => new Uint8Array(randomBytes(size)))
      }
      return prepared.length
    }
    case 'report-each':
      reportEach = req.on as boolean
      return null
    case 'publish-one': {
      const data = prepared[req.index as number]
      const t = now()
      await publish(data)
      return { hash: mode === 'asmtp' ? toHex(envelopeHash(data)) : hashHex(data), t }
    }
    case 'flood': {
      const durationMs = req.durationMs as number
      const window = (req.window as number | undefined) ?? 64
      // optional steady rate (envelopes/s): the i-th envelope goes out no earlier than i / rate
      const rate = req.rate as number | undefined
      const start = now()
      let next = 0
      let sent = 0
      let failed = 0
      await Promise.all(Array.from({ length: window }, async () => {
        while (now() - start < durationMs && next < prepared.length) {
          const i = next++
          const data = prepared[i]
          if (rate !== undefined) {
            const due = start + (i * 1000) / rate - now()
            if (due > 0) await new Promise(resolve => setTimeout(resolve, due))
          }
          try {
            await publish(data)
            sent++
          } catch {
            failed++
          }
        }
      }))
      return { sent, failed, ms: now() - start }
    }
    case 'pause':
      await asmtp?.stop()
      return null
    case 'resume': {
      // the same key and storage: a node restart after downtime; bootstrap to the given peers
      const t0 = now()
      const config = { ...asmtpConfig!, network: { ...asmtpConfig!.network, bootstrap: req.bootstrap as string[] } }
      asmtp = new AsmtpNode({ config, nodeKey: asmtpKey!, rendezvousIntervalMs: 1000 })
      asmtp.on('envelope', (e) => { if (e.source !== 'local') onReceived(e.data) })
      await asmtp.start()
      return { t0, addrs: asmtp.getMultiaddrs() }
    }
    case 'iterate': {
      // the baseline of store-and-forward: read every stored envelope of the topic from LevelDB
      const t0 = now()
      let after = 0n
      let n = 0
      for (;;) {
        const page = await asmtp!.query(topicId, after, 4096)
        n += page.envelopes.length
        after = page.cursor
        if (!page.more) break
      }
      return { n, ms: now() - t0 }
    }
    case 'stats':
      return { receivedCount, firstReceived, lastReceived, peakRss, rssSamples, node: asmtp?.stats, cpu: cpuMs() }
    case 'reset':
      receivedCount = 0
      firstReceived = 0
      lastReceived = 0
      peakRss = 0
      rssSamples.length = 0
      return null
    case 'stop':
      await asmtp?.stop()
      await bare?.stop()
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
      return null
    default:
      throw new Error(`unknown command ${req.cmd}`)
  }
}

process.on('message', (req: Request) => {
  handle(req).then(
    (result) => { send({ id: req.id, ok: true, result }) },
    (err: unknown) => { send({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }) }
  )
})
process.on('disconnect', () => {
  void (async () => {
    try {
      await asmtp?.stop()
      await bare?.stop()
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    } finally {
      process.exit(0)
    }
  })()
})
send({ event: 'ready' })
