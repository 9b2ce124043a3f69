/**
 * Ed25519 keys (node and device keys) on node:crypto, the fast path (STACK.md: 14x noble).
 * Raw 32-byte seeds and public keys are wrapped into KeyObjects through their fixed DER prefixes
 * (RFC 8410); KeyObjects are cached per key pair so signing does not re-parse.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto'
import { AsmtpError } from '../errors.js'

export const ED25519_PUBLIC_KEY_BYTES = 32
export const ED25519_SECRET_KEY_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')

export function ed25519PrivateKeyObject (seed: Uint8Array): KeyObject {
  if (seed.length !== ED25519_SECRET_KEY_BYTES) throw new AsmtpError('KEY_INVALID', `Ed25519 secret key must be 32 bytes, got ${seed.length}`)
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
}

export function ed25519PublicKeyObject (publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES) throw new AsmtpError('KEY_INVALID', `Ed25519 public key must be 32 bytes, got ${publicKey.length}`)
  try {
    // JWK import is ~15x cheaper than SPKI DER; verification is on the passport hot path
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('base64url') }, format: 'jwk' })
  } catch (err) {
    throw new AsmtpError('KEY_INVALID', 'Ed25519 public key is not a valid curve point', { cause: err })
  }
}

/** An Ed25519 key pair: `secretKey` is the 32-byte seed of RFC 8032. */
export class Ed25519KeyPair {
  readonly publicKey: Uint8Array
  readonly secretKey: Uint8Array
  private readonly privateObject: KeyObject

  private constructor (secretKey: Uint8Array, privateObject: KeyObject) {
    this.secretKey = secretKey
    this.privateObject = privateObject
    const spki = createPublicKey(privateObject).export({ format: 'der', type: 'spki' })
    this.publicKey = new Uint8Array(spki.subarray(spki.length - 32))
  }

  /** From a random 32-byte seed (RFC 8032), not generateKeyPairSync, which can deadlock Node 20 (see generateX25519). */
  static generate (): Ed25519KeyPair {
    const seed = randomBytes(32)
    const pair = Ed25519KeyPair.fromSecretKey(seed)
    seed.fill(0)
    return pair
  }

  static fromSecretKey (secretKey: Uint8Array): Ed25519KeyPair {
    const copy = new Uint8Array(secretKey)
    return new Ed25519KeyPair(copy, ed25519PrivateKeyObject(copy))
  }

  sign (message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, message, this.privateObject))
  }
}

/** Verifies an Ed25519 signature; returns false (never throws) for malformed keys or signatures. */
export function verifyEd25519 (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false
  try {
    return nodeVerify(null, message, ed25519PublicKeyObject(publicKey), signature)
  } catch {
    return false
  }
}
