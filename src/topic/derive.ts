/**
 * Private pairwise topics (DESIGN.md "Pairwise topics"):
 *   PBKDF2-HMAC-SHA512(password = X25519(a, B),
 *                      salt = "asmtp/topic/v1" ‖ min(A, B) ‖ max(A, B), 10240 iterations, 64 bytes)
 * The first 32 bytes are the topic id, the last 32 the topic key. Keying the KDF with the DH
 * secret means only A and B can compute their topic (ASMTP used the public keys alone).
 */
import { pbkdf2, pbkdf2Sync } from 'node:crypto'
import { compareBytes, concatBytes } from '../bytes.js'
import { x25519, x25519PublicKey } from '../crypto/x25519.js'
import { AsmtpError } from '../errors.js'

export const TOPIC_SALT_PREFIX = new TextEncoder().encode('asmtp/topic/v1')
export const TOPIC_PBKDF2_ITERATIONS = 10240
export const TOPIC_ID_BYTES = 32
export const TOPIC_KEY_BYTES = 32

export interface TopicKeys {
  /** 32-byte topic id: the gossipsub topic (hex) and the DHT rendezvous. */
  topic: Uint8Array
  /** 32-byte topic key: authenticates envelopes on the topic and catch-up requests. */
  key: Uint8Array
}

interface KdfInput { password: Uint8Array, salt: Uint8Array }

function kdfInput (mySharedSecret: Uint8Array, theirSharedPublic: Uint8Array, myPublic?: Uint8Array): KdfInput {
  if (mySharedSecret.length !== 32) throw new AsmtpError('KEY_INVALID', `shared secret must be 32 bytes, got ${mySharedSecret.length}`)
  if (theirSharedPublic.length !== 32) throw new AsmtpError('KEY_INVALID', `shared public key must be 32 bytes, got ${theirSharedPublic.length}`)
  const mine = myPublic ?? x25519PublicKey(mySharedSecret)
  const [lo, hi] = compareBytes(mine, theirSharedPublic) <= 0 ? [mine, theirSharedPublic] : [theirSharedPublic, mine]
  return { password: x25519(mySharedSecret, theirSharedPublic), salt: concatBytes(TOPIC_SALT_PREFIX, lo, hi) }
}

function split (out: Uint8Array): TopicKeys {
  return { topic: out.slice(0, TOPIC_ID_BYTES), key: out.slice(TOPIC_ID_BYTES, TOPIC_ID_BYTES + TOPIC_KEY_BYTES) }
}

/** Derives the pairwise topic synchronously (~5 ms). Both parties get the same result. */
export function deriveTopic (mySharedSecret: Uint8Array, theirSharedPublic: Uint8Array): TopicKeys {
  const { password, salt } = kdfInput(mySharedSecret, theirSharedPublic)
  return split(new Uint8Array(pbkdf2Sync(password, salt, TOPIC_PBKDF2_ITERATIONS, 64, 'sha512')))
}

/** Same as deriveTopic, on libuv's thread pool: many pairs derive in parallel. */
export async function deriveTopicAsync (mySharedSecret: Uint8Array, theirSharedPublic: Uint8Array, myPublic?: Uint8Array): Promise<TopicKeys> {
  const { password, salt } = kdfInput(mySharedSecret, theirSharedPublic, myPublic)
  return await new Promise<TopicKeys>((resolve, reject) => {
    pbkdf2(password, salt, TOPIC_PBKDF2_ITERATIONS, 64, 'sha512', (err, out) => {
      if (err !== null) reject(err)
      else resolve(split(new Uint8Array(out)))
    })
  })
}
