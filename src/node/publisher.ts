/**
 * The path of a frame a device hands its node (DESIGN.md "What travels", "Origin hiding"): the
 * node checks the frame's shape, MAC and time against the registered topic, stamps it off the
 * event loop (the device never computes stamps), and hands it to the stem (src/node/stem/),
 * which sends it to the bucket's stem successor or fluffs it. The node stores its own frame only
 * when it is fluffed or comes back through the mesh, by the same path as anybody's frame. The
 * publishing to gossipsub of fluffed frames goes through a bounded queue with back-pressure.
 *
 * The stamp search is deterministic (the smallest nonce from 0 up), so a device that publishes
 * the same unstamped frame again gets the same stamped frame, which the stem (while it holds it)
 * and the store (once stored) dedupe by its hash.
 */
import { AsmtpError } from '../errors.js'
import { checkFrameTime, decodeFrame, frameHash, verifyFrameMac, type StampPool } from '../frame/index.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Buckets } from './buckets.js'
import { meshPeers, waitForOutboundDrain } from './libp2p.js'
import type { Outgoing } from './outgoing.js'
import type { Stem } from './stem/index.js'

/** Publishes handed to gossipsub at once; the rest wait in the queue. */
const MAX_PUBLISH_CONCURRENCY = 32
/** The longest a publish waits for a new bucket's mesh (gossipsub grafts at its 1 s heartbeat). */
const MESH_WAIT_MS = 3_000
const MESH_POLL_MS = 25
/** Forwards of caught-up frames queued at most; past it they wait for the members' catch-ups. */
const FORWARD_MAX_QUEUE = 1024
/** Frames kept to send again when a bucket that had no member gains one. */
const MAX_UNSENT = 4096
/** How long a stopping node waits for the stem sends of journalled frames. */
const STOP_SEND_WAIT_MS = 2_000

/**
 * `stored`: the frame is new to this node and has left it, to the stem successor or fluffed to
 * the bucket (it is then stored like anybody's frame when it is fluffed or comes back); false for
 * a retry of a frame held or stored already. `seq` is 0: the frame's sequence number under its
 * topic exists only once it is stored, and comes with the envelope event then. `hash`: the frame's id.
 */
export interface PublishResult { stored: boolean, seq: bigint, hash: Uint8Array }

interface FloodPublisher { publish: (topic: string, data: Uint8Array, opts?: { floodPublish?: boolean }) => Promise<unknown> }

export interface PublisherInit {
  buckets: Buckets
  stem: () => Stem
  pool: StampPool
  pubsub: () => GossipSub
  bucketBits: number
  stampBits: number
  frameLifetimeMs: number
  maxEnvelopeBytes: number
  maxQueue: number
  /** aborts waits when the node stops */
  signal: () => AbortSignal
  running: () => boolean
  /** journals each frame before the device is answered (src/node/outgoing.ts) */
  journal?: Pick<Outgoing, 'record' | 'settle'>
  now?: () => number
}

export class Publisher {
  private readonly init: PublisherInit
  private queue: Array<() => Promise<void>> = []
  private publishing = 0
  private pending = 0
  /** background stem sends of journalled frames */
  private readonly sending = new Set<Promise<void>>()
  /** frames published while their bucket had no member, per topic name */
  private readonly unsent = new Map<string, Uint8Array[]>()
  private unsentCount = 0
  private readonly now: () => number

  constructor (init: PublisherInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  /**
   * Publishes a device's frame on a registered topic. With a journal: resolves once the stamped
   * frame is journalled (on disk with storage.sync), and the stem send goes on in the
   * background; without: resolves when the stem successor has it or it is fluffed. QUEUE_FULL
   * when too many wait (back-pressure for the caller).
   */
  async publish (topic: Uint8Array, data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PublishResult> {
    const t = this.init.buckets.topic(topic)
    if (t === undefined) throw new AsmtpError('NOT_FOUND', 'topic is not registered on this node')
    const frame = decodeFrame(data, { maxEnvelopeBytes: this.init.maxEnvelopeBytes })
    if (!verifyFrameMac(frame, { topic: t.topic, key: t.key })) throw new AsmtpError('ENVELOPE_BAD_MAC', 'envelope MAC does not match the topic key, hour and TTL class')
    const time = checkFrameTime(frame.hour, frame.ttlClass, this.init.frameLifetimeMs, this.now())
    if (time !== 'ok') throw new AsmtpError('FRAME_BAD_TIME', `frame hour is not current (${time}); seal it again`)
    if (this.pending >= this.init.maxQueue) {
      throw new AsmtpError('QUEUE_FULL', `publish queue is full (${this.init.maxQueue}); retry later`)
    }
    this.pending++
    let background = false
    try {
      const bucket = this.init.buckets.bucketOf(topic)
      const stamped = await this.init.pool.stamp(data, { bucketBits: this.init.bucketBits, bucket, stampBits: this.init.stampBits, ...(options.signal === undefined ? {} : { signal: options.signal }) })
      const hash = frameHash(stamped)
      const journal = this.init.journal
      if (journal === undefined) {
        const outcome = await this.init.stem().sendOwn(bucket, stamped, hash)
        return { stored: outcome === 'stemmed' || outcome === 'fluffed', seq: 0n, hash }
      }
      const recorded = await journal.record(hash, bucket, stamped)
      if (recorded === 'full') throw new AsmtpError('QUEUE_FULL', 'too many sent frames wait to be stored; retry later')
      if (recorded === 'stored') return { stored: false, seq: 0n, hash }
      // journalled, so the frame survives a crash from here on: the device is answered now and
      // the stem send (up to STEM_SEND_TIMEOUT_MS twice when a successor stopped answering)
      // goes on in the background, still counted against the queue
      background = true
      const send = this.init.stem().sendOwn(bucket, stamped, hash)
        .then(outcome => { if (outcome === 'duplicate') journal.settle(hash) })
        .catch(() => { /* journalled: sent again at the next start, or stored when the stem stops */ })
        .finally(() => { this.pending--; this.sending.delete(send) })
      this.sending.add(send)
      return { stored: recorded === 'new', seq: 0n, hash }
    } finally {
      if (!background) this.pending--
    }
  }

  /**
   * Sends a stored (fluffed) frame to the bucket's mesh peers, waiting while their streams are full. A
   * bucket joined a moment ago has no mesh until gossipsub's next heartbeat grafts one, and a
   * publish into an empty mesh reaches nobody (the members' catch-up may already have run):
   * while the bucket has members but no mesh yet, wait for it, at most MESH_WAIT_MS, then flood
   * it to the members; with no member at all, keep it for retry().
   */
  async gossip (name: string, data: Uint8Array): Promise<void> {
    const pubsub = this.init.pubsub()
    const deadline = Date.now() + MESH_WAIT_MS
    while (meshPeers(pubsub, name).length === 0 && pubsub.getSubscribers(name).length > 0 && Date.now() < deadline && !this.init.signal().aborted) {
      await new Promise(resolve => setTimeout(resolve, MESH_POLL_MS))
    }
    // nobody carries the bucket yet (a node just started, or cut off): the frame is stored and a
    // member's catch-up finds it, but one that connected a moment ago may have caught up already.
    // It is not published now (gossipsub would mark it seen and refuse it later as a duplicate)
    // but when the bucket gains a member (retry)
    if (pubsub.getSubscribers(name).length === 0) {
      this.keepUnsent(name, data)
      return
    }
    // members but still no mesh after the wait: gossipsub would send it to nobody; flood it to
    // the members instead
    const flood = meshPeers(pubsub, name).length === 0
    await waitForOutboundDrain(pubsub, { peers: meshPeers(pubsub, name), signal: this.init.signal() })
    await new Promise<void>((resolve, reject) => {
      this.queue.push(async () => {
        if (!this.init.running()) {
          reject(new AsmtpError('NOT_STARTED', 'node stopped before the frame was sent; it is stored and goes out by catch-up'))
          return
        }
        try {
          // gossipsub 17's publish takes per-message options; its PubSub type names only two arguments
          await (pubsub as unknown as FloodPublisher).publish(name, data, flood ? { floodPublish: true } : undefined)
          resolve()
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)))
        }
      })
      this.drain()
    })
  }

  /**
   * Sends a stored frame on to the bucket's mesh in the background (catch-up brought it and the
   * mesh may never have had it); skipped when FORWARD_MAX_QUEUE publishes wait already, since
   * the frame is stored and the members' own catch-ups find it.
   */
  forward (name: string, data: Uint8Array): void {
    if (this.queue.length >= FORWARD_MAX_QUEUE || !this.init.running()) return
    void this.gossip(name, data).catch(() => {})
  }

  private keepUnsent (name: string, data: Uint8Array): void {
    if (this.unsentCount >= MAX_UNSENT) return
    const list = this.unsent.get(name) ?? []
    list.push(data)
    this.unsent.set(name, list)
    this.unsentCount++
  }

  /** The bucket gained a member: frames published to nobody go out again. */
  retry (name: string): void {
    const list = this.unsent.get(name)
    if (list === undefined) return
    this.unsent.delete(name)
    this.unsentCount -= list.length
    for (const data of list) void this.gossip(name, data).catch(() => {})
  }

  /**
   * Waits (at most waitMs) for the background stem sends of journalled frames, so that a node
   * that stops holds them on the stem, which stores them; those still out are sent again from
   * the journal at the next start.
   */
  async settleSends (waitMs = STOP_SEND_WAIT_MS): Promise<void> {
    if (this.sending.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled([...this.sending]), new Promise(resolve => { timer = setTimeout(resolve, waitMs) })])
    clearTimeout(timer)
  }

  /** Runs what is queued (the node stops: every waiting publish settles). */
  async flush (): Promise<void> {
    const queued = this.queue
    this.queue = []
    await Promise.allSettled(queued.map(async job => { await job() }))
  }

  private drain (): void {
    while (this.publishing < MAX_PUBLISH_CONCURRENCY && this.queue.length > 0) {
      const job = this.queue.shift()
      if (job === undefined) break
      this.publishing++
      void job().finally(() => {
        this.publishing--
        this.drain()
      })
    }
  }
}
