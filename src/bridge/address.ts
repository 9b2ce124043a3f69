/**
 * Mail addresses of the bridge (docs/BRIDGE.md "Addresses"): `<contact alias>@asmtp` or
 * `<passport id>@asmtp`, any letter case. The local part names a contact of the account; the
 * domain is always `asmtp`.
 */
import { AsmtpError } from '../errors.js'
import type { ContactInfo } from '../client/index.js'

export const BRIDGE_DOMAIN = 'asmtp'
const MAX_ADDRESS_BYTES = 320
const PASSPORT_ID_RE = /^[0-9a-f]{64}$/

/** The address shown for a contact (or for the account itself). */
export function addressOf (alias: string): string {
  return `${alias}@${BRIDGE_DOMAIN}`
}

/**
 * The contact an address names: a bare alias or passport id, or either with `@asmtp`. Aliases
 * and ids are compared without regard to letter case. Throws CONTACT_UNKNOWN for an address
 * that names no contact, DECODE_INVALID for one of another domain or a malformed one.
 */
export function resolveRecipient (address: string, contacts: readonly ContactInfo[]): ContactInfo {
  if (typeof address !== 'string' || address.length === 0 || Buffer.byteLength(address, 'utf8') > MAX_ADDRESS_BYTES) {
    throw new AsmtpError('DECODE_INVALID', 'a recipient must be 1 to 320 bytes: <contact alias>@asmtp or <passport id>@asmtp')
  }
  const at = address.lastIndexOf('@')
  const local = (at < 0 ? address : address.slice(0, at)).trim()
  const domain = at < 0 ? BRIDGE_DOMAIN : address.slice(at + 1).trim().toLowerCase()
  if (domain !== BRIDGE_DOMAIN) {
    throw new AsmtpError('CONTACT_UNKNOWN', `${address} is not an asmtp address: write to <contact alias>@asmtp or <passport id>@asmtp`)
  }
  const wanted = local.toLowerCase()
  const found = PASSPORT_ID_RE.test(wanted)
    ? contacts.find(c => c.passportId === wanted)
    : contacts.find(c => c.alias.toLowerCase() === wanted)
  if (found === undefined) {
    const known = contacts.map(c => addressOf(c.alias)).join(', ')
    throw new AsmtpError('CONTACT_UNKNOWN', `no contact ${local}@${BRIDGE_DOMAIN}${known === '' ? ' (no contacts yet: asmtp-cli contact add)' : ` (contacts: ${known})`}`)
  }
  return found
}
