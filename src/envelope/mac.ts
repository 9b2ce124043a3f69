/**
 * The envelope MAC v2 (docs/PROTOCOL.md section 3): HMAC-SHA256(topic key,
 * "asmtp/envelope-mac/v2" ‖ topic id ‖ hour u32 ‖ ttl_class u8 ‖ version ‖ sealed). A node that
 * knows the topic key authenticates an envelope without being able to read it, and the frame
 * header's hour and TTL class, which relays read in clear, cannot be re-labelled.
 */
import { hmacSha256 } from '../crypto/hash.js'
import { equalBytes } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import { isFrameHour, isTtlClass, type TtlClass } from '../frame/time.js'
import type { TopicKeys } from '../topic/derive.js'
import { ENVELOPE_MAC_BYTES, ENVELOPE_VERSION_BYTES } from './plaintext.js'

export const ENVELOPE_MAC_LABEL = new TextEncoder().encode('asmtp/envelope-mac/v2')
const TOPIC_BYTES = 32

/** The frame header fields the MAC covers. */
export interface EnvelopeMacHeader {
  /** Hours since 2020-01-01T00:00Z (frameHour), u32. */
  hour: number
  ttlClass: TtlClass
}

export function assertTopicKeys (topic: TopicKeys): void {
  if (topic.topic.length !== TOPIC_BYTES || topic.key.length !== TOPIC_BYTES) {
    throw new AsmtpError('KEY_INVALID', `topic id and key must be 32 bytes each, got ${topic.topic.length} and ${topic.key.length}`)
  }
}

/** RangeError unless hour is a u32 and ttlClass one of 0..3. */
export function assertMacHeader (header: EnvelopeMacHeader): void {
  if (!isFrameHour(header.hour)) throw new RangeError(`hour must be an integer in 0..2^32-1, got ${String(header.hour)}`)
  if (!isTtlClass(header.ttlClass)) throw new RangeError(`ttlClass must be 0..3, got ${String(header.ttlClass)}`)
}

function headerBytes (header: EnvelopeMacHeader): Uint8Array {
  const out = new Uint8Array(5)
  new DataView(out.buffer).setUint32(0, header.hour)
  out[4] = header.ttlClass
  return out
}

/** The MAC over `versionAndSealed`, the wire envelope without its last 32 bytes. */
export function envelopeMac (topic: TopicKeys, header: EnvelopeMacHeader, versionAndSealed: Uint8Array): Uint8Array {
  assertTopicKeys(topic)
  assertMacHeader(header)
  return hmacSha256(topic.key, ENVELOPE_MAC_LABEL, topic.topic, headerBytes(header), versionAndSealed)
}

/** True when the wire envelope's MAC is right for this topic and frame header. Never throws. */
export function verifyEnvelopeMac (wire: Uint8Array, topic: TopicKeys, header: EnvelopeMacHeader): boolean {
  try {
    if (wire.length < ENVELOPE_VERSION_BYTES + ENVELOPE_MAC_BYTES) return false
    const end = wire.length - ENVELOPE_MAC_BYTES
    return equalBytes(envelopeMac(topic, header, wire.subarray(0, end)), wire.subarray(end))
  } catch {
    return false
  }
}
