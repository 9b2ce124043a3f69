/**
 * The envelope plaintext (the Noise X payload) and its size buckets (docs/PROTOCOL.md section 3):
 *
 *   version u8 (0x01) ‖ message id (16) ‖ time u64 BE (ms since the Unix epoch) ‖
 *   content type length u8 ‖ content type (UTF-8, 1..255 bytes) ‖ body length u32 BE ‖ body ‖
 *   zero padding up to the bucket's plaintext size (bucket - 129 bytes)
 *
 * Version 0x02 is the same but for the time field, which it splits into flags u8 ‖ time u56 BE
 * (the top byte of a v1 time is always zero), so both versions hold the same body sizes. Flag
 * bit 0 is "burn after reading"; other bits are reserved and refused. Messages without flags are
 * written as version 0x01, which every client reads.
 *
 * The smallest bucket of 1, 4, 16 or 64 KiB that fits is used, so sizes leak little.
 */
import { AsmtpError } from '../errors.js'
import { NOISE_MAX_MESSAGE_BYTES, NOISE_X_OVERHEAD_BYTES } from './noise-x.js'

export const ENVELOPE_BUCKETS: readonly number[] = Object.freeze([1024, 4096, 16384, 65536])
export const MAX_ENVELOPE_BYTES = 65536
/** Wire version byte and MAC around the Noise message. */
export const ENVELOPE_VERSION_BYTES = 1
export const ENVELOPE_MAC_BYTES = 32
/** Wire size minus padded plaintext size: version (1) + Noise X overhead (96) + MAC (32). */
export const ENVELOPE_OVERHEAD_BYTES = ENVELOPE_VERSION_BYTES + NOISE_X_OVERHEAD_BYTES + ENVELOPE_MAC_BYTES
export const PLAINTEXT_VERSION = 0x01
/** The version with a flags byte in the top byte of the time field. */
export const PLAINTEXT_VERSION_FLAGS = 0x02
/** Flag bit: the recipient deletes the message on all its devices after the first read. */
export const PLAINTEXT_FLAG_BURN = 0x01
const KNOWN_FLAGS = PLAINTEXT_FLAG_BURN
/** The largest time a version 0x02 plaintext holds (2^56 - 1 ms, about 2.3 million years). */
const MAX_FLAGGED_TIME = 2n ** 56n - 1n
export const MESSAGE_ID_BYTES = 16
export const MAX_CONTENT_TYPE_BYTES = 255
/** version + id + time + content type length + body length. */
const FIXED_HEADER_BYTES = 1 + MESSAGE_ID_BYTES + 8 + 1 + 4
const MAX_PLAINTEXT_BYTES = MAX_ENVELOPE_BYTES - ENVELOPE_OVERHEAD_BYTES

const ZEROS = new Uint8Array(NOISE_MAX_MESSAGE_BYTES)
const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export interface EnvelopeMessage {
  /** 16 random bytes, unique per message. */
  id: Uint8Array
  /** Send time, milliseconds since the Unix epoch. */
  time: number
  contentType: string
  body: Uint8Array
  /** Burn after reading (version 0x02, flag bit 0); absent or false: version 0x01. */
  burn?: boolean
}

/** Wire size of the smallest bucket whose plaintext holds `plaintextLength` bytes. Throws ENVELOPE_BODY_TOO_LARGE. */
export function bucketFor (plaintextLength: number): number {
  for (const bucket of ENVELOPE_BUCKETS) {
    if (plaintextLength <= bucket - ENVELOPE_OVERHEAD_BYTES) return bucket
  }
  throw new AsmtpError('ENVELOPE_BODY_TOO_LARGE', `plaintext of ${plaintextLength} bytes does not fit the largest envelope (${MAX_PLAINTEXT_BYTES} bytes); split the body into chunks`)
}

function contentTypeBytes (contentType: string): Uint8Array {
  const bytes = utf8Encoder.encode(contentType)
  if (bytes.length < 1 || bytes.length > MAX_CONTENT_TYPE_BYTES) {
    throw new RangeError(`content type must be 1..${MAX_CONTENT_TYPE_BYTES} bytes of UTF-8, got ${bytes.length}`)
  }
  return bytes
}

/** The largest body one envelope carries with this content type; callers chunk larger bodies. */
export function maxBodyBytes (contentType: string): number {
  return MAX_PLAINTEXT_BYTES - FIXED_HEADER_BYTES - contentTypeBytes(contentType).length
}

/** Encodes and pads the plaintext. Throws ENVELOPE_BODY_TOO_LARGE; RangeError for a bad id, time or content type. */
export function encodePlaintext (message: EnvelopeMessage): Uint8Array {
  const { id, time, body } = message
  if (id.length !== MESSAGE_ID_BYTES) throw new RangeError(`message id must be ${MESSAGE_ID_BYTES} bytes, got ${id.length}`)
  if (!Number.isSafeInteger(time) || time < 0) throw new RangeError(`time must be a non-negative integer (ms since the epoch), got ${time}`)
  const ct = contentTypeBytes(message.contentType)
  const unpadded = FIXED_HEADER_BYTES + ct.length + body.length
  const out = new Uint8Array(bucketFor(unpadded) - ENVELOPE_OVERHEAD_BYTES)
  const view = new DataView(out.buffer)
  let at = 0
  const flags = message.burn === true ? PLAINTEXT_FLAG_BURN : 0
  out[at++] = flags === 0 ? PLAINTEXT_VERSION : PLAINTEXT_VERSION_FLAGS
  out.set(id, at)
  at += MESSAGE_ID_BYTES
  view.setBigUint64(at, BigInt(time))
  out[at] = flags
  at += 8
  out[at++] = ct.length
  out.set(ct, at)
  at += ct.length
  view.setUint32(at, body.length)
  at += 4
  out.set(body, at)
  return out
}

/**
 * Decodes a padded plaintext. Throws AsmtpError ENVELOPE_BAD_VERSION, ENVELOPE_BAD_SIZE (a length
 * past the end), ENVELOPE_BAD_PADDING (non-zero padding) or DECODE_INVALID (content type, time).
 * The body is a view into `plaintext`.
 */
export function decodePlaintext (plaintext: Uint8Array): EnvelopeMessage {
  if (plaintext.length < FIXED_HEADER_BYTES + 1) {
    throw new AsmtpError('ENVELOPE_BAD_SIZE', `envelope plaintext of ${plaintext.length} bytes is shorter than its header`)
  }
  const version = plaintext[0]
  if (version !== PLAINTEXT_VERSION && version !== PLAINTEXT_VERSION_FLAGS) {
    throw new AsmtpError('ENVELOPE_BAD_VERSION', `envelope plaintext version ${version} is not ${PLAINTEXT_VERSION} or ${PLAINTEXT_VERSION_FLAGS}`)
  }
  const view = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)
  let at = 1
  const id = plaintext.slice(at, at + MESSAGE_ID_BYTES)
  at += MESSAGE_ID_BYTES
  let flags = 0
  let time = view.getBigUint64(at)
  if (version === PLAINTEXT_VERSION_FLAGS) {
    flags = view.getUint8(at)
    time &= MAX_FLAGGED_TIME
    if ((flags & ~KNOWN_FLAGS) !== 0) throw new AsmtpError('DECODE_INVALID', `envelope flags 0x${flags.toString(16)} name a flag this version does not know`)
    if (flags === 0) throw new AsmtpError('DECODE_INVALID', 'envelope plaintext version 2 without a flag (flagless messages are version 1)')
  }
  at += 8
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) throw new AsmtpError('DECODE_INVALID', `envelope time ${time} is out of range`)
  const ctLength = view.getUint8(at++)
  if (ctLength === 0) throw new AsmtpError('DECODE_INVALID', 'envelope content type is empty')
  if (at + ctLength + 4 > plaintext.length) {
    throw new AsmtpError('ENVELOPE_BAD_SIZE', `envelope content type of ${ctLength} bytes runs past the plaintext`)
  }
  let contentType: string
  try {
    contentType = utf8Decoder.decode(plaintext.subarray(at, at + ctLength))
  } catch (err) {
    throw new AsmtpError('DECODE_INVALID', 'envelope content type is not valid UTF-8', { cause: err })
  }
  at += ctLength
  const bodyLength = view.getUint32(at)
  at += 4
  if (bodyLength > plaintext.length - at) {
    throw new AsmtpError('ENVELOPE_BAD_SIZE', `envelope body length ${bodyLength} runs past the plaintext (${plaintext.length - at} bytes left)`)
  }
  const body = plaintext.subarray(at, at + bodyLength)
  const padding = plaintext.subarray(at + bodyLength)
  if (Buffer.compare(padding, ZEROS.subarray(0, padding.length)) !== 0) {
    throw new AsmtpError('ENVELOPE_BAD_PADDING', 'envelope padding is not all zero')
  }
  const message: EnvelopeMessage = { id, time: Number(time), contentType, body }
  if ((flags & PLAINTEXT_FLAG_BURN) !== 0) message.burn = true
  return message
}
