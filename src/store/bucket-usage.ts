/**
 * Per-bucket usage counters (relayed-only bytes and frames, matched frames), kept in memory
 * and persisted in `bucket-usage` in the same batch as the frames they count, so they are
 * exact after a reopen (docs/STORAGE.md, "Quota"). A write works on a draft that is applied
 * to memory only once its batch is on disk.
 */
import { AsmtpError } from '../errors.js'
import type { RootBatchOp, StoreDb } from './db.js'
import { MAX_BUCKET, SUBLEVELS, checkStoredKey } from './keys.js'
import { u16be } from '../bytes.js'
import { decodeBucketUsage, encodeBucketUsage, type BucketUsageValue } from './frame-values.js'
import { describeKey } from './values.js'

const ZERO: BucketUsageValue = { relayedBytes: 0, relayedFrames: 0, matchedFrames: 0 }

export class BucketUsage {
  private readonly buckets = new Map<number, BucketUsageValue>()

  static async load (db: StoreDb): Promise<BucketUsage> {
    const usage = new BucketUsage()
    for await (const [key, raw] of db.bucketUsage.iterator()) {
      const bucketKey = checkStoredKey(key, 2, SUBLEVELS.bucketUsage)
      const bucket = (bucketKey[0] << 8) | bucketKey[1]
      usage.buckets.set(bucket, decodeBucketUsage(describeKey(SUBLEVELS.bucketUsage, key), raw))
    }
    return usage
  }

  get (bucket: number): BucketUsageValue {
    return { ...(this.buckets.get(bucket) ?? ZERO) }
  }

  totals (): BucketUsageValue {
    const t = { ...ZERO }
    for (const u of this.buckets.values()) {
      t.relayedBytes += u.relayedBytes
      t.relayedFrames += u.relayedFrames
      t.matchedFrames += u.matchedFrames
    }
    return t
  }

  draft (): UsageDraft {
    return new UsageDraft(this, this.buckets)
  }
}

/** Changes of one batch: read through to the committed counters, applied after the write. */
export class UsageDraft {
  private readonly changed = new Map<number, BucketUsageValue>()

  constructor (private readonly base: BucketUsage, private readonly target: Map<number, BucketUsageValue>) {}

  get (bucket: number): BucketUsageValue {
    return this.changed.get(bucket) ?? this.base.get(bucket)
  }

  add (bucket: number, delta: Partial<BucketUsageValue>): void {
    const u = { ...this.get(bucket) }
    u.relayedBytes += delta.relayedBytes ?? 0
    u.relayedFrames += delta.relayedFrames ?? 0
    u.matchedFrames += delta.matchedFrames ?? 0
    if (u.relayedBytes < 0 || u.relayedFrames < 0 || u.matchedFrames < 0) {
      throw new AsmtpError('STORE_ERROR', `corrupt store: the usage counters of bucket ${bucket} would go negative`)
    }
    this.changed.set(bucket, u)
  }

  /** Counters summed over every bucket, this draft's changes included. */
  totals (): BucketUsageValue {
    const t = this.base.totals()
    for (const [bucket, u] of this.changed) {
      const b = this.base.get(bucket)
      t.relayedBytes += u.relayedBytes - b.relayedBytes
      t.relayedFrames += u.relayedFrames - b.relayedFrames
      t.matchedFrames += u.matchedFrames - b.matchedFrames
    }
    return t
  }

  /** The bucket holding the most relayed-only frames (the first such), or undefined when none holds any. */
  fullestRelayBucket (): number | undefined {
    let best: number | undefined
    let most = 0
    for (const bucket of new Set([...this.target.keys(), ...this.changed.keys()])) {
      const n = this.get(bucket).relayedFrames
      if (n > most) { most = n; best = bucket }
    }
    return best
  }

  /** The puts (or deletes, for a bucket back at zero) of the changed counters. */
  ops (db: StoreDb): RootBatchOp[] {
    return [...this.changed].map(([bucket, u]): RootBatchOp => {
      if (bucket < 0 || bucket > MAX_BUCKET) throw new RangeError(`bucket ${bucket}`)
      const empty = u.relayedBytes === 0 && u.relayedFrames === 0 && u.matchedFrames === 0
      return empty
        ? { type: 'del', key: u16be(bucket), sublevel: db.bucketUsage }
        : { type: 'put', key: u16be(bucket), value: encodeBucketUsage(u), sublevel: db.bucketUsage }
    })
  }

  apply (): void {
    for (const [bucket, u] of this.changed) {
      if (u.relayedBytes === 0 && u.relayedFrames === 0 && u.matchedFrames === 0) this.target.delete(bucket)
      else this.target.set(bucket, u)
    }
  }
}
