/**
 * The stem message codec (src/node/stem/codec.ts) against test/vectors/stem.json, and its decoder
 * fed random, truncated and oversized bytes: only AsmtpError comes out, and quickly.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { fromHex, toHex } from '../src/bytes.js'
import { AsmtpError } from '../src/errors.js'
import { decodeStemMessage, encodeStemMessage, MAX_STEM_MESSAGE_BYTES } from '../src/node/stem/index.js'
import { isCode, readVectors } from './helpers/vectors.js'

interface Vectors {
  valid: Array<{ note: string, bytes: string, value: { bucket: number, frame: string } }>
  invalid: Array<{ note: string, bytes: string, code: string }>
}

const vectors = readVectors<Vectors>('stem.json')

/** Runs the decoder on `bytes`: it returns or throws AsmtpError, nothing else. */
function onlyAsmtpErrors (bytes: Uint8Array): void {
  try {
    decodeStemMessage(bytes)
  } catch (err) {
    if (!(err instanceof AsmtpError)) throw err
  }
}

test('stem vectors: every valid message decodes to its fields and encodes back to its bytes', () => {
  assert.ok(vectors.valid.length >= 4)
  for (const v of vectors.valid) {
    const m = decodeStemMessage(fromHex(v.bytes))
    assert.deepEqual({ bucket: m.bucket, frame: toHex(m.frame) }, v.value, v.note)
    assert.equal(toHex(encodeStemMessage({ bucket: v.value.bucket, frame: fromHex(v.value.frame) })), v.bytes, v.note)
  }
})

test('stem vectors: every invalid message throws AsmtpError with its code', () => {
  assert.ok(vectors.invalid.length >= 6)
  for (const v of vectors.invalid) assert.throws(() => decodeStemMessage(fromHex(v.bytes)), isCode(v.code), v.note)
})

test('stem decoder: random bytes, and random bodies behind a valid version, throw only AsmtpError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => { onlyAsmtpErrors(bytes) }), { numRuns: 5000 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (body) => { onlyAsmtpErrors(Uint8Array.of(1, ...body)) }), { numRuns: 5000 })
})

test('stem decoder: every truncation of a valid message throws AsmtpError, and the untruncated one round-trips', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ minLength: 1, maxLength: 2000 }), (bucket, frame) => {
    const bytes = encodeStemMessage({ bucket, frame })
    const m = decodeStemMessage(bytes)
    assert.equal(m.bucket, bucket)
    assert.deepEqual(m.frame, frame)
    for (let n = 0; n < 4; n++) assert.throws(() => decodeStemMessage(bytes.subarray(0, n)), AsmtpError)
  }), { numRuns: 500 })
  for (const v of vectors.valid) {
    const bytes = fromHex(v.bytes)
    for (const n of [0, 1, 2, 3]) assert.throws(() => decodeStemMessage(bytes.subarray(0, n)), AsmtpError, `${v.note}, cut to ${n}`)
  }
})

test('stem decoder: the largest message (a 65,550-byte frame) decodes; one byte more and larger input are refused by their length, quickly', () => {
  const largest = new Uint8Array(MAX_STEM_MESSAGE_BYTES).fill(0xa5)
  largest[0] = 1
  assert.equal(decodeStemMessage(largest).frame.length, 65_550)
  const started = Date.now()
  for (const size of [MAX_STEM_MESSAGE_BYTES + 1, 4 * 1024 * 1024, 64 * 1024 * 1024]) {
    const big = new Uint8Array(size)
    big[0] = 1
    assert.throws(() => decodeStemMessage(big), isCode('DECODE_TOO_LARGE'))
  }
  assert.ok(Date.now() - started < 1000)
})

test('stem encoder: arguments out of range are programmer errors (RangeError)', () => {
  assert.throws(() => encodeStemMessage({ bucket: -1, frame: Uint8Array.of(2) }), RangeError)
  assert.throws(() => encodeStemMessage({ bucket: 0x10000, frame: Uint8Array.of(2) }), RangeError)
  assert.throws(() => encodeStemMessage({ bucket: 0, frame: new Uint8Array(0) }), RangeError)
  assert.throws(() => encodeStemMessage({ bucket: 0, frame: new Uint8Array(MAX_STEM_MESSAGE_BYTES) }), RangeError)
})
