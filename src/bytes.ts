/**
 * Byte helpers: hex encoding, constant-time comparison, concatenation, and a bounds-checked
 * reader that turns every short read into an AsmtpError (DECODE_TRUNCATED) instead of a
 * RangeError from deep inside a decoder.
 */
import { timingSafeEqual } from 'node:crypto'
import { AsmtpError } from './errors.js'

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/

export function toHex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Decodes hex; `expectedLength` (bytes) is checked when given. Throws AsmtpError KEY_INVALID/DECODE_INVALID. */
export function fromHex (hex: string, expectedLength?: number, what = 'hex string'): Uint8Array {
  const clean = hex.trim()
  if (!HEX_RE.test(clean)) {
    throw new AsmtpError('DECODE_INVALID', `${what} is not valid hex`)
  }
  const out = new Uint8Array(Buffer.from(clean, 'hex'))
  if (expectedLength !== undefined && out.length !== expectedLength) {
    throw new AsmtpError('DECODE_INVALID', `${what} must be ${expectedLength} bytes (${expectedLength * 2} hex digits), got ${out.length}`)
  }
  return out
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  return timingSafeEqual(a, b)
}

/** Byte-wise comparison, as DESIGN.md's min/max of public keys. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

// The u16/u32/u64 writers set bytes one by one: a DataView needs `.buffer`, which moves a small
// typed array off V8's heap, and on hot paths (store keys and values) that cost more than the rest.

export function u16be (n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff)
}

export function u32be (n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

export function u64be (n: bigint | number): Uint8Array {
  let hi: number
  let lo: number
  if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) {
    hi = Math.floor(n / 0x100000000)
    lo = n >>> 0
  } else {
    // as DataView.setBigUint64: modulo 2^64; BigInt() throws on a fraction
    const b = BigInt.asUintN(64, BigInt(n))
    hi = Number(b >> 32n)
    lo = Number(b & 0xffffffffn)
  }
  return Uint8Array.of(
    (hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff,
    (lo >>> 24) & 0xff, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff
  )
}

/** Sequential reader over a byte array; every read is bounds-checked. */
export class ByteReader {
  private readonly view: DataView
  offset = 0

  constructor (readonly bytes: Uint8Array, private readonly what = 'input') {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining (): number {
    return this.bytes.length - this.offset
  }

  private need (n: number): void {
    if (this.remaining < n) {
      throw new AsmtpError('DECODE_TRUNCATED', `${this.what} is truncated: needed ${n} more bytes at offset ${this.offset}, have ${this.remaining}`)
    }
  }

  u8 (): number {
    this.need(1)
    return this.view.getUint8(this.offset++)
  }

  u16 (): number {
    this.need(2)
    const v = this.view.getUint16(this.offset)
    this.offset += 2
    return v
  }

  u32 (): number {
    this.need(4)
    const v = this.view.getUint32(this.offset)
    this.offset += 4
    return v
  }

  u64 (): bigint {
    this.need(8)
    const v = this.view.getBigUint64(this.offset)
    this.offset += 8
    return v
  }

  bytesN (n: number): Uint8Array {
    this.need(n)
    const out = this.bytes.slice(this.offset, this.offset + n)
    this.offset += n
    return out
  }

  rest (): Uint8Array {
    return this.bytesN(this.remaining)
  }

  /** Throws DECODE_TRAILING_BYTES when bytes are left over. */
  end (): void {
    if (this.remaining !== 0) {
      throw new AsmtpError('DECODE_TRAILING_BYTES', `${this.what} has ${this.remaining} unexpected trailing bytes`)
    }
  }
}
