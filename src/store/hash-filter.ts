/**
 * A Bloom filter over frame hashes (docs/STORAGE.md, "Replay filter"): "definitely not seen"
 * answers let a put or a replay check skip a LevelDB read of a key that is almost never there.
 * It never forgets a hash it was given (no false negatives); a false positive only costs the
 * lookup that would have run anyway.
 *
 * Frame hashes are SHA-256 outputs, uniformly distributed, so the bit positions are read
 * straight from the hash: seven 32-bit words, each masked to the filter's size.
 */
import { FRAME_HASH_BYTES } from './keys.js'

/** Bits per expected hash; with 7 positions the false-positive rate at capacity is about 1%. */
export const HASH_FILTER_BITS_PER_KEY = 10
const POSITIONS = 7
/** Smallest filter, in hashes (16 KiB of bits). */
export const HASH_FILTER_MIN_CAPACITY = 1 << 14

export class HashFilter {
  private readonly bits: Uint32Array
  private readonly mask: number
  /** hashes the filter was sized for */
  readonly capacity: number
  /** hashes added so far (a hash added twice counts twice) */
  added = 0

  constructor (capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.capacity = Math.max(capacity, HASH_FILTER_MIN_CAPACITY)
    // a power of two, so a position is a mask of a hash word; at most 2^31 bits
    let size = 32
    while (size < this.capacity * HASH_FILTER_BITS_PER_KEY && size < 2 ** 31) size *= 2
    this.bits = new Uint32Array(size / 32)
    this.mask = size - 1
  }

  private position (hash: Uint8Array, i: number): number {
    const o = i * 4
    return ((hash[o] << 24) | (hash[o + 1] << 16) | (hash[o + 2] << 8) | hash[o + 3]) & this.mask
  }

  add (hash: Uint8Array): void {
    if (hash.length !== FRAME_HASH_BYTES) throw new RangeError(`hash must be ${FRAME_HASH_BYTES} bytes, got ${hash.length}`)
    for (let i = 0; i < POSITIONS; i++) {
      const p = this.position(hash, i)
      this.bits[p >>> 5] |= 1 << (p & 31)
    }
    this.added++
  }

  /** false: the hash was never added. true: it may have been. */
  mayHave (hash: Uint8Array): boolean {
    if (hash.length !== FRAME_HASH_BYTES) return true
    for (let i = 0; i < POSITIONS; i++) {
      const p = this.position(hash, i)
      if ((this.bits[p >>> 5] & (1 << (p & 31))) === 0) return false
    }
    return true
  }

  /** More hashes were added than the filter was sized for: its false positives climb. */
  get full (): boolean {
    return this.added > this.capacity
  }
}
