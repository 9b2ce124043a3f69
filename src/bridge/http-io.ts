/**
 * Requests and answers of the HTTP API (docs/API.md "Errors"): bodies read with a size cap,
 * JSON parsed and checked with zod, and every failure answered as
 * `{ "error": { "code", "message" } }` with the AsmtpError code and a fitting HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { AsmtpError, isAsmtpError, type AsmtpErrorCode } from '../errors.js'

const STATUS_BY_CODE: Partial<Record<AsmtpErrorCode, number>> = {
  UNAUTHORIZED: 401,
  DECODE_INVALID: 400,
  DECODE_TRUNCATED: 400,
  CONFIG_INVALID: 400,
  DECODE_TOO_LARGE: 413,
  FILE_TOO_LARGE: 413,
  ENVELOPE_BODY_TOO_LARGE: 413,
  NOT_FOUND: 404,
  CONTACT_UNKNOWN: 404,
  MESSAGE_NOT_FOUND: 404,
  TIMEOUT: 504,
  HANDSHAKE_FAILED: 502,
  UNAUTHORIZED_DEVICE: 502,
  QUEUE_FULL: 503,
  RATE_LIMITED: 503,
  NOT_STARTED: 503,
  ACCOUNT_LOCKED: 503
}

export function httpStatusFor (err: unknown): number {
  if (!isAsmtpError(err)) return 500
  return STATUS_BY_CODE[err.code] ?? (err.code.startsWith('CHANNEL') || err.code === 'PROTOCOL_VIOLATION' ? 502 : 500)
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

export function sendError (res: ServerResponse, err: unknown, status = httpStatusFor(err)): void {
  const code = isAsmtpError(err) ? err.code : 'INTERNAL'
  const message = isAsmtpError(err) ? err.message : 'internal error'
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, status, { error: { code, message } })
}

/** The request's body, at most `maxBytes` (DECODE_TOO_LARGE beyond, and the rest is not read). */
export async function readBody (req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (Number.isFinite(declared) && declared > maxBytes) throw new AsmtpError('DECODE_TOO_LARGE', `the body is ${declared} bytes; at most ${maxBytes} are taken here`)
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) throw new AsmtpError('DECODE_TOO_LARGE', `the body is over ${maxBytes} bytes, the most taken here`)
    parts.push(chunk as Buffer)
  }
  return Buffer.concat(parts)
}

function describeIssues (error: z.ZodError): string {
  return error.issues.slice(0, 3).map(i => `${i.path.length === 0 ? 'body' : i.path.join('.')}: ${i.message}`).join('; ')
}

/** Parses a JSON body against a schema: DECODE_INVALID, naming the field, for anything else. */
export async function readJson<T> (req: IncomingMessage, maxBytes: number, schema: z.ZodType<T>): Promise<T> {
  const type = req.headers['content-type'] ?? ''
  if (!/^application\/json\b/i.test(type)) throw new AsmtpError('DECODE_INVALID', 'the body must be JSON (content-type: application/json)')
  const raw = await readBody(req, maxBytes)
  let value: unknown
  try {
    value = JSON.parse(raw.toString('utf8'))
  } catch {
    throw new AsmtpError('DECODE_INVALID', 'the body is not valid JSON')
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new AsmtpError('DECODE_INVALID', `the body is not a valid request: ${describeIssues(parsed.error)}`)
  return parsed.data
}

/** A whole number from a query parameter, within [min, max]; `fallback` when absent. */
export function queryInt (params: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const v = params.get(name)
  if (v === null) return fallback
  if (!/^\d{1,15}$/.test(v) || Number(v) < min || Number(v) > max) throw new AsmtpError('DECODE_INVALID', `${name} must be a whole number from ${min} to ${max}`)
  return Number(v)
}
