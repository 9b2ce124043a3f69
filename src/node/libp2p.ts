/**
 * The libp2p host of a mail node (DESIGN.md "Node network", STACK.md "libp2p on loopback"):
 * TCP (IPv4 and IPv6), noise, yamux, identify, ping, bootstrap, kad-dht on a private protocol id
 * (client mode for a node that is not reachable), and gossipsub with StrictNoSign, message id =
 * SHA-256 of the frame, floodPublish and floodsub off, peer exchange on prune, and an inbound
 * limit that holds an IWANT reply of several 64 KiB frames. Peer store and DHT records live in
 * the node's LevelDB (the datastore passed in).
 */
import { createHash } from 'node:crypto'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import { kadDHT, passthroughMapper, type KadDHT, type SelectFn, type ValidateFn } from '@libp2p/kad-dht'
import type { PrivateKey } from '@libp2p/interface'
import { withTimeout } from './tasks.js'
import { lanDiscovery } from './mdns.js'
import { networkProtector } from './pnet.js'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'
import type { Datastore } from 'interface-datastore'
import type { Message } from '@libp2p/gossipsub'

export const DHT_PROTOCOL = '/asmtp/kad/1.0.0'
/** One inbound gossipsub RPC: an IWANT reply of up to 64 frames of 64 KiB, with framing. */
export const GOSSIPSUB_MAX_DATA_BYTES = 64 * (65536 + 64) + 64 * 1024
export const GOSSIPSUB_MAX_OUTBOUND_BUFFER_BYTES = 32 * 1024 * 1024
export const DRAIN_WAIT_MS = 10_000
export const INBOUND_CONNECTIONS_PER_SECOND_PER_HOST = 100
/**
 * Addresses exempt from gossipsub's IP colocation penalty. That penalty (-5 x the square of the
 * peers beyond 10 on one IP) takes every peer's score below the graylist threshold (-80) once 14
 * peers share an address: gossipsub then ignores their subscriptions and messages, and no pair
 * behind that address meets. Nodes on loopback are one machine's own (tests, several nodes of
 * one host), not a Sybil attack from outside; public and private addresses keep the penalty.
 */
export const COLOCATION_WHITELIST = ['127.0.0.1', '::1']

interface DrainableStream {
  writableNeedsDrain: boolean
  addEventListener: (type: 'drain' | 'close', listener: () => void) => void
  removeEventListener: (type: 'drain' | 'close', listener: () => void) => void
}

/** The pending 'drain' or 'close' of a full stream, shared by every publish waiting on it. */
const drains = new WeakMap<DrainableStream, Promise<boolean>>()

function sharedDrain (stream: DrainableStream): Promise<boolean> {
  let drained = drains.get(stream)
  if (drained === undefined) {
    drained = new Promise<boolean>(resolve => {
      const finish = (result: boolean): void => {
        stream.removeEventListener('drain', onDrain)
        stream.removeEventListener('close', onClose)
        drains.delete(stream)
        resolve(result)
      }
      const onDrain = (): void => { finish(true) }
      const onClose = (): void => { finish(false) }
      stream.addEventListener('drain', onDrain)
      stream.addEventListener('close', onClose)
    })
    drains.set(stream, drained)
  }
  return drained
}

/**
 * Resolves true at the stream's next 'drain', false at its 'close' or when the signal aborts.
 * Waiters share one pair of listeners per stream, however many publishes wait. The stream's
 * own onDrain() cannot be used: @libp2p/utils 7.4.1 keeps the promise it resolved at the
 * first drain and returns it from every later call, so after one drain it never waits again.
 */
async function nextDrain (stream: DrainableStream, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false
  return await new Promise<boolean>(resolve => {
    const onAbort = (): void => { resolve(false) }
    signal.addEventListener('abort', onAbort, { once: true })
    void sharedDrain(stream).then((drained) => {
      signal.removeEventListener('abort', onAbort)
      resolve(drained)
    })
  })
}

/** Streams that stayed full for a whole wait: no publish waits on them again until they drain. */
const stalled = new WeakSet<DrainableStream>()

function markStalled (stream: DrainableStream): void {
  if (stalled.has(stream)) return
  stalled.add(stream)
  void sharedDrain(stream).then(() => { stalled.delete(stream) })
}

export interface OutboundDrainOptions {
  /** only the streams to these peers (PeerId strings), the ones the publish goes to @default every peer */
  peers?: Iterable<string>
  /** ends the wait early (the node stops) */
  signal?: AbortSignal
  /** the longest one publish waits @default DRAIN_WAIT_MS */
  boundMs?: number
}

/**
 * Publishing back-pressure, which gossipsub lacks (STACK.md): waits (at most `boundMs`) until
 * no outbound gossipsub stream to the given peers has a full write window. A stream that is
 * still full when a wait runs out counts as stalled, a peer that does not read: later
 * publishes do not wait for it until it drains, so it costs one bounded wait instead of one per
 * publish (gossipsub buffers for it up to its outbound limit, then drops the stream). Streams
 * to other peers never hold a publish up. Reads gossipsub's outbound stream map, an internal
 * field; if it is not there, publishing simply goes on without waiting. Runs before every
 * publish, so when nothing is full it allocates nothing.
 */
export async function waitForOutboundDrain (pubsub: GossipSub, options: OutboundDrainOptions = {}): Promise<void> {
  const streams = (pubsub as unknown as { streamsOutbound?: Map<string, { rawStream?: DrainableStream }> }).streamsOutbound
  if (streams === undefined) return
  let signal: AbortSignal | undefined
  for (const peer of options.peers ?? streams.keys()) {
    const rawStream = streams.get(peer)?.rawStream
    if (rawStream === undefined || stalled.has(rawStream)) continue
    // a drain lets the stream send its buffer, which may fill the window again: wait until it
    // holds; a stream that closes meanwhile no longer counts
    while (rawStream.writableNeedsDrain) {
      signal ??= withTimeout(options.boundMs ?? DRAIN_WAIT_MS, options.signal)
      if (signal.aborted || !await nextDrain(rawStream, signal)) break
    }
    if (signal?.aborted === true) {
      if (rawStream.writableNeedsDrain && options.signal?.aborted !== true) markStalled(rawStream)
      return
    }
  }
}

/**
 * Scores a bucket topic: frames that fail the shape, stamp or rate checks (a validator reject)
 * lower the sender's score, which gossipsub only counts on topics that have score parameters.
 * Gossipsub reads its parameters per topic at scoring time; the table is set when the node
 * joins a bucket (an internal field, as the options only take topics known at creation).
 */
export function scoreBucketTopic (pubsub: GossipSub, topic: string): void {
  const params = (pubsub as unknown as { score?: { params?: { topics?: Record<string, unknown> } } }).score?.params
  if (params?.topics === undefined || params.topics[topic] !== undefined) return
  params.topics[topic] = createTopicScoreParams({
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 100,
    firstMessageDeliveriesWeight: 0.1,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 100,
    // a quiet bucket is normal: no penalty for delivering little
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -4,
    invalidMessageDeliveriesDecay: 0.9
  })
}

/** Methods of gossipsub's class that its exported interface leaves out. */
interface GossipSubExtras {
  getMeshPeers?: (topic: string) => string[]
  getScore?: (peerId: string) => number
}

/** The bucket's mesh peers (PeerId strings): where a publish goes with floodPublish off. */
export function meshPeers (pubsub: GossipSub, topic: string): string[] {
  return (pubsub as unknown as GossipSubExtras).getMeshPeers?.(topic) ?? pubsub.getSubscribers(topic).map(String)
}

/** Gossipsub's score of a peer (0 when unknown). */
export function peerScore (pubsub: GossipSub, peerId: string): number {
  return (pubsub as unknown as GossipSubExtras).getScore?.(peerId) ?? 0
}

// a type alias, not an interface: libp2p's ServiceMap needs an index signature
export type AsmtpServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
}

export type AsmtpLibp2p = Libp2p<AsmtpServices>

export interface Libp2pInit {
  privateKey: PrivateKey
  datastore: Datastore
  listen: string[]
  announce?: string[]
  bootstrap?: string[]
  /** false: the DHT runs in client mode (a node behind NAT) @default true */
  dhtServer?: boolean
  /** hand out peers when pruning a mesh (relays: it is how home nodes find bucket peers) @default true */
  doPX?: boolean
  validators: Record<string, ValidateFn>
  selectors: Record<string, SelectFn>
  /** peers refused inbound and outbound (src/node/peer-guard.ts) */
  banned?: (peer: string) => boolean
  /** a private network's key (@libp2p/pnet) @default null: the open network */
  networkKey?: Uint8Array | null
  /** LAN discovery by multicast DNS @default false */
  mdns?: boolean
  /** libp2p's metrics (src/node/metrics.ts) */
  metrics?: Libp2pOptions['metrics']
}

/** StrictNoSign message id: sha256 of the data (messages do not name their author node). */
function messageId (msg: Message): Uint8Array {
  return new Uint8Array(createHash('sha256').update(msg.data).digest())
}

export async function createAsmtpLibp2p (init: Libp2pInit): Promise<AsmtpLibp2p> {
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = (init.bootstrap ?? []).length > 0
    ? [bootstrap({ list: init.bootstrap ?? [], timeout: 0 })]
    : []
  if (init.mdns === true) peerDiscovery.push(lanDiscovery())
  return await createLibp2p({
    start: false,
    privateKey: init.privateKey,
    datastore: init.datastore,
    addresses: {
      listen: init.listen,
      announce: init.announce ?? []
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    ...(init.networkKey == null ? {} : { connectionProtector: networkProtector(init.networkKey) }),
    ...(init.metrics === undefined ? {} : { metrics: init.metrics }),
    streamMuxers: [yamux()],
    peerDiscovery,
    connectionManager: {
      // libp2p accepts 5 inbound connections per second per host by default; nodes behind one
      // address (a NAT, a test machine) would be refused past the fifth, and bootstrap does not retry
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_SECOND_PER_HOST
    },
    connectionMonitor: {
      // libp2p's monitor either cuts a connection at the first failed ping (on a busy node that
      // cut connections by the dozen, each costing a handshake, gossipsub's state and a
      // catch-up) or never: src/node/liveness.ts pings instead and closes a connection only
      // after several failed pings in a row
      enabled: false
    },
    connectionGater: {
      // loopback and private addresses must dial (tests, LANs); the default gater allows all
      denyDialMultiaddr: () => false,
      denyDialPeer: (peer) => init.banned?.(peer.toString()) ?? false,
      denyInboundEncryptedConnection: (peer) => init.banned?.(peer.toString()) ?? false
    },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: init.dhtServer === false,
        peerInfoMapper: passthroughMapper,
        validators: init.validators,
        selectors: init.selectors,
        allowQueryWithZeroPeers: true
      }),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictNoSign',
        msgIdFn: messageId,
        allowPublishToZeroTopicPeers: true,
        floodPublish: false,
        doPX: init.doPX ?? true,
        ignoreDuplicatePublishError: true,
        fallbackToFloodsub: false,
        emitSelf: false,
        maxInboundDataLength: GOSSIPSUB_MAX_DATA_BYTES,
        // a peer that never reads has its stream aborted instead of growing our memory without end
        maxOutboundBufferSize: GOSSIPSUB_MAX_OUTBOUND_BUFFER_BYTES,
        messageProcessingConcurrency: 64,
        scoreParams: { IPColocationFactorWhitelist: new Set(COLOCATION_WHITELIST) },
        // peer exchange from any peer not below zero: a node learns bucket peers from relays
        scoreThresholds: { acceptPXThreshold: 0 },
        // read a peer's next RPC only once the last one is handled: the receiver's pace reaches
        // the sender through yamux flow control instead of piling up unvalidated messages here
        awaitRpcHandler: true
      })
    }
  })
}
