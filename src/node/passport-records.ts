/**
 * Passports in the DHT under `/asmtp-passport/<hex id>` (DESIGN.md "Pairwise topics", last
 * paragraph): the validator accepts only a valid chain whose genesis id is the key's id; the
 * selector picks the longest valid chain that extends the others and never a fork of it, so a
 * forged block, a fork or a block by a removed key never replaces a valid chain.
 */
import type { SelectFn, ValidateFn } from '@libp2p/kad-dht'
import { equalBytes, fromHex, toHex } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import { Passport, mergePassport } from '../passport/index.js'

export const PASSPORT_NAMESPACE = 'asmtp-passport'
const PREFIX = `/${PASSPORT_NAMESPACE}/`

export function passportDhtKey (id: Uint8Array): Uint8Array {
  return new TextEncoder().encode(PREFIX + toHex(id))
}

export function passportIdFromDhtKey (key: Uint8Array): Uint8Array {
  const text = new TextDecoder().decode(key)
  if (!text.startsWith(PREFIX)) throw new AsmtpError('DECODE_INVALID', 'not an asmtp passport record key')
  return fromHex(text.slice(PREFIX.length), 32, 'passport id in record key')
}

/** Decodes and fully validates a record value for `key`; throws AsmtpError. */
export function decodePassportRecord (key: Uint8Array, value: Uint8Array): Passport {
  return Passport.import(value, { expectedId: passportIdFromDhtKey(key) })
}

/**
 * Validator: a valid chain under its own id; where the node holds the passport itself (its
 * users' passports), the record must be that chain or extend it, so a fork, a stale copy or
 * another chain never replaces it here.
 */
export function createPassportValidator (held: (id: Uint8Array) => Promise<Passport | undefined>): ValidateFn {
  return async (key, value) => {
    const candidate = decodePassportRecord(key, value)
    const ours = await held(candidate.id)
    if (ours === undefined) return
    const merged = mergePassport(ours, candidate)
    if (merged !== candidate && candidate.blocks.length < ours.blocks.length) {
      throw new AsmtpError('LEDGER_NOT_EXTENSION', 'record is an older state of a passport held here')
    }
  }
}

/**
 * Selector: the longest valid chain. Two different chains of that length are a fork: reported
 * as LEDGER_FORK rather than settled by chance.
 */
export const selectPassportRecord: SelectFn = (key, records) => {
  const valid: Array<{ i: number, p: Passport }> = []
  records.forEach((value, i) => {
    try {
      valid.push({ i, p: decodePassportRecord(key, value) })
    } catch {
      // invalid records are never selected
    }
  })
  if (valid.length === 0) return 0
  valid.sort((x, y) => y.p.blocks.length - x.p.blocks.length)
  const best = valid[0]
  for (const other of valid.slice(1)) {
    if (other.p.blocks.length < best.p.blocks.length) break
    if (!equalBytes(other.p.state.tipId, best.p.state.tipId)) {
      throw new AsmtpError('LEDGER_FORK', `passport ${toHex(best.p.id)} has two different chains of ${best.p.blocks.length} blocks in the DHT`)
    }
  }
  return best.i
}
