/**
 * ChaCha20-Poly1305 (RFC 8439) on node:crypto. Open returns null on authentication failure,
 * never throws for bad ciphertext.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'

export const AEAD_KEY_BYTES = 32
export const AEAD_NONCE_BYTES = 12
export const AEAD_TAG_BYTES = 16

export function chachaSeal (key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES })
  if (ad !== undefined && ad.length > 0) c.setAAD(ad, { plaintextLength: plaintext.length })
  const head = c.update(plaintext)
  c.final()
  const out = new Uint8Array(head.length + AEAD_TAG_BYTES)
  out.set(head, 0)
  out.set(c.getAuthTag(), head.length)
  return out
}

export function chachaOpen (key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad?: Uint8Array): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_BYTES) return null
  const body = ciphertext.subarray(0, ciphertext.length - AEAD_TAG_BYTES)
  const tag = ciphertext.subarray(ciphertext.length - AEAD_TAG_BYTES)
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG_BYTES })
  d.setAuthTag(tag)
  if (ad !== undefined && ad.length > 0) d.setAAD(ad, { plaintextLength: body.length })
  const out = d.update(body)
  try {
    d.final()
  } catch {
    return null
  }
  return new Uint8Array(out)
}
