/**
 * The stem of Dandelion++ (DESIGN.md "Origin hiding (stem, then fluff)"): a node's own frames,
 * and the stem frames it receives, go to its stem successor for the bucket over
 * `/asmtp/stem/1.0.0` instead of the mesh. A received frame passes the checks of a gossiped one
 * first; then a coin fluffs it (publishes it to the bucket) with probability 0.1, else it goes
 * on to our successor. Every holder, the origin included, keeps the frame under an embargo
 * timer and fluffs it when the timer fires before the frame came back through the mesh. A
 * held frame is in no store, no seen filter and no catch-up answer until it is fluffed or
 * comes back, so the origin's store looks like that of any node that only saw the fluff.
 *
 * A frame stemmed to a node that already holds it (a loop of successors) is fluffed there at
 * once; a frame the node has already stored or seen is dropped (it is in the mesh already).
 */
import createDebug from 'debug'
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { toHex } from '../../bytes.js'
import { AsmtpError } from '../../errors.js'
import { frameHash } from '../../frame/index.js'
import type { Store } from '../../store/index.js'
import type { Buckets } from '../buckets.js'
import type { Intake } from '../intake.js'
import type { AsmtpLibp2p } from '../libp2p.js'
import { RateLimiter } from '../rate-limit.js'
import { withTimeout } from '../tasks.js'
import { decodeStemMessage, encodeStemMessage } from './codec.js'
import { Embargo, type HeldFrame } from './embargo.js'
import {
  FLUFF_PROBABILITY, MAX_INBOUND_STREAMS, MAX_INBOUND_STREAMS_PER_CONNECTION, MAX_MESSAGES_PER_STREAM,
  MAX_OUTBOUND_STREAMS_PER_CONNECTION, MAX_STEM_MESSAGE_BYTES, STEM_MESSAGES_PER_SECOND_PER_PEER, STEM_PROTOCOL,
  STEM_READ_TIMEOUT_MS, STEM_SEND_TIMEOUT_MS, systemClock, type StemClock
} from './protocol.js'
import { Successors } from './successors.js'

const log = createDebug('asmtp:node:stem')

/** Options of the stem for tests (AsmtpNodeInit.stem). */
export interface StemOptions {
  /** timers and the epoch clock @default the system clock */
  clock?: StemClock
  /** the coin, the successor draw and the embargo draws @default Math.random */
  random?: () => number
  /** mean of the embargo timer @default EMBARGO_MEAN_MS */
  embargoMeanMs?: number
  /**
   * Benchmarks only: own frames are fluffed at once, as with no successor (the delivery of
   * part 1, measured beside the stem in the same run). Received stem frames are handled as ever.
   */
  off?: boolean
}

export interface StemInit extends StemOptions {
  host: () => AsmtpLibp2p
  buckets: Pick<Buckets, 'carries' | 'topicName'>
  /** check: the checks of a gossiped frame without the store; take: the normal intake path */
  intake: Pick<Intake, 'check' | 'take'>
  /** the seen filter (a frame stored or seen is not stemmed) */
  store: () => Pick<Store, 'hasSeen'>
  /** publishes a stored frame to the bucket's mesh */
  publish: (bucket: number, data: Uint8Array) => Promise<void>
  /** aborts sends when the node stops */
  signal: () => AbortSignal
}

export interface StemStats {
  /** own frames handed to a successor */
  sent: number
  /** stem messages read from peers */
  received: number
  /** received frames passed on to our successor */
  forwarded: number
  /** frames this node fluffed (coin, embargo, loop, no successor, failed send) */
  fluffed: number
  /** embargo timers that fired */
  expired: number
  /** held frames that came back through the mesh before their timer */
  settled: number
  /** held frames stemmed back to this node */
  loops: number
  /** received frames not taken: already stored or seen, bucket not carried, failed checks, over bounds */
  dropped: number
  /** sends to a successor that failed (then fluffed) */
  failed: number
  /** frames held now */
  held: number
}

/** How a node's own frame left: to a successor, to the mesh, or not at all (held or stored already). */
export type StemOutcome = 'stemmed' | 'fluffed' | 'held' | 'duplicate'

function isEndOfStream (err: unknown): boolean {
  return err instanceof Error && err.name === 'UnexpectedEOFError'
}

export class Stem {
  readonly stats: StemStats = { sent: 0, received: 0, forwarded: 0, fluffed: 0, expired: 0, settled: 0, loops: 0, dropped: 0, failed: 0, held: 0 }
  private readonly init: StemInit
  private readonly random: () => number
  private readonly embargo: Embargo
  private readonly successors: Successors
  private readonly limiter: RateLimiter
  private active = 0
  private stopped = false

  constructor (init: StemInit) {
    this.init = init
    const clock = init.clock ?? systemClock
    this.random = init.random ?? Math.random
    this.embargo = new Embargo({
      clock,
      random: this.random,
      onExpire: (f) => {
        this.stats.expired++
        this.background(this.fluff(f, 'embargo'))
      },
      ...(init.embargoMeanMs === undefined ? {} : { meanMs: init.embargoMeanMs })
    })
    this.successors = new Successors({
      now: clock.now,
      random: this.random,
      view: {
        outboundPeers: () => this.init.host().getConnections()
          .filter(c => c.direction === 'outbound' && c.status === 'open' && c.limits === undefined)
          .map(c => c.remotePeer),
        bucketMembers: (bucket) => this.init.host().services.pubsub.getSubscribers(this.init.buckets.topicName(bucket))
      }
    })
    this.limiter = new RateLimiter({ ratePerSecond: STEM_MESSAGES_PER_SECOND_PER_PEER, now: clock.now })
  }

  /** Serves `/asmtp/stem/1.0.0` on the host (call once the host exists). */
  async attach (): Promise<void> {
    await this.init.host().handle(STEM_PROTOCOL, (stream, connection) => {
      void this.handle(stream, connection)
    }, { maxInboundStreams: MAX_INBOUND_STREAMS_PER_CONNECTION, maxOutboundStreams: MAX_OUTBOUND_STREAMS_PER_CONNECTION })
  }

  /**
   * Sends a node's own checked, stamped frame down the stem: held under embargo and handed to
   * the bucket's successor; fluffed at once when there is none, the send fails or the table is
   * full. 'held' and 'duplicate': the same frame is held or stored already (a retried publish).
   */
  async sendOwn (bucket: number, data: Uint8Array, hash: Uint8Array = frameHash(data)): Promise<StemOutcome> {
    if (this.stopped) throw new AsmtpError('NOT_STARTED', 'node is stopping')
    if (this.embargo.has(hash)) return 'held'
    if (await this.init.store().hasSeen(hash)) return 'duplicate'
    const f: HeldFrame = { hash, bucket, data, own: true }
    if (!this.embargo.hold(f)) {
      if (this.embargo.has(hash)) return 'held'
      await this.fluff(f, 'table full')
      return 'fluffed'
    }
    this.stats.held = this.embargo.size
    return await this.route(f)
  }

  /** The frame came back through the mesh (or catch-up) and is stored: its embargo ends. */
  settle (hash: Uint8Array): void {
    if (this.embargo.take(hash) !== undefined) {
      this.stats.settled++
      this.stats.held = this.embargo.size
    }
  }

  /**
   * Ends the stem: no more frames are taken, every timer is cancelled, and every held frame is
   * stored by the normal path (not published), so that no mail is lost; catch-up spreads it.
   */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    const held = this.embargo.clear()
    this.stats.held = 0
    for (const f of held) {
      try {
        await this.init.intake.take(f.data, f.bucket, 'stem')
      } catch (err) {
        log('storing a held frame at stop: %s', (err as Error).message)
      }
    }
  }

  /** One inbound stem stream: at most MAX_MESSAGES_PER_STREAM messages, each read bounded. */
  async handle (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    if (this.stopped || this.active >= MAX_INBOUND_STREAMS) {
      stream.abort(new Error('stem streams busy'))
      return
    }
    this.active++
    const lp = lpStream(stream, { maxDataLength: MAX_STEM_MESSAGE_BYTES, maxBufferSize: MAX_STEM_MESSAGE_BYTES + 16 })
    try {
      for (let i = 0; i < MAX_MESSAGES_PER_STREAM; i++) {
        let raw: Uint8Array
        try {
          raw = (await lp.read({ signal: AbortSignal.timeout(STEM_READ_TIMEOUT_MS) })).subarray()
        } catch (err) {
          if (isEndOfStream(err)) break
          throw err
        }
        this.stats.received++
        if (!this.limiter.take(peer)) {
          this.stats.dropped++
          continue
        }
        const m = decodeStemMessage(raw)
        await this.receive(m.bucket, m.frame)
      }
      await stream.close({ signal: AbortSignal.timeout(STEM_READ_TIMEOUT_MS) })
    } catch (err) {
      if (err instanceof AsmtpError) this.stats.dropped++
      log('stem stream from %s ended: %s', peer, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.active--
    }
  }

  /** A frame a peer stemmed to us: the checks of a gossiped frame, then hold, coin, forward. */
  private async receive (bucket: number, data: Uint8Array): Promise<void> {
    const hash = frameHash(data)
    if (this.loop(hash)) return
    if (this.stopped || !this.init.buckets.carries(bucket) || await this.init.store().hasSeen(hash)) {
      this.stats.dropped++
      return
    }
    const checked = this.init.intake.check(data, bucket)
    if (!('frame' in checked)) {
      this.stats.dropped++
      log('stem frame %s: %s', checked.result, checked.reason)
      return
    }
    if (this.loop(hash)) return
    const f: HeldFrame = { hash, bucket, data, own: false }
    if (!this.embargo.hold(f)) {
      // full: the peer that sent it still holds it under its own embargo
      this.stats.dropped++
      return
    }
    this.stats.held = this.embargo.size
    if (this.random() < FLUFF_PROBABILITY) {
      this.background(this.fluff(f, 'coin'))
      return
    }
    this.background(this.route(f).then(() => {}))
  }

  /** A held frame stemmed back to us: the successors made a loop, so it fluffs here. */
  private loop (hash: Uint8Array): boolean {
    const f = this.embargo.take(hash)
    if (f === undefined) return false
    this.stats.loops++
    this.background(this.fluff(f, 'loop'))
    return true
  }

  /** Hands a held frame to the bucket's successor; fluffs it when there is none or the send fails. */
  private async route (f: HeldFrame): Promise<StemOutcome> {
    const peer = f.own && this.init.off === true ? undefined : this.successors.pick(f.bucket)
    if (peer === undefined) {
      await this.fluff(f, 'no successor')
      return 'fluffed'
    }
    try {
      await this.send(peer, f)
      log('stem %s of bucket %d to %s', toHex(f.hash).slice(0, 12), f.bucket, peer)
      if (f.own) this.stats.sent++
      else this.stats.forwarded++
      return 'stemmed'
    } catch (err) {
      this.stats.failed++
      log('stem to %s failed: %s', peer, (err as Error).message)
      this.successors.drop(f.bucket)
      await this.fluff(f, 'send failed')
      return 'fluffed'
    }
  }

  private async send (peer: PeerId, f: HeldFrame): Promise<void> {
    const signal = withTimeout(STEM_SEND_TIMEOUT_MS, this.init.signal())
    const stream = await this.init.host().dialProtocol(peer, STEM_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_STEM_MESSAGE_BYTES })
      await lp.write(encodeStemMessage({ bucket: f.bucket, frame: f.data }), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  /**
   * Ends the stem for a frame: stores it by the normal path and publishes it to the bucket (not
   * when it is stored or seen already: it came back meanwhile and is in the mesh).
   */
  private async fluff (f: HeldFrame, why: string): Promise<void> {
    this.embargo.take(f.hash)
    this.stats.held = this.embargo.size
    if (this.stopped) return
    this.stats.fluffed++
    log('fluff %s of bucket %d: %s', toHex(f.hash).slice(0, 12), f.bucket, why)
    if (await this.init.store().hasSeen(f.hash)) return
    const v = await this.init.intake.take(f.data, f.bucket, 'stem')
    // a duplicate here is a frame larger than this node's quota for the bucket: others carry it
    if (v.result === 'accept' || v.result === 'duplicate') await this.init.publish(f.bucket, f.data)
  }

  /** Runs stem work off the caller's path; failures are logged, never unhandled. */
  private background (p: Promise<void>): void {
    p.catch((err: unknown) => { log('stem: %s', err instanceof Error ? err.message : String(err)) })
  }
}
