/**
 * The sweep and the fetched cursors (docs/STORAGE.md, "Sweep"). The expiry index holds, per
 * frame, its network expiry (the seen entry goes; a relayed-only frame goes; a matched frame
 * leaves the inventory, unless its sender chose a TTL: then it goes too, fetched or not) and, once matched, the end of its retention (it goes when every device
 * fetched it, and is otherwise parked in `unfetched` until markFetched passes its seq).
 * deleteExpired walks the index in batches of EXPIRY_SWEEP_BATCH entries, each batch atomic and
 * under the write lock, so writers are never held up for long.
 */
import { AsmtpError } from '../errors.js'
import type { RootBatchOp } from './db.js'
import { EXPIRY_VALUE, decodeExpiresAt, decodeFrameHeader, decodeHashRef, encodeHashRef, type FrameHeader } from './frame-values.js'
import { hashKey, type FrameState } from './frame-state.js'
import {
  EXPIRY_KIND, SUBLEVELS, TOPIC_ID_BYTES, assertLength, assertSeq, assertTime, expiryDueBefore, expiryKey,
  inventoryKey, matchedKey, matchedRange, parseExpiryKey, parseMatchedKey
} from './keys.js'
import { decodeU64Value, describeKey, encodeU64Value } from './values.js'

export const EXPIRY_SWEEP_BATCH = 1000

export interface SweepResult {
  /** frames removed (relayed-only at their network expiry, matched after retention once fetched) */
  frames: number
  /** seen entries removed at their network expiry */
  seen: number
}

export class FrameSweep {
  constructor (private readonly state: FrameState) {}

  async deleteExpired (now?: number): Promise<SweepResult> {
    const cutoff = assertTime(now ?? this.state.clock(), 'now')
    const total = { frames: 0, seen: 0 }
    for (;;) {
      const r = await this.state.lock.run(async () => await this.sweepBatch(cutoff))
      total.frames += r.frames
      total.seen += r.seen
      if (r.entries < EXPIRY_SWEEP_BATCH) return total
    }
  }

  private async sweepBatch (cutoff: number): Promise<SweepResult & { entries: number }> {
    const s = this.state
    const db = s.db
    const entries: Array<ReturnType<typeof parseExpiryKey> & { key: Uint8Array }> = []
    for await (const key of db.expiry.keys({ lt: expiryDueBefore(cutoff), limit: EXPIRY_SWEEP_BATCH })) {
      entries.push({ key, ...parseExpiryKey(key) })
    }
    if (entries.length === 0) return { entries: 0, frames: 0, seen: 0 }
    const hashes = [...new Map(entries.map((e) => [hashKey(e.hash), e.hash])).values()]
    const [rawHeaders, rawSeen] = await Promise.all([db.frames.getMany(hashes), db.seen.getMany(hashes)])
    const headers = new Map<string, FrameHeader | undefined>()
    const seen = new Map<string, number | undefined>()
    hashes.forEach((hash, i) => {
      const h = rawHeaders[i]
      const v = rawSeen[i]
      headers.set(hashKey(hash), h === undefined ? undefined : decodeFrameHeader(describeKey(SUBLEVELS.frames, hash), h))
      seen.set(hashKey(hash), v === undefined ? undefined : decodeExpiresAt(describeKey(SUBLEVELS.seen, hash), v))
    })
    const fetched = await this.fetchedOf(entries.flatMap((e) => {
      const h = e.kind === EXPIRY_KIND.retention ? headers.get(hashKey(e.hash)) : undefined
      return h === undefined ? [] : h.matches.map((m) => m.topic)
    }))

    const ops: RootBatchOp[] = []
    const usage = s.usage.draft()
    let frames = 0
    let seenRemoved = 0
    for (const e of entries) {
      const key = hashKey(e.hash)
      ops.push({ type: 'del', key: e.key, sublevel: db.expiry })
      const header = headers.get(key)
      if (e.kind === EXPIRY_KIND.network || e.kind === EXPIRY_KIND.ttl) {
        if (seen.get(key) === e.time) {
          ops.push({ type: 'del', key: e.hash, sublevel: db.seen })
          seen.set(key, undefined)
          seenRemoved++
        }
        if (header === undefined || header.expiresAt !== e.time) continue
        if (e.kind === EXPIRY_KIND.ttl) {
          // the sender's TTL: gone now, even unfetched (a retention entry of this batch may have parked it)
          for (const m of header.matches) ops.push({ type: 'del', key: matchedKey(m.topic, m.seq), sublevel: db.unfetched })
        } else if (header.matches.length > 0) {
          ops.push({ type: 'del', key: inventoryKey(header.bucket, header.hour, e.hash), sublevel: db.inventory })
          continue
        }
      } else {
        if (header === undefined || header.keepUntil !== e.time) continue
        const waiting = header.matches.filter((m) => m.seq > (fetched.get(hashKey(m.topic)) ?? 0n))
        if (waiting.length > 0) {
          // no device has it yet: parked, never dropped, until markFetched passes its seq
          for (const m of waiting) ops.push({ type: 'put', key: matchedKey(m.topic, m.seq), value: encodeHashRef(e.hash), sublevel: db.unfetched })
          continue
        }
      }
      ops.push(...s.removeFrameOps(e.hash, header, usage))
      headers.set(key, undefined)
      frames++
    }
    ops.push(...usage.ops(db))
    await db.root.batch<Uint8Array | string, Uint8Array>(ops, {})
    usage.apply()
    return { entries: entries.length, frames, seen: seenRemoved }
  }

  private async fetchedOf (topics: Uint8Array[]): Promise<Map<string, bigint>> {
    const unique = [...new Map(topics.map((t) => [hashKey(t), t])).values()]
    const out = new Map<string, bigint>()
    if (unique.length === 0) return out
    const raw = await this.state.db.fetched.getMany(unique)
    unique.forEach((topic, i) => {
      const r = raw[i]
      out.set(hashKey(topic), r === undefined ? 0n : decodeU64Value(describeKey(SUBLEVELS.fetched, topic), r))
    })
    return out
  }

  /**
   * Devices of `topic` have every frame with seq <= upToSeq (monotonic: a lower value changes
   * nothing). The frames parked as unfetched up to it go back into the expiry index at their
   * retention end (already past), so the next sweep removes them; all in one batch.
   */
  async markFetched (topic: Uint8Array, upToSeq: bigint): Promise<void> {
    assertLength(topic, TOPIC_ID_BYTES, 'topic')
    assertSeq(upToSeq, 'upToSeq')
    const db = this.state.db
    await this.state.lock.run(async () => {
      const raw = await db.fetched.get(topic)
      const current = raw === undefined ? 0n : decodeU64Value(describeKey(SUBLEVELS.fetched, topic), raw)
      if (upToSeq <= current) return
      const ops: RootBatchOp[] = [{ type: 'put', key: topic.slice(), value: encodeU64Value(upToSeq), sublevel: db.fetched }]
      const parked: Array<{ key: Uint8Array, hash: Uint8Array }> = []
      for await (const [key, value] of db.unfetched.iterator(matchedRange(topic, current, upToSeq))) {
        parseMatchedKey(key, SUBLEVELS.unfetched)
        parked.push({ key, hash: decodeHashRef(describeKey(SUBLEVELS.unfetched, key), value) })
      }
      const headers = parked.length === 0 ? [] : await db.frames.getMany(parked.map((p) => p.hash))
      parked.forEach((p, i) => {
        ops.push({ type: 'del', key: p.key, sublevel: db.unfetched })
        const h = headers[i]
        if (h === undefined) return
        const header = decodeFrameHeader(describeKey(SUBLEVELS.frames, p.hash), h)
        if (header.keepUntil === 0) {
          throw new AsmtpError('STORE_ERROR', `corrupt store: unfetched record ${hashKey(p.key)} names a frame that is not matched`)
        }
        ops.push({ type: 'put', key: expiryKey(header.keepUntil, EXPIRY_KIND.retention, p.hash), value: EXPIRY_VALUE, sublevel: db.expiry })
      })
      await db.root.batch<Uint8Array | string, Uint8Array>(ops, {})
    })
  }

  /** Matched frames past their retention that no device has fetched yet (parked entries). */
  async countUnfetched (): Promise<number> {
    let n = 0
    for await (const key of this.state.db.unfetched.keys()) {
      parseMatchedKey(key, SUBLEVELS.unfetched)
      n++
    }
    return n
  }
}
