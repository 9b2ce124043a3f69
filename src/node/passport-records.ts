/**
 * Passports in the DHT under `/asmtp-passport/<hex id>` (DESIGN.md "Pairwise topics", last
 * paragraph): the validator accepts only a valid chain whose genesis id is the key's id; the
 * selector picks the longest valid chain that extends the others and never a fork of it, so a
 * forged block, a fork or a block by a removed key never replaces a valid chain.
 */
import type { SelectFn, ValidateFn } from '@libp2p/kad-dht'
import { fromHex, toHex } from '../bytes.js'
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

export const validatePassportRecord: ValidateFn = (key, value) => {
  decodePassportRecord(key, value)
}

export const selectPassportRecord: SelectFn = (key, records) => {
  let best = -1
  let bestPassport: Passport | null = null
  records.forEach((value, i) => {
    let candidate: Passport
    try {
      candidate = decodePassportRecord(key, value)
    } catch {
      return
    }
    if (bestPassport === null) {
      best = i
      bestPassport = candidate
      return
    }
    try {
      const merged = mergePassport(bestPassport, candidate)
      if (merged === candidate) {
        best = i
        bestPassport = candidate
      }
    } catch {
      // a fork of (or a different passport than) the chain we hold: never selected over it
    }
  })
  return Math.max(0, best)
}
