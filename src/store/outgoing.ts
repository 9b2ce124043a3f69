/**
 * The outgoing journal (docs/STORAGE.md "Outgoing"): a frame a device handed this node, from
 * the moment the node acknowledges it until it is stored (fluffed, or back through the mesh).
 * A frame under the stem's embargo is in no store, seen filter or catch-up answer, so without
 * the journal a node killed between its acknowledgement and the fluff would lose the mail. The
 * journal is never read by peers; at start the node sends again what it still holds.
 *
 * Key: frame hash (32 bytes). Value: bucket u16 ‖ frame.
 */
import { AsmtpError } from '../errors.js'
import type { StoreDb } from './db.js'
import { FRAME_HASH_BYTES, MAX_BUCKET } from './keys.js'

export interface OutgoingFrame { hash: Uint8Array, bucket: number, frame: Uint8Array }

/** Most entries the journal holds; a node that cannot fluff this many is refusing new mail. */
export const MAX_OUTGOING = 65_536

export function encodeOutgoing (bucket: number, frame: Uint8Array): Uint8Array {
  if (!Number.isInteger(bucket) || bucket < 0 || bucket > MAX_BUCKET) throw new RangeError(`bucket must be 0..${MAX_BUCKET}`)
  const out = new Uint8Array(2 + frame.length)
  new DataView(out.buffer).setUint16(0, bucket)
  out.set(frame, 2)
  return out
}

/** Throws STORE_CORRUPT on a value that cannot be an entry. */
export function decodeOutgoing (hash: Uint8Array, value: Uint8Array): OutgoingFrame {
  if (hash.length !== FRAME_HASH_BYTES) throw new AsmtpError('STORE_ERROR', `outgoing key is ${hash.length} bytes, not ${FRAME_HASH_BYTES}`)
  if (value.length < 3) throw new AsmtpError('STORE_ERROR', `outgoing value is ${value.length} bytes, too short for a bucket and a frame`)
  const bucket = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint16(0)
  return { hash, bucket, frame: value.subarray(2) }
}

export class OutgoingTable {
  constructor (private readonly db: StoreDb, private readonly sync: boolean) {}

  /** Resolves once the entry is written (on disk first when storage.sync is on). */
  async put (hash: Uint8Array, bucket: number, frame: Uint8Array): Promise<void> {
    // classic-level takes `sync` on every write; abstract-level's types do not name it
    await this.db.outgoing.put(hash, encodeOutgoing(bucket, frame), { sync: this.sync } as Record<string, unknown>)
  }

  async delete (hashes: Uint8Array[]): Promise<void> {
    if (hashes.length === 0) return
    await this.db.outgoing.batch(hashes.map(key => ({ type: 'del' as const, key })))
  }

  /** Every entry, oldest key order (hash order); entries that do not decode are skipped and deleted. */
  async list (limit = MAX_OUTGOING): Promise<OutgoingFrame[]> {
    const out: OutgoingFrame[] = []
    const bad: Uint8Array[] = []
    for await (const [key, value] of this.db.outgoing.iterator({ limit })) {
      try {
        out.push(decodeOutgoing(key, value))
      } catch {
        bad.push(key)
      }
    }
    await this.delete(bad)
    return out
  }
}
