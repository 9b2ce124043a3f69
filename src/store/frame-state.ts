/**
 * What the frame operations share (docs/STORAGE.md, "Frames"): the database, the write lock,
 * the clock, the seen filter, the per-bucket usage counters, the arrival counter and the
 * per-topic seq counters; and the batch operations that remove one held frame, the same for
 * eviction and the sweep.
 */
import { toHex } from '../bytes.js'
import type { BucketUsage, UsageDraft } from './bucket-usage.js'
import type { RootBatchOp, StoreDb } from './db.js'
import type { FrameHeader } from './frame-values.js'
import { assertTime, inventoryKey, matchedKey, relayKey } from './keys.js'
import type { SeenFilter } from './seen-filter.js'
import type { WriteLock } from './write-lock.js'

/** The record a node hands the store: one gossip frame with what its header says. */
export interface FrameRecord {
  /** SHA-256 of the frame (32 bytes): the gossip message id */
  hash: Uint8Array
  /** 0..65535 */
  bucket: number
  /** hours since 2020-01-01T00:00Z, u32 */
  hour: number
  /** network expiry, ms since the epoch */
  expiresAt: number
  /** the frame bytes, opaque to the store */
  frame: Uint8Array
  /**
   * The sender chose a TTL (ttl class 1..3): at `expiresAt` the frame goes even when it is
   * matched and no device fetched it (docs/STORAGE.md "Sweep"). @default false
   */
  dropAtExpiry?: boolean
}

export interface FrameStateInit {
  db: StoreDb
  lock: WriteLock
  now: () => number
  retentionMs: number
  usage: BucketUsage
  filter: SeenFilter
  lastArrival: bigint
  /** fsync each batch before its puts resolve (storage.sync) */
  sync: boolean
}

export class FrameState {
  readonly db: StoreDb
  readonly lock: WriteLock
  readonly retentionMs: number
  readonly usage: BucketUsage
  readonly filter: SeenFilter
  /** fsync each batch before its puts resolve (storage.sync) */
  readonly sync: boolean
  /** highest arrival number ever given (persisted as meta `last-arrival`) */
  lastArrival: bigint
  /** highest seq given per topic (hex), as far as loaded from `topic-seq` */
  readonly topicSeqs = new Map<string, bigint>()
  private readonly now: () => number

  constructor (init: FrameStateInit) {
    this.db = init.db
    this.lock = init.lock
    this.now = init.now
    this.retentionMs = init.retentionMs
    this.usage = init.usage
    this.filter = init.filter
    this.sync = init.sync
    this.lastArrival = init.lastArrival
  }

  clock (): number {
    return assertTime(this.now(), 'now()')
  }

  /** When a frame matched now stops being kept (unless unfetched): DESIGN.md "What a home node does besides". */
  keepUntil (header: FrameHeader): number {
    return Math.max(header.expiresAt, header.receivedAt + this.retentionMs)
  }

  /** Every record of a held frame except its seen entry and expiry keys, with the counters. */
  removeFrameOps (hash: Uint8Array, header: FrameHeader, usage: UsageDraft): RootBatchOp[] {
    const ops: RootBatchOp[] = [
      { type: 'del', key: hash, sublevel: this.db.frames },
      { type: 'del', key: hash, sublevel: this.db.frameData },
      { type: 'del', key: inventoryKey(header.bucket, header.hour, hash), sublevel: this.db.inventory }
    ]
    if (header.matches.length === 0) {
      ops.push({ type: 'del', key: relayKey(header.bucket, header.arrival, hash), sublevel: this.db.relayOrder })
      usage.add(header.bucket, { relayedBytes: -header.size, relayedFrames: -1 })
    } else {
      for (const m of header.matches) ops.push({ type: 'del', key: matchedKey(m.topic, m.seq), sublevel: this.db.matched })
      usage.add(header.bucket, { matchedFrames: -1 })
    }
    return ops
  }
}

/** Held for every read: matched frames until the sweep removes them, relayed-only ones until their network expiry. */
export function isHeld (header: FrameHeader, now: number): boolean {
  return header.matches.length > 0 || header.expiresAt > now
}

export function hashKey (hash: Uint8Array): string {
  return toHex(hash)
}
