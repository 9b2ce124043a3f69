/**
 * X25519 for the Noise DH function (Noise spec 4.1) on node:crypto KeyObjects, imported as JWK.
 * Importing a raw key as JWK costs ~25 us (private) and ~5 us (public); the PKCS#8/SPKI DER import
 * that src/crypto/x25519.ts uses costs ~350 us and ~80 us, ten times the DH itself. Static private
 * keys are imported once and cached per key pair, and the static-static DH of a pair of contacts
 * (the same for every envelope between them) is kept in a small LRU per key pair, so sealing and
 * opening an envelope pay for the ephemeral DH only. Key pairs passed here must be treated as
 * immutable.
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto'
import { AsmtpError } from '../errors.js'
import type { X25519KeyPair } from '../crypto/x25519.js'

export const DHLEN = 32

/** Static-static secrets kept per local key pair (one per contact public key). */
export const STATIC_DH_CACHE_SIZE = 1024

const privateCache = new WeakMap<Uint8Array, KeyObject>()
const staticDhCache = new WeakMap<Uint8Array, Map<string, Uint8Array>>()

function b64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** The JWK importer wants an `x`; OpenSSL derives the real one from `d`. */
const PLACEHOLDER_X = b64url(new Uint8Array(DHLEN))

/** The private KeyObject of a key pair, cached by the identity of `pair.secretKey`. */
export function x25519PrivateObject (pair: X25519KeyPair): KeyObject {
  const cached = privateCache.get(pair.secretKey)
  if (cached !== undefined) return cached
  if (pair.secretKey.length !== DHLEN || pair.publicKey.length !== DHLEN) {
    throw new AsmtpError('KEY_INVALID', `X25519 key pair must hold 32-byte keys, got ${pair.secretKey.length} and ${pair.publicKey.length}`)
  }
  let key: KeyObject
  try {
    // OpenSSL derives the public half from `d`; `x` is required by the JWK importer only.
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(pair.secretKey), x: b64url(pair.publicKey) }, format: 'jwk' })
  } catch (err) {
    throw new AsmtpError('KEY_INVALID', 'X25519 secret key cannot be imported', { cause: err })
  }
  privateCache.set(pair.secretKey, key)
  return key
}

/** Imports a 32-byte X25519 public key. Throws AsmtpError KEY_INVALID for another length. */
export function x25519PublicObject (publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== DHLEN) throw new AsmtpError('KEY_INVALID', `X25519 public key must be 32 bytes, got ${publicKey.length}`)
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' })
  } catch (err) {
    throw new AsmtpError('KEY_INVALID', 'X25519 public key cannot be imported', { cause: err })
  }
}

/** A fresh ephemeral key (Noise GENERATE_KEYPAIR): the raw public key and the private KeyObject. */
export function generateEphemeral (): { publicKey: Uint8Array, privateObject: KeyObject } {
  // 32 random bytes imported, never generateKeyPairSync (see generateX25519: exporting a key it
  // made can deadlock Node 20 during a garbage collection)
  const secret = randomBytes(DHLEN)
  const privateObject = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: secret.toString('base64url'), x: PLACEHOLDER_X }, format: 'jwk' })
  secret.fill(0)
  const x = createPublicKey(privateObject).export({ format: 'jwk' }).x
  if (x === undefined) throw new AsmtpError('KEY_INVALID', 'X25519 key generation returned no public key')
  return { publicKey: new Uint8Array(Buffer.from(x, 'base64url')), privateObject }
}

/**
 * Noise DH(key_pair, public_key). Returns null when the public key is of low order: OpenSSL
 * refuses an all-zero shared secret (RFC 7748 section 6.1), and we check it again here.
 */
export function dh (privateKey: KeyObject, publicKey: KeyObject): Uint8Array | null {
  let out: Buffer
  try {
    out = diffieHellman({ privateKey, publicKey })
  } catch {
    return null
  }
  let acc = 0
  for (let i = 0; i < out.length; i++) acc |= out[i] ?? 0
  return acc === 0 ? null : out
}

/**
 * DH(pair, publicKey) for two static keys, cached per `pair` (least recently used evicted first).
 * Returns null for a low-order public key, which is never cached.
 */
export function staticDh (pair: X25519KeyPair, publicKey: Uint8Array): Uint8Array | null {
  const privateKey = x25519PrivateObject(pair)
  let cache = staticDhCache.get(pair.secretKey)
  if (cache === undefined) {
    cache = new Map()
    staticDhCache.set(pair.secretKey, cache)
  }
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64')
  const hit = cache.get(id)
  if (hit !== undefined) {
    cache.delete(id)
    cache.set(id, hit)
    return hit
  }
  const shared = dh(privateKey, x25519PublicObject(publicKey))
  if (shared === null) return null
  if (cache.size >= STATIC_DH_CACHE_SIZE) {
    const oldest = cache.keys().next()
    if (oldest.done !== true) cache.delete(oldest.value)
  }
  cache.set(id, shared)
  return shared
}
