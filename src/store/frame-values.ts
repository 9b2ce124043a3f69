/**
 * Value encodings of the frame records (docs/STORAGE.md, "Values"): the frame header, its
 * bytes, inventory and relay-order entries, the seen set and the per-bucket usage counters.
 * Like every store value they start with the value version and decode to STORE_ERROR on bad
 * bytes, never another exception type.
 */
import { AsmtpError } from '../errors.js'
import { u16be, u32be, u64be } from '../bytes.js'
import { FRAME_HASH_BYTES, TOPIC_ID_BYTES } from './keys.js'
import { decodeStored, time, versioned } from './values.js'

/** Sanity bound on one stored frame; gossip frames are at most a little over 64 KiB. */
export const MAX_STORED_FRAME_BYTES = 1024 * 1024
/** Most topics one frame is matched under (a frame's MAC fits one topic key; this is a bound, not a use). */
export const MAX_FRAME_MATCHES = 255

export interface FrameMatch { topic: Uint8Array, seq: bigint }

/** The small record of a held frame; its bytes live apart, in `frame-data`. */
export interface FrameHeader {
  bucket: number
  hour: number
  /** network expiry, ms */
  expiresAt: number
  receivedAt: number
  /** the store's arrival counter when it was stored: its place in the bucket's relay order */
  arrival: bigint
  /** frame length in bytes */
  size: number
  /** matched: kept until then (and after, while unfetched); 0 while relayed-only */
  keepUntil: number
  matches: FrameMatch[]
}

export interface RelayEntryValue { size: number, hour: number }

export interface BucketUsageValue { relayedBytes: number, relayedFrames: number, matchedFrames: number }

function safe (v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new AsmtpError('DECODE_INVALID', 'counter out of range')
  return Number(v)
}

// frames: version ‖ bucket u16 ‖ hour u32 ‖ expiresAt u64 ‖ receivedAt u64 ‖ arrival u64 ‖
// size u32 ‖ keepUntil u64 ‖ match count u8 ‖ (topic 32 ‖ seq u64)*
export function encodeFrameHeader (v: FrameHeader): Uint8Array {
  return versioned(
    u16be(v.bucket), u32be(v.hour), u64be(v.expiresAt), u64be(v.receivedAt), u64be(v.arrival),
    u32be(v.size), u64be(v.keepUntil), Uint8Array.of(v.matches.length),
    ...v.matches.flatMap((m) => [m.topic, u64be(m.seq)])
  )
}

export function decodeFrameHeader (what: string, bytes: Uint8Array): FrameHeader {
  return decodeStored(what, bytes, (r) => {
    const bucket = r.u16()
    const hour = r.u32()
    const expiresAt = time(r)
    const receivedAt = time(r)
    const arrival = r.u64()
    const size = r.u32()
    const keepUntil = time(r)
    const count = r.u8()
    const matches: FrameMatch[] = []
    for (let i = 0; i < count; i++) matches.push({ topic: r.bytesN(TOPIC_ID_BYTES), seq: r.u64() })
    if (size === 0 || size > MAX_STORED_FRAME_BYTES) throw new AsmtpError('DECODE_INVALID', `frame size ${size}`)
    if ((count === 0) !== (keepUntil === 0)) throw new AsmtpError('DECODE_INVALID', 'matches and keepUntil disagree')
    return { bucket, hour, expiresAt, receivedAt, arrival, size, keepUntil, matches }
  })
}

// frame-data: version ‖ frame bytes
export function encodeFrameData (frame: Uint8Array): Uint8Array {
  return versioned(frame)
}

export function decodeFrameData (what: string, bytes: Uint8Array): Uint8Array {
  return decodeStored(what, bytes, (r) => {
    const frame = r.rest()
    if (frame.length === 0 || frame.length > MAX_STORED_FRAME_BYTES) throw new AsmtpError('DECODE_INVALID', `frame of ${frame.length} bytes`)
    return frame
  })
}

// inventory and seen: version ‖ expiresAt u64
export function encodeExpiresAt (expiresAt: number): Uint8Array {
  return versioned(u64be(expiresAt))
}

export function decodeExpiresAt (what: string, bytes: Uint8Array): number {
  return decodeStored(what, bytes, time)
}

// relay-order: version ‖ size u32 ‖ hour u32
export function encodeRelayEntry (v: RelayEntryValue): Uint8Array {
  return versioned(u32be(v.size), u32be(v.hour))
}

export function decodeRelayEntry (what: string, bytes: Uint8Array): RelayEntryValue {
  return decodeStored(what, bytes, (r) => {
    const size = r.u32()
    if (size === 0 || size > MAX_STORED_FRAME_BYTES) throw new AsmtpError('DECODE_INVALID', `frame size ${size}`)
    return { size, hour: r.u32() }
  })
}

// matched and unfetched: version ‖ frame hash (32)
export function encodeHashRef (hash: Uint8Array): Uint8Array {
  return versioned(hash)
}

export function decodeHashRef (what: string, bytes: Uint8Array): Uint8Array {
  return decodeStored(what, bytes, (r) => r.bytesN(FRAME_HASH_BYTES))
}

// expiry: version only (everything is in the key)
export const EXPIRY_VALUE = versioned()

export function decodeEmptyValue (what: string, bytes: Uint8Array): void {
  decodeStored(what, bytes, () => {})
}

// bucket-usage: version ‖ relayedBytes u64 ‖ relayedFrames u64 ‖ matchedFrames u64
export function encodeBucketUsage (v: BucketUsageValue): Uint8Array {
  return versioned(u64be(v.relayedBytes), u64be(v.relayedFrames), u64be(v.matchedFrames))
}

export function decodeBucketUsage (what: string, bytes: Uint8Array): BucketUsageValue {
  return decodeStored(what, bytes, (r) => ({ relayedBytes: safe(r.u64()), relayedFrames: safe(r.u64()), matchedFrames: safe(r.u64()) }))
}
