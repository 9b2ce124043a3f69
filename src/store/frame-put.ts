/**
 * Putting frames (docs/STORAGE.md, "Frames"): replay check against the seen set, storage as
 * relayed-only within the bucket's quota (evicting that bucket's oldest relayed-only frames)
 * or as matched under a topic with the topic's next seq, and promotion of a held frame to
 * matched. Puts that arrive while a write is in flight are committed together (group commit):
 * one multi-get per sublevel and one atomic LevelDB batch for the whole group, so every record
 * of a frame, the counters and the seen entry land together or not at all.
 */
import { AsmtpError } from '../errors.js'
import type { RootBatchOp } from './db.js'
import {
  EXPIRY_VALUE, MAX_FRAME_MATCHES, MAX_STORED_FRAME_BYTES, decodeExpiresAt, decodeFrameHeader, decodeRelayEntry,
  encodeExpiresAt, encodeFrameData, encodeFrameHeader, encodeHashRef, encodeRelayEntry, type FrameHeader
} from './frame-values.js'
import { hashKey, type FrameRecord, type FrameState } from './frame-state.js'
import type { UsageDraft } from './bucket-usage.js'
import {
  EXPIRY_KIND, FRAME_HASH_BYTES, MAX_BUCKET, MAX_HOUR, META_LAST_ARRIVAL_KEY, SUBLEVELS, TOPIC_ID_BYTES, assertInteger,
  assertLength, expiryKey, inventoryKey, matchedKey, parseRelayKey, relayKey, relayRange
} from './keys.js'
import { decodeU64Value, describeKey, encodeU64Value } from './values.js'

export interface PutFrameOptions {
  /** quota of this bucket's relayed-only bytes */
  bucketQuotaBytes: number
  /** 32-byte topic id when the frame matched one of ours */
  topic?: Uint8Array
  /**
   * Most frames stored (`storage.max_messages`); 0 or unset: no cap. Over it the oldest
   * relayed-only frames of the fullest bucket go first; a relayed-only frame is refused when
   * only matched frames are left; a matched frame is always stored (never dropped silently).
   */
  maxFrames?: number
}

export interface PutFrameResult {
  /** false when already held, or already seen (replay), or larger than the bucket's whole quota */
  stored: boolean
  /** true when the hash was in the seen set before this put */
  seen: boolean
  /** the frame's seq under `topic` (when matched; also when already held and matched) */
  seq?: bigint
  /** relayed-only frames evicted to make room (of this bucket for its quota, of any for the cap) */
  evicted: number
  /** a relayed-only frame refused because the cap is reached by matched frames alone */
  refused?: boolean
}

/** Most puts committed in one LevelDB batch, and most frame bytes. */
export const PUT_GROUP_MAX = 512
export const PUT_GROUP_MAX_BYTES = 8 * 1024 * 1024
/** Relay-order entries read at a time while evicting. */
const EVICT_READ_AHEAD = 64

interface PendingPut {
  rec: FrameRecord
  quota: number
  maxFrames: number
  topic: Uint8Array | undefined
  resolve: (r: PutFrameResult) => void
  reject: (err: unknown) => void
}

/** One relayed-only frame in its bucket's relay order (`key` is its relay-order key). */
interface RelayEntry { key: Uint8Array, hash: Uint8Array, hour: number, size: number }

/** A bucket's relayed-only frames, oldest first: those on disk, then those of this group. */
class Evictor {
  private after: Uint8Array | undefined
  private done = false
  private readonly buffer: RelayEntry[] = []
  private readonly fresh: RelayEntry[] = []

  constructor (private readonly state: FrameState, private readonly bucket: number, private readonly gone: Set<string>) {}

  add (entry: RelayEntry): void {
    this.fresh.push(entry)
  }

  async next (): Promise<RelayEntry | undefined> {
    for (;;) {
      if (this.buffer.length === 0 && !this.done) await this.read()
      const e = this.buffer.shift() ?? this.fresh.shift()
      if (e === undefined) return undefined
      const key = hashKey(e.hash)
      if (this.gone.has(key)) continue
      this.gone.add(key)
      return e
    }
  }

  private async read (): Promise<void> {
    const range = relayRange(this.bucket)
    const options = this.after === undefined ? { ...range, limit: EVICT_READ_AHEAD } : { gt: this.after, lte: range.lte, limit: EVICT_READ_AHEAD }
    let n = 0
    for await (const [key, raw] of this.state.db.relayOrder.iterator(options)) {
      n++
      this.after = key
      const { hash } = parseRelayKey(key)
      const { size, hour } = decodeRelayEntry(describeKey(SUBLEVELS.relayOrder, key), raw)
      this.buffer.push({ key, hash, hour, size })
    }
    if (n < EVICT_READ_AHEAD) this.done = true
  }
}

function assertRecord (rec: FrameRecord, opts: PutFrameOptions): void {
  if (typeof rec !== 'object' || rec === null) throw new TypeError('rec must be a FrameRecord')
  if (typeof opts !== 'object' || opts === null) throw new TypeError('opts must be PutFrameOptions')
  if (rec.dropAtExpiry !== undefined && typeof rec.dropAtExpiry !== 'boolean') throw new TypeError('dropAtExpiry must be a boolean')
  assertLength(rec.hash, FRAME_HASH_BYTES, 'hash')
  assertInteger(rec.bucket, MAX_BUCKET, 'bucket')
  assertInteger(rec.hour, MAX_HOUR, 'hour')
  assertInteger(rec.expiresAt, Number.MAX_SAFE_INTEGER, 'expiresAt')
  if (!(rec.frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array')
  if (rec.frame.length === 0 || rec.frame.length > MAX_STORED_FRAME_BYTES) {
    throw new RangeError(`frame must be 1..${MAX_STORED_FRAME_BYTES} bytes, got ${rec.frame.length}`)
  }
  assertInteger(opts.bucketQuotaBytes, Number.MAX_SAFE_INTEGER, 'bucketQuotaBytes')
  if (opts.topic !== undefined) assertLength(opts.topic, TOPIC_ID_BYTES, 'topic')
}

export class FramePuts {
  /** relayed-only frames evicted since the store opened (for the quota or the cap) */
  evictedTotal = 0
  /** relayed-only frames refused since the store opened because the cap was reached by matched frames */
  refusedTotal = 0
  private readonly pending: PendingPut[] = []
  private flushing = false

  constructor (private readonly state: FrameState) {}

  async put (rec: FrameRecord, opts: PutFrameOptions): Promise<PutFrameResult> {
    assertRecord(rec, opts)
    return await new Promise<PutFrameResult>((resolve, reject) => {
      this.pending.push({ rec, quota: opts.bucketQuotaBytes, maxFrames: opts.maxFrames ?? 0, topic: opts.topic?.slice(), resolve, reject })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.pending.length > 0) {
        let n = 0
        let bytes = 0
        while (n < this.pending.length && n < PUT_GROUP_MAX && (n === 0 || bytes + this.pending[n].rec.frame.length <= PUT_GROUP_MAX_BYTES)) {
          bytes += this.pending[n].rec.frame.length
          n++
        }
        const group = this.pending.splice(0, n)
        try {
          await this.state.lock.run(async () => { await this.commit(group) })
        } catch (err) {
          for (const p of group) p.reject(err)
        }
      }
    } finally {
      this.flushing = false
    }
  }

  private async commit (group: PendingPut[]): Promise<void> {
    const s = this.state
    const db = s.db
    const now = s.clock()
    const known = await this.lookUp(group, now)
    const seqs = await this.topicSeqs(group)
    const ops: RootBatchOp[] = []
    const usage = s.usage.draft()
    const gone = new Set<string>()
    const evictors = new Map<number, Evictor>()
    const changedSeqs = new Set<string>()
    let arrival = s.lastArrival
    const nextSeq = (topic: Uint8Array): bigint => {
      const key = hashKey(topic)
      const seq = (seqs.get(key) ?? 0n) + 1n
      seqs.set(key, seq)
      changedSeqs.add(key)
      return seq
    }
    const outcomes: Array<PutFrameResult | Error> = []
    for (const p of group) {
      const { rec, topic } = p
      const key = hashKey(rec.hash)
      const k = known.get(key)
      if (k instanceof Error) {
        outcomes.push(k)
        continue
      }
      const wasSeen = k?.seen ?? false
      const header = k?.header
      if (header !== undefined) {
        outcomes.push(this.promote(rec.hash, header, topic, wasSeen, { ops, usage, gone, nextSeq, known }))
        continue
      }
      if (wasSeen) {
        outcomes.push({ stored: false, seen: true, evicted: 0 })
        continue
      }
      const cap = p.maxFrames
      if (topic === undefined && cap > 0 && usage.totals().matchedFrames + 1 > cap) {
        // nothing left to evict but this node's users' mail: relayed frames are refused, not stored
        // (not marked seen either, so it can come again by catch-up once there is room)
        outcomes.push({ stored: false, seen: false, evicted: 0, refused: true })
        continue
      }
      const fresh: FrameHeader = {
        bucket: rec.bucket, hour: rec.hour, expiresAt: rec.expiresAt, receivedAt: now, arrival: 0n, size: rec.frame.length, keepUntil: 0, matches: []
      }
      ops.push(
        { type: 'put', key: rec.hash, value: encodeExpiresAt(rec.expiresAt), sublevel: db.seen },
        { type: 'put', key: expiryKey(rec.expiresAt, rec.dropAtExpiry === true ? EXPIRY_KIND.ttl : EXPIRY_KIND.network, rec.hash), value: EXPIRY_VALUE, sublevel: db.expiry }
      )
      s.filter.add(rec.hash)
      known.set(key, { seen: rec.expiresAt > now, header: undefined })
      if (topic === undefined && fresh.size > p.quota) {
        outcomes.push({ stored: false, seen: false, evicted: 0 })
        continue
      }
      fresh.arrival = ++arrival
      let evicted = 0
      const evictRelayed = (bucket: number, victim: RelayEntry): void => {
        ops.push(
          { type: 'del', key: victim.hash, sublevel: db.frames },
          { type: 'del', key: victim.hash, sublevel: db.frameData },
          { type: 'del', key: inventoryKey(bucket, victim.hour, victim.hash), sublevel: db.inventory },
          { type: 'del', key: victim.key, sublevel: db.relayOrder }
        )
        usage.add(bucket, { relayedBytes: -victim.size, relayedFrames: -1 })
        // its seen entry stays: a replay of it is still a duplicate
        known.set(hashKey(victim.hash), { seen: true, header: undefined })
        evicted++
      }
      const evictorOf = (bucket: number): Evictor => {
        let evictor = evictors.get(bucket)
        if (evictor === undefined) {
          evictor = new Evictor(s, bucket, gone)
          evictors.set(bucket, evictor)
        }
        return evictor
      }
      if (cap > 0) {
        for (let t = usage.totals(); t.relayedFrames + t.matchedFrames + 1 > cap; t = usage.totals()) {
          const bucket = usage.fullestRelayBucket()
          if (bucket === undefined) break
          const victim = await evictorOf(bucket).next()
          if (victim === undefined) throw new AsmtpError('STORE_ERROR', `corrupt store: bucket ${bucket} counts relayed frames that its relay order does not hold`)
          evictRelayed(bucket, victim)
        }
      }
      if (topic !== undefined) {
        fresh.matches = [{ topic, seq: nextSeq(topic) }]
        fresh.keepUntil = s.keepUntil(fresh)
        ops.push(
          { type: 'put', key: matchedKey(topic, fresh.matches[0].seq), value: encodeHashRef(rec.hash), sublevel: db.matched },
          { type: 'put', key: expiryKey(fresh.keepUntil, EXPIRY_KIND.retention, rec.hash), value: EXPIRY_VALUE, sublevel: db.expiry }
        )
        usage.add(rec.bucket, { matchedFrames: 1 })
      } else {
        const evictor = evictorOf(rec.bucket)
        while (usage.get(rec.bucket).relayedBytes + fresh.size > p.quota) {
          const victim = await evictor.next()
          if (victim === undefined) {
            throw new AsmtpError('STORE_ERROR', `corrupt store: bucket ${rec.bucket} counts relayed bytes that its relay order does not hold`)
          }
          evictRelayed(rec.bucket, victim)
        }
        const relay = relayKey(rec.bucket, fresh.arrival, rec.hash)
        ops.push({ type: 'put', key: relay, value: encodeRelayEntry({ size: fresh.size, hour: rec.hour }), sublevel: db.relayOrder })
        usage.add(rec.bucket, { relayedBytes: fresh.size, relayedFrames: 1 })
        evictor.add({ key: relay, hash: rec.hash, hour: rec.hour, size: fresh.size })
      }
      ops.push(
        { type: 'put', key: rec.hash, value: encodeFrameHeader(fresh), sublevel: db.frames },
        { type: 'put', key: rec.hash, value: encodeFrameData(rec.frame), sublevel: db.frameData },
        { type: 'put', key: inventoryKey(rec.bucket, rec.hour, rec.hash), value: encodeExpiresAt(rec.expiresAt), sublevel: db.inventory }
      )
      known.set(key, { seen: rec.expiresAt > now, header: fresh })
      outcomes.push(topic === undefined ? { stored: true, seen: false, evicted } : { stored: true, seen: false, seq: fresh.matches[0].seq, evicted })
    }
    ops.push(...usage.ops(db))
    for (const key of changedSeqs) {
      ops.push({ type: 'put', key: Buffer.from(key, 'hex'), value: encodeU64Value(seqs.get(key) ?? 0n), sublevel: db.topicSeq })
    }
    if (arrival > s.lastArrival) ops.push({ type: 'put', key: META_LAST_ARRIVAL_KEY, value: encodeU64Value(arrival), sublevel: db.meta })
    if (ops.length > 0) await db.root.batch<Uint8Array | string, Uint8Array>(ops, { sync: s.sync })
    usage.apply()
    for (const o of outcomes) {
      if (o instanceof Error) continue
      this.evictedTotal += o.evicted
      if (o.refused === true) this.refusedTotal++
    }
    s.lastArrival = arrival
    for (const key of changedSeqs) s.topicSeqs.set(key, seqs.get(key) ?? 0n)
    group.forEach((p, i) => {
      const o = outcomes[i]
      if (o instanceof Error) p.reject(o)
      else p.resolve(o)
    })
  }

  /** A put of a frame already held: promoted to matched under `topic` when it is not yet. */
  private promote (
    hash: Uint8Array, header: FrameHeader, topic: Uint8Array | undefined, seen: boolean,
    c: { ops: RootBatchOp[], usage: UsageDraft, gone: Set<string>, nextSeq: (t: Uint8Array) => bigint, known: Map<string, Known | Error> }
  ): PutFrameResult | Error {
    if (topic === undefined) return { stored: false, seen, evicted: 0 }
    const existing = header.matches.find((m) => hashKey(m.topic) === hashKey(topic))
    if (existing !== undefined) return { stored: false, seen, seq: existing.seq, evicted: 0 }
    if (header.matches.length >= MAX_FRAME_MATCHES) {
      return new AsmtpError('STORE_ERROR', `frame ${hashKey(hash)} is already matched under ${MAX_FRAME_MATCHES} topics`)
    }
    const db = this.state.db
    const seq = c.nextSeq(topic)
    const promoted: FrameHeader = { ...header, matches: [...header.matches, { topic, seq }] }
    if (header.matches.length === 0) {
      promoted.keepUntil = this.state.keepUntil(header)
      c.ops.push({ type: 'del', key: relayKey(header.bucket, header.arrival, hash), sublevel: db.relayOrder })
      c.usage.add(header.bucket, { relayedBytes: -header.size, relayedFrames: -1, matchedFrames: 1 })
      c.gone.add(hashKey(hash))
    }
    // written again when already matched: the sweep may have parked the frame, and must now see the new topic too
    c.ops.push(
      { type: 'put', key: expiryKey(promoted.keepUntil, EXPIRY_KIND.retention, hash), value: EXPIRY_VALUE, sublevel: db.expiry },
      { type: 'put', key: hash, value: encodeFrameHeader(promoted), sublevel: db.frames },
      { type: 'put', key: matchedKey(topic, seq), value: encodeHashRef(hash), sublevel: db.matched }
    )
    c.known.set(hashKey(hash), { seen, header: promoted })
    return { stored: false, seen, seq, evicted: 0 }
  }

  /** Header and seen state of the group's hashes; the filter spares the lookups of new ones. */
  private async lookUp (group: PendingPut[], now: number): Promise<Map<string, Known | Error>> {
    const known = new Map<string, Known | Error>()
    const hashes = new Map<string, Uint8Array>()
    for (const p of group) {
      const key = hashKey(p.rec.hash)
      if (this.state.filter.mayHave(p.rec.hash)) hashes.set(key, p.rec.hash)
    }
    if (hashes.size === 0) return known
    const list = [...hashes.values()]
    const [headers, seen] = await Promise.all([this.state.db.frames.getMany(list), this.state.db.seen.getMany(list)])
    list.forEach((hash, i) => {
      const key = hashKey(hash)
      try {
        const h = headers[i]
        const header = h === undefined ? undefined : decodeFrameHeader(describeKey(SUBLEVELS.frames, hash), h)
        const sv = seen[i]
        const seenLive = sv !== undefined && decodeExpiresAt(describeKey(SUBLEVELS.seen, hash), sv) > now
        known.set(key, { header, seen: seenLive })
      } catch (err) {
        known.set(key, err as Error)
      }
    })
    return known
  }

  /** The highest seq of each topic of the group, from memory or `topic-seq`. */
  private async topicSeqs (group: PendingPut[]): Promise<Map<string, bigint>> {
    const seqs = new Map<string, bigint>()
    const missing = new Map<string, Uint8Array>()
    for (const p of group) {
      if (p.topic === undefined) continue
      const key = hashKey(p.topic)
      const cached = this.state.topicSeqs.get(key)
      if (cached !== undefined) seqs.set(key, cached)
      else missing.set(key, p.topic)
    }
    if (missing.size === 0) return seqs
    const topics = [...missing.values()]
    const raw = await this.state.db.topicSeq.getMany(topics)
    topics.forEach((topic, i) => {
      const r = raw[i]
      seqs.set(hashKey(topic), r === undefined ? 0n : decodeU64Value(describeKey(SUBLEVELS.topicSeq, topic), r))
    })
    return seqs
  }
}

interface Known {
  /** a live seen entry: one whose network expiry is still ahead */
  seen: boolean
  /** the frame header when held */
  header: FrameHeader | undefined
}
