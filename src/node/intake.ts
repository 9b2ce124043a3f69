/**
 * What every node does with a frame that reaches it, by gossip or catch-up (DESIGN.md "What
 * every node checks", "What a home node does besides"): the checks a keyless relay can make,
 * in order of cost (shape, time, replay, stamp), then the store, then, at a home node, the trial
 * MAC under each registered topic of the frame's bucket. A match is stored under its topic and
 * announced to watching devices; the rest is relayed-only within its bucket's quota.
 *
 * Shape and stamp failures are a gossipsub reject (the sender's score falls); time failures
 * and replays are an ignore (an honest forwarder's clock skew costs it nothing).
 */
import createDebug from 'debug'
import {
  checkFrameTime, decodeFrame, frameExpiresAt, frameHash, verifyFrameMac, verifyStamp, type Frame
} from '../frame/index.js'
import type { Store } from '../store/index.js'
import type { Buckets } from './buckets.js'

const log = createDebug('asmtp:node:intake')

/** Frames read at a time when a new topic is matched against its bucket's held frames. */
const REMATCH_PAGE = 256
const MAX_INVENTORY_HOUR = 0xffffffff

/** stem: fluffed here, off the stem (this node's own frame or one it held) */
export type IntakeSource = 'local' | 'gossip' | 'catchup' | 'stem'

export type IntakeVerdict =
  /** new, stored (and matched when `topic` is set) */
  | { result: 'accept', hash: Uint8Array, topic?: Uint8Array, seq?: bigint }
  /** already held or seen: not stored again, not forwarded again */
  | { result: 'duplicate', hash: Uint8Array, seq?: bigint }
  | { result: 'ignore', reason: string }
  | { result: 'reject', reason: string }

export interface MatchedFrame {
  topic: Uint8Array
  seq: bigint
  hash: Uint8Array
  data: Uint8Array
  source: IntakeSource
}

export interface AcceptedFrame {
  bucket: number
  hash: Uint8Array
  data: Uint8Array
  source: IntakeSource
}

export interface IntakeInit {
  store: () => Store
  buckets: Buckets
  bucketBits: number
  stampBits: number
  frameLifetimeMs: number
  maxEnvelopeBytes: number
  relayQuotaBytes: number
  /** storage.max_messages (0: no cap) */
  maxFrames?: number
  onMatched: (m: MatchedFrame) => void
  /** every frame stored, ours or not */
  onAccepted?: (f: AcceptedFrame) => void
  /** every verdict of take(), for the node's metrics */
  onVerdict?: (v: IntakeVerdict, source: IntakeSource) => void
  now?: () => number
}

export interface IntakeStats {
  accepted: number
  matched: number
  duplicates: number
  ignored: number
  rejected: number
}

export class Intake {
  readonly stats: IntakeStats = { accepted: 0, matched: 0, duplicates: 0, ignored: 0, rejected: 0 }
  private readonly init: IntakeInit
  private readonly now: () => number

  constructor (init: IntakeInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  /** The relay quota of one bucket: the node's quota shared equally by the buckets it carries. */
  bucketQuotaBytes (): number {
    return Math.floor(this.init.relayQuotaBytes / Math.max(1, this.init.buckets.size))
  }

  /**
   * The checks every node makes, without the store: shape, time, stamp. Returns the decoded
   * frame, or the verdict that stops it.
   */
  check (data: Uint8Array, bucket: number): { frame: Frame } | { result: 'ignore' | 'reject', reason: string } {
    let frame: Frame
    try {
      frame = decodeFrame(data, { maxEnvelopeBytes: this.init.maxEnvelopeBytes })
    } catch (err) {
      return { result: 'reject', reason: (err as Error).message }
    }
    const time = checkFrameTime(frame.hour, frame.ttlClass, this.init.frameLifetimeMs, this.now())
    if (time !== 'ok') return { result: 'ignore', reason: `frame time: ${time}` }
    if (!verifyStamp(data, { bucketBits: this.init.bucketBits, bucket, stampBits: this.init.stampBits })) {
      return { result: 'reject', reason: 'stamp does not meet the target' }
    }
    return { frame }
  }

  /** Checks a frame of `bucket` from the network, stores it, and matches it against our topics. */
  async take (data: Uint8Array, bucket: number, source: IntakeSource): Promise<IntakeVerdict> {
    const verdict = await this.judge(data, bucket, source)
    switch (verdict.result) {
      case 'accept':
        this.stats.accepted++
        if (verdict.topic !== undefined) this.stats.matched++
        break
      case 'duplicate': this.stats.duplicates++; break
      case 'ignore': this.stats.ignored++; break
      case 'reject': this.stats.rejected++; break
    }
    if (verdict.result === 'reject' || verdict.result === 'ignore') log('%s frame %s: %s', source, verdict.result, verdict.reason)
    this.init.onVerdict?.(verdict, source)
    return verdict
  }

  private async judge (data: Uint8Array, bucket: number, source: IntakeSource): Promise<IntakeVerdict> {
    if (!this.init.buckets.carries(bucket)) return { result: 'ignore', reason: `bucket ${bucket} is not carried here` }
    const hash = frameHash(data)
    const store = this.init.store()
    // replays are cheap to spot (a Bloom filter in front of the seen set): before the stamp
    if (await store.hasSeen(hash)) return { result: 'duplicate', hash }
    const checked = this.check(data, bucket)
    if (!('frame' in checked)) return checked
    return await this.store(checked.frame, data, hash, bucket, source)
  }

  /** Stores a frame that passed the checks; the trial MAC decides whether it is ours. */
  async store (frame: Frame, data: Uint8Array, hash: Uint8Array, bucket: number, source: IntakeSource, topicHint?: Uint8Array): Promise<IntakeVerdict> {
    const topic = topicHint ?? this.match(frame, bucket)
    const expiresAt = frameExpiresAt(frame.hour, frame.ttlClass, this.init.frameLifetimeMs)
    const r = await this.init.store().putFrame(
      { hash, bucket, hour: frame.hour, expiresAt, frame: data, dropAtExpiry: frame.ttlClass !== 0 },
      { bucketQuotaBytes: this.bucketQuotaBytes(), maxFrames: this.init.maxFrames ?? 0, ...(topic === undefined ? {} : { topic }) }
    )
    if (r.refused === true) return { result: 'ignore', reason: 'storage full: storage.max_messages is reached by this node\'s users\' mail' }
    if (!r.stored) return r.seq === undefined ? { result: 'duplicate', hash } : { result: 'duplicate', hash, seq: r.seq }
    this.init.onAccepted?.({ bucket, hash, data, source })
    if (topic !== undefined && r.seq !== undefined) {
      this.init.onMatched({ topic, seq: r.seq, hash, data, source })
      return { result: 'accept', hash, topic, seq: r.seq }
    }
    return { result: 'accept', hash }
  }

  /**
   * Matches the frames of `bucket` held here that a newly registered topic opens: frames that
   * arrived before the topic was registered (this node carried the bucket for another topic, or
   * relays it) were kept relayed-only, and would otherwise never reach the topic's devices.
   * Returns how many were matched; each is announced like any match.
   */
  async rematch (topic: { topic: Uint8Array, key: Uint8Array }, bucket: number): Promise<number> {
    const store = this.init.store()
    let after: { hour: number, hash: Uint8Array } | undefined
    let matched = 0
    for (;;) {
      const page = await store.inventory(bucket, { fromHour: 0, toHour: MAX_INVENTORY_HOUR, limit: REMATCH_PAGE, ...(after === undefined ? {} : { after }) })
      const records = await store.getFrames(page.items.map(i => i.hash))
      for (const rec of records) {
        if (rec === undefined) continue
        let frame: Frame
        try {
          frame = decodeFrame(rec.frame, { maxEnvelopeBytes: this.init.maxEnvelopeBytes })
        } catch {
          continue
        }
        if (!verifyFrameMac(frame, topic)) continue
        const r = await store.putFrame(
          { hash: rec.hash, bucket, hour: rec.hour, expiresAt: rec.expiresAt, frame: rec.frame },
          { bucketQuotaBytes: this.bucketQuotaBytes(), maxFrames: this.init.maxFrames ?? 0, topic: topic.topic }
        )
        if (r.seq === undefined) continue
        matched++
        this.stats.matched++
        this.init.onMatched({ topic: topic.topic, seq: r.seq, hash: rec.hash, data: rec.frame, source: 'catchup' })
      }
      const last = page.items.at(-1)
      if (!page.more || last === undefined) return matched
      after = last
    }
  }

  /** The registered topic of the bucket whose key made this frame's MAC, if any (usually one or two HMACs). */
  private match (frame: Frame, bucket: number): Uint8Array | undefined {
    for (const t of this.init.buckets.topicsIn(bucket)) {
      if (verifyFrameMac(frame, { topic: t.topic, key: t.key })) return t.topic
    }
    return undefined
  }
}
