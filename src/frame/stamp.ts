/**
 * The stamp (DESIGN.md "What travels: the gossip frame"): a frame's nonce makes
 * scrypt(SHA-256(b u8 ‖ bucket u16 ‖ hour u32 ‖ ttl_class u8 ‖ nonce u64 ‖ SHA-256(envelope)),
 * "asmtp/stamp/v1", N, r, p, 32) start with at least stampBits + size class zero bits.
 * N, r, p are protocol constants (docs/PERFORMANCE.md "Stamp calibration").
 */
import { createHash, scryptSync } from 'node:crypto'
import { decodeFrame, envelopeSizeClass, MAX_NONCE, setFrameNonce } from './frame.js'
import type { TtlClass } from './time.js'

export const STAMP_SALT = new TextEncoder().encode('asmtp/stamp/v1')
export const STAMP_SCRYPT_N = 512
export const STAMP_SCRYPT_R = 2
export const STAMP_SCRYPT_P = 1
export const STAMP_DIGEST_BYTES = 32
export const DEFAULT_STAMP_BITS = 4
export const MAX_STAMP_BITS = 32
const SCRYPT_OPTIONS = { N: STAMP_SCRYPT_N, r: STAMP_SCRYPT_R, p: STAMP_SCRYPT_P, maxmem: 64 * 1024 * 1024 }

export interface StampParams {
  bucketBits: number
  bucket: number
  stampBits: number
}

export interface StampInputInit {
  bucketBits: number
  bucket: number
  hour: number
  ttlClass: TtlClass
  nonce: bigint
  /** SHA-256 of the wire envelope. */
  envelopeDigest: Uint8Array
}

export interface SearchStampInit {
  /** @default 0n */
  startNonce?: bigint
  /** @default 2^32 */
  maxTries?: number
}

/** SHA-256(b ‖ bucket ‖ hour ‖ ttl_class ‖ nonce ‖ SHA-256(envelope)): the scrypt password. */
export function stampInput (init: StampInputInit): Uint8Array {
  return createHash('sha256').update(preimage(init)).digest()
}

function preimage (init: StampInputInit): Uint8Array {
  const out = new Uint8Array(48)
  const view = new DataView(out.buffer)
  out[0] = init.bucketBits
  view.setUint16(1, init.bucket)
  view.setUint32(3, init.hour)
  out[7] = init.ttlClass
  view.setBigUint64(8, init.nonce)
  out.set(init.envelopeDigest, 16)
  return out
}

export function stampDigest (input: Uint8Array): Uint8Array {
  return scryptSync(input, STAMP_SALT, STAMP_DIGEST_BYTES, SCRYPT_OPTIONS)
}

export function leadingZeroBits (bytes: Uint8Array): number {
  let n = 0
  for (const b of bytes) {
    if (b === 0) { n += 8; continue }
    return n + Math.clz32(b) - 24
  }
  return n
}

/** The zero bits a stamp needs: stampBits + the envelope's size class (0..3). */
export function stampTarget (stampBits: number, envelopeLength: number): number {
  return stampBits + envelopeSizeClass(envelopeLength)
}

function assertParams (p: StampParams): void {
  if (!Number.isInteger(p.bucketBits) || p.bucketBits < 0 || p.bucketBits > 16) throw new RangeError('bucketBits must be 0..16')
  if (!Number.isInteger(p.bucket) || p.bucket < 0 || p.bucket >= 2 ** p.bucketBits) throw new RangeError('bucket out of range')
  if (!Number.isInteger(p.stampBits) || p.stampBits < 0 || p.stampBits > MAX_STAMP_BITS) throw new RangeError(`stampBits must be 0..${MAX_STAMP_BITS}`)
}

/** True when the frame decodes and its nonce is a valid stamp for this bucket. Never throws. */
export function verifyStamp (frameBytes: Uint8Array, params: StampParams): boolean {
  try {
    assertParams(params)
    const f = decodeFrame(frameBytes)
    const input = stampInput({ ...params, hour: f.hour, ttlClass: f.ttlClass, nonce: f.nonce, envelopeDigest: createHash('sha256').update(f.envelope).digest() })
    return leadingZeroBits(stampDigest(input)) >= stampTarget(params.stampBits, f.envelope.length)
  } catch {
    return false
  }
}

/**
 * Tries nonces from startNonce on; returns the stamped copy of the frame, or undefined after
 * maxTries. Synchronous: run it in a worker (stamp-pool.ts). Throws AsmtpError for a bad frame.
 */
export function searchStamp (frameBytes: Uint8Array, params: StampParams, init: SearchStampInit = {}): Uint8Array | undefined {
  assertParams(params)
  const f = decodeFrame(frameBytes)
  const target = stampTarget(params.stampBits, f.envelope.length)
  const pre = preimage({ ...params, hour: f.hour, ttlClass: f.ttlClass, nonce: 0n, envelopeDigest: createHash('sha256').update(f.envelope).digest() })
  const view = new DataView(pre.buffer)
  let nonce = init.startNonce ?? 0n
  const maxTries = init.maxTries ?? 2 ** 32
  for (let i = 0; i < maxTries; i++) {
    view.setBigUint64(8, nonce)
    if (leadingZeroBits(stampDigest(createHash('sha256').update(pre).digest())) >= target) return setFrameNonce(frameBytes, nonce)
    nonce = nonce === MAX_NONCE ? 0n : nonce + 1n
  }
  return undefined
}
