/**
 * Catch-up v2 codec (src/node/catchup/codec.ts) against test/vectors/catchup.json, and every
 * decoder fed random, truncated and oversized bytes: only AsmtpError comes out.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { fromHex, toHex } from '../src/bytes.js'
import { AsmtpError } from '../src/errors.js'
import {
  decodeFetchReply, decodeInventoryReply, decodeRequest, decodeSummaryReply, encodeFetchReply, encodeInventoryReply,
  encodeRefusal, encodeRequest, encodeSummaryReply, hourDigest, MAX_REQUEST_BYTES,
  type CatchupRequest, type FetchRequest, type InventoryRequest, type RefusalStatus, type SummaryRequest
} from '../src/node/catchup/index.js'
import { isCode, readVectors } from './helpers/vectors.js'

type Kind = 'request' | 'summary-reply' | 'inventory-reply' | 'fetch-reply'
type JsonRequest = { type: 'summary', bucket: number, fromHour: number, toHour: number }
  | { type: 'inventory', bucket: number, hour: number, after: string, limit: number }
  | { type: 'fetch', hashes: string[] }
interface Valid { note: string, kind: Kind, bytes: string, request?: JsonRequest, value: Record<string, unknown> }
interface Invalid { note: string, kind: Kind, bytes: string, request?: JsonRequest, code: string }
interface Vectors { hourDigest: Array<{ note: string, hashes: string[], digest: string }>, valid: Valid[], invalid: Invalid[] }

const vectors = readVectors<Vectors>('catchup.json')

function request (j: JsonRequest): CatchupRequest {
  if (j.type === 'summary') return j
  if (j.type === 'inventory') return { ...j, after: fromHex(j.after, 32) }
  return { type: 'fetch', hashes: j.hashes.map(h => fromHex(h, 32)) }
}

/** Decodes `bytes` as `kind`, in JSON shape (hex strings) for comparison with the vectors. */
function decodeAs (kind: Kind, bytes: Uint8Array, req?: CatchupRequest): unknown {
  const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => x instanceof Uint8Array ? toHex(x) : x))
  switch (kind) {
    case 'request': return json(decodeRequest(bytes))
    case 'summary-reply': return json(decodeSummaryReply(bytes, req as SummaryRequest))
    case 'inventory-reply': return json(decodeInventoryReply(bytes, req as InventoryRequest))
    case 'fetch-reply': {
      const r = decodeFetchReply(bytes, req as FetchRequest)
      return r.status === 'ok' ? json({ status: 'ok', served: r.served, frames: r.frames.map(f => f.frame) }) : json(r)
    }
  }
}

function encodeAs (kind: Kind, value: Record<string, unknown>): Uint8Array {
  if (value.status !== undefined && value.status !== 'ok') return encodeRefusal(value.status as RefusalStatus)
  switch (kind) {
    case 'request': return encodeRequest(request(value as unknown as JsonRequest))
    case 'summary-reply': return encodeSummaryReply((value.hours as Array<{ hour: number, count: number, digest: string }>).map(h => ({ ...h, digest: fromHex(h.digest, 32) })))
    case 'inventory-reply': return encodeInventoryReply((value.hashes as string[]).map(h => fromHex(h, 32)), value.more as boolean)
    case 'fetch-reply': return encodeFetchReply(value.served as number, (value.frames as string[]).map(f => fromHex(f)))
  }
}

test('catch-up vectors: every valid message decodes to its fields and encodes back to its bytes', () => {
  assert.ok(vectors.valid.length >= 12)
  for (const v of vectors.valid) {
    const req = v.request === undefined ? undefined : request(v.request)
    assert.deepEqual(decodeAs(v.kind, fromHex(v.bytes), req), v.value, v.note)
    assert.equal(toHex(encodeAs(v.kind, v.value)), v.bytes, v.note)
  }
})

test('catch-up vectors: every invalid message throws AsmtpError with its code', () => {
  assert.ok(vectors.invalid.length >= 30)
  for (const v of vectors.invalid) {
    const req = v.request === undefined ? undefined : request(v.request)
    assert.throws(() => decodeAs(v.kind, fromHex(v.bytes), req), isCode(v.code), v.note)
  }
})

test('catch-up vectors: the hour digest is SHA-256 of the sorted hashes', () => {
  for (const v of vectors.hourDigest) assert.equal(toHex(hourDigest(v.hashes.map(h => fromHex(h, 32)))), v.digest, v.note)
})

const arbHash = fc.uint8Array({ minLength: 32, maxLength: 32 })
const arbRequest: fc.Arbitrary<CatchupRequest> = fc.oneof(
  fc.record({ bucket: fc.integer({ min: 0, max: 0xffff }), fromHour: fc.integer({ min: 0, max: 0xffffffff - 400 }), span: fc.integer({ min: 0, max: 359 }) })
    .map(r => ({ type: 'summary' as const, bucket: r.bucket, fromHour: r.fromHour, toHour: r.fromHour + r.span })),
  fc.record({ bucket: fc.integer({ min: 0, max: 0xffff }), hour: fc.integer({ min: 0, max: 0xffffffff }), after: arbHash, limit: fc.integer({ min: 1, max: 1024 }) })
    .map(r => ({ type: 'inventory' as const, ...r })),
  fc.uniqueArray(arbHash, { minLength: 1, maxLength: 40, selector: h => toHex(h) })
    .map(hs => ({ type: 'fetch' as const, hashes: hs.sort((a, b) => Buffer.compare(a, b)) }))
)

/** Every decoder on `bytes` (replies against `req` where it is of their type): only AsmtpError. */
function onlyAsmtpErrors (bytes: Uint8Array, req: CatchupRequest): void {
  const decoders: Array<() => unknown> = [() => decodeRequest(bytes)]
  if (req.type === 'summary') decoders.push(() => decodeSummaryReply(bytes, req))
  if (req.type === 'inventory') decoders.push(() => decodeInventoryReply(bytes, req))
  if (req.type === 'fetch') decoders.push(() => decodeFetchReply(bytes, req))
  for (const d of decoders) {
    try {
      d()
    } catch (err) {
      if (!(err instanceof AsmtpError)) throw err
    }
  }
}

test('catch-up decoders: random bytes throw only AsmtpError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), arbRequest, (bytes, req) => { onlyAsmtpErrors(bytes, req) }), { numRuns: 3000 })
  // random bodies behind a valid head, to get past the version and status bytes
  fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 600 }), arbRequest, (type, body, req) => {
    onlyAsmtpErrors(Uint8Array.of(2, type, ...body), req)
    onlyAsmtpErrors(Uint8Array.of(0, ...body), req)
  }), { numRuns: 3000 })
})

test('catch-up decoders: every truncation and extension of a valid message throws AsmtpError', () => {
  fc.assert(fc.property(arbRequest, fc.uint8Array({ minLength: 1, maxLength: 8 }), (req, extra) => {
    const bytes = encodeRequest(req)
    assert.deepEqual(decodeRequest(bytes), req)
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeRequest(bytes.subarray(0, n)), AsmtpError)
    assert.throws(() => decodeRequest(new Uint8Array([...bytes, ...extra])), AsmtpError)
  }), { numRuns: 300 })
  for (const v of vectors.valid.filter(v => v.kind !== 'request')) {
    const bytes = fromHex(v.bytes)
    const req = request(v.request!)
    for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeAs(v.kind, bytes.subarray(0, n), req), AsmtpError, `${v.note}, cut to ${n}`)
    assert.throws(() => decodeAs(v.kind, new Uint8Array([...bytes, 0]), req), AsmtpError, `${v.note}, one byte more`)
  }
})

test('catch-up decoders: oversized input is refused by its length, quickly', () => {
  const big = new Uint8Array(8 * 1024 * 1024).fill(0xff)
  big[0] = 0
  const started = Date.now()
  assert.throws(() => decodeRequest(new Uint8Array(MAX_REQUEST_BYTES + 1)), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => decodeSummaryReply(big, { type: 'summary', bucket: 0, fromHour: 0, toHour: 359 }), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => decodeInventoryReply(big, { type: 'inventory', bucket: 0, hour: 0, after: new Uint8Array(32), limit: 1024 }), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => decodeFetchReply(big, { type: 'fetch', hashes: [new Uint8Array(32)] }), isCode('DECODE_TOO_LARGE'))
  assert.ok(Date.now() - started < 1000)
})
