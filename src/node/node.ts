/**
 * asmtpd, the mail node (DESIGN.md "Node network"): a libp2p host that keeps its users'
 * passports and topics, meets the other node of each pair through the DHT, relays and stores
 * envelopes on its users' topics, and serves and runs catch-up so that mail sent while a node
 * was down arrives when it returns.
 */
import { EventEmitter } from 'node:events'
import createDebug from 'debug'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import { toHex } from '../bytes.js'
import type { Ed25519KeyPair } from '../crypto/index.js'
import { AsmtpError } from '../errors.js'
import type { NodeConfig } from '../config/index.js'
import { envelopeHash } from '../envelope/index.js'
import { decodeFrame, verifyFrameMac } from '../frame/index.js'
import { Passport, mergePassport } from '../passport/index.js'
import { openStore, type Store, type StoredEnvelope, type RegisteredTopic } from '../store/index.js'
import { nodeIdentity, type NodeIdentity } from './identity.js'
import { createAsmtpLibp2p, waitForOutboundDrain, type AsmtpLibp2p } from './libp2p.js'
import { CATCHUP_PROTOCOL, handleCatchup, requestCatchup } from './catchup.js'
import { PASSPORT_NAMESPACE, createPassportValidator, decodePassportRecord, passportDhtKey, selectPassportRecord } from './passport-records.js'
import { RateLimiter } from './rate-limit.js'
import { gossipTopic, parseGossipTopic, topicCid } from './topic-names.js'
import { TaskSet, withTimeout } from './tasks.js'
import { createClientServer, type ClientBackend, type ClientServer } from '../channel/index.js'

const log = createDebug('asmtp:node')

export const RENDEZVOUS_INTERVAL_MS = 30_000
export const EXPIRY_INTERVAL_MS = 60_000
export const DHT_TIMEOUT_MS = 10_000
export const DIAL_TIMEOUT_MS = 5_000
const MAX_CATCHUP_ROUNDS = 10_000
const MAX_INBOUND_CATCHUPS = 8
const MAX_PUBLISH_CONCURRENCY = 32
const MAX_STARTUP_DIALS = 32
const PASSPORT_REPUBLISH_MS = 10 * 60_000
/** Provider records live 48 h in kad-dht; ours are renewed well before. */
const PROVIDE_INTERVAL_MS = 10 * 60_000
/** How long the larger PeerId of a pair leaves the first dial to the other. */
const DIAL_DEFER_MS = 1_500
/** How long a connected provider may stay off the topic before we reconnect to it. */
const HEAL_AFTER_MS = 3_000
/** The first wait after a lookup that found nobody; it doubles up to the round interval. */
const LOOKUP_BACKOFF_MIN_MS = 1_000
/** Lookups in a row that reach nobody after which the topic is provided again too. */
const REPROVIDE_AFTER_MISSES = 3
/** Topics whose provide or lookup run at once in a round (each is a DHT query). */
const MAX_CONCURRENT_RENDEZVOUS = 4

/** Rendezvous state of one registered topic. */
interface Meeting {
  /** when to provide the topic's CID next (renewal, or a retry after a failure) */
  provideAt: number
  provideMisses: number
  /** when a provider lookup may run next (backoff after lookups that reached nobody) */
  lookupAt: number
  misses: number
}

export interface AsmtpNodeInit {
  config: NodeConfig
  nodeKey: Ed25519KeyPair
  /** ms between rendezvous rounds (provide + find providers + dial) @default 30000 */
  rendezvousIntervalMs?: number
  /** ms between deletions of expired envelopes @default 60000 */
  expiryIntervalMs?: number
}

export type EnvelopeSource = 'local' | 'gossip' | 'catchup'

export interface EnvelopeEvent {
  topic: Uint8Array
  seq: bigint
  hash: Uint8Array
  data: Uint8Array
  source: EnvelopeSource
}

export interface PublishResult { stored: boolean, seq: bigint, hash: Uint8Array }

export class AsmtpNode extends EventEmitter<{ envelope: [EnvelopeEvent] }> implements ClientBackend {
  readonly config: NodeConfig
  readonly identity: NodeIdentity
  private readonly nodeKey: Ed25519KeyPair
  private clientServer?: ClientServer
  private clientAddr: string | null = null
  private store?: Store
  private libp2p?: AsmtpLibp2p
  private readonly topics = new Map<string, RegisteredTopic>()
  private readonly tasks = new TaskSet()
  private readonly catchups = new Map<string, Promise<void>>()
  /**
   * Peers that proved a topic's key in a catch-up, either way, by topic (hex), until they
   * unsubscribe or disconnect: the only subscribers a publish waits for (anyone connected can
   * subscribe).
   */
  private readonly proven = new Map<string, Set<string>>()
  private readonly limiter: RateLimiter
  private readonly rendezvousIntervalMs: number
  private readonly expiryIntervalMs: number
  private timers: NodeJS.Timeout[] = []
  private inboundCatchups = 0
  private publishQueue: Array<() => Promise<void>> = []
  private publishing = 0
  private pendingPublishes = 0
  /** Counters of gossip validation outcomes (for tests, status and benchmarks). */
  readonly stats = { accepted: 0, rejected: 0, ignored: 0, caughtUp: 0, catchupsFailed: 0 }
  private rendezvousRunning = false
  private rendezvousAgain = false
  private passportsAnnouncedAt = 0
  private readonly firstSeen = new Map<string, number>()
  private nextRound?: NodeJS.Timeout
  private readonly meetings = new Map<string, Meeting>()
  private state: 'new' | 'starting' | 'started' | 'stopping' | 'stopped' = 'new'

  constructor (init: AsmtpNodeInit) {
    super()
    this.config = init.config
    this.identity = nodeIdentity(init.nodeKey)
    this.nodeKey = init.nodeKey
    this.limiter = new RateLimiter({ ratePerSecond: init.config.limits.maxPeerMessagesPerSecond })
    this.rendezvousIntervalMs = init.rendezvousIntervalMs ?? RENDEZVOUS_INTERVAL_MS
    this.expiryIntervalMs = init.expiryIntervalMs ?? EXPIRY_INTERVAL_MS
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

  private get db (): Store {
    if (this.store === undefined || this.state !== 'started') throw new AsmtpError('NOT_STARTED', 'node is not started')
    return this.store
  }

  async start (): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'starting'
    const store = await openStore({ path: this.config.storage.path, retentionMs: this.config.storage.retentionMs })
    try {
      this.store = store
      const libp2p = await createAsmtpLibp2p({
        privateKey: this.identity.privateKey,
        datastore: store.datastore,
        listen: this.config.network.listen,
        announce: this.config.network.announce,
        bootstrap: this.config.network.bootstrap,
        validators: { [PASSPORT_NAMESPACE]: createPassportValidator(async (id) => await this.heldPassport(id)) },
        selectors: { [PASSPORT_NAMESPACE]: selectPassportRecord }
      })
      this.libp2p = libp2p
      const pubsub = libp2p.services.pubsub
      pubsub.addEventListener('subscription-change', (evt) => {
        for (const sub of evt.detail.subscriptions) {
          const topic = parseGossipTopic(sub.topic)
          if (topic === undefined || !this.topics.has(toHex(topic))) continue
          if (sub.subscribe) this.scheduleCatchup(evt.detail.peerId, topic)
          else this.proven.get(toHex(topic))?.delete(evt.detail.peerId.toString())
        }
      })
      await libp2p.handle(CATCHUP_PROTOCOL, (stream, connection) => {
        const busy = this.inboundCatchups >= MAX_INBOUND_CATCHUPS
        this.inboundCatchups++
        void handleCatchup(stream, connection, libp2p.peerId, {
          topicKey: (topic) => this.topics.get(toHex(topic))?.key,
          list: async (topic, after, limit) => {
            const page = await this.db.listEnvelopes(topic, { after, limit })
            return { items: page.envelopes.map(e => ({ seq: e.seq, data: e.data })), cursor: page.cursor, more: page.more }
          },
          proven: (topic, peer) => { this.markProven(toHex(topic), peer.toString()) }
        }, busy).finally(() => { this.inboundCatchups-- })
      }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
      libp2p.addEventListener('peer:connect', () => { this.onPeerConnect() })
      libp2p.addEventListener('peer:disconnect', (evt) => {
        const peer = evt.detail.toString()
        for (const peers of this.proven.values()) peers.delete(peer)
      })
      await libp2p.start()
      for (const t of await store.listTopics()) this.subscribe(t)
      this.state = 'started'
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
    } catch (err) {
      this.state = 'stopped'
      await this.clientServer?.stop().catch(() => {})
      try {
        await this.libp2p?.stop()
      } catch {
        // start failed: the first error is the one to report
      }
      await store.close().catch(() => {})
      throw err
    }
    this.timers.push(setInterval(() => { this.scheduleRendezvous() }, this.rendezvousIntervalMs).unref())
    this.timers.push(setInterval(() => { void this.tasks.run('expiry', async () => { await this.deleteExpired() }) }, this.expiryIntervalMs).unref())
    void this.tasks.run('startup dials', async (signal) => { await this.dialKnownPeers(signal) })
    this.scheduleRendezvous()
    log('started %s (%s) on %o', this.publicId, this.peerId, this.getMultiaddrs())
  }

  async stop (): Promise<void> {
    if (this.state !== 'started') {
      if (this.state === 'new') this.state = 'stopped'
      return
    }
    this.state = 'stopping'
    await this.clientServer?.stop()
    this.clientAddr = null
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    clearTimeout(this.nextRound)
    const queued = this.publishQueue
    this.publishQueue = []
    await Promise.allSettled(queued.map(async job => { await job() }))
    await this.tasks.stop()
    await this.libp2p?.stop()
    await this.store?.close()
    this.state = 'stopped'
    log('stopped')
  }

  // ---- topics ------------------------------------------------------------------------------

  /** Registers a pairwise topic for a user (hex device key): subscribe, provide, catch up. */
  async registerTopic (topic: Uint8Array, key: Uint8Array, owner: string): Promise<void> {
    if (topic.length !== 32 || key.length !== 32) throw new AsmtpError('DECODE_INVALID', 'topic id and key must be 32 bytes each')
    const registered = await this.db.registerTopic(topic, key, owner)
    const isNew = !this.topics.has(toHex(topic))
    this.subscribe(registered)
    if (isNew) {
      const pubsub = this.host.services.pubsub
      for (const peer of pubsub.getSubscribers(gossipTopic(topic))) this.scheduleCatchup(peer, topic)
      this.scheduleRendezvous()
    }
  }

  async deregisterTopic (topic: Uint8Array, owner: string): Promise<void> {
    const gone = await this.db.deregisterTopic(topic, owner)
    if (gone) {
      this.topics.delete(toHex(topic))
      this.meetings.delete(toHex(topic))
      this.proven.delete(toHex(topic))
      const name = gossipTopic(topic)
      this.host.services.pubsub.topicValidators.delete(name)
      this.host.services.pubsub.unsubscribe(name)
    }
  }

  /** Whether the device (hex key) registered this topic: only then may it query or watch it. */
  isTopicOwner (topic: Uint8Array, owner: string): boolean {
    return this.topics.get(toHex(topic))?.owners.includes(owner) ?? false
  }

  /** Calls `listener` for every envelope newly stored on any topic; returns the unsubscribe function. */
  onEnvelope (listener: (e: EnvelopeEvent) => void): () => void {
    this.on('envelope', listener)
    return () => { this.off('envelope', listener) }
  }

  listTopics (): RegisteredTopic[] {
    return [...this.topics.values()]
  }

  private markProven (topicHex: string, peer: string): void {
    if (!this.topics.has(topicHex)) return
    let peers = this.proven.get(topicHex)
    if (peers === undefined) {
      peers = new Set()
      this.proven.set(topicHex, peers)
    }
    peers.add(peer)
  }

  /** Subscribers of the topic that proved its key in a catch-up (PeerId strings). */
  provenPeers (topic: Uint8Array): string[] {
    return [...(this.proven.get(toHex(topic)) ?? [])]
  }

  /** Topic peers currently subscribed on gossipsub (for tests and status). */
  topicPeers (topic: Uint8Array): string[] {
    return this.host.services.pubsub.getSubscribers(gossipTopic(topic)).map(String)
  }

  private subscribe (t: RegisteredTopic): void {
    const name = gossipTopic(t.topic)
    this.topics.set(toHex(t.topic), t)
    const pubsub = this.host.services.pubsub
    pubsub.topicValidators.set(name, async (peer, msg) => await this.validateGossip(peer, msg, t))
    if (!pubsub.getTopics().includes(name)) pubsub.subscribe(name)
  }

  /**
   * Gossipsub topic validator: rate limit per peer, envelope shape, MAC with the topic key; an
   * accepted envelope is stored before it is forwarded. Reject feeds peer scoring.
   */
  private async validateGossip (peer: PeerId, msg: Message, t: RegisteredTopic): Promise<TopicValidatorResult> {
    if (!this.limiter.take(peer.toString())) {
      this.stats.ignored++
      return TopicValidatorResult.Ignore
    }
    if (!this.acceptable(msg.data, t)) {
      this.stats.rejected++
      return TopicValidatorResult.Reject
    }
    try {
      await this.storeAndEmit(t.topic, msg.data, 'gossip')
    } catch (err) {
      log.extend('error')('storing an envelope failed: %s', (err as Error).message)
      this.stats.ignored++
      return TopicValidatorResult.Ignore
    }
    this.stats.accepted++
    return TopicValidatorResult.Accept
  }

  private acceptable (data: Uint8Array, t: RegisteredTopic): boolean {
    let frame
    try {
      frame = decodeFrame(data, { maxEnvelopeBytes: this.config.limits.maxEnvelopeSize })
    } catch {
      return false
    }
    return verifyFrameMac(frame, { topic: t.topic, key: t.key })
  }

  private async storeAndEmit (topic: Uint8Array, data: Uint8Array, source: EnvelopeSource): Promise<PublishResult> {
    const hash = envelopeHash(data)
    const r = await this.db.putEnvelope(topic, data, hash)
    if (r.stored) this.emit('envelope', { topic, seq: r.seq, hash: r.hash, data, source })
    return r
  }

  // ---- envelopes ---------------------------------------------------------------------------

  /**
   * Publishes an envelope on a registered topic: checked, stored and delivered to local
   * watchers at once, then sent on gossipsub through a bounded queue. Resolves when handed to
   * gossipsub; QUEUE_FULL when the queue is full (back-pressure for the caller).
   */
  async publish (topic: Uint8Array, data: Uint8Array): Promise<PublishResult> {
    const hex = toHex(topic)
    const t = this.topics.get(hex)
    if (t === undefined) throw new AsmtpError('NOT_FOUND', 'topic is not registered on this node')
    const frame = decodeFrame(data, { maxEnvelopeBytes: this.config.limits.maxEnvelopeSize })
    if (!verifyFrameMac(frame, { topic: t.topic, key: t.key })) throw new AsmtpError('ENVELOPE_BAD_MAC', 'envelope MAC does not match the topic key')
    if (this.pendingPublishes >= this.config.limits.maxPublishQueue) {
      throw new AsmtpError('QUEUE_FULL', `publish queue is full (${this.config.limits.maxPublishQueue}); retry later`)
    }
    this.pendingPublishes++
    try {
      const r = await this.storeAndEmit(topic, data, 'local')
      if (!r.stored) return r
      const name = gossipTopic(topic)
      // nobody to send to yet: look for the other node now (the envelope goes out by catch-up)
      if (this.lonely(topic)) this.scheduleRendezvous()
      // wait for the topic's own subscribers that proved its key, before taking a hand-over
      // slot: a slow peer on one topic, or one that subscribed without the key, holds up no
      // other topic's envelopes
      const proven = this.proven.get(hex)
      if (proven !== undefined) await waitForOutboundDrain(this.host.services.pubsub, { peers: proven, signal: this.tasks.signal })
      await new Promise<void>((resolve, reject) => {
        this.publishQueue.push(async () => {
          if (this.state !== 'started') {
            reject(new AsmtpError('NOT_STARTED', 'node stopped before the envelope was sent; it is stored and goes out by catch-up'))
            return
          }
          try {
            await this.host.services.pubsub.publish(name, data)
            resolve()
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)))
          }
        })
        this.drainPublishQueue()
      })
      return r
    } finally {
      this.pendingPublishes--
    }
  }

  private drainPublishQueue (): void {
    while (this.publishing < MAX_PUBLISH_CONCURRENCY && this.publishQueue.length > 0) {
      const job = this.publishQueue.shift()
      if (job === undefined) break
      this.publishing++
      void job().finally(() => {
        this.publishing--
        this.drainPublishQueue()
      })
    }
  }

  /** Envelopes the node holds on a topic after a cursor (for its users). */
  async query (topic: Uint8Array, after = 0n, limit?: number): Promise<{ envelopes: StoredEnvelope[], cursor: bigint, more: boolean }> {
    return await this.db.listEnvelopes(topic, { after, limit })
  }

  async countEnvelopes (topic?: Uint8Array): Promise<number> {
    return await this.db.countEnvelopes(topic)
  }

  async deleteExpired (): Promise<number> {
    const n = await this.db.deleteExpired()
    if (n > 0) log('deleted %d expired envelopes', n)
    return n
  }

  // ---- catch-up ----------------------------------------------------------------------------

  private scheduleCatchup (peer: PeerId, topic: Uint8Array): void {
    const k = `${peer.toString()}/${toHex(topic)}`
    if (this.catchups.has(k) || this.state !== 'started') return
    const p = this.tasks.run(`catch-up ${k}`, async (signal) => {
      try {
        await this.catchUp(peer, topic, signal)
      } catch (err) {
        if (!signal.aborted) this.stats.catchupsFailed++
        throw err
      }
    })
      .finally(() => this.catchups.delete(k))
    this.catchups.set(k, p)
  }

  /** Fetches what `peer` holds on `topic` since our cursor for it; returns how many were new. */
  async catchUp (peer: PeerId, topic: Uint8Array, signal?: AbortSignal): Promise<number> {
    const t = this.topics.get(toHex(topic))
    if (t === undefined) return 0
    const cursorName = `catchup/${peer.toString()}/${toHex(topic)}`
    let cursor = await this.db.getCursor(cursorName)
    let added = 0
    for (let round = 0; round < MAX_CATCHUP_ROUNDS; round++) {
      const stream = await this.host.dialProtocol(peer, CATCHUP_PROTOCOL, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
      const res = await requestCatchup({ stream, localPeer: this.host.peerId, remotePeer: peer, topic, key: t.key, cursor, signal })
      // requestCatchup returns only after the responder proved the topic key
      this.markProven(toHex(topic), peer.toString())
      for (const item of res.items) {
        if (!this.acceptable(item.data, t)) {
          log('catch-up from %s: dropped an invalid envelope', peer)
          continue
        }
        if ((await this.storeAndEmit(topic, item.data, 'catchup')).stored) {
          added++
          this.stats.caughtUp++
        }
      }
      if (res.cursor > cursor) {
        cursor = res.cursor
        await this.db.setCursor(cursorName, cursor)
      }
      if (!res.more || res.items.length === 0) break
    }
    if (added > 0) log('caught up %d envelopes from %s', added, peer)
    return added
  }

  // ---- rendezvous --------------------------------------------------------------------------

  private meeting (hex: string): Meeting {
    let m = this.meetings.get(hex)
    if (m === undefined) {
      m = { provideAt: 0, provideMisses: 0, lookupAt: 0, misses: 0 }
      this.meetings.set(hex, m)
    }
    return m
  }

  private lonely (topic: Uint8Array): boolean {
    return this.host.services.pubsub.getSubscribers(gossipTopic(topic)).length === 0
  }

  /** When the topic next needs the DHT: its provide, or its lookup while it has no peer. */
  private dueAt (topic: Uint8Array): number {
    const m = this.meeting(toHex(topic))
    return this.lonely(topic) ? Math.min(m.provideAt, m.lookupAt) : m.provideAt
  }

  /** The wait before the next try after `misses` failed ones: doubling from 1 s up to the round interval, with jitter. */
  private backoffMs (misses: number): number {
    const base = Math.min(LOOKUP_BACKOFF_MIN_MS, this.rendezvousIntervalMs)
    const ms = Math.min(this.rendezvousIntervalMs, base * 2 ** Math.min(Math.max(0, misses - 1), 16))
    return ms * (0.75 + Math.random() * 0.5)
  }

  /** A node that was alone has its first connection: the lookups that found nobody may try again now. */
  private onPeerConnect (): void {
    if (this.state !== 'started' || this.host.getConnections().length !== 1) return
    for (const m of this.meetings.values()) m.lookupAt = 0
    this.scheduleRendezvous()
  }

  /** Runs a rendezvous round now, or right after the running one; a round handles only the topics that are due. */
  scheduleRendezvous (): void {
    if (this.state !== 'started') return
    if (this.rendezvousRunning) {
      this.rendezvousAgain = true
      return
    }
    this.rendezvousRunning = true
    void this.tasks.run('rendezvous', async (signal) => {
      do {
        this.rendezvousAgain = false
        if (this.host.getConnections().length === 0) await this.redialBootstrap(signal)
        const now = Date.now()
        const due = [...this.topics.values()].filter(t => this.dueAt(t.topic) <= now)
        // a bounded number of DHT queries at a time: many topics must not saturate the node
        let next = 0
        await Promise.all(Array.from({ length: Math.min(MAX_CONCURRENT_RENDEZVOUS, due.length) }, async () => {
          while (next < due.length && !signal.aborted) await this.rendezvous(due[next++].topic, signal)
        }))
        if (Date.now() - this.passportsAnnouncedAt > PASSPORT_REPUBLISH_MS) {
          this.passportsAnnouncedAt = Date.now()
          await this.republishPassports(signal)
        }
      } while (this.rendezvousAgain && !signal.aborted)
    }).finally(() => {
      this.rendezvousRunning = false
      this.planNextRound()
    })
  }

  /** Sets a timer for the earliest topic that falls due before the next periodic round. */
  private planNextRound (): void {
    if (this.state !== 'started') return
    let at = Infinity
    for (const t of this.topics.values()) at = Math.min(at, this.dueAt(t.topic))
    const wait = Math.max(0, at - Date.now())
    if (wait >= this.rendezvousIntervalMs) return
    clearTimeout(this.nextRound)
    this.nextRound = setTimeout(() => { this.scheduleRendezvous() }, wait + 10)
    this.nextRound.unref()
  }

  /**
   * Provides the topic's CID when it is due, and, when the topic has no peer and its lookup is
   * due, looks up the other providers and dials the first it is not connected to. A lookup that
   * brings nobody backs off (1 s doubling up to the round interval): the DHT is the costly part.
   */
  async rendezvous (topic: Uint8Array, signal: AbortSignal = this.tasks.signal): Promise<void> {
    const libp2p = this.host
    const cid = topicCid(topic)
    const hex = toHex(topic)
    const m = this.meeting(hex)
    const now = Date.now()
    let provided = Promise.resolve()
    if (m.provideAt <= now) {
      m.provideAt = now + PROVIDE_INTERVAL_MS
      provided = libp2p.contentRouting.provide(cid, { signal: withTimeout(DHT_TIMEOUT_MS, signal) })
        .then(() => { m.provideMisses = 0 })
        .catch((err: Error) => {
          log('provide %s: %s', hex.slice(0, 8), err.message)
          m.provideAt = Date.now() + this.backoffMs(++m.provideMisses)
        })
    }
    // a topic whose other node is here already needs no lookup
    const lonely = this.lonely(topic)
    if (!lonely) m.misses = 0
    if (!lonely || m.lookupAt > now) {
      await provided
      return
    }
    const retryIn = await this.lookup(topic, signal)
    log('lookup %s: %s', hex.slice(0, 8), retryIn === undefined ? `nobody reached (${m.misses + 1} in a row)` : `look again in ${Math.round(retryIn)} ms`)
    if (retryIn === undefined) {
      m.lookupAt = Date.now() + this.backoffMs(++m.misses)
      // every third lookup in a row that reaches nobody, provide again as well: the nodes that
      // held our record may have left, or the first provide reached too few of them
      if (m.misses % REPROVIDE_AFTER_MISSES === 0) m.provideAt = Math.min(m.provideAt, m.lookupAt)
    } else {
      m.misses = 0
      m.lookupAt = Date.now() + retryIn
    }
    await provided
  }

  /**
   * One DHT lookup of the topic's providers; stops at the first one that is, or becomes,
   * connected. Returns when to look again (the subscription should have followed by then), or
   * undefined when nobody was reached.
   */
  private async lookup (topic: Uint8Array, signal: AbortSignal): Promise<number | undefined> {
    const libp2p = this.host
    const name = gossipTopic(topic)
    const soon = Math.min(LOOKUP_BACKOFF_MIN_MS, this.rendezvousIntervalMs)
    try {
      for await (const provider of libp2p.contentRouting.findProviders(topicCid(topic), { signal: withTimeout(DHT_TIMEOUT_MS, signal) })) {
        if (provider.id.equals(libp2p.peerId)) continue
        if (libp2p.getConnections(provider.id).length > 0) {
          return await this.healSubscription(provider.id, name, signal) ?? soon
        }
        // Both nodes of a pair find each other at about the same time; if both dialled at once,
        // the duplicate connection could cost gossipsub its state. The smaller PeerId dials at
        // once, the other only if they are still apart a little later.
        if (this.peerId > provider.id.toString()) {
          const left = this.waitLeft(`dial ${provider.id.toString()}`, DIAL_DEFER_MS)
          if (left > 0) return left
        }
        try {
          await libp2p.dial(provider.id, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
          return soon
        } catch (err) {
          log('dial provider %s: %s', provider.id, (err as Error).message)
        }
      }
    } catch (err) {
      log('find providers %s: %s', toHex(topic).slice(0, 8), (err as Error).message)
    }
    return undefined
  }

  /** An isolated node (its first dials failed, or every peer left) tries its bootstrap list and known peers again. */
  private async redialBootstrap (signal: AbortSignal): Promise<void> {
    await Promise.all(this.config.network.bootstrap.map(async addr => {
      try {
        await this.host.dial(multiaddr(addr), { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
      } catch (err) {
        log('bootstrap %s: %s', addr, (err as Error).message)
      }
    }))
    await this.dialKnownPeers(signal)
  }

  /**
   * A provider we are connected to that is still not subscribed to the topic a few seconds
   * later has lost its gossipsub state: seen on a loaded machine when both nodes of a pair dial
   * each other at once (a duplicate connection closes and takes the peer's subscriptions or its
   * gossipsub stream with it), and gossipsub never asks again. Reconnecting makes both sides
   * open their streams and exchange subscriptions afresh. Returns the ms left to wait, if any.
   */
  private async healSubscription (peer: PeerId, name: string, signal: AbortSignal): Promise<number | undefined> {
    const key = `heal ${peer.toString()} ${name}`
    if (this.host.services.pubsub.getSubscribers(name).some(p => p.equals(peer))) {
      this.firstSeen.delete(key)
      return undefined
    }
    // a subscription normally follows a connection within milliseconds; wait a few seconds
    // (with jitter, so that the two nodes of a pair rarely heal at once)
    const left = this.waitLeft(key, HEAL_AFTER_MS + Math.random() * HEAL_AFTER_MS)
    if (left > 0) return left
    log('provider %s is connected but not on topic %s: reconnecting', peer, name.slice(0, 16))
    try {
      await this.host.hangUp(peer, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
      await this.host.dial(peer, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
    } catch (err) {
      log('reconnecting to %s: %s', peer, (err as Error).message)
    }
    return undefined
  }

  /**
   * The ms left until `key` has been seen for `ms` (0 once it has); the first sighting only
   * records the time.
   */
  private waitLeft (key: string, ms: number): number {
    const now = Date.now()
    const since = this.firstSeen.get(key)
    if (since === undefined) {
      if (this.firstSeen.size >= 4096) this.firstSeen.clear()
      this.firstSeen.set(key, now)
      return ms
    }
    if (now - since < ms) return since + ms - now
    this.firstSeen.delete(key)
    return 0
  }

  private async dialKnownPeers (signal: AbortSignal): Promise<void> {
    const peers = await this.host.peerStore.all({ signal })
    let dialed = 0
    await Promise.all(peers.filter(p => !p.id.equals(this.host.peerId) && p.addresses.length > 0).slice(0, MAX_STARTUP_DIALS).map(async p => {
      try {
        await this.host.dial(p.id, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
        dialed++
      } catch {
        // a peer that moved or left; the DHT and bootstrap find the others
      }
    }))
    if (dialed > 0) log('re-dialed %d known peers', dialed)
  }

  // ---- passports ---------------------------------------------------------------------------

  /**
   * Stores a user's passport after validating every block; an update must extend the chain
   * held (a fork or another passport's chain is refused). Then puts it in the DHT.
   */
  async putPassport (exportBytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Passport> {
    const candidate = Passport.import(exportBytes)
    const heldBytes = await this.db.getPassport(candidate.id)
    const held = heldBytes === undefined ? null : Passport.import(heldBytes)
    const merged = mergePassport(held, candidate)
    if (held === null || merged.blocks.length > held.blocks.length) {
      await this.db.putPassport(merged.id, merged.export())
    }
    await this.announcePassport(merged, options.signal)
    return merged
  }

  /**
   * Finds a passport by id: the DHT's best record merged with the one held here; the held one
   * alone when the DHT has nothing. NOT_FOUND when neither has it.
   */
  async getPassport (id: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Passport> {
    const heldBytes = await this.db.getPassport(id)
    let best = heldBytes === undefined ? null : Passport.import(heldBytes, { expectedId: id })
    try {
      const key = passportDhtKey(id)
      let value: Uint8Array | undefined
      // the DHT service itself, not contentRouting: that wraps the selector's LEDGER_FORK in an AggregateError
      for await (const event of this.host.services.dht.get(key, { signal: withTimeout(DHT_TIMEOUT_MS, options.signal) })) {
        if (event.name === 'VALUE') value = event.value
      }
      if (value === undefined) throw new AsmtpError('NOT_FOUND', 'no record in the DHT')
      const found = decodePassportRecord(key, value)
      best = best === null ? found : mergePassport(best, found)
    } catch (err) {
      if (err instanceof AsmtpError && err.code === 'LEDGER_FORK') throw err
      log('passport %s from the DHT: %s', toHex(id).slice(0, 8), (err as Error).message)
    }
    if (best === null) throw new AsmtpError('NOT_FOUND', `passport ${toHex(id)} not found`)
    return best
  }

  private async heldPassport (id: Uint8Array): Promise<Passport | undefined> {
    const bytes = await this.store?.getPassport(id)
    return bytes === undefined ? undefined : Passport.import(bytes, { expectedId: id })
  }

  private async announcePassport (p: Passport, signal?: AbortSignal): Promise<void> {
    try {
      await this.host.contentRouting.put(passportDhtKey(p.id), p.export(), { signal: withTimeout(DHT_TIMEOUT_MS, signal) })
    } catch (err) {
      log('put passport %s in the DHT: %s', toHex(p.id).slice(0, 8), (err as Error).message)
    }
  }

  private async republishPassports (signal: AbortSignal): Promise<void> {
    for (const id of await this.db.listPassportIds()) {
      if (signal.aborted) return
      const bytes = await this.db.getPassport(id)
      if (bytes !== undefined) await this.announcePassport(Passport.import(bytes), signal)
    }
  }
}

/** Creates a node (not started); `start()` opens its store and its libp2p host. */
export async function createAsmtpNode (init: AsmtpNodeInit): Promise<AsmtpNode> {
  return await Promise.resolve(new AsmtpNode(init))
}
