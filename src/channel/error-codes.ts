/**
 * Error replies of the client channel (docs/PROTOCOL.md section 5 "Error codes"):
 * body = u16 BE code ‖ UTF-8 message. When the node's failure is an AsmtpError, the message
 * starts with its code text ("LEDGER_FORK: ..."), so that the client gets the exact code back.
 */
import { ByteReader, concatBytes, u16be } from '../bytes.js'
import { AsmtpError, type AsmtpErrorCode } from '../errors.js'

export const ErrorCode = Object.freeze({
  BAD_REQUEST: 1,
  UNKNOWN_TYPE: 2,
  NOT_FOUND: 3,
  UNAUTHORIZED: 4,
  QUEUE_FULL: 5,
  ENVELOPE_INVALID: 6,
  PASSPORT_INVALID: 7,
  INTERNAL: 8,
  TOO_MANY_REQUESTS: 9,
  TIMEOUT: 10,
  UNAVAILABLE: 11,
  PROTOCOL_VIOLATION: 12
})

export type ErrorCodeNumber = typeof ErrorCode[keyof typeof ErrorCode]

/** Most bytes of an error message the node sends. */
export const MAX_ERROR_MESSAGE_BYTES = 1024

interface ErrorCodeInfo {
  name: keyof typeof ErrorCode
  /** The AsmtpError code the client raises when the message names none of `precise`. */
  client: AsmtpErrorCode
  /** AsmtpError codes the message may name (as "CODE: ..."), raised as they are. */
  precise: readonly AsmtpErrorCode[]
}

const DECODE_CODES: readonly AsmtpErrorCode[] = ['DECODE_TRUNCATED', 'DECODE_TRAILING_BYTES', 'DECODE_INVALID', 'DECODE_TOO_LARGE', 'KEY_INVALID']
const ENVELOPE_CODES: readonly AsmtpErrorCode[] = [
  'ENVELOPE_TOO_SHORT', 'ENVELOPE_TOO_LARGE', 'ENVELOPE_BAD_SIZE', 'ENVELOPE_BAD_VERSION', 'ENVELOPE_DECRYPT_FAILED',
  'ENVELOPE_BAD_PADDING', 'ENVELOPE_BAD_MAC', 'ENVELOPE_BODY_TOO_LARGE', 'ENVELOPE_WRONG_SENDER',
  'FRAME_BAD_VERSION', 'FRAME_TRUNCATED', 'FRAME_BAD_TTL', 'FRAME_BAD_TIME'
]
const PASSPORT_CODES: readonly AsmtpErrorCode[] = [
  'PASSPORT_BAD_VERSION', 'PASSPORT_BAD_HASH', 'PASSPORT_BAD_SIGNATURE', 'PASSPORT_BAD_PROOF', 'PASSPORT_BAD_ENTRY',
  'PASSPORT_UNKNOWN_ENTRY', 'PASSPORT_EMPTY', 'PASSPORT_BAD_GENESIS', 'PASSPORT_WRONG_ID', 'PASSPORT_NO_SHARED_KEY',
  'LEDGER_FORK', 'LEDGER_BAD_PREVIOUS', 'LEDGER_TIME_BACKWARDS', 'LEDGER_ENTRY_IN_FUTURE', 'LEDGER_UNAUTHORIZED_AUTHOR',
  'LEDGER_DUPLICATE_KEY', 'LEDGER_DUPLICATE_ALIAS', 'LEDGER_UNKNOWN_KEY', 'LEDGER_LAST_MASTER_KEY',
  'LEDGER_SHARED_KEY_MISSING_SEAL', 'LEDGER_NOT_EXTENSION'
]

/** The table of docs/PROTOCOL.md section 5 (client channel errors). */
const TABLE: ReadonlyMap<number, ErrorCodeInfo> = new Map<number, ErrorCodeInfo>([
  [ErrorCode.BAD_REQUEST, { name: 'BAD_REQUEST', client: 'DECODE_INVALID', precise: DECODE_CODES }],
  [ErrorCode.UNKNOWN_TYPE, { name: 'UNKNOWN_TYPE', client: 'PROTOCOL_VIOLATION', precise: [] }],
  [ErrorCode.NOT_FOUND, { name: 'NOT_FOUND', client: 'NOT_FOUND', precise: [] }],
  [ErrorCode.UNAUTHORIZED, { name: 'UNAUTHORIZED', client: 'TOPIC_NOT_REGISTERED', precise: [] }],
  [ErrorCode.QUEUE_FULL, { name: 'QUEUE_FULL', client: 'QUEUE_FULL', precise: [] }],
  [ErrorCode.ENVELOPE_INVALID, { name: 'ENVELOPE_INVALID', client: 'ENVELOPE_BAD_SIZE', precise: ENVELOPE_CODES }],
  [ErrorCode.PASSPORT_INVALID, { name: 'PASSPORT_INVALID', client: 'PASSPORT_BAD_ENTRY', precise: PASSPORT_CODES }],
  [ErrorCode.INTERNAL, { name: 'INTERNAL', client: 'INTERNAL', precise: ['STORE_ERROR', 'CONFIG_INVALID'] }],
  [ErrorCode.TOO_MANY_REQUESTS, { name: 'TOO_MANY_REQUESTS', client: 'RATE_LIMITED', precise: [] }],
  [ErrorCode.TIMEOUT, { name: 'TIMEOUT', client: 'TIMEOUT', precise: ['ABORTED'] }],
  [ErrorCode.UNAVAILABLE, { name: 'UNAVAILABLE', client: 'NOT_STARTED', precise: [] }],
  [ErrorCode.PROTOCOL_VIOLATION, { name: 'PROTOCOL_VIOLATION', client: 'PROTOCOL_VIOLATION', precise: ['FRAME_TOO_LARGE', 'FRAME_INVALID', ...DECODE_CODES] }]
])

export function errorCodeName (code: number): string {
  return TABLE.get(code)?.name ?? `code ${code}`
}

/** The wire code for a failure of a request handler on the node. */
export function errorCodeFor (err: unknown): ErrorCodeNumber {
  if (!(err instanceof AsmtpError)) return ErrorCode.INTERNAL
  const code = err.code
  if (DECODE_CODES.includes(code)) return ErrorCode.BAD_REQUEST
  if (ENVELOPE_CODES.includes(code)) return ErrorCode.ENVELOPE_INVALID
  if (PASSPORT_CODES.includes(code)) return ErrorCode.PASSPORT_INVALID
  switch (code) {
    case 'NOT_FOUND': return ErrorCode.NOT_FOUND
    case 'QUEUE_FULL': return ErrorCode.QUEUE_FULL
    case 'RATE_LIMITED': return ErrorCode.TOO_MANY_REQUESTS
    case 'TIMEOUT':
    case 'ABORTED': return ErrorCode.TIMEOUT
    case 'NOT_STARTED': return ErrorCode.UNAVAILABLE
    case 'PROTOCOL_VIOLATION':
    case 'FRAME_INVALID':
    case 'FRAME_TOO_LARGE': return ErrorCode.PROTOCOL_VIOLATION
    default: return ErrorCode.INTERNAL
  }
}

export interface ErrorBody { code: number, message: string }

function truncateUtf8 (text: string, maxBytes: number): Uint8Array {
  const bytes = new TextEncoder().encode(text)
  if (bytes.length <= maxBytes) return bytes
  let end = maxBytes
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

export function encodeError (e: ErrorBody): Uint8Array {
  return concatBytes(u16be(e.code), truncateUtf8(e.message, MAX_ERROR_MESSAGE_BYTES))
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

export function decodeError (body: Uint8Array): ErrorBody {
  const r = new ByteReader(body, 'error reply')
  const code = r.u16()
  let message: string
  try {
    message = UTF8.decode(r.rest())
  } catch (err) {
    throw new AsmtpError('DECODE_INVALID', 'error reply message is not valid UTF-8', { cause: err })
  }
  return { code, message }
}

/** The AsmtpError a client raises for an error reply from the node. */
export function errorFromReply (e: ErrorBody): AsmtpError {
  const info = TABLE.get(e.code)
  if (info === undefined) return new AsmtpError('PROTOCOL_VIOLATION', `node error (unknown code ${e.code}): ${e.message}`)
  const match = /^([A-Z0-9_]+): ([\s\S]*)$/.exec(e.message)
  const named = match?.[1] as AsmtpErrorCode | undefined
  if (named !== undefined && (named === info.client || info.precise.includes(named))) return new AsmtpError(named, `node: ${match?.[2] ?? ''}`)
  return new AsmtpError(info.client, `node: ${e.message}`)
}

/** The error body a node sends for a failed request. */
export function errorReplyFor (err: unknown): ErrorBody {
  const code = errorCodeFor(err)
  if (err instanceof AsmtpError) return { code, message: `${err.code}: ${err.message}` }
  return { code, message: 'internal error' }
}
