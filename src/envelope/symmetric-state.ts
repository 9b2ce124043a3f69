/**
 * The Noise spec (revision 34) section 5 objects for the suite 25519_ChaChaPoly_BLAKE2b:
 * CipherState (5.1) and SymmetricState (5.2), with HASH = BLAKE2b-512 and HKDF (4.3) on
 * node:crypto. Decryption failures return null; the handshake code turns them into errors.
 */
import { createHash, createHmac } from 'node:crypto'
import { chachaOpen, chachaSeal } from '../crypto/aead.js'

export const HASHLEN = 64
export const BLOCKLEN = 128
export const CIPHER_KEY_BYTES = 32
export const CIPHER_TAG_BYTES = 16

const HASH_NAME = 'blake2b512'
const BYTE_1 = new Uint8Array([0x01])
const BYTE_2 = new Uint8Array([0x02])

function hash2 (a: Uint8Array, b: Uint8Array): Uint8Array {
  return createHash(HASH_NAME).update(a).update(b).digest()
}

function hmac (key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array {
  const h = createHmac(HASH_NAME, key).update(a)
  if (b !== undefined) h.update(b)
  return h.digest()
}

/** Noise spec 4.3 HKDF with two outputs (all MixKey needs). */
export function hkdf2 (chainingKey: Uint8Array, inputKeyMaterial: Uint8Array): [Uint8Array, Uint8Array] {
  const tempKey = hmac(chainingKey, inputKeyMaterial)
  const output1 = hmac(tempKey, BYTE_1)
  const output2 = hmac(tempKey, output1, BYTE_2)
  return [output1, output2]
}

/** Noise spec 5.1 nonce encoding for ChaChaPoly (section 12.3): 32 zero bits then n as 64-bit little-endian. */
export function chachaPolyNonce (n: number): Uint8Array {
  const nonce = new Uint8Array(12)
  const view = new DataView(nonce.buffer)
  view.setUint32(4, n >>> 0, true)
  view.setUint32(8, Math.floor(n / 0x1_0000_0000), true)
  return nonce
}

/** Noise spec 5.1 CipherState. */
export class CipherState {
  private k: Uint8Array | null = null
  private n = 0

  initializeKey (key: Uint8Array): void {
    this.k = key
    this.n = 0
  }

  /** SetNonce (spec 5.1). */
  setNonce (n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`nonce must be a non-negative safe integer, got ${n}`)
    this.n = n
  }

  hasKey (): boolean {
    return this.k !== null
  }

  private nextNonce (): Uint8Array {
    // 2^64 - 1 is reserved (spec 5.1); a JS number counter is exact up to 2^53, which no handshake reaches.
    if (this.n >= Number.MAX_SAFE_INTEGER) throw new RangeError('Noise nonce exhausted')
    return chachaPolyNonce(this.n++)
  }

  encryptWithAd (ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.k === null) return plaintext
    return chachaSeal(this.k, this.nextNonce(), plaintext, ad)
  }

  /** Returns null when authentication fails (spec 5.1: the nonce is then not advanced). */
  decryptWithAd (ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (this.k === null) return ciphertext
    const plaintext = chachaOpen(this.k, chachaPolyNonce(this.n), ciphertext, ad)
    if (plaintext !== null) this.n++
    return plaintext
  }
}

/** Noise spec 5.2 SymmetricState. */
export class SymmetricState {
  readonly cipher = new CipherState()
  private ck: Uint8Array
  private h: Uint8Array

  /** InitializeSymmetric(protocol_name). */
  constructor (protocolName: Uint8Array) {
    if (protocolName.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN)
      this.h.set(protocolName)
    } else {
      this.h = createHash(HASH_NAME).update(protocolName).digest()
    }
    this.ck = this.h
  }

  mixKey (inputKeyMaterial: Uint8Array): void {
    const [ck, tempK] = hkdf2(this.ck, inputKeyMaterial)
    this.ck = ck
    this.cipher.initializeKey(tempK.subarray(0, CIPHER_KEY_BYTES))
  }

  mixHash (data: Uint8Array): void {
    this.h = hash2(this.h, data)
  }

  /**
   * EncryptAndHash. `mixHash: false` skips the final MixHash(ciphertext), for the last message of
   * a handshake whose hash nobody reads (the sender of a one-way pattern).
   */
  encryptAndHash (plaintext: Uint8Array, mixHash = true): Uint8Array {
    const ciphertext = this.cipher.encryptWithAd(this.h, plaintext)
    if (mixHash) this.mixHash(ciphertext)
    return ciphertext
  }

  /** DecryptAndHash; null when authentication fails. */
  decryptAndHash (ciphertext: Uint8Array, mixHash = true): Uint8Array | null {
    const plaintext = this.cipher.decryptWithAd(this.h, ciphertext)
    if (plaintext !== null && mixHash) this.mixHash(ciphertext)
    return plaintext
  }

  /** The handshake hash h (spec 11.2, channel binding). */
  handshakeHash (): Uint8Array {
    return this.h
  }
}
