/**
 * The self topic of a passport (DESIGN.md "Topics", "Self topic"):
 *   PBKDF2-HMAC-SHA512(password = X25519(a, A), salt = "asmtp/self/v1" ‖ A, 10240 iterations, 64 bytes)
 * Every device of the passport can compute it and nobody else can; its own label keeps it apart
 * from every pairwise topic. Rotating the shared key rotates it, so a removed device loses it.
 */
import { pbkdf2Sync } from 'node:crypto'
import { concatBytes, toHex } from '../bytes.js'
import { x25519, x25519PublicKey } from '../crypto/x25519.js'
import { AsmtpError } from '../errors.js'
import { TOPIC_ID_BYTES, TOPIC_KEY_BYTES, TOPIC_PBKDF2_ITERATIONS, type TopicKeys } from '../topic/index.js'
import { liveKeys, OLD_KEY_RETENTION_MS, type OwnSharedKey } from './mailbox.js'
import type { SealTopic } from './seal.js'

export const SELF_TOPIC_SALT_PREFIX = new TextEncoder().encode('asmtp/self/v1')

const cache = new Map<string, TopicKeys>()
const MAX_CACHED = 64

export function deriveSelfTopic (sharedSecret: Uint8Array): TopicKeys {
  if (sharedSecret.length !== 32) throw new AsmtpError('KEY_INVALID', `shared secret must be 32 bytes, got ${sharedSecret.length}`)
  const pub = x25519PublicKey(sharedSecret)
  const k = toHex(pub)
  const hit = cache.get(k)
  if (hit !== undefined) return hit
  const out = new Uint8Array(pbkdf2Sync(x25519(sharedSecret, pub), concatBytes(SELF_TOPIC_SALT_PREFIX, pub), TOPIC_PBKDF2_ITERATIONS, 64, 'sha512'))
  const topic = { topic: out.slice(0, TOPIC_ID_BYTES), key: out.slice(TOPIC_ID_BYTES, TOPIC_ID_BYTES + TOPIC_KEY_BYTES) }
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value ?? '')
  cache.set(k, topic)
  return topic
}

/** The self topic of one own shared key version: sealed from the key to itself. */
export interface SelfTopic extends SealTopic {
  /** The version is the current one: new records go here. */
  current: boolean
  /** When this version stopped being current (ms), null while current. */
  retiredAt: number | null
}

export function selfTopicOf (key: OwnSharedKey): SelfTopic {
  return {
    topic: deriveSelfTopic(key.secretKey),
    mine: { publicKey: key.publicKey, secretKey: key.secretKey },
    theirs: key.publicKey,
    current: key.retiredAt === null,
    retiredAt: key.retiredAt
  }
}

/** The self topics to register and read: one per live own key version, the current one first. */
export function selfTopics (ownKeys: readonly OwnSharedKey[], now: number, retentionMs = OLD_KEY_RETENTION_MS): SelfTopic[] {
  return liveKeys(ownKeys, now, retentionMs).map(selfTopicOf).sort((a, b) => Number(b.current) - Number(a.current))
}
