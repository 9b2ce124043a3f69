/**
 * Delivery receipts (DESIGN.md "Delivery receipts"; docs/CLIENT.md "Receipts"): a control
 * envelope on the pair's topic that says which message ids a device of the recipient holds.
 *
 *   version u8 (0x01) ‖ count u16 BE (1..MAX_RECEIPT_IDS) ‖ count message ids (16 bytes each)
 */
import { ByteReader, concatBytes, u16be } from '../bytes.js'
import { maxBodyBytes, MESSAGE_ID_BYTES } from '../envelope/plaintext.js'
import { AsmtpError } from '../errors.js'

export const RECEIPT_CONTENT_TYPE = 'application/x-asmtp-receipt'
export const RECEIPT_VERSION = 0x01
export const MAX_RECEIPT_IDS = Math.floor((maxBodyBytes(RECEIPT_CONTENT_TYPE) - 3) / MESSAGE_ID_BYTES)

export function encodeReceipt (ids: readonly Uint8Array[]): Uint8Array {
  if (ids.length < 1 || ids.length > MAX_RECEIPT_IDS) throw new RangeError(`a receipt holds 1 to ${MAX_RECEIPT_IDS} ids`)
  for (const id of ids) if (id.length !== MESSAGE_ID_BYTES) throw new RangeError(`message ids are ${MESSAGE_ID_BYTES} bytes`)
  return concatBytes(new Uint8Array([RECEIPT_VERSION]), u16be(ids.length), ...ids)
}

/** Throws AsmtpError DECODE_TRUNCATED, DECODE_TRAILING_BYTES or DECODE_INVALID, nothing else. */
export function decodeReceipt (body: Uint8Array): Uint8Array[] {
  const r = new ByteReader(body, 'receipt')
  const version = r.u8()
  if (version !== RECEIPT_VERSION) throw new AsmtpError('DECODE_INVALID', `receipt version ${version} is not ${RECEIPT_VERSION}`)
  const count = r.u16()
  if (count < 1 || count > MAX_RECEIPT_IDS) throw new AsmtpError('DECODE_INVALID', `receipt count ${count} is outside 1..${MAX_RECEIPT_IDS}`)
  const ids: Uint8Array[] = []
  for (let i = 0; i < count; i++) ids.push(r.bytesN(MESSAGE_ID_BYTES))
  r.end()
  return ids
}
