/**
 * Passport updates in-band (DESIGN.md "Passport updates travel in-band"; docs/CLIENT.md
 * "Control envelopes"): a client sends its passport to each contact as an envelope of content
 * type `application/x-asmtp-passport` whose body is the passport export. The contact validates
 * the whole chain and accepts it only when it extends the copy it holds.
 */
import { equalBytes } from '../bytes.js'
import { maxBodyBytes } from '../envelope/plaintext.js'
import { AsmtpError } from '../errors.js'
import { Passport, mergePassport } from '../passport/index.js'

export const PASSPORT_UPDATE_CONTENT_TYPE = 'application/x-asmtp-passport'

/** The body of a passport update. Throws ENVELOPE_BODY_TOO_LARGE when the export does not fit one envelope. */
export function encodePassportUpdate (passport: Passport): Uint8Array {
  const body = passport.export()
  const max = maxBodyBytes(PASSPORT_UPDATE_CONTENT_TYPE)
  if (body.length > max) {
    throw new AsmtpError('ENVELOPE_BODY_TOO_LARGE', `passport export of ${body.length} bytes does not fit one envelope (${max}); contacts need the passport file`)
  }
  return body
}

export interface AppliedPassportUpdate {
  /** The passport to keep: the update when it extends `held`, else `held`. */
  passport: Passport
  /** The update added blocks. */
  extended: boolean
  /** The contact's shared key changed: topics with it change too. */
  sharedKeyChanged: boolean
}

/**
 * Validates an update against the copy held. Throws AsmtpError: the passport decoders' and the
 * ledger's codes for a bad chain, PASSPORT_WRONG_ID for another passport, LEDGER_FORK for a chain
 * that diverges from the one held. Never accepts a shorter chain.
 */
export function applyPassportUpdate (held: Passport, body: Uint8Array): AppliedPassportUpdate {
  const candidate = Passport.import(body, { expectedId: held.id })
  const passport = mergePassport(held, candidate)
  const extended = passport.blocks.length > held.blocks.length
  const before = held.state.sharedPublicKey
  const after = passport.state.sharedPublicKey
  const sharedKeyChanged = extended && !(before !== null && after !== null && equalBytes(before, after))
  return { passport, extended, sharedKeyChanged }
}
