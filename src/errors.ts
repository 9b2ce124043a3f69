/**
 * The one error model of asmtp: an AsmtpError with a typed code. Every decoder of bytes from
 * the network or a file throws this (never a TypeError/RangeError from deep inside); programmer
 * errors (wrong argument types) stay TypeError/RangeError.
 */
export type AsmtpErrorCode =
  // generic byte decoding
  | 'DECODE_TRUNCATED'
  | 'DECODE_TRAILING_BYTES'
  | 'DECODE_INVALID'
  | 'DECODE_TOO_LARGE'
  // keys and key files
  | 'KEY_INVALID'
  | 'KEY_FILE_INVALID'
  | 'KEY_FILE_PASSWORD'
  | 'KEY_FILE_PERMISSIONS'
  // passports
  | 'PASSPORT_BAD_VERSION'
  | 'PASSPORT_BAD_HASH'
  | 'PASSPORT_BAD_SIGNATURE'
  | 'PASSPORT_BAD_PROOF'
  | 'PASSPORT_BAD_ENTRY'
  | 'PASSPORT_UNKNOWN_ENTRY'
  | 'PASSPORT_EMPTY'
  | 'PASSPORT_BAD_GENESIS'
  | 'PASSPORT_WRONG_ID'
  | 'PASSPORT_NO_SHARED_KEY'
  | 'LEDGER_FORK'
  | 'LEDGER_BAD_PREVIOUS'
  | 'LEDGER_TIME_BACKWARDS'
  | 'LEDGER_ENTRY_IN_FUTURE'
  | 'LEDGER_UNAUTHORIZED_AUTHOR'
  | 'LEDGER_DUPLICATE_KEY'
  | 'LEDGER_DUPLICATE_ALIAS'
  | 'LEDGER_UNKNOWN_KEY'
  | 'LEDGER_LAST_MASTER_KEY'
  | 'LEDGER_SHARED_KEY_MISSING_SEAL'
  | 'LEDGER_NOT_EXTENSION'
  // envelopes
  | 'ENVELOPE_TOO_SHORT'
  | 'ENVELOPE_TOO_LARGE'
  | 'ENVELOPE_BAD_SIZE'
  | 'ENVELOPE_BAD_VERSION'
  | 'ENVELOPE_DECRYPT_FAILED'
  | 'ENVELOPE_BAD_PADDING'
  | 'ENVELOPE_BAD_MAC'
  | 'ENVELOPE_BODY_TOO_LARGE'
  | 'ENVELOPE_WRONG_SENDER'
  // gossip frames and stamps (src/frame)
  | 'FRAME_BAD_VERSION'
  | 'FRAME_TRUNCATED'
  | 'FRAME_BAD_TTL'
  | 'FRAME_BAD_TIME'
  | 'FILE_TOO_LARGE'
  | 'STAMP_QUEUE_FULL'
  | 'STAMP_POOL_CLOSED'
  // transport, node and client channel
  | 'FRAME_TOO_LARGE'
  | 'FRAME_INVALID'
  | 'HANDSHAKE_FAILED'
  | 'UNAUTHORIZED_DEVICE'
  | 'PROTOCOL_VIOLATION'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'RATE_LIMITED'
  | 'QUEUE_FULL'
  | 'NOT_FOUND'
  | 'NOT_STARTED'
  | 'CONFIG_INVALID'
  | 'STORE_ERROR'
  | 'TOPIC_NOT_REGISTERED'
  // catch-up v2 by inventory (src/node/catchup/)
  | 'CATCHUP_BAD_VERSION'
  | 'CATCHUP_BAD_ORDER'
  | 'CATCHUP_UNASKED_FRAME'
  // stem, Dandelion++ origin hiding (src/node/stem/)
  | 'STEM_BAD_VERSION'
  | 'STEM_EMPTY_FRAME'
  | 'INTERNAL'
  // mail client library (src/client): accounts, contacts, device sync, sending
  | 'ACCOUNT_EXISTS'
  | 'ACCOUNT_NOT_FOUND'
  | 'ACCOUNT_LOCKED'
  | 'ACCOUNT_JOIN_PENDING'
  | 'CONTACT_UNKNOWN'
  | 'CONTACT_EXISTS'
  | 'DEVICE_REMOVED'
  | 'DEVICE_SYNC_BAD_SIGNATURE'
  | 'DEVICE_SYNC_UNKNOWN_SIGNER'
  | 'DEVICE_SYNC_STALE_KEY'
  | 'MESSAGE_NOT_FOUND'
  // mail bridge (src/bridge): the HTTP API's bearer token
  | 'UNAUTHORIZED'

export class AsmtpError extends Error {
  override readonly name = 'AsmtpError'
  readonly code: AsmtpErrorCode

  constructor (code: AsmtpErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

export function isAsmtpError (err: unknown, code?: AsmtpErrorCode): err is AsmtpError {
  return err instanceof AsmtpError && (code === undefined || err.code === code)
}
