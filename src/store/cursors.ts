/**
 * Named u64 cursors: how far a peer's catch-up or a client device has read a topic
 * (e.g. `catchup/<peerId>/<topic hex>`, `client/<device>/<topic hex>`).
 */
import type { StoreDb } from './db.js'
import { SUBLEVELS, assertSeq } from './keys.js'
import { decodeU64Value, describeKey, encodeU64Value } from './values.js'

export const MAX_CURSOR_NAME_BYTES = 1024

function assertName (name: string): void {
  if (typeof name !== 'string') throw new TypeError('cursor name must be a string')
  const length = Buffer.byteLength(name, 'utf8')
  if (length === 0 || length > MAX_CURSOR_NAME_BYTES) throw new RangeError(`cursor name must be 1..${MAX_CURSOR_NAME_BYTES} bytes of UTF-8`)
}

export class CursorTable {
  constructor (private readonly db: StoreDb) {}

  async get (name: string): Promise<bigint> {
    assertName(name)
    const raw = await this.db.cursors.get(name)
    return raw === undefined ? 0n : decodeU64Value(describeKey(SUBLEVELS.cursors, name), raw)
  }

  async set (name: string, value: bigint): Promise<void> {
    assertName(name)
    assertSeq(value, 'cursor value')
    await this.db.cursors.put(name, encodeU64Value(value))
  }
}
