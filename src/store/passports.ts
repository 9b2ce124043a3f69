/**
 * Passports the node keeps (its users' and their contacts'), as export bytes: each block
 * prefixed by its u32 BE length (DESIGN.md "Passport"). The node validates a chain before it
 * calls putPassport; the store keeps the bytes as given.
 */
import type { StoreDb } from './db.js'
import { PASSPORT_ID_BYTES, SUBLEVELS, assertLength, checkStoredKey } from './keys.js'
import { decodePassportValue, describeKey, encodePassportValue } from './values.js'

export class PassportTable {
  constructor (private readonly db: StoreDb) {}

  async put (id: Uint8Array, exportBytes: Uint8Array): Promise<void> {
    assertLength(id, PASSPORT_ID_BYTES, 'passport id')
    if (!(exportBytes instanceof Uint8Array)) throw new TypeError('exportBytes must be a Uint8Array')
    if (exportBytes.length === 0) throw new RangeError('exportBytes must not be empty')
    await this.db.passports.put(id, encodePassportValue(exportBytes))
  }

  async get (id: Uint8Array): Promise<Uint8Array | undefined> {
    assertLength(id, PASSPORT_ID_BYTES, 'passport id')
    const raw = await this.db.passports.get(id)
    return raw === undefined ? undefined : decodePassportValue(describeKey(SUBLEVELS.passports, id), raw)
  }

  async listIds (): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    for await (const key of this.db.passports.keys()) {
      out.push(checkStoredKey(key, PASSPORT_ID_BYTES, SUBLEVELS.passports))
    }
    return out
  }
}
