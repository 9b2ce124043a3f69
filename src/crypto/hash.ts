/**
 * Hashes: BLAKE2b-256 (passport block ids and content hashes) from @noble/hashes, since
 * node:crypto only offers the 512-bit BLAKE2b; SHA-256 and HMAC from node:crypto.
 */
import { createHash, createHmac } from 'node:crypto'
import { blake2b } from '@noble/hashes/blake2.js'

export function blake2b256 (data: Uint8Array): Uint8Array {
  return blake2b(data, { dkLen: 32 })
}

export function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

export function hmacSha256 (key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key)
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}
