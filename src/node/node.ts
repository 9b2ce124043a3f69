/**
 * asmtpd, the mail node (DESIGN.md "Node network (version 2: buckets)"): a libp2p host that
 * carries the gossipsub buckets of its users' topics (a relay: every bucket), checks, stores
 * and forwards every frame of them, matches the frames meant for its users, and catches up
 * with bucket peers so that mail sent while a node was down arrives when it returns. This
 * file wires the parts together and owns the lifecycle; each concern has its own module.
 */
import { EventEmitter } from 'node:events'
import createDebug from 'debug'
import type { Datastore } from 'interface-datastore'
import type { Ed25519KeyPair } from '../crypto/index.js'
import { AsmtpError } from '../errors.js'
import type { NodeConfig } from '../config/index.js'
import { createStampPool, type StampPool } from '../frame/index.js'
import { Passport } from '../passport/index.js'
import { openStore, type Store, type StoredEnvelope, type RegisteredTopic } from '../store/index.js'
import { createClientServer, type ClientBackend, type ClientServer } from '../channel/index.js'
import { BucketGossip } from './bucket-gossip.js'
import { Buckets } from './buckets.js'
import { CATCHUP_PROTOCOL, createCatchupResponder } from './catchup/index.js'
import { CATCHUP_INTERVAL_MS, CatchupRuns } from './catchup-runs.js'
import { nodeIdentity, type NodeIdentity } from './identity.js'
import { Intake, type MatchedFrame } from './intake.js'
import { dialLanPeers } from './mdns.js'
import { NodeOperator } from './operator.js'
import { createAsmtpLibp2p, peerScore, type AsmtpLibp2p } from './libp2p.js'
import { PASSPORT_NAMESPACE, createPassportValidator, selectPassportRecord } from './passport-records.js'
import { PASSPORT_REPUBLISH_MS, Passports } from './passports.js'
import { Liveness, LIVENESS_INTERVAL_MS } from './liveness.js'
import { Outgoing } from './outgoing.js'
import { PeerGuard } from './peer-guard.js'
import { PeerFinder, RECONNECT_INTERVAL_MS } from './peers.js'
import { Publisher, type PublishResult } from './publisher.js'
import { RateLimiter } from './rate-limit.js'
import { Stem } from './stem/index.js'
import { TaskSet } from './tasks.js'
import type { AsmtpNodeInit, EnvelopeEvent, EnvelopeSource, FrameEvent, NodeStatus } from './node-types.js'

const log = createDebug('asmtp:node')

export type { AsmtpNodeInit, EnvelopeEvent, EnvelopeSource, FrameEvent, NodeStatus, PublishResult }

export const EXPIRY_INTERVAL_MS = 60_000
/** Upkeep of relay connections (and a relay's provider record). */
export const PEER_UPKEEP_INTERVAL_MS = 30_000

export class AsmtpNode extends EventEmitter<{ envelope: [EnvelopeEvent], frame: [FrameEvent] }> implements ClientBackend {
  readonly config: NodeConfig
  readonly identity: NodeIdentity
  private readonly nodeKey: Ed25519KeyPair
  private readonly init: AsmtpNodeInit
  private clientServer?: ClientServer
  private clientAddr: string | null = null
  private store?: Store
  private libp2p?: AsmtpLibp2p
  private pool?: StampPool
  private readonly tasks = new TaskSet()
  private readonly limiter: RateLimiter
  private readonly buckets: Buckets
  private readonly intake: Intake
  private readonly publisher: Publisher
  private readonly catchups: CatchupRuns
  private readonly gossip: BucketGossip
  private readonly peers: PeerFinder
  private readonly passports: Passports
  private readonly stem: Stem
  private readonly outgoing: Outgoing
  private readonly liveness = new Liveness({ host: () => this.host })
  private readonly guard = new PeerGuard({ host: () => this.host })
  /** errors, metrics and the operator's endpoint (metrics.listen) */
  readonly operator: NodeOperator
  private timers: NodeJS.Timeout[] = []
  private lastError: string | null = null
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new'

  constructor (init: AsmtpNodeInit) {
    super()
    this.init = init
    this.config = init.config
    this.identity = nodeIdentity(init.nodeKey)
    this.nodeKey = init.nodeKey
    this.operator = new NodeOperator(this)
    const net = init.config.network
    this.limiter = new RateLimiter({ ratePerSecond: init.config.limits.maxPeerMessagesPerSecond })
    this.buckets = new Buckets({
      bits: net.bucketBits,
      relay: net.relay,
      join: (bucket, name) => { this.gossip.join(bucket, name) },
      leave: (_bucket, name) => { this.gossip.leave(name) }
    })
    this.intake = new Intake({
      store: () => this.db,
      buckets: this.buckets,
      bucketBits: net.bucketBits,
      stampBits: net.stampBits,
      frameLifetimeMs: net.frameLifetimeMs,
      maxEnvelopeBytes: init.config.limits.maxEnvelopeSize,
      relayQuotaBytes: init.config.storage.relayQuotaBytes,
      maxFrames: init.config.storage.maxMessages,
      onVerdict: (v, source) => { this.operator.onVerdict(v, source) },
      onMatched: (m) => { this.onMatched(m) },
      // a held stem frame that is stored (back from the mesh, or by catch-up) ends its embargo
      onAccepted: (f) => { this.stem.settle(f.hash); this.outgoing.settle(f.hash); if (this.listenerCount('frame') > 0) this.emit('frame', f) },
      ...(init.now === undefined ? {} : { now: init.now })
    })
    this.outgoing = new Outgoing({ store: () => this.db, resend: async (bucket, frame, hash) => await this.stem.sendOwn(bucket, frame, hash) })
    this.publisher = new Publisher({
      buckets: this.buckets,
      stem: () => this.stem,
      pool: { stamp: async (...args) => await this.operator.timeStamp(async () => await this.stampPool.stamp(...args)), close: async () => {} },
      pubsub: () => this.host.services.pubsub,
      bucketBits: net.bucketBits,
      stampBits: net.stampBits,
      frameLifetimeMs: net.frameLifetimeMs,
      maxEnvelopeBytes: init.config.limits.maxEnvelopeSize,
      maxQueue: init.config.limits.maxPublishQueue,
      signal: () => this.tasks.signal,
      running: () => this.state === 'started',
      journal: this.outgoing,
      ...(init.now === undefined ? {} : { now: init.now })
    })
    this.catchups = new CatchupRuns({
      host: () => this.host,
      store: () => this.db,
      intake: this.intake,
      tasks: this.tasks,
      frameLifetimeMs: net.frameLifetimeMs,
      forward: (bucket, frame, hash) => { this.gossip.willForward(hash); this.publisher.forward(this.buckets.topicName(bucket), frame) },
      ...(init.now === undefined ? {} : { now: init.now })
    })
    this.gossip = new BucketGossip({
      host: () => this.host,
      buckets: () => this.buckets,
      intake: this.intake,
      catchups: this.catchups,
      limiter: this.limiter,
      onError: (message) => { this.lastError = message; this.operator.errors.add(message) },
      onMember: (bucket) => { this.publisher.retry(this.buckets.topicName(bucket)) }
    })
    this.peers = new PeerFinder({ host: () => this.host, bootstrap: net.bootstrap, relay: net.relay })
    this.passports = new Passports({ store: () => this.db, host: () => this.host, tasks: this.tasks })
    this.stem = new Stem({
      ...init.stem, host: () => this.host, buckets: this.buckets, intake: this.intake, store: () => this.db, signal: () => this.tasks.signal,
      publish: async (bucket, data) => { await this.publisher.gossip(this.buckets.topicName(bucket), data) }
    })
  }

  get publicId (): string { return this.identity.publicId }
  get peerId (): string { return this.identity.peerId.toString() }
  /** The client channel's address (host:port, [v6]:port); null until started. */
  get clientAddress (): string | null { return this.clientAddr }

  getMultiaddrs (): string[] {
    return this.libp2p?.getMultiaddrs().map(String) ?? []
  }

  /** The libp2p host (for tests and tools); throws before start. */
  get host (): AsmtpLibp2p {
    if (this.libp2p === undefined) throw new AsmtpError('NOT_STARTED', 'node is not started')
    return this.libp2p
  }

  /** The libp2p datastore of this node (peer store and DHT records), for tools and tests. */
  get datastore (): Datastore {
    return this.db.datastore
  }

  private get db (): Store {
    if (this.store === undefined || this.state !== 'started') throw new AsmtpError('NOT_STARTED', 'node is not started')
    return this.store
  }

  private get stampPool (): StampPool {
    if (this.pool === undefined) throw new AsmtpError('NOT_STARTED', 'node is not started')
    return this.pool
  }

  async start (): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'starting'
    const net = this.config.network
    const store = await openStore({ path: this.config.storage.path, memory: this.config.storage.memory, sync: this.config.storage.sync && !this.config.storage.memory, retentionMs: this.config.storage.retentionMs, ...(this.init.now === undefined ? {} : { now: this.init.now }) })
    try {
      this.store = store
      this.pool = createStampPool(this.init.stampThreads === undefined ? {} : { threads: this.init.stampThreads })
      const libp2p = await createAsmtpLibp2p({
        privateKey: this.identity.privateKey,
        datastore: store.datastore,
        // a node that is not reachable listens nowhere and only dials out
        listen: net.reachable ? net.listen : [],
        announce: net.announce,
        bootstrap: net.bootstrap,
        dhtServer: net.reachable,
        banned: (peer) => this.guard.banned(peer),
        validators: { [PASSPORT_NAMESPACE]: createPassportValidator(async (id) => await this.heldPassport(id)) },
        selectors: { [PASSPORT_NAMESPACE]: selectPassportRecord },
        networkKey: net.privateKey,
        mdns: net.mdns,
        ...(this.operator.metrics === undefined ? {} : { metrics: this.operator.metrics.libp2p() })
      })
      this.libp2p = libp2p
      this.gossip.attach()
      const responder = createCatchupResponder({
        source: {
          carries: (bucket) => this.buckets.carries(bucket),
          hourDigests: async (bucket, from, to) => await this.db.hourDigests(bucket, from, to),
          inventory: async (bucket, o) => await this.db.inventory(bucket, o),
          getFrames: async (hashes) => await this.db.getFrames(hashes)
        },
        ...(this.init.now === undefined ? {} : { now: this.init.now })
      })
      this.operator.catchupServed = responder.stats
      await libp2p.handle(CATCHUP_PROTOCOL, (stream, connection) => {
        void responder.handle(stream, connection).catch((err: Error) => { log('catch-up answer: %s', err.message) })
      }, { maxInboundStreams: 8, maxOutboundStreams: 8 })
      await this.stem.attach()
      await libp2p.start()
      if (net.mdns) dialLanPeers(libp2p, this.tasks)
      this.state = 'started'
      this.buckets.start()
      for (const t of await store.listTopics()) this.buckets.add(t)
      const server = createClientServer({
        backend: this,
        nodeKey: this.nodeKey,
        users: this.config.users,
        host: this.config.client.listen.host,
        port: this.config.client.listen.port
      })
      this.clientServer = server
      const bound = await server.start()
      this.clientAddr = bound.host.includes(':') ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`
      await this.operator.start()
    } catch (err) {
      this.state = 'stopped'
      await this.operator.stop()
      await this.clientServer?.stop().catch(() => {})
      try {
        await this.libp2p?.stop()
      } catch {
        // start failed: the first error is the one to report
      }
      await this.pool?.close().catch(() => {})
      await store.close().catch(() => {})
      throw err
    }
    const every = (ms: number, name: string, fn: (signal: AbortSignal) => Promise<void>): void => {
      this.timers.push(setInterval(() => { void this.tasks.run(name, fn) }, ms).unref())
    }
    every(this.init.expiryIntervalMs ?? EXPIRY_INTERVAL_MS, 'expiry', async () => { await this.deleteExpired() })
    every(this.init.catchupIntervalMs ?? CATCHUP_INTERVAL_MS, 'periodic catch-up', async () => { await this.gossip.periodicCatchup() })
    every(this.init.peerUpkeepIntervalMs ?? PEER_UPKEEP_INTERVAL_MS, 'peer upkeep', async (signal) => { await this.peers.upkeep(signal) })
    every(PASSPORT_REPUBLISH_MS, 'passport renewal', async (signal) => { await this.passports.republish(signal) })
    every(LIVENESS_INTERVAL_MS, 'liveness', async (signal) => { await this.guard.check(); await this.liveness.check(signal) })
    every(RECONNECT_INTERVAL_MS, 'reconnect', async (signal) => { await this.peers.reconnect(signal) })
    void this.tasks.run('startup', async (signal) => {
      await this.peers.dialKnownPeers(signal)
      await this.outgoing.resend(signal)
      await this.peers.upkeep(signal)
    })
    log('started %s (%s) on %o, buckets %o', this.publicId, this.peerId, this.getMultiaddrs(), this.buckets.list())
  }

  async stop (): Promise<void> {
    if (this.state !== 'started') {
      if (this.state === 'new') this.state = 'stopped'
      return
    }
    // journalled frames still on their way to the stem get there, then held stem frames are
    // stored (not published) while the store is still open
    await this.publisher.settleSends()
    await this.stem.stop()
    this.state = 'stopping'
    await this.clientServer?.stop()
    await this.operator.stop()
    this.clientAddr = null
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    await this.publisher.flush()
    await this.tasks.stop()
    await this.pool?.close()
    await this.libp2p?.stop()
    await this.store?.close()
    this.state = 'stopped'
    log('stopped')
  }

  /** Reloads the devices allowed on the client channel (asmtpd on SIGHUP); removed devices are disconnected. */
  setUsers (users: string[]): { added: number, removed: number } {
    if (this.clientServer === undefined) throw new AsmtpError('NOT_STARTED', 'node is not started')
    return this.clientServer.setUsers(users)
  }

  // ---- buckets and topics ------------------------------------------------------------------

  private onMatched (m: MatchedFrame): void {
    this.emit('envelope', { topic: m.topic, seq: m.seq, hash: m.hash, data: m.data, source: m.source })
  }

  /** Registers a pairwise topic for a user (hex device key): its bucket is joined at once. */
  async registerTopic (topic: Uint8Array, key: Uint8Array, owner: string): Promise<void> {
    if (topic.length !== 32 || key.length !== 32) throw new AsmtpError('DECODE_INVALID', 'topic id and key must be 32 bytes each')
    const known = this.buckets.topic(topic) !== undefined
    const registered = await this.db.registerTopic(topic, key, owner)
    this.buckets.add(registered)
    if (!known) await this.intake.rematch(registered, this.buckets.bucketOf(topic))
  }

  async deregisterTopic (topic: Uint8Array, owner: string): Promise<void> {
    const gone = await this.db.deregisterTopic(topic, owner)
    if (gone) {
      this.buckets.remove(topic)
      // nobody will fetch its mail any more: let the sweep remove it in its time
      await this.db.markFetched(topic, (1n << 64n) - 1n)
    } else {
      const t = await this.db.getTopic(topic)
      if (t !== undefined) this.buckets.add(t)
    }
  }

  /** Whether the device (hex key) registered this topic: only then may it query or watch it. */
  isTopicOwner (topic: Uint8Array, owner: string): boolean {
    return this.buckets.topic(topic)?.owners.includes(owner) ?? false
  }

  /** Calls `listener` for every frame newly matched to any registered topic; returns the unsubscribe function. */
  onEnvelope (listener: (e: EnvelopeEvent) => void): () => void {
    this.on('envelope', listener)
    return () => { this.off('envelope', listener) }
  }

  listTopics (): RegisteredTopic[] {
    return this.buckets.allTopics()
  }

  /** The buckets this node carries. */
  listBuckets (): number[] {
    return this.buckets.list()
  }

  /** Peers subscribed to a bucket (PeerId strings). */
  bucketPeers (bucket: number): string[] {
    return this.host.services.pubsub.getSubscribers(this.buckets.topicName(bucket)).map(String)
  }

  /** Gossipsub's score of a connected peer: junk it sent lowers it. */
  peerScore (peerId: string): number {
    return peerScore(this.host.services.pubsub, peerId)
  }

  /** The bucket of a topic id in this network. */
  bucketOf (topic: Uint8Array): number {
    return this.buckets.bucketOf(topic)
  }

  // ---- frames ------------------------------------------------------------------------------

  /**
   * Publishes a device's frame on a registered topic: checked, stamped and sent down the stem
   * (stored here, like anybody's frame, once fluffed or back from the mesh). QUEUE_FULL when too many wait.
   */
  async publish (topic: Uint8Array, data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PublishResult> {
    return await this.publisher.publish(topic, data, options)
  }

  /** Matched frames on a topic after a cursor (for its users); the devices then hold everything up to `after`. */
  async query (topic: Uint8Array, after = 0n, limit?: number): Promise<{ envelopes: StoredEnvelope[], cursor: bigint, more: boolean }> {
    if (after > 0n) await this.db.markFetched(topic, after)
    return await this.db.listMatched(topic, { after, ...(limit === undefined ? {} : { limit }) })
  }

  /** Whether this node holds the frame with this hash now (relayed-only or matched). */
  async hasFrame (hash: Uint8Array): Promise<boolean> {
    return await this.db.hasFrame(hash)
  }

  async countEnvelopes (topic?: Uint8Array): Promise<number> {
    return await this.db.countMatched(topic)
  }

  async deleteExpired (): Promise<number> {
    const n = await this.db.deleteExpired()
    if (n.frames > 0) log('deleted %d expired frames', n.frames)
    return n.frames
  }

  /** Catches up a bucket from one peer now, and resolves when done (tools and tests). */
  async catchUp (peer: string, bucket: number): Promise<void> {
    const id = this.host.getConnections().find(c => c.remotePeer.toString() === peer)?.remotePeer
    if (id === undefined) throw new AsmtpError('NOT_FOUND', `not connected to ${peer}`)
    await this.catchups.schedule(id, bucket, true)
  }

  /** Resolves once no catch-up runs. */
  async catchupIdle (): Promise<void> {
    await this.catchups.idle()
  }

  async status (): Promise<NodeStatus> {
    const s = await this.db.status()
    return {
      publicId: this.publicId,
      peerId: this.peerId,
      relay: this.config.network.relay,
      bucketBits: this.config.network.bucketBits,
      buckets: this.buckets.list(),
      peers: this.host.getPeers().length,
      relaysConnected: this.peers.connectedRelays(),
      frames: s.frames,
      matchedFrames: s.matchedFrames,
      relayedBytes: s.relayedBytes,
      unfetchedPastRetention: s.unfetchedPastRetention,
      evictedFrames: s.evictedFrames,
      refusedFrames: s.refusedFrames,
      gossip: { ...this.intake.stats },
      catchup: { ...this.catchups.stats },
      stem: { ...this.stem.stats },
      lastError: this.lastError
    }
  }

  // ---- passports ---------------------------------------------------------------------------

  /** Stores a user's passport after validating every block; the DHT put runs in the background. */
  async putPassport (exportBytes: Uint8Array): Promise<Passport> {
    return await this.passports.put(exportBytes)
  }

  /** A passport by id: the one held here at once, else the DHT's (bounded wait). NOT_FOUND when neither has it. */
  async getPassport (id: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Passport> {
    return await this.passports.get(id, options)
  }

  private async heldPassport (id: Uint8Array): Promise<Passport | undefined> {
    const bytes = await this.store?.getPassport(id)
    return bytes === undefined ? undefined : Passport.import(bytes, { expectedId: id })
  }
}

/** Creates a node (not started); `start()` opens its store and its libp2p host. */
export async function createAsmtpNode (init: AsmtpNodeInit): Promise<AsmtpNode> {
  return await Promise.resolve(new AsmtpNode(init))
}
