/**
 * Reads of the frame store (docs/STORAGE.md, "Frames"): replay and holding checks, frames by
 * hash, a bucket's inventory and per-hour digests for catch-up (sorted by hour and hash, never
 * by arrival, and carrying nothing of when a frame arrived), and a topic's matched frames in
 * seq order for the node's devices.
 */
import { createHash } from 'node:crypto'
import { AsmtpError } from '../errors.js'
import { equalBytes } from '../bytes.js'
import { decodeExpiresAt, decodeFrameData, decodeFrameHeader, decodeHashRef } from './frame-values.js'
import { hashKey, isHeld, type FrameRecord, type FrameState } from './frame-state.js'
import {
  FRAME_HASH_BYTES, MAX_BUCKET, MAX_HOUR, SUBLEVELS, TOPIC_ID_BYTES, assertInteger, assertLength, assertSeq, assertTime,
  inventoryKey, inventoryRange, matchedRange, parseInventoryKey, parseMatchedKey
} from './keys.js'
import { describeKey } from './values.js'

export const LIST_DEFAULT_LIMIT = 256
export const LIST_MAX_LIMIT = 4096
export const INVENTORY_MAX_LIMIT = 4096

/** A matched frame as the node's devices get it. */
export interface StoredEnvelope {
  topic: Uint8Array
  seq: bigint
  hash: Uint8Array
  receivedAt: number
  /** the frame's network expiry */
  expiresAt: number
  /** the frame */
  data: Uint8Array
}

export interface ListMatchedOptions {
  /** cursor: seq, exclusive. @default 0n */
  after?: bigint
  /** @default 256, at most 4096 */
  limit?: number
}

export interface ListMatchedResult {
  envelopes: StoredEnvelope[]
  /** seq of the last returned envelope, or `after` when none was returned */
  cursor: bigint
  more: boolean
}

export interface InventoryOptions {
  /** inclusive */
  fromHour: number
  /** inclusive */
  toHour: number
  /** exclusive: the last item of the previous page */
  after?: { hour: number, hash: Uint8Array }
  /** at most INVENTORY_MAX_LIMIT (larger values are capped) */
  limit: number
  /** @default the store's clock */
  now?: number
}

export interface InventoryItem { hour: number, hash: Uint8Array }
export interface InventoryResult { items: InventoryItem[], more: boolean }
export interface HourDigest { hour: number, count: number, digest: Uint8Array }

function assertLimit (limit: number, max: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer')
  return Math.min(limit, max)
}

export class FrameReads {
  constructor (private readonly state: FrameState) {}

  private nowOr (now: number | undefined): number {
    return now === undefined ? this.state.clock() : assertTime(now, 'now')
  }

  async hasSeen (hash: Uint8Array): Promise<boolean> {
    assertLength(hash, FRAME_HASH_BYTES, 'hash')
    if (!this.state.filter.mayHave(hash)) return false
    const raw = await this.state.db.seen.get(hash)
    return raw !== undefined && decodeExpiresAt(describeKey(SUBLEVELS.seen, hash), raw) > this.state.clock()
  }

  async hasFrame (hash: Uint8Array): Promise<boolean> {
    assertLength(hash, FRAME_HASH_BYTES, 'hash')
    if (!this.state.filter.mayHave(hash)) return false
    const raw = await this.state.db.frames.get(hash)
    return raw !== undefined && isHeld(decodeFrameHeader(describeKey(SUBLEVELS.frames, hash), raw), this.state.clock())
  }

  async getFrames (hashes: Uint8Array[]): Promise<Array<FrameRecord | undefined>> {
    if (!Array.isArray(hashes)) throw new TypeError('hashes must be an array')
    for (const h of hashes) assertLength(h, FRAME_HASH_BYTES, 'hash')
    if (hashes.length === 0) return []
    const now = this.state.clock()
    const [headers, datas] = await Promise.all([this.state.db.frames.getMany(hashes), this.state.db.frameData.getMany(hashes)])
    return hashes.map((hash, i) => {
      const h = headers[i]
      if (h === undefined) return undefined
      const header = decodeFrameHeader(describeKey(SUBLEVELS.frames, hash), h)
      if (!isHeld(header, now)) return undefined
      const d = datas[i]
      if (d === undefined) throw new AsmtpError('STORE_ERROR', `corrupt store: frame ${hashKey(hash)} has a header but no bytes`)
      const frame = decodeFrameData(describeKey(SUBLEVELS.frameData, hash), d)
      return { hash: hash.slice(), bucket: header.bucket, hour: header.hour, expiresAt: header.expiresAt, frame }
    })
  }

  async inventory (bucket: number, o: InventoryOptions): Promise<InventoryResult> {
    assertInteger(bucket, MAX_BUCKET, 'bucket')
    if (typeof o !== 'object' || o === null) throw new TypeError('options must be an object')
    assertInteger(o.fromHour, MAX_HOUR, 'fromHour')
    assertInteger(o.toHour, MAX_HOUR, 'toHour')
    const limit = assertLimit(o.limit, INVENTORY_MAX_LIMIT)
    const now = this.nowOr(o.now)
    if (o.fromHour > o.toHour) return { items: [], more: false }
    const range = inventoryRange(bucket, o.fromHour, o.toHour)
    let options: { gte?: Uint8Array, gt?: Uint8Array, lte: Uint8Array } = range
    if (o.after !== undefined) {
      assertInteger(o.after.hour, MAX_HOUR, 'after.hour')
      assertLength(o.after.hash, FRAME_HASH_BYTES, 'after.hash')
      const after = inventoryKey(bucket, o.after.hour, o.after.hash)
      if (Buffer.compare(after, range.gte) >= 0) options = { gt: after, lte: range.lte }
    }
    const items: InventoryItem[] = []
    let more = false
    for await (const [key, raw] of this.state.db.inventory.iterator(options)) {
      const { hour, hash } = parseInventoryKey(key)
      if (decodeExpiresAt(describeKey(SUBLEVELS.inventory, key), raw) <= now) continue
      if (items.length === limit) {
        more = true
        break
      }
      items.push({ hour, hash })
    }
    return { items, more }
  }

  /** Per non-empty hour: how many live frames, and SHA-256 over their sorted 32-byte hashes. */
  async hourDigests (bucket: number, fromHour: number, toHour: number, now?: number): Promise<HourDigest[]> {
    assertInteger(bucket, MAX_BUCKET, 'bucket')
    assertInteger(fromHour, MAX_HOUR, 'fromHour')
    assertInteger(toHour, MAX_HOUR, 'toHour')
    const t = this.nowOr(now)
    const out: HourDigest[] = []
    if (fromHour > toHour) return out
    let current: { hour: number, count: number, hash: ReturnType<typeof createHash> } | undefined
    const finish = (): void => {
      if (current !== undefined) out.push({ hour: current.hour, count: current.count, digest: new Uint8Array(current.hash.digest()) })
    }
    for await (const [key, raw] of this.state.db.inventory.iterator(inventoryRange(bucket, fromHour, toHour))) {
      const { hour, hash } = parseInventoryKey(key)
      if (decodeExpiresAt(describeKey(SUBLEVELS.inventory, key), raw) <= t) continue
      if (current?.hour !== hour) {
        finish()
        current = { hour, count: 0, hash: createHash('sha256') }
      }
      current.count++
      current.hash.update(hash)
    }
    finish()
    return out
  }

  async listMatched (topic: Uint8Array, o: ListMatchedOptions = {}): Promise<ListMatchedResult> {
    assertLength(topic, TOPIC_ID_BYTES, 'topic')
    const after = o.after ?? 0n
    assertSeq(after, 'after')
    const limit = assertLimit(o.limit ?? LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
    const refs: Array<{ seq: bigint, hash: Uint8Array }> = []
    for await (const [key, raw] of this.state.db.matched.iterator({ ...matchedRange(topic, after), limit: limit + 1 })) {
      const { seq } = parseMatchedKey(key)
      refs.push({ seq, hash: decodeHashRef(describeKey(SUBLEVELS.matched, key), raw) })
    }
    const more = refs.length > limit
    if (more) refs.pop()
    const hashes = refs.map((r) => r.hash)
    const [headers, datas] = hashes.length === 0
      ? [[], []]
      : await Promise.all([this.state.db.frames.getMany(hashes), this.state.db.frameData.getMany(hashes)])
    const envelopes = refs.map(({ seq, hash }, i): StoredEnvelope => {
      const h = headers[i]
      const d = datas[i]
      if (h === undefined || d === undefined) {
        throw new AsmtpError('STORE_ERROR', `corrupt store: matched record of seq ${seq} names frame ${hashKey(hash)}, which is not held`)
      }
      const header = decodeFrameHeader(describeKey(SUBLEVELS.frames, hash), h)
      if (!header.matches.some((m) => m.seq === seq && equalBytes(m.topic, topic))) {
        throw new AsmtpError('STORE_ERROR', `corrupt store: frame ${hashKey(hash)} is not matched under the topic of seq ${seq}`)
      }
      const data = decodeFrameData(describeKey(SUBLEVELS.frameData, hash), d)
      return { topic: topic.slice(), seq, hash, receivedAt: header.receivedAt, expiresAt: header.expiresAt, data }
    })
    const last = envelopes.at(-1)
    return { envelopes, cursor: last === undefined ? after : last.seq, more }
  }

  async countMatched (topic?: Uint8Array): Promise<number> {
    if (topic !== undefined) assertLength(topic, TOPIC_ID_BYTES, 'topic')
    let n = 0
    for await (const key of this.state.db.matched.keys(topic === undefined ? {} : matchedRange(topic, 0n))) {
      parseMatchedKey(key)
      n++
    }
    return n
  }
}
