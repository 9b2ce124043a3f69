/**
 * One version 2 asmtp node (a home node or a relay) in its own process for the spy experiment,
 * driven by the parent over IPC (the pattern of bench/node-worker.ts). The device's part runs
 * here too: it seals each frame with `sealFrame` and hands it, unstamped, to `node.publish`.
 *
 * Besides the node it counts the bytes it reads from the network at the TCP level: node's
 * `net.client.socket` / `net.server.socket` diagnostics channels hand over every TCP socket
 * this process opens or accepts (libp2p's TCP transport and the client channel), and
 * `socket.bytesRead` is what the kernel delivered on it, before noise, yamux or gossipsub see
 * a byte. Sockets of the client channel are left out.
 */
import '../../src/polyfill.js'
import { randomBytes } from 'node:crypto'
import { subscribe } from 'node:diagnostics_channel'
import { mkdtemp, rm } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ed25519KeyPair, fromHex, toHex, x25519KeyPairFromSecret } from '../../src/index.js'
import { bucketTopic, sealFrame } from '../../src/frame/index.js'
import { AsmtpNode } from '../../src/node/index.js'
import { meshPeers } from '../../src/node/libp2p.js'
import { loopbackConfig } from '../../src/config/index.js'

interface Request { id: number, cmd: string, [k: string]: unknown }

export interface StartRequest {
  bootstrap: string[]
  relay: boolean
  bucketBits: number
  stampBits?: number
  /** ms between peer upkeep rounds (relay lookups) */
  peerUpkeepIntervalMs?: number
  /** false: own frames are fluffed at once (part 1's delivery, the stem's benchmark switch) @default true */
  stem?: boolean
}

/** A registered topic's bucket as this node sees it. */
export interface BucketView { bucket: number, peers: string[], mesh: string[] }

let node: AsmtpNode | undefined
let dir: string | undefined
let clientPort = -1
const sockets = new Set<Socket>()
let closedBytes = 0
let bytesAtReset = 0

const now = (): number => Number(process.hrtime.bigint()) / 1e6
const send = (msg: unknown): void => { process.send?.(msg) }

function track (socket: Socket, inbound: boolean): void {
  // the client channel's own listener: device traffic, not node-to-node traffic
  if (inbound && socket.localPort === clientPort) return
  sockets.add(socket)
  socket.once('close', () => {
    sockets.delete(socket)
    closedBytes += socket.bytesRead
  })
}
subscribe('net.client.socket', (m) => { track((m as { socket: Socket }).socket, false) })
subscribe('net.server.socket', (m) => { track((m as { socket: Socket }).socket, true) })

function bytesRead (): number {
  let open = 0
  for (const s of sockets) open += s.bytesRead
  return closedBytes + open - bytesAtReset
}

async function handle (req: Request): Promise<unknown> {
  switch (req.cmd) {
    case 'start': {
      const s = req as unknown as StartRequest
      dir = await mkdtemp(join(tmpdir(), 'asmtp-spy-'))
      const network = { relay: s.relay, bucketBits: s.bucketBits, ...(s.stampBits === undefined ? {} : { stampBits: s.stampBits }) }
      const config = loopbackConfig({ dir, bootstrap: s.bootstrap, retentionMs: 3600_000, network })
      node = new AsmtpNode({ config, nodeKey: Ed25519KeyPair.generate(), stampThreads: 1, ...(s.stem === false ? { stem: { off: true } } : {}), ...(s.peerUpkeepIntervalMs === undefined ? {} : { peerUpkeepIntervalMs: s.peerUpkeepIntervalMs }) })
      node.on('envelope', (e) => { if (e.source !== 'local') send({ event: 'received', frameId: toHex(e.hash), t: now() }) })
      await node.start()
      clientPort = Number(node.clientAddress?.split(':').pop() ?? -1)
      return { peerId: node.peerId, addrs: node.getMultiaddrs() }
    }
    case 'register': {
      for (const t of req.topics as Array<{ topic: string, key: string }>) await node!.registerTopic(fromHex(t.topic, 32), fromHex(t.key, 32), 'spy-experiment-user')
      return null
    }
    case 'buckets': {
      const pubsub = node!.host.services.pubsub
      return (req.topics as string[]).map((t): BucketView => {
        const bucket = node!.bucketOf(fromHex(t, 32))
        const name = bucketTopic(node!.config.network.bucketBits, bucket)
        return { bucket, peers: node!.bucketPeers(bucket), mesh: meshPeers(pubsub, name) }
      })
    }
    case 'publish': {
      const topic = { topic: fromHex(req.topic as string, 32), key: fromHex(req.key as string, 32) }
      const frame = sealFrame({ sender: x25519KeyPairFromSecret(fromHex(req.senderSecret as string, 32)), recipientPublic: fromHex(req.recipientPublic as string, 32), topic, contentType: 'text/plain', body: randomBytes(200) })
      const t = now()
      // the gossipsub message id is SHA-256 of the stamped frame: the hash publish returns
      const r = await node!.publish(topic.topic, frame)
      return { frameId: toHex(r.hash), t }
    }
    case 'reset-bytes':
      bytesAtReset = 0
      bytesAtReset = bytesRead()
      return null
    case 'bytes':
      return bytesRead()
    case 'stop':
      await node?.stop()
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
      await node?.stop()
      if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    } finally {
      process.exit(0)
    }
  })()
})
send({ event: 'ready' })
