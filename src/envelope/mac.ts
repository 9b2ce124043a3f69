/**
 * The envelope MAC (docs/PROTOCOL.md section 3): HMAC-SHA256(topic key, "asmtp/envelope-mac/v1" ‖
 * topic id ‖ version ‖ sealed). A node that knows the topic key authenticates an envelope without
 * being able to read it, so junk is rejected at the first node.
 */
import { hmacSha256 } from '../crypto/hash.js'
import { equalBytes } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import type { TopicKeys } from '../topic/derive.js'
import { ENVELOPE_MAC_BYTES, ENVELOPE_VERSION_BYTES } from './plaintext.js'

export const ENVELOPE_MAC_LABEL = new TextEncoder().encode('asmtp/envelope-mac/v1')
const TOPIC_BYTES = 32

export function assertTopicKeys (topic: TopicKeys): void {
  if (topic.topic.length !== TOPIC_BYTES || topic.key.length !== TOPIC_BYTES) {
    throw new AsmtpError('KEY_INVALID', `topic id and key must be 32 bytes each, got ${topic.topic.length} and ${topic.key.length}`)
  }
}

/** The MAC over `versionAndSealed`, the wire envelope without its last 32 bytes. */
export function envelopeMac (topic: TopicKeys, versionAndSealed: Uint8Array): Uint8Array {
  assertTopicKeys(topic)
  return hmacSha256(topic.key, ENVELOPE_MAC_LABEL, topic.topic, versionAndSealed)
}

/** True when the wire envelope's MAC is right for this topic. Never throws. */
export function verifyEnvelopeMac (wire: Uint8Array, topic: TopicKeys): boolean {
  try {
    if (wire.length < ENVELOPE_VERSION_BYTES + ENVELOPE_MAC_BYTES) return false
    const end = wire.length - ENVELOPE_MAC_BYTES
    return equalBytes(envelopeMac(topic, wire.subarray(0, end)), wire.subarray(end))
  } catch {
    return false
  }
}
