/**
 * Value encodings of the node store (docs/STORAGE.md). Every value starts with a one-byte
 * format version (VALUE_VERSION); integers are big-endian; times are u64 milliseconds since
 * the Unix epoch. A value that does not decode (corrupt or foreign bytes on disk) is an
 * AsmtpError STORE_ERROR naming the record, never another exception type.
 */
import { AsmtpError } from '../errors.js'
import { ByteReader, concatBytes, toHex, u16be, u64be } from '../bytes.js'
import { TOPIC_KEY_BYTES, plainBytes } from './keys.js'

export const VALUE_VERSION = 1
/** Store layout version, kept under meta `format`; a database of another format is refused. */
export const STORE_FORMAT = 2
/** The layout of asmtp version 1 (per-topic envelopes), named when such a folder is opened. */
export const STORE_FORMAT_V1 = 1

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

export interface TopicValue { key: Uint8Array, registeredAt: number, owners: string[] }

/** Runs a decoder on bytes read from disk; any failure becomes STORE_ERROR naming `what`. */
export function decodeStored<T> (what: string, bytes: Uint8Array, decode: (r: ByteReader) => T): T {
  try {
    const r = new ByteReader(plainBytes(bytes), what)
    const version = r.u8()
    if (version !== VALUE_VERSION) {
      throw new AsmtpError('DECODE_INVALID', `unknown value version ${version}`)
    }
    const out = decode(r)
    r.end()
    return out
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new AsmtpError('STORE_ERROR', `corrupt store: ${what} does not decode (${reason})`, { cause: err })
  }
}

export function describeKey (sublevel: string, key: Uint8Array | string): string {
  return `${sublevel} record ${typeof key === 'string' ? JSON.stringify(key) : toHex(key)}`
}

export function time (r: ByteReader): number {
  const v = r.u64()
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new AsmtpError('DECODE_INVALID', 'time out of range')
  return Number(v)
}

export function versioned (...parts: Uint8Array[]): Uint8Array {
  return concatBytes(Uint8Array.of(VALUE_VERSION), ...parts)
}

// topics: version ‖ key(32) ‖ registeredAt u64 ‖ owner count u16 ‖ (u16 length ‖ UTF-8 owner)*
export const MAX_OWNER_BYTES = 1024
export const MAX_OWNERS = 0xffff

export function encodeTopicValue (v: TopicValue): Uint8Array {
  const owners = v.owners.map((o) => {
    const b = utf8.encode(o)
    return concatBytes(u16be(b.length), b)
  })
  return versioned(v.key, u64be(v.registeredAt), u16be(v.owners.length), ...owners)
}

export function decodeTopicValue (what: string, bytes: Uint8Array): TopicValue {
  return decodeStored(what, bytes, (r) => {
    const key = r.bytesN(TOPIC_KEY_BYTES)
    const registeredAt = time(r)
    const count = r.u16()
    const owners: string[] = []
    for (let i = 0; i < count; i++) {
      const length = r.u16()
      if (length === 0 || length > MAX_OWNER_BYTES) throw new AsmtpError('DECODE_INVALID', `owner ${i} has length ${length}`)
      owners.push(utf8Strict.decode(r.bytesN(length)))
    }
    if (owners.length === 0) throw new AsmtpError('DECODE_INVALID', 'topic without owners')
    return { key, registeredAt, owners }
  })
}

// passports: version ‖ export bytes (u32 BE length-prefixed blocks, validated by the node)
export function encodePassportValue (exportBytes: Uint8Array): Uint8Array {
  return versioned(exportBytes)
}

export function decodePassportValue (what: string, bytes: Uint8Array): Uint8Array {
  return decodeStored(what, bytes, (r) => {
    const out = r.rest()
    if (out.length === 0) throw new AsmtpError('DECODE_INVALID', 'empty passport')
    return out
  })
}

// cursors, topic-seq, fetched and meta last-arrival: version ‖ u64
export function encodeU64Value (v: bigint): Uint8Array {
  return versioned(u64be(v))
}

export function decodeU64Value (what: string, bytes: Uint8Array): bigint {
  return decodeStored(what, bytes, (r) => r.u64())
}

// meta format: version ‖ u16 store format
export function encodeFormatValue (): Uint8Array {
  return versioned(u16be(STORE_FORMAT))
}

export function decodeFormatValue (what: string, bytes: Uint8Array): number {
  return decodeStored(what, bytes, (r) => r.u16())
}
