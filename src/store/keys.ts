/**
 * Key encodings of the node store (docs/STORAGE.md). Every binary key sorts correctly as
 * bytes (integers big-endian): the inventory as bucket ‖ hour ‖ hash, so one bucket's hours are
 * one range in (hour, hash) order; the relay order as bucket ‖ arrival ‖ hash, so a bucket's
 * oldest relayed-only frames come first; matched frames as topic ‖ seq; the expiry index as
 * time ‖ kind ‖ hash, so everything due by a given time is one range from the sublevel's start.
 */
import { AsmtpError } from '../errors.js'
import { concatBytes, toHex, u16be, u32be, u64be } from '../bytes.js'

/** Sublevel names (abstract-level prefixes them as `!name!`). */
export const SUBLEVELS = {
  meta: 'meta',
  frames: 'frames',
  frameData: 'frame-data',
  inventory: 'inventory',
  relayOrder: 'relay-order',
  matched: 'matched',
  unfetched: 'unfetched',
  expiry: 'expiry',
  seen: 'seen',
  bucketUsage: 'bucket-usage',
  topicSeq: 'topic-seq',
  fetched: 'fetched',
  topics: 'topics',
  passports: 'passports',
  cursors: 'cursors',
  outgoing: 'outgoing',
  libp2p: 'libp2p'
} as const

export const TOPIC_ID_BYTES = 32
export const TOPIC_KEY_BYTES = 32
export const FRAME_HASH_BYTES = 32
export const PASSPORT_ID_BYTES = 32
export const MAX_BUCKET = 0xffff
export const MAX_HOUR = 0xffffffff
export const MAX_U64 = (1n << 64n) - 1n
export const INVENTORY_KEY_BYTES = 2 + 4 + FRAME_HASH_BYTES
export const RELAY_KEY_BYTES = 2 + 8 + FRAME_HASH_BYTES
export const MATCHED_KEY_BYTES = TOPIC_ID_BYTES + 8
export const EXPIRY_KEY_BYTES = 8 + 1 + FRAME_HASH_BYTES

/** Kinds of expiry index entries: what falls due at that time. */
export const EXPIRY_KIND = {
  /** the frame's network expiry: its seen entry goes; a relayed-only frame goes; a matched one leaves the inventory */
  network: 0,
  /** the end of a matched frame's retention: it goes once every device fetched it */
  retention: 1,
  /** the network expiry of a frame whose sender chose a TTL: it goes, matched, fetched or not */
  ttl: 2
} as const
export type ExpiryKind = typeof EXPIRY_KIND[keyof typeof EXPIRY_KIND]

export const META_FORMAT_KEY = 'format'
export const META_LAST_ARRIVAL_KEY = 'last-arrival'

/** A plain Uint8Array view of bytes read from LevelDB (classic-level hands out Buffers). */
export function plainBytes (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Throws TypeError/RangeError: a wrong-length id from the caller is a programmer error. */
export function assertLength (bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`)
  if (bytes.length !== length) throw new RangeError(`${what} must be ${length} bytes, got ${bytes.length}`)
}

export function assertSeq (seq: bigint, what: string): void {
  if (typeof seq !== 'bigint') throw new TypeError(`${what} must be a bigint`)
  if (seq < 0n || seq > MAX_U64) throw new RangeError(`${what} must be an unsigned 64-bit integer`)
}

export function assertInteger (n: number, max: number, what: string): void {
  if (typeof n !== 'number') throw new TypeError(`${what} must be a number`)
  if (!Number.isInteger(n) || n < 0 || n > max) throw new RangeError(`${what} must be an integer in 0..${max}, got ${n}`)
}

/** Milliseconds since the epoch as a u64; fractional values are floored. */
export function assertTime (ms: number, what: string): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${what} must be a finite, non-negative number of milliseconds`)
  }
  return Math.floor(ms)
}

function corruptKey (what: string, key: Uint8Array, expected: number): AsmtpError {
  return new AsmtpError('STORE_ERROR', `corrupt store: ${what} key ${toHex(key)} is ${key.length} bytes, expected ${expected}`)
}

function view (key: Uint8Array): DataView {
  return new DataView(key.buffer, key.byteOffset, key.byteLength)
}

export function inventoryKey (bucket: number, hour: number, hash: Uint8Array): Uint8Array {
  return concatBytes(u16be(bucket), u32be(hour), hash)
}

export function parseInventoryKey (key: Uint8Array): { bucket: number, hour: number, hash: Uint8Array } {
  if (key.length !== INVENTORY_KEY_BYTES) throw corruptKey(SUBLEVELS.inventory, key, INVENTORY_KEY_BYTES)
  const v = view(key)
  return { bucket: v.getUint16(0), hour: v.getUint32(2), hash: plainBytes(key).slice(6) }
}

const MAX_HASH = new Uint8Array(FRAME_HASH_BYTES).fill(0xff)

/** The key range of a bucket's inventory over hours fromHour..toHour (inclusive). */
export function inventoryRange (bucket: number, fromHour: number, toHour: number): { gte: Uint8Array, lte: Uint8Array } {
  return { gte: concatBytes(u16be(bucket), u32be(fromHour)), lte: inventoryKey(bucket, toHour, MAX_HASH) }
}

export function relayKey (bucket: number, arrival: bigint, hash: Uint8Array): Uint8Array {
  return concatBytes(u16be(bucket), u64be(arrival), hash)
}

export function parseRelayKey (key: Uint8Array): { bucket: number, arrival: bigint, hash: Uint8Array } {
  if (key.length !== RELAY_KEY_BYTES) throw corruptKey(SUBLEVELS.relayOrder, key, RELAY_KEY_BYTES)
  const v = view(key)
  return { bucket: v.getUint16(0), arrival: v.getBigUint64(2), hash: plainBytes(key).slice(10) }
}

/** The key range of one bucket's relayed-only frames, oldest first. */
export function relayRange (bucket: number): { gte: Uint8Array, lte: Uint8Array } {
  return { gte: u16be(bucket), lte: relayKey(bucket, MAX_U64, MAX_HASH) }
}

export function matchedKey (topic: Uint8Array, seq: bigint): Uint8Array {
  return concatBytes(topic, u64be(seq))
}

export function parseMatchedKey (key: Uint8Array, what: string = SUBLEVELS.matched): { topic: Uint8Array, seq: bigint } {
  if (key.length !== MATCHED_KEY_BYTES) throw corruptKey(what, key, MATCHED_KEY_BYTES)
  return { topic: plainBytes(key).slice(0, TOPIC_ID_BYTES), seq: view(key).getBigUint64(TOPIC_ID_BYTES) }
}

/** The key range of one topic's entries with after < seq <= upTo. */
export function matchedRange (topic: Uint8Array, after: bigint, upTo: bigint = MAX_U64): { gt: Uint8Array, lte: Uint8Array } {
  return { gt: matchedKey(topic, after), lte: matchedKey(topic, upTo) }
}

export function expiryKey (time: number, kind: ExpiryKind, hash: Uint8Array): Uint8Array {
  return concatBytes(u64be(time), Uint8Array.of(kind), hash)
}

export function parseExpiryKey (key: Uint8Array): { time: number, kind: ExpiryKind, hash: Uint8Array } {
  if (key.length !== EXPIRY_KEY_BYTES) throw corruptKey(SUBLEVELS.expiry, key, EXPIRY_KEY_BYTES)
  const v = view(key)
  const time = v.getBigUint64(0)
  const kind = v.getUint8(8)
  if (time > BigInt(Number.MAX_SAFE_INTEGER) || (kind !== EXPIRY_KIND.network && kind !== EXPIRY_KIND.retention && kind !== EXPIRY_KIND.ttl)) {
    throw new AsmtpError('STORE_ERROR', `corrupt store: expiry key ${toHex(key)} has an impossible time or kind`)
  }
  return { time: Number(time), kind, hash: plainBytes(key).slice(9) }
}

/** Upper bound (exclusive) of the expiry entries due at `now`: everything below it has time <= now. */
export function expiryDueBefore (now: number): Uint8Array {
  return u64be(now + 1)
}

/** Checks a fixed-length binary key read back from disk (topic ids, passport ids, hashes). */
export function checkStoredKey (key: Uint8Array, length: number, what: string): Uint8Array {
  if (key.length !== length) throw corruptKey(what, key, length)
  return plainBytes(key).slice()
}
