/**
 * Sealed envelopes (DESIGN.md "Envelopes", docs/PROTOCOL.md section 3). Wire layout:
 *
 *   version u8 (0x02) ‖ sealed (Noise X message, bucket - 33 bytes) ‖ MAC (32)
 *
 * with a total size of exactly 1024, 4096, 16384 or 65536 bytes. The Noise prologue
 * "asmtp/envelope/1" ‖ topic id binds the envelope to its topic; the MAC (mac.ts) binds it to the
 * hour and TTL class of the frame that carries it.
 */
import { randomBytes } from 'node:crypto'
import { concatBytes, equalBytes } from '../bytes.js'
import { sha256 } from '../crypto/hash.js'
import type { X25519KeyPair } from '../crypto/x25519.js'
import { AsmtpError } from '../errors.js'
import type { TopicKeys } from '../topic/derive.js'
import { assertMacHeader, assertTopicKeys, envelopeMac, verifyEnvelopeMac, type EnvelopeMacHeader } from './mac.js'
import { openNoiseXMessage, sealNoiseXInto } from './noise-x.js'
import {
  ENVELOPE_BUCKETS, ENVELOPE_MAC_BYTES, ENVELOPE_OVERHEAD_BYTES, MAX_ENVELOPE_BYTES, MESSAGE_ID_BYTES,
  decodePlaintext, encodePlaintext, type EnvelopeMessage
} from './plaintext.js'

export const ENVELOPE_VERSION = 0x02
export const ENVELOPE_PROLOGUE_LABEL = new TextEncoder().encode('asmtp/envelope/1')

export interface SealEnvelopeInit extends EnvelopeMacHeader {
  /** The sender's shared key (Noise X static). */
  sender: X25519KeyPair
  /** The recipient's shared public key. */
  recipientPublic: Uint8Array
  topic: TopicKeys
  contentType: string
  body: Uint8Array
  /** 16 bytes; random by default. */
  id?: Uint8Array
  /** Milliseconds since the Unix epoch; `Date.now()` by default. */
  time?: number
  /** Burn after reading (plaintext version 0x02). @default false */
  burn?: boolean
  /** A fixed ephemeral key, for test vectors only. */
  ephemeral?: X25519KeyPair
}

export interface OpenEnvelopeInit extends EnvelopeMacHeader {
  /** The recipient's shared key pair. */
  recipient: X25519KeyPair
  topic: TopicKeys
  /** The contact's current shared public key; any other sender is ENVELOPE_WRONG_SENDER. */
  expectedSender?: Uint8Array
}

export interface OpenedEnvelope {
  senderStatic: Uint8Array
  message: EnvelopeMessage
}

/** "asmtp/envelope/1" ‖ topic id. */
export function envelopePrologue (topic: TopicKeys): Uint8Array {
  return concatBytes(ENVELOPE_PROLOGUE_LABEL, topic.topic)
}

/** Seals a message into a wire envelope. Throws ENVELOPE_BODY_TOO_LARGE when the body needs chunking. */
export function sealEnvelope (init: SealEnvelopeInit): Uint8Array {
  assertTopicKeys(init.topic)
  assertMacHeader(init)
  const plaintext = encodePlaintext({
    id: init.id ?? randomBytes(MESSAGE_ID_BYTES),
    time: init.time ?? Date.now(),
    contentType: init.contentType,
    body: init.body,
    ...(init.burn === true ? { burn: true } : {})
  })
  const size = plaintext.length + ENVELOPE_OVERHEAD_BYTES
  const wire = new Uint8Array(size)
  wire[0] = ENVELOPE_VERSION
  sealNoiseXInto({
    senderStatic: init.sender,
    recipientStaticPublic: init.recipientPublic,
    prologue: envelopePrologue(init.topic),
    payload: plaintext,
    ...(init.ephemeral === undefined ? {} : { ephemeral: init.ephemeral })
  }, wire, 1)
  const macAt = size - ENVELOPE_MAC_BYTES
  wire.set(envelopeMac(init.topic, { hour: init.hour, ttlClass: init.ttlClass }, wire.subarray(0, macAt)), macAt)
  return wire
}

/**
 * Checks what a relay without the topic key can check: the size is a bucket no larger than
 * `maxBytes`, and the version is known. Throws AsmtpError ENVELOPE_TOO_SHORT, ENVELOPE_TOO_LARGE,
 * ENVELOPE_BAD_SIZE or ENVELOPE_BAD_VERSION.
 */
export function assertEnvelopeShape (wire: Uint8Array, maxBytes = MAX_ENVELOPE_BYTES): void {
  const smallest = ENVELOPE_BUCKETS[0] ?? 0
  if (wire.length < smallest) {
    throw new AsmtpError('ENVELOPE_TOO_SHORT', `envelope of ${wire.length} bytes is shorter than the smallest bucket (${smallest})`)
  }
  if (wire.length > maxBytes) {
    throw new AsmtpError('ENVELOPE_TOO_LARGE', `envelope of ${wire.length} bytes exceeds the limit of ${maxBytes}`)
  }
  if (!ENVELOPE_BUCKETS.includes(wire.length)) {
    throw new AsmtpError('ENVELOPE_BAD_SIZE', `envelope size ${wire.length} is not one of ${ENVELOPE_BUCKETS.join(', ')}`)
  }
  if (wire[0] !== ENVELOPE_VERSION) {
    throw new AsmtpError('ENVELOPE_BAD_VERSION', `envelope version ${wire[0]} is not ${ENVELOPE_VERSION}`)
  }
}

/**
 * Checks the shape and the MAC, opens the Noise X message and parses the plaintext. Throws
 * AsmtpError: the codes of assertEnvelopeShape, ENVELOPE_BAD_MAC, ENVELOPE_DECRYPT_FAILED,
 * ENVELOPE_WRONG_SENDER, and those of the plaintext decoder.
 */
export function openEnvelope (wire: Uint8Array, init: OpenEnvelopeInit): OpenedEnvelope {
  assertTopicKeys(init.topic)
  assertEnvelopeShape(wire)
  if (!verifyEnvelopeMac(wire, init.topic, { hour: init.hour, ttlClass: init.ttlClass })) {
    throw new AsmtpError('ENVELOPE_BAD_MAC', 'envelope MAC does not match the topic key')
  }
  const { senderStatic, payload } = openNoiseXMessage({
    recipientStatic: init.recipient,
    prologue: envelopePrologue(init.topic),
    message: wire.subarray(1, wire.length - ENVELOPE_MAC_BYTES)
  }, false)
  if (init.expectedSender !== undefined && !equalBytes(senderStatic, init.expectedSender)) {
    throw new AsmtpError('ENVELOPE_WRONG_SENDER', 'envelope was sealed by a key other than the contact\'s current shared key')
  }
  return { senderStatic, message: decodePlaintext(payload) }
}

/** SHA-256 of the wire envelope: the client's dedupe key for its own mail (a node re-stamps the frame around it). */
export function envelopeHash (wire: Uint8Array): Uint8Array {
  return sha256(wire)
}
