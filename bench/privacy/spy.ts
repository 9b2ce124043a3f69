/**
 * The spy of the privacy experiment: its own libp2p host (tcp, noise, yamux, identify,
 * gossipsub StrictNoSign with message id SHA-256(data) as the nodes use, kad-dht in server mode
 * on the network's DHT protocol id). It dials every node it is given or finds in its peer
 * store, subscribes to every asmtp gossipsub topic a peer announces (version 1 pair topics,
 * version 2 buckets; topic names are all it parses) and so grafts wherever it is let in.
 *
 * It records, with the time on its own monotonic clock:
 * - per peer, every subscription and unsubscription it announces;
 * - for every gossipsub message id, the peer it first arrived from (gossipsub runs a topic's
 *   validator once per message id, on the first copy);
 * - the DHT provider records other nodes store on it and the provider lookups it answers, read
 *   from its own datastore (kad-dht keeps providers at /dht/provider/<multihash>/<peer>; a
 *   lookup reads that prefix; who asked is not visible there), and the DHT records put on it;
 * - inbound streams on the protocols it is told to listen on (catch-up requests), with the
 *   first length-prefixed message the requester sent; it answers none of them.
 *
 * The active spy's sybils (active-spy.ts) subclass it: `role` names the behaviour, `onMessage`
 * decides what becomes of each message after it has been recorded (accept: forward like any
 * node) and `onStart` adds handlers of its own.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, TopicValidatorResult, type GossipSub, type GossipsubOpts, type Message } from '@libp2p/gossipsub'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { LevelDatastore } from 'datastore-level'
import type { Datastore, Key, Query } from 'interface-datastore'
import type { PeerId, Stream } from '@libp2p/interface'

export const DEFAULT_DHT_PROTOCOL = '/asmtp/kad/1.0.0'
export const DEFAULT_LISTEN_PROTOCOLS = ['/asmtp/catchup/1.0.0', '/asmtp/catchup/2.0.0']
/** Record namespaces whose DHT puts the spy accepts (and so sees). */
export const DEFAULT_RECORD_NAMESPACES = ['asmtp-passport']
const CRAWL_INTERVAL_MS = 2_000
const DIAL_TIMEOUT_MS = 15_000
const INBOUND_READ_MS = 2_000
const FIRST_MESSAGE_BYTES = 64
const PROVIDER_PREFIX = '/dht/provider/'
const RECORD_PREFIX = '/dht/record/'

export type TopicName =
  | { version: 1, name: string, topic: string }
  | { version: 2, name: string, bits: number, bucket: string }

/** asmtp/1/<64 hex> (a pair's topic) or asmtp/2/<b>/<hex> (a bucket); undefined otherwise. */
export function parseTopicName (name: string): TopicName | undefined {
  const v1 = /^asmtp\/1\/([0-9a-f]{64})$/.exec(name)
  if (v1 !== null) return { version: 1, name, topic: v1[1] }
  const v2 = /^asmtp\/2\/(\d{1,2})\/([0-9a-f]{1,4})$/.exec(name)
  if (v2 !== null && Number(v2[1]) <= 16) return { version: 2, name, bits: Number(v2[1]), bucket: v2[2] }
  return undefined
}

export interface Announcement { peer: string, topic: string, subscribe: boolean, t: number }
export interface FrameSighting { frameId: string, topic: string, from: string, t: number, bytes: number }
export interface ProviderSighting { key: string, provider: string, t: number }
export interface KeySighting { key: string, t: number }
export interface InboundRequest { peer: string, protocol: string, t: number, firstMessage?: string }

/** Everything the spy saw; the guessers read only this. */
export interface Observations {
  spy: string
  role: string
  announcements: Announcement[]
  frames: FrameSighting[]
  providers: ProviderSighting[]
  providerLookups: KeySighting[]
  records: KeySighting[]
  inbound: InboundRequest[]
}

export interface SpyInit {
  /** 'passive' records and otherwise behaves as an honest gossipsub peer @default 'passive' */
  role?: string
  /** @default DEFAULT_DHT_PROTOCOL */
  dhtProtocol?: string
  /** protocols whose inbound streams it records @default DEFAULT_LISTEN_PROTOCOLS */
  listenProtocols?: string[]
  /** which gossipsub topics it joins @default asmtp topic names (parseTopicName) */
  joinTopic?: (name: string) => boolean
  /**
   * 'at-once': joins a topic as soon as a peer announces it; 'on-request': only records the
   * announcements until joinAll() (a spy that does not want to disturb the network while it
   * forms; version 1 nodes stop looking for their pair once anyone subscribes) @default 'at-once'
   */
  join?: 'at-once' | 'on-request'
  /** gossipsub mesh degrees (a spy that grafts everywhere raises them) @default gossipsub's */
  mesh?: Partial<Pick<GossipsubOpts, 'D' | 'Dlo' | 'Dhi' | 'Dout'>>
  /** peers it neither dials nor accepts (the other sybils of an active spy) @default none */
  denyPeer?: (peerId: string) => boolean
}

export type SpyHost = Libp2p<{ identify: Identify, ping: Ping, pubsub: GossipSub, dht: KadDHT }>

export class Spy {
  readonly role: string
  private host?: SpyHost
  private dir?: string
  private crawler?: NodeJS.Timeout
  private readonly init: SpyInit
  private readonly joinTopic: (name: string) => boolean
  private readonly joined = new Set<string>()
  private joining: boolean
  private readonly firstSeen = new Map<string, FrameSighting>()
  protected readonly seen: Omit<Observations, 'spy' | 'role' | 'frames'> = { announcements: [], providers: [], providerLookups: [], records: [], inbound: [] }

  constructor (init: SpyInit = {}) {
    this.init = init
    this.role = init.role ?? 'passive'
    this.joinTopic = init.joinTopic ?? ((name) => parseTopicName(name) !== undefined)
    this.joining = (init.join ?? 'at-once') === 'at-once'
  }

  /** Joins every topic announced so far, and from then on each one as it is announced. */
  joinAll (): number {
    this.joining = true
    for (const a of this.seen.announcements) if (a.subscribe) this.join(a.topic)
    return this.joined.size
  }

  get peerId (): string { return this.libp2p.peerId.toString() }
  /** Its libp2p hosts: this one (an active spy has several). */
  get hosts (): Spy[] { return [this] }
  get libp2p (): SpyHost {
    if (this.host === undefined) throw new Error('spy is not started')
    return this.host
  }

  /** Topics it has joined. */
  topics (): string[] { return [...this.joined] }
  /** How many topics it has joined (summed over the hosts of an active spy). */
  joins (): number { return this.joined.size }

  async start (): Promise<void> {
    if (this.host !== undefined) return
    this.dir = await mkdtemp(join(tmpdir(), 'asmtp-spy-host-'))
    const datastore = this.watchDatastore(new LevelDatastore(join(this.dir, 'datastore')))
    await (datastore as LevelDatastore).open()
    const namespaces = Object.fromEntries(DEFAULT_RECORD_NAMESPACES.map(ns => [ns, async (): Promise<void> => {}]))
    const selectors = Object.fromEntries(DEFAULT_RECORD_NAMESPACES.map(ns => [ns, (): number => 0]))
    const host: SpyHost = await createLibp2p({
      datastore,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { inboundConnectionThreshold: 1000, maxConnections: 1000 },
      // as on the nodes (src/node/libp2p.ts): libp2p's monitor otherwise cuts a connection whose
      // ping is still in flight at the next one, every 10 s on a busy host
      connectionMonitor: { abortConnectionOnPingFailure: false },
      connectionGater: {
        denyDialMultiaddr: () => false,
        denyDialPeer: (peer) => this.init.denyPeer?.(peer.toString()) ?? false,
        denyInboundEncryptedConnection: (peer) => this.init.denyPeer?.(peer.toString()) ?? false
      },
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({ protocol: this.init.dhtProtocol ?? DEFAULT_DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper, validators: namespaces, selectors, allowQueryWithZeroPeers: true }),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictNoSign',
          msgIdFn: (m) => new Uint8Array(createHash('sha256').update(m.data).digest()),
          allowPublishToZeroTopicPeers: true,
          fallbackToFloodsub: false,
          emitSelf: false,
          maxInboundDataLength: 4 * 1024 * 1024 + 4096,
          ...this.init.mesh,
          // every node of the experiment shares 127.0.0.1: without this, gossipsub would
          // graylist them all and drop what they send (as the nodes do, src/node/libp2p.ts)
          scoreParams: { IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']) }
        })
      }
    })
    this.host = host
    host.services.pubsub.addEventListener('subscription-change', (evt) => {
      const peer = evt.detail.peerId.toString()
      for (const sub of evt.detail.subscriptions) {
        this.seen.announcements.push({ peer, topic: sub.topic, subscribe: sub.subscribe, t: performance.now() })
        if (sub.subscribe && this.joining) this.join(sub.topic)
      }
    })
    for (const protocol of this.init.listenProtocols ?? DEFAULT_LISTEN_PROTOCOLS) {
      await host.handle(protocol, (stream, connection) => { void this.recordInbound(stream, connection.remotePeer, protocol) }, { maxInboundStreams: 64 })
    }
    await this.onStart(host)
    this.crawler = setInterval(() => { void this.crawl() }, CRAWL_INTERVAL_MS)
    this.crawler.unref()
  }

  /** Dials the given nodes (and, from then on, every peer its peer store learns of). */
  async dial (addrs: string[], options: { signal?: AbortSignal } = {}): Promise<number> {
    let ok = 0
    await Promise.all(addrs.map(async a => {
      try {
        await this.libp2p.dial(multiaddr(a), { signal: AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), ...(options.signal !== undefined ? [options.signal] : [])]) })
        ok++
      } catch {
        // a node that is not up; the crawl tries again
      }
    }))
    return ok
  }

  /** What it saw so far (a copy). */
  observations (): Observations {
    return {
      spy: this.peerId,
      role: this.role,
      announcements: [...this.seen.announcements],
      frames: [...this.firstSeen.values()],
      providers: [...this.seen.providers],
      providerLookups: [...this.seen.providerLookups],
      records: [...this.seen.records],
      inbound: [...this.seen.inbound]
    }
  }

  /**
   * What becomes of a message after it was recorded. The passive spy accepts, so gossipsub
   * forwards it as any honest peer would; an active spy overrides this.
   */
  protected onMessage (_sighting: FrameSighting, _message: Message): TopicValidatorResult {
    return TopicValidatorResult.Accept
  }

  /** Called once its host runs, before it dials anyone: a subclass registers its handlers here. */
  protected async onStart (_host: SpyHost): Promise<void> {}

  async stop (): Promise<void> {
    clearInterval(this.crawler)
    await this.host?.stop()
    this.host = undefined
    if (this.dir !== undefined) await rm(this.dir, { recursive: true, force: true })
  }

  private join (topic: string): void {
    if (this.joined.has(topic) || !this.joinTopic(topic)) return
    this.joined.add(topic)
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(topic, (peer, message) => {
      const frameId = createHash('sha256').update(message.data).digest('hex')
      let sighting = this.firstSeen.get(frameId)
      if (sighting === undefined) {
        sighting = { frameId, topic, from: peer.toString(), t: performance.now(), bytes: message.data.length }
        this.firstSeen.set(frameId, sighting)
      }
      return this.onMessage(sighting, message)
    })
    pubsub.subscribe(topic)
  }

  private async crawl (): Promise<void> {
    const host = this.host
    if (host === undefined) return
    try {
      const connected = new Set(host.getConnections().map(c => c.remotePeer.toString()))
      const peers = await host.peerStore.all()
      await Promise.all(peers.filter(p => !p.id.equals(host.peerId) && !connected.has(p.id.toString()) && p.addresses.length > 0 && this.init.denyPeer?.(p.id.toString()) !== true).slice(0, 16).map(async p => {
        await host.dial(p.id, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).catch(() => {})
      }))
    } catch {
      // stopping
    }
  }

  private async recordInbound (stream: Stream, peer: PeerId, protocol: string): Promise<void> {
    const entry: InboundRequest = { peer: peer.toString(), protocol, t: performance.now() }
    this.seen.inbound.push(entry)
    try {
      const first = await lpStream(stream, { maxDataLength: 65536 }).read({ signal: AbortSignal.timeout(INBOUND_READ_MS) })
      entry.firstMessage = Buffer.from(first.subarray(0, FIRST_MESSAGE_BYTES)).toString('hex')
    } catch {
      // the requester gave up, or sent nothing framed
    }
    stream.abort(new Error('not served'))
  }

  /** The datastore kad-dht writes to, with provider records, lookups and record puts noted. */
  private watchDatastore (ds: Datastore): Datastore {
    const seen = this.seen
    return new Proxy(ds, {
      get (target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver)
        if (prop === 'put') {
          return async (key: Key, v: Uint8Array, o?: unknown) => {
            const k = key.toString()
            if (k.startsWith(PROVIDER_PREFIX)) {
              const [mh, provider] = k.slice(PROVIDER_PREFIX.length).split('/')
              if (mh !== undefined && provider !== undefined) seen.providers.push({ key: mh, provider, t: performance.now() })
            } else if (k.startsWith(RECORD_PREFIX)) {
              seen.records.push({ key: k.slice(RECORD_PREFIX.length), t: performance.now() })
            }
            return await target.put(key, v, o as never)
          }
        }
        if (prop === 'query') {
          return (q: Query, o?: unknown) => {
            const mh = q.prefix?.startsWith(PROVIDER_PREFIX) === true ? q.prefix.slice(PROVIDER_PREFIX.length).split('/')[0] : ''
            if (mh !== '') seen.providerLookups.push({ key: mh, t: performance.now() })
            return target.query(q, o as never)
          }
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      }
    })
  }
}
