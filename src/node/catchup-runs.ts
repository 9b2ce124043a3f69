/**
 * When a node catches up, and from whom (DESIGN.md "Store-and-forward per bucket"): with a
 * peer that joins one of our buckets (or that we meet in a bucket we join), and every few
 * minutes with a random member of each bucket, because gossipsub's IHAVE window is seconds
 * long and a pruned or restarted peer would otherwise miss frames. Each run compares hour
 * digests over the frame lifetime and fetches only what is missing
 * (`/asmtp/catchup/2.0.0`, src/node/catchup/). One run per peer and bucket at a time, and a
 * bounded number at once.
 */
import createDebug from 'debug'
import type { PeerId } from '@libp2p/interface'
import { frameHour, HOUR_MS } from '../frame/index.js'
import { CATCHUP_PROTOCOL, catchUpBucket } from './catchup/index.js'
import type { Intake } from './intake.js'
import type { AsmtpLibp2p } from './libp2p.js'
import type { Store } from '../store/index.js'
import { DIAL_TIMEOUT_MS } from './peers.js'
import { withTimeout, type TaskSet } from './tasks.js'

const log = createDebug('asmtp:node:catchup')

/** Frames of the current and the previous hour that a catch-up brings are forwarded to the mesh. */
export const FORWARD_MAX_AGE_HOURS = 1

/** The hour field of an encoded frame (version u8 ‖ hour u32 ‖ ...); intake has checked it. */
function decodeFrameHour (frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1)
}

export const CATCHUP_INTERVAL_MS = 3 * 60_000
const MAX_CONCURRENT_RUNS = 4
/** The same peer and bucket again only after this, unless it joins the bucket anew. */
const MIN_RUN_GAP_MS = 10_000
const RUN_TIMEOUT_MS = 120_000

export interface CatchupStats { runs: number, failed: number, incomplete: number, frames: number }

export interface CatchupRunsInit {
  host: () => AsmtpLibp2p
  store: () => Store
  intake: Intake
  tasks: TaskSet
  frameLifetimeMs: number
  /**
   * A frame new to this node that a catch-up brought and that is at most FORWARD_MAX_AGE_HOURS old:
   * it was published while its origin was cut off (a partition, a dead connection), so the
   * mesh never had it; forwarding it lets the bucket's other members have it within seconds
   * instead of at their next periodic catch-up.
   */
  forward?: (bucket: number, frame: Uint8Array, hash: Uint8Array) => void
  now?: () => number
}

export class CatchupRuns {
  readonly stats: CatchupStats = { runs: 0, failed: 0, incomplete: 0, frames: 0 }
  private readonly init: CatchupRunsInit
  private readonly running = new Map<string, Promise<void>>()
  private readonly lastRun = new Map<string, number>()
  private readonly waiting: Array<() => void> = []
  private active = 0
  private readonly now: () => number

  constructor (init: CatchupRunsInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  /** Runs (in the background) a catch-up of `bucket` from `peer`; `fresh`: the peer just joined, run even if it ran lately. */
  schedule (peer: PeerId, bucket: number, fresh = false): Promise<void> {
    const key = `${peer.toString()}/${bucket}`
    const running = this.running.get(key)
    if (running !== undefined) return running
    const last = this.lastRun.get(key) ?? 0
    if (!fresh && this.now() - last < MIN_RUN_GAP_MS) return Promise.resolve()
    if (this.lastRun.size > 16_384) this.lastRun.clear()
    this.lastRun.set(key, this.now())
    const p = this.init.tasks.run(`catch-up ${key}`, async (signal) => {
      await this.slot(signal)
      try {
        await this.run(peer, bucket, signal)
      } catch (err) {
        if (!signal.aborted) this.stats.failed++
        throw err
      } finally {
        this.active--
        this.waiting.shift()?.()
      }
    }).finally(() => this.running.delete(key))
    this.running.set(key, p)
    return p
  }

  /** Resolves when no catch-up is running (for tests and tools). */
  async idle (): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()])
  }

  private async slot (signal: AbortSignal): Promise<void> {
    while (this.active >= MAX_CONCURRENT_RUNS && !signal.aborted) {
      await new Promise<void>(resolve => {
        this.waiting.push(resolve)
        signal.addEventListener('abort', () => { resolve() }, { once: true })
      })
    }
    this.active++
  }

  private async run (peer: PeerId, bucket: number, parent: AbortSignal): Promise<void> {
    const signal = withTimeout(RUN_TIMEOUT_MS, parent)
    const now = this.now()
    this.stats.runs++
    const store = this.init.store()
    // the run owns the stream from here and closes it
    const stream = await this.init.host().dialProtocol(peer, CATCHUP_PROTOCOL, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
    const r = await catchUpBucket({
      stream,
      bucket,
      fromHour: frameHour(now - this.init.frameLifetimeMs - HOUR_MS),
      toHour: frameHour(now) + 1,
      local: {
        hourDigests: async (b, f, t) => await store.hourDigests(b, f, t),
        has: async (hashes) => await Promise.all(hashes.map(async h => await store.hasSeen(h)))
      },
      accept: async (frame) => {
        const v = await this.init.intake.take(frame, bucket, 'catchup')
        if (v.result === 'accept') {
          if (this.init.forward !== undefined && frameHour(now) - decodeFrameHour(frame) <= FORWARD_MAX_AGE_HOURS) this.init.forward(bucket, frame, v.hash)
          return 'stored'
        }
        return v.result === 'reject' ? 'invalid' : 'duplicate'
      },
      signal
    })
    this.stats.frames += r.stored
    if (!r.complete) {
      this.stats.incomplete++
      log('catch-up of bucket %d from %s stopped early: %s', bucket, peer, r.stopped)
    }
    if (r.stored > 0) log('caught up %d frames of bucket %d from %s', r.stored, bucket, peer)
  }
}
