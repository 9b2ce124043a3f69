/**
 * Key encodings of the node store (docs/STORAGE.md). Every binary key sorts correctly as
 * bytes: envelopes as topic ‖ seq u64 BE, so one topic's envelopes are one contiguous range in
 * seq order; the expiry index as expiresAt u64 BE ‖ hash, so everything expired by a given time
 * is one range starting at the beginning of the sublevel.
 */
import { AsmtpError } from '../errors.js'
import { concatBytes, toHex, u64be } from '../bytes.js'

/** Sublevel names (abstract-level prefixes them as `!name!`). */
export const SUBLEVELS = {
  meta: 'meta',
  envelopes: 'envelopes',
  envelopeHashes: 'envelope-hashes',
  envelopeExpiry: 'envelope-expiry',
  topics: 'topics',
  passports: 'passports',
  cursors: 'cursors',
  libp2p: 'libp2p'
} as const

export const TOPIC_ID_BYTES = 32
export const TOPIC_KEY_BYTES = 32
export const ENVELOPE_HASH_BYTES = 32
export const PASSPORT_ID_BYTES = 32
export const ENVELOPE_KEY_BYTES = TOPIC_ID_BYTES + 8
export const EXPIRY_KEY_BYTES = 8 + ENVELOPE_HASH_BYTES
export const MAX_U64 = (1n << 64n) - 1n

export const META_FORMAT_KEY = 'format'
export const META_LAST_SEQ_KEY = 'last-seq'

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

/** Milliseconds since the epoch as a u64; fractional values are floored. */
export function assertTime (ms: number, what: string): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`${what} must be a finite, non-negative number of milliseconds`)
  }
  return Math.floor(ms)
}

export function envelopeKey (topic: Uint8Array, seq: bigint): Uint8Array {
  return concatBytes(topic, u64be(seq))
}

export function parseEnvelopeKey (key: Uint8Array): { topic: Uint8Array, seq: bigint } {
  if (key.length !== ENVELOPE_KEY_BYTES) {
    throw new AsmtpError('STORE_ERROR', `corrupt store: envelope key ${toHex(key)} is ${key.length} bytes, expected ${ENVELOPE_KEY_BYTES}`)
  }
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  return { topic: plainBytes(key).slice(0, TOPIC_ID_BYTES), seq: view.getBigUint64(TOPIC_ID_BYTES) }
}

/** The key range of one topic's envelopes with seq > after. */
export function envelopeRange (topic: Uint8Array, after: bigint): { gt: Uint8Array, lte: Uint8Array } {
  return { gt: envelopeKey(topic, after), lte: envelopeKey(topic, MAX_U64) }
}

export function expiryKey (expiresAt: number, hash: Uint8Array): Uint8Array {
  return concatBytes(u64be(expiresAt), hash)
}

export function parseExpiryKey (key: Uint8Array): { expiresAt: number, hash: Uint8Array } {
  if (key.length !== EXPIRY_KEY_BYTES) {
    throw new AsmtpError('STORE_ERROR', `corrupt store: expiry key ${toHex(key)} is ${key.length} bytes, expected ${EXPIRY_KEY_BYTES}`)
  }
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  const expiresAt = view.getBigUint64(0)
  if (expiresAt > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AsmtpError('STORE_ERROR', `corrupt store: expiry key ${toHex(key)} has an impossible time`)
  }
  return { expiresAt: Number(expiresAt), hash: plainBytes(key).slice(8) }
}

/** Lower bound of the expiry entries still alive at `now`: everything below it has expiresAt <= now. */
export function expiryAliveFrom (now: number): Uint8Array {
  return u64be(now + 1)
}

/** Checks a fixed-length binary key read back from disk (topic ids, passport ids). */
export function checkStoredKey (key: Uint8Array, length: number, what: string): Uint8Array {
  if (key.length !== length) {
    throw new AsmtpError('STORE_ERROR', `corrupt store: ${what} key ${toHex(key)} is ${key.length} bytes, expected ${length}`)
  }
  return plainBytes(key).slice()
}
