/**
 * The gossip frame (DESIGN.md "What travels: the gossip frame", docs/PROTOCOL.md 4.1): what
 * gossipsub carries on a bucket topic.
 *
 *   version u8 (0x02) ‖ hour u32 ‖ ttl_class u8 ‖ nonce u64 ‖ envelope
 *
 * The nonce is the stamp (stamp.ts); the envelope's MAC covers hour and ttl_class.
 */
import { sha256 } from '../crypto/hash.js'
import {
  assertEnvelopeShape, openEnvelope, sealEnvelope, type OpenEnvelopeInit, type OpenedEnvelope, type SealEnvelopeInit
} from '../envelope/envelope.js'
import { verifyEnvelopeMac } from '../envelope/mac.js'
import { ENVELOPE_BUCKETS, MAX_ENVELOPE_BYTES } from '../envelope/plaintext.js'
import { AsmtpError } from '../errors.js'
import type { TopicKeys } from '../topic/derive.js'
import { frameHour, isFrameHour, isTtlClass, type TtlClass } from './time.js'

export const FRAME_VERSION = 0x02
export const GOSSIP_FRAME_HEADER_BYTES = 14
export const FRAME_NONCE_OFFSET = 6
export const MAX_NONCE = 0xffff_ffff_ffff_ffffn
export const MAX_GOSSIP_FRAME_BYTES = GOSSIP_FRAME_HEADER_BYTES + MAX_ENVELOPE_BYTES

export interface Frame {
  hour: number
  ttlClass: TtlClass
  nonce: bigint
  envelope: Uint8Array
}

export interface DecodeFrameInit {
  /** @default MAX_ENVELOPE_BYTES (65536) */
  maxEnvelopeBytes?: number
}

export interface SealFrameInit extends Omit<SealEnvelopeInit, 'hour' | 'ttlClass'> {
  /** @default 0 (the network's frame lifetime) */
  ttlClass?: TtlClass
}

export interface OpenedFrame {
  frame: Frame
  opened: OpenedEnvelope
}

function assertNonce (nonce: bigint): void {
  if (typeof nonce !== 'bigint' || nonce < 0n || nonce > MAX_NONCE) throw new RangeError(`nonce must be a u64 bigint, got ${String(nonce)}`)
}

export function encodeFrame (f: Frame): Uint8Array {
  if (!isFrameHour(f.hour)) throw new RangeError(`hour must be an integer in 0..2^32-1, got ${String(f.hour)}`)
  if (!isTtlClass(f.ttlClass)) throw new RangeError(`ttlClass must be 0..3, got ${String(f.ttlClass)}`)
  assertNonce(f.nonce)
  const out = new Uint8Array(GOSSIP_FRAME_HEADER_BYTES + f.envelope.length)
  const view = new DataView(out.buffer)
  out[0] = FRAME_VERSION
  view.setUint32(1, f.hour)
  out[5] = f.ttlClass
  view.setBigUint64(FRAME_NONCE_OFFSET, f.nonce)
  out.set(f.envelope, GOSSIP_FRAME_HEADER_BYTES)
  return out
}

/**
 * Checks the header and the envelope's shape (what a relay can check without a key). The
 * returned envelope is a view into `bytes`. Throws AsmtpError FRAME_TRUNCATED,
 * FRAME_BAD_VERSION, FRAME_BAD_TTL or the codes of assertEnvelopeShape.
 */
export function decodeFrame (bytes: Uint8Array, init: DecodeFrameInit = {}): Frame {
  if (bytes.length === 0) throw new AsmtpError('FRAME_TRUNCATED', 'empty frame')
  if (bytes[0] !== FRAME_VERSION) throw new AsmtpError('FRAME_BAD_VERSION', `frame version ${bytes[0]} is not ${FRAME_VERSION}`)
  if (bytes.length < GOSSIP_FRAME_HEADER_BYTES) {
    throw new AsmtpError('FRAME_TRUNCATED', `frame of ${bytes.length} bytes is shorter than its ${GOSSIP_FRAME_HEADER_BYTES}-byte header`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const ttlClass = bytes[5]
  if (!isTtlClass(ttlClass)) throw new AsmtpError('FRAME_BAD_TTL', `ttl class ${String(ttlClass)} is not 0..3`)
  const envelope = bytes.subarray(GOSSIP_FRAME_HEADER_BYTES)
  assertEnvelopeShape(envelope, init.maxEnvelopeBytes ?? MAX_ENVELOPE_BYTES)
  return { hour: view.getUint32(1), ttlClass, nonce: view.getBigUint64(FRAME_NONCE_OFFSET), envelope }
}

/** SHA-256 of the whole frame: gossipsub's message id (StrictNoSign) and the replay filter's key. */
export function frameHash (bytes: Uint8Array): Uint8Array {
  return sha256(bytes)
}

/** 0, 1, 2, 3 for envelopes of 1, 4, 16, 64 KiB; RangeError for any other length. */
export function envelopeSizeClass (length: number): number {
  const i = ENVELOPE_BUCKETS.indexOf(length)
  if (i < 0) throw new RangeError(`${length} is not an envelope size`)
  return i
}

/** A copy of the frame with another nonce. */
export function setFrameNonce (bytes: Uint8Array, nonce: bigint): Uint8Array {
  assertNonce(nonce)
  if (bytes.length < GOSSIP_FRAME_HEADER_BYTES) throw new RangeError('not a frame: shorter than its header')
  const out = new Uint8Array(bytes)
  new DataView(out.buffer).setBigUint64(FRAME_NONCE_OFFSET, nonce)
  return out
}

/** Seals an envelope for the current hour (of `init.time`) and wraps it in an unstamped frame (nonce 0). */
export function sealFrame (init: SealFrameInit): Uint8Array {
  const time = init.time ?? Date.now()
  const hour = frameHour(time)
  const ttlClass = init.ttlClass ?? 0
  const envelope = sealEnvelope({ ...init, time, hour, ttlClass })
  return encodeFrame({ hour, ttlClass, nonce: 0n, envelope })
}

/** decodeFrame, then openEnvelope under the frame's hour and TTL class. Throws AsmtpError. */
export function openFrame (bytes: Uint8Array, init: Omit<OpenEnvelopeInit, 'hour' | 'ttlClass'>): OpenedFrame {
  const frame = decodeFrame(bytes)
  const opened = openEnvelope(frame.envelope, { ...init, hour: frame.hour, ttlClass: frame.ttlClass })
  return { frame, opened }
}

/** True when the frame decodes and its envelope's MAC is right for the topic. Never throws. */
export function verifyFrameMac (frame: Uint8Array | Frame, topic: TopicKeys): boolean {
  try {
    const f = frame instanceof Uint8Array ? decodeFrame(frame) : frame
    return verifyEnvelopeMac(f.envelope, topic, { hour: f.hour, ttlClass: f.ttlClass })
  } catch {
    return false
  }
}
