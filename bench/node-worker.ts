/**
 * One benchmark node in its own process, driven by the parent over IPC (bench/worker-client.ts):
 * a real asmtp node (AsmtpNode: every check, the store, the trial MAC), or a baseline: a bare
 * libp2p host with the same transports and gossipsub StrictNoSign, alone (`bare`) or with one
 * stamp check and one grouped LevelDB write per message in its validator (`bare-store`).
 * Timestamps are process.hrtime (CLOCK_MONOTONIC, shared by the machine's processes), so
 * latencies are measured inside the processes.
 */
import '../src/polyfill.js'
import { randomBytes, createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join as joinPath } from 'node:path'
import { Worker as ThreadWorker } from 'node:worker_threads'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { gossipsub, TopicValidatorResult, type GossipSub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { Ed25519KeyPair, fromHex, x25519KeyPairFromSecret } from '../src/index.js'
import { bucketOf, bucketTopic, decodeFrame, sealFrame, searchStamp, verifyStamp, GOSSIP_FRAME_HEADER_BYTES } from '../src/frame/index.js'
import { envelopeMac } from '../src/envelope/mac.js'
import { AsmtpNode } from '../src/node/index.js'
import { meshPeers, waitForOutboundDrain } from '../src/node/libp2p.js'
import { CONFIG_DEFAULTS, loopbackConfig } from '../src/config/index.js'
import { BareStore } from './bare-store.js'

type Mode = 'asmtp' | 'bare' | 'bare-store'
interface Request { id: number, cmd: string, [k: string]: unknown }

const mode = (process.argv[2] ?? 'asmtp') as Mode
const BUCKET_BITS: number = CONFIG_DEFAULTS.bucketBits
let asmtp: AsmtpNode | undefined
let bare: Libp2p<{ identify: unknown, pubsub: GossipSub }> | undefined
let bareStore: BareStore | undefined
let stampBits: number = CONFIG_DEFAULTS.stampBits
let dir: string | undefined
let topicName = ''
let topicId: Uint8Array = new Uint8Array(32)
let topicKey: Uint8Array = new Uint8Array(32)
let prepared: Uint8Array[] = []
let receivedCount = 0
let firstReceived = 0
let lastReceived = 0
let reportEach = false
let peakRss = 0
const rssSamples: number[] = []

const now = (): number => Number(process.hrtime.bigint()) / 1e6
/** A frame's key across stamping: SHA-256 of its envelope (the nonce changes, the envelope does not). */
const envelopeKey = (frame: Uint8Array): string => createHash('sha256').update(frame.subarray(GOSSIP_FRAME_HEADER_BYTES)).digest('hex')
const send = (msg: unknown): void => { process.send?.(msg) }

// bytes this process writes to TCP sockets (libp2p's, after noise; the client channel's)
let socketBytes = 0
const socketWrite = Reflect.get(Socket.prototype, 'write') as (this: Socket, ...a: unknown[]) => boolean
Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
  if (chunk instanceof Uint8Array) socketBytes += chunk.byteLength
  else if (typeof chunk === 'string') socketBytes += Buffer.byteLength(chunk)
  return socketWrite.call(this, chunk, ...rest)
}

// the stamp pool's worker threads (the only worker_threads of a node), found by their first
// job; their event-loop active time is the time they spent stamping
const threads = new Set<ThreadWorker>()
const postMessage = Reflect.get(ThreadWorker.prototype, 'postMessage') as (this: ThreadWorker, ...a: unknown[]) => void
ThreadWorker.prototype.postMessage = function (this: ThreadWorker, ...args: unknown[]): void {
  threads.add(this)
  postMessage.apply(this, args)
}
function stampThreadMs (): number {
  let ms = 0
  for (const t of threads) {
    try {
      ms += t.performance.eventLoopUtilization().active
    } catch {
      // a terminated worker
    }
  }
  return ms
}

const sampler = setInterval(() => {
  const rss = process.memoryUsage().rss / 1024 / 1024
  peakRss = Math.max(peakRss, rss)
  rssSamples.push(rss)
}, 250)
sampler.unref()

/**
 * CPU time of this process in ms: the main (JavaScript) thread and all other threads (libuv's
 * pool with LevelDB's writes, LevelDB compaction, V8's GC helpers, the stamp pool), from /proc
 * on Linux; { main: total, other: 0 } where /proc is not there.
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
  if (reportEach) send({ event: 'received', hash: envelopeKey(data), t })
}

/** stemOff: own frames fluffed at once, part 1's delivery, for a same-run baseline of the stem */
/** memory: storage.memory (RAM only, memory-level) */
interface StartArgs { bootstrap?: string[], users?: string[], relay?: boolean, stampBits?: number, stemOff?: boolean, memory?: boolean }

async function start (a: StartArgs): Promise<{ peerId: string, addrs: string[], publicId?: string, clientAddress?: string | null }> {
  stampBits = a.stampBits ?? CONFIG_DEFAULTS.stampBits
  dir = await mkdtemp(joinPath(tmpdir(), 'asmtp-bench-'))
  if (mode === 'asmtp') {
    const config = loopbackConfig({
      dir,
      bootstrap: a.bootstrap ?? [],
      users: a.users ?? [],
      retentionMs: 3600_000,
      // a relay's slice of one bucket holds a whole flood (the catch-up scenario keeps 10,000 frames)
      relayQuotaBytes: 4 * 1024 ** 3,
      network: { relay: a.relay ?? false, stampBits },
      storage: { memory: a.memory ?? false },
      limits: { maxPeerMessagesPerSecond: 1_000_000, maxPublishQueue: 4096 }
    })
    asmtp = new AsmtpNode({ config, nodeKey: Ed25519KeyPair.generate(), ...(a.stemOff === true ? { stem: { off: true } } : {}) })
    asmtp.on('envelope', (e) => { if (e.source !== 'local') onReceived(e.data) })
    await asmtp.start()
    return { peerId: asmtp.peerId, addrs: asmtp.getMultiaddrs(), publicId: asmtp.publicId, clientAddress: asmtp.clientAddress }
  }
  const withStore = mode === 'bare-store'
  if (withStore) {
    bareStore = new BareStore(joinPath(dir, 'level'))
    await bareStore.open()
  }
  bare = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    // as the node: a ping that is late on a busy machine must not close the connection
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: (m) => new Uint8Array(createHash('sha256').update(m.data).digest()),
        allowPublishToZeroTopicPeers: true,
        fallbackToFloodsub: false,
        emitSelf: false,
        maxInboundDataLength: 65536 + 1024,
        // with a store, the node's flow control: 64 validations at once, the next RPC read once one is handled
        ...(withStore ? { messageProcessingConcurrency: 64, awaitRpcHandler: true } : {})
      })
    }
  })
  bare.services.pubsub.addEventListener('message', (e) => { onReceived(e.detail.data) })
  await bare.start()
  for (const addr of a.bootstrap ?? []) await bare.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
  return { peerId: bare.peerId.toString(), addrs: bare.getMultiaddrs().map(String) }
}

function bucketName (topic: Uint8Array): string {
  return bucketTopic(BUCKET_BITS, bucketOf(topic, BUCKET_BITS))
}

function bucketPeers (topicHex?: string): string[] {
  const topic = topicHex !== undefined ? fromHex(topicHex, 32) : topicId
  if (asmtp !== undefined) return asmtp.bucketPeers(asmtp.bucketOf(topic))
  return bare?.services.pubsub.getSubscribers(bucketName(topic)).map(String) ?? []
}

function pubsub (): GossipSub {
  if (asmtp !== undefined) return asmtp.host.services.pubsub
  if (bare !== undefined) return bare.services.pubsub
  throw new Error('not started')
}

/** A stamped frame straight into gossipsub on its bucket, as a relay forwards it, with the node's back-pressure. */
async function publishStamped (data: Uint8Array): Promise<void> {
  const ps = pubsub()
  await waitForOutboundDrain(ps, { peers: meshPeers(ps, topicName) })
  await ps.publish(topicName, data)
}

/** A few real sealed frames, then distinct variants of them with a correct MAC and stamp. */
function prepare (n: number, senderSecret: string, recipientPublic: string): Uint8Array[] {
  const sender = x25519KeyPairFromSecret(fromHex(senderSecret, 32))
  const topic = { topic: topicId, key: topicKey }
  const body = randomBytes(800)
  const seeds = Array.from({ length: 16 }, () => sealFrame({ sender, recipientPublic: fromHex(recipientPublic, 32), topic, contentType: 'application/octet-stream', body }))
  const bucket = bucketOf(topicId, BUCKET_BITS)
  return Array.from({ length: n }, (_, i) => {
    const wire = new Uint8Array(seeds[i % seeds.length])
    new DataView(wire.buffer).setUint32(wire.length - 64, i)
    wire.set(envelopeMac(topic, decodeFrame(wire), wire.subarray(GOSSIP_FRAME_HEADER_BYTES, wire.length - 32)), wire.length - 32)
    // at stamp_bits 0 a 1 KiB frame's every nonce is a stamp; otherwise search (slow: few frames only)
    return stampBits === 0 ? wire : (searchStamp(wire, { bucketBits: BUCKET_BITS, bucket, stampBits }) ?? wire)
  })
}

async function joinTopic (topicHex: string, keyHex: string): Promise<void> {
  topicId = fromHex(topicHex, 32)
  topicKey = fromHex(keyHex, 32)
  topicName = bucketName(topicId)
  if (asmtp !== undefined) {
    await asmtp.registerTopic(topicId, topicKey, 'bench-user')
    return
  }
  const ps = pubsub()
  if (bareStore !== undefined && !ps.topicValidators.has(topicName)) {
    const store = bareStore
    const params = { bucketBits: BUCKET_BITS, bucket: bucketOf(topicId, BUCKET_BITS), stampBits }
    ps.topicValidators.set(topicName, async (_peer, msg) => {
      if (!verifyStamp(msg.data, params)) return TopicValidatorResult.Reject
      await store.put(createHash('sha256').update(msg.data).digest(), msg.data)
      return TopicValidatorResult.Accept
    })
  }
  ps.subscribe(topicName)
}

async function handle (req: Request): Promise<unknown> {
  switch (req.cmd) {
    case 'start':
      return await start(req as StartArgs)
    case 'join':
      await joinTopic(req.topic as string, req.key as string)
      return null
    case 'join-many':
      for (const t of req.topics as Array<{ topic: string, key: string }>) await asmtp!.registerTopic(fromHex(t.topic, 32), fromHex(t.key, 32), 'bench-user')
      return null
    case 'bucket-peers':
      return bucketPeers(req.topic as string | undefined)
    case 'mesh-peers':
      return meshPeers(pubsub(), typeof req.topic === 'string' ? bucketName(fromHex(req.topic, 32)) : topicName)
    case 'publish-to': {
      // a device's unstamped frame through the node: checked, stamped, stored, sent
      const topic = { topic: fromHex(req.topic as string, 32), key: fromHex(req.key as string, 32) }
      const data = sealFrame({ sender: x25519KeyPairFromSecret(fromHex(req.senderSecret as string, 32)), recipientPublic: fromHex(req.recipientPublic as string, 32), topic, contentType: 'text/plain', body: randomBytes(200) })
      const t = now()
      await asmtp!.publish(topic.topic, data)
      return { hash: envelopeKey(data), t }
    }
    case 'live-memory': {
      // a full GC first (--expose-gc), so the heap counts what is retained; RssAnon leaves out mapped files
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
    case 'prepare':
      prepared = prepare(req.n as number, req.senderSecret as string, req.recipientPublic as string)
      return prepared.length
    case 'report-each':
      reportEach = req.on as boolean
      return null
    case 'publish-one': {
      const data = prepared[req.index as number]
      const t = now()
      await publishStamped(data)
      return { hash: envelopeKey(data), t }
    }
    case 'flood': {
      const durationMs = req.durationMs as number
      const window = (req.window as number | undefined) ?? 64
      // optional steady rate (frames/s): the i-th frame goes out no earlier than i / rate
      const rate = req.rate as number | undefined
      const begin = now()
      let next = 0
      let sent = 0
      let failed = 0
      await Promise.all(Array.from({ length: window }, async () => {
        while (now() - begin < durationMs && next < prepared.length) {
          const i = next++
          if (rate !== undefined) {
            const due = begin + (i * 1000) / rate - now()
            if (due > 0) await new Promise(resolve => setTimeout(resolve, due))
          }
          try {
            await publishStamped(prepared[i])
            sent++
          } catch {
            failed++
          }
        }
      }))
      return { sent, failed, ms: now() - begin }
    }
    case 'iterate': {
      // read every matched frame of the topic from LevelDB (the catch-up baseline)
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
    case 'status': {
      const s = await asmtp!.status()
      return { frames: s.frames, matchedFrames: s.matchedFrames, gossip: s.gossip, catchup: s.catchup, peers: s.peers, relaysConnected: s.relaysConnected, stem: s.stem }
    }
    case 'stats':
      return { receivedCount, firstReceived, lastReceived, peakRss, rssSamples, node: asmtp === undefined ? undefined : (await asmtp.status()).gossip, cpu: cpuMs(), stampMs: stampThreadMs(), socketBytes, t: now() }
    case 'reset':
      receivedCount = 0
      firstReceived = 0
      lastReceived = 0
      peakRss = 0
      rssSamples.length = 0
      return null
    case 'stop':
      await shutdown()
      return null
    default:
      throw new Error(`unknown command ${req.cmd}`)
  }
}

async function shutdown (): Promise<void> {
  await asmtp?.stop()
  await bare?.stop()
  await bareStore?.close()
  asmtp = undefined
  bare = undefined
  bareStore = undefined
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}

process.on('message', (req: Request) => {
  handle(req).then(
    (result) => { send({ id: req.id, ok: true, result }) },
    (err: unknown) => { send({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }) }
  )
})
process.on('disconnect', () => {
  void shutdown().catch(() => {}).finally(() => { process.exit(0) })
})
send({ event: 'ready' })
