/**
 * Passport blocks: a 168-byte signed header and its content (docs/PROTOCOL.md section 1, "Blocks").
 *
 *   version u16 (=1) ‖ content size u16 ‖ time u32 ‖ content hash (BLAKE2b-256, 32) ‖
 *   previous block id (32, zero for genesis) ‖ author Ed25519 key (32) ‖
 *   Ed25519 signature (64) over the 104 header bytes before it
 *
 * Block id = BLAKE2b-256 of the whole header. decodeBlock checks the block on its own (no ledger
 * context): version, sizes, content hash, signature, entries and their proofs.
 */
import { AsmtpError } from '../errors.js'
import { ByteReader, concatBytes, equalBytes, u16be, u32be } from '../bytes.js'
import { blake2b256, verifyEd25519, type Ed25519KeyPair } from '../crypto/index.js'
import { decodeEntries, type Entry } from './entries.js'

export const BLOCK_VERSION = 1
export const BLOCK_HEADER_BYTES = 168
export const BLOCK_SIGNED_BYTES = 104
export const BLOCK_ID_BYTES = 32
export const MAX_BLOCK_CONTENT_BYTES = 0xffff
export const MAX_BLOCK_BYTES = BLOCK_HEADER_BYTES + MAX_BLOCK_CONTENT_BYTES
export const ZERO_BLOCK_ID: Uint8Array = new Uint8Array(BLOCK_ID_BYTES)

export interface Block {
  /** BLAKE2b-256 of the header. */
  readonly id: Uint8Array
  /** The encoded block (header ‖ content), exactly as decoded. */
  readonly bytes: Uint8Array
  readonly version: number
  /** Seconds since the passport epoch. */
  readonly time: number
  readonly contentHash: Uint8Array
  readonly previous: Uint8Array
  readonly author: Uint8Array
  readonly signature: Uint8Array
  readonly content: Uint8Array
  readonly entries: readonly Entry[]
}

export function isGenesisBlock (block: Block): boolean {
  return equalBytes(block.previous, ZERO_BLOCK_ID)
}

/** Builds and signs a block; `time` is in seconds since the passport epoch. */
export function signBlock (init: { author: Ed25519KeyPair, previous: Uint8Array, time: number, content: Uint8Array }): Uint8Array {
  if (init.content.length > MAX_BLOCK_CONTENT_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `block content of ${init.content.length} bytes exceeds ${MAX_BLOCK_CONTENT_BYTES}`)
  if (init.previous.length !== BLOCK_ID_BYTES) throw new RangeError(`previous block id must be ${BLOCK_ID_BYTES} bytes`)
  const signed = concatBytes(u16be(BLOCK_VERSION), u16be(init.content.length), u32be(init.time), blake2b256(init.content), init.previous, init.author.publicKey)
  return concatBytes(signed, init.author.sign(signed), init.content)
}

/**
 * Decodes and checks one block. Throws AsmtpError DECODE_TRUNCATED, DECODE_TRAILING_BYTES,
 * PASSPORT_BAD_VERSION, PASSPORT_BAD_HASH, PASSPORT_BAD_SIGNATURE, or an entry error
 * (PASSPORT_BAD_ENTRY, PASSPORT_UNKNOWN_ENTRY, PASSPORT_BAD_PROOF).
 */
export function decodeBlock (bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `a block is at most ${MAX_BLOCK_BYTES} bytes, got ${bytes.length}`)
  const r = new ByteReader(bytes, 'passport block')
  const version = r.u16()
  if (version !== BLOCK_VERSION) throw new AsmtpError('PASSPORT_BAD_VERSION', `passport block version ${version} is not supported (expected ${BLOCK_VERSION})`)
  const contentSize = r.u16()
  const time = r.u32()
  const contentHash = r.bytesN(32)
  const previous = r.bytesN(BLOCK_ID_BYTES)
  const author = r.bytesN(32)
  const signature = r.bytesN(64)
  const content = r.bytesN(contentSize)
  r.end()
  if (!equalBytes(blake2b256(content), contentHash)) throw new AsmtpError('PASSPORT_BAD_HASH', 'passport block content does not match its content hash')
  const header = bytes.subarray(0, BLOCK_HEADER_BYTES)
  if (!verifyEd25519(author, header.subarray(0, BLOCK_SIGNED_BYTES), signature)) {
    throw new AsmtpError('PASSPORT_BAD_SIGNATURE', 'passport block signature does not verify')
  }
  return {
    id: blake2b256(header),
    bytes: bytes.slice(),
    version,
    time,
    contentHash,
    previous,
    author,
    signature,
    content,
    entries: decodeEntries(content)
  }
}
