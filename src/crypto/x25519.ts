/**
 * X25519 (shared keys, Noise statics and ephemerals) on node:crypto (STACK.md: 30x noble), and the
 * Ed25519 -> X25519 conversion (RFC 7748 birational map) from @noble/curves, which node:crypto lacks.
 */
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'
import { AsmtpError } from '../errors.js'

export const X25519_KEY_BYTES = 32

// Raw keys are imported as JWK: ~25 us (private) and ~5 us (public), against ~350 us and ~80 us
// for PKCS#8/SPKI DER. OpenSSL derives the public half from `d`; the importer only needs an `x`.
const b64url = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
const PLACEHOLDER_X = b64url(new Uint8Array(32))

function privateObject (secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== X25519_KEY_BYTES) throw new AsmtpError('KEY_INVALID', `X25519 secret key must be 32 bytes, got ${secretKey.length}`)
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(secretKey), x: PLACEHOLDER_X }, format: 'jwk' })
}

function publicObject (publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== X25519_KEY_BYTES) throw new AsmtpError('KEY_INVALID', `X25519 public key must be 32 bytes, got ${publicKey.length}`)
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' })
}

function rawPublic (key: KeyObject): Uint8Array {
  const x = key.export({ format: 'jwk' }).x
  if (x === undefined) throw new AsmtpError('KEY_INVALID', 'X25519 key has no public part')
  return new Uint8Array(Buffer.from(x, 'base64url'))
}

export interface X25519KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

/**
 * A new key pair from 32 random bytes (X25519 clamps any 32 bytes into a secret). Never
 * generateKeyPairSync: on Node 20, exporting a key it made can deadlock the process forever when
 * a garbage collection runs during the export (the dead key-generation job's destructor waits for
 * the lock the export holds); seen in the benchmarks and reproduced in under 50,000 keys. This
 * way is also three times faster (~35 us against ~100 us).
 */
export function generateX25519 (): X25519KeyPair {
  const secretKey = new Uint8Array(randomBytes(X25519_KEY_BYTES))
  return { secretKey, publicKey: x25519PublicKey(secretKey) }
}

export function x25519PublicKey (secretKey: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(privateObject(secretKey)))
}

export function x25519KeyPairFromSecret (secretKey: Uint8Array): X25519KeyPair {
  return { secretKey: new Uint8Array(secretKey), publicKey: x25519PublicKey(secretKey) }
}

/**
 * X25519(secret, public). Throws AsmtpError KEY_INVALID for a malformed key or a low-order public
 * key (all-zero shared secret, RFC 7748 section 6.1), which OpenSSL refuses.
 */
export function x25519 (secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let out: Buffer
  try {
    out = diffieHellman({ privateKey: privateObject(secretKey), publicKey: publicObject(publicKey) })
  } catch (err) {
    if (err instanceof AsmtpError) throw err
    throw new AsmtpError('KEY_INVALID', 'X25519 failed: the public key is of low order or malformed', { cause: err })
  }
  if (out.every(b => b === 0)) throw new AsmtpError('KEY_INVALID', 'X25519 produced an all-zero secret')
  return new Uint8Array(out)
}

/** Ed25519 public key -> X25519 public key (for a node's public id or a device key as a Noise static). */
export function ed25519PublicToX25519 (publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new AsmtpError('KEY_INVALID', `Ed25519 public key must be 32 bytes, got ${publicKey.length}`)
  try {
    return ed25519.utils.toMontgomery(publicKey)
  } catch (err) {
    throw new AsmtpError('KEY_INVALID', 'Ed25519 public key is not a valid curve point', { cause: err })
  }
}

/** Ed25519 seed -> X25519 secret key (the clamped first half of SHA-512(seed)). */
export function ed25519SecretToX25519 (seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new AsmtpError('KEY_INVALID', `Ed25519 secret key must be 32 bytes, got ${seed.length}`)
  return ed25519.utils.toMontgomerySecret(seed)
}
