import '../src/polyfill.js'
import { isCode, readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { AsmtpError } from '../src/errors.js'
import { fromHex, toHex } from '../src/bytes.js'
import { generateX25519 } from '../src/crypto/x25519.js'
import { deriveTopic } from '../src/topic/derive.js'
import { envelopeHash } from '../src/envelope/index.js'
import {
  encodeFrame, decodeFrame, frameHash, envelopeSizeClass, setFrameNonce, sealFrame, openFrame, verifyFrameMac,
  bucketOf, bucketTopic, parseBucketTopic, MAX_BUCKET_BITS, FRAME_EPOCH_MS, HOUR_MS, DEFAULT_FRAME_LIFETIME_MS,
  frameHour, ttlMs, frameExpiresAt, checkFrameTime, type TtlClass
} from '../src/frame/index.js'

interface FrameVectors {
  valid: Array<{ note: string, hour: number, ttlClass: TtlClass, nonce: string, envelope: string, frame: string, hash: string }>
  invalid: Array<{ note: string, code: string, frame: string }>
  buckets: Array<{ topicId: string, bits: number, bucket: number, topic: string }>
  badTopics: Array<{ note: string, name: string }>
}
const vectors = readVectors<FrameVectors>('frame.json')
const isAsmtp = (e: unknown): boolean => e instanceof AsmtpError

test('frame vectors: encodeFrame gives the bytes, decodeFrame the fields, frameHash the SHA-256', () => {
  for (const v of vectors.valid) {
    const f = { hour: v.hour, ttlClass: v.ttlClass, nonce: BigInt(v.nonce), envelope: fromHex(v.envelope) }
    assert.equal(toHex(encodeFrame(f)), v.frame, v.note)
    const d = decodeFrame(fromHex(v.frame))
    assert.deepEqual({ ...d, envelope: toHex(d.envelope) }, { ...f, envelope: v.envelope }, v.note)
    assert.equal(toHex(frameHash(fromHex(v.frame))), v.hash, v.note)
  }
})

test('frame invalid vectors: decodeFrame throws the noted code', () => {
  for (const v of vectors.invalid) assert.throws(() => decodeFrame(fromHex(v.frame)), isCode(v.code), v.note)
  const four = new Uint8Array(4096)
  four[0] = 2
  const bytes = encodeFrame({ hour: 1, ttlClass: 0, nonce: 0n, envelope: four })
  assert.equal(decodeFrame(bytes).envelope.length, 4096)
  assert.throws(() => decodeFrame(bytes, { maxEnvelopeBytes: 1024 }), isCode('ENVELOPE_TOO_LARGE'))
})

test('decodeFrame (fast-check): random, truncated and oversized bytes give only AsmtpError', () => {
  const good = fromHex(vectors.valid[0].frame)
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
    try { decodeFrame(bytes) } catch (e) { assert.ok(isAsmtp(e), String(e)) }
    assert.equal(verifyFrameMac(bytes, { topic: randomBytes(32), key: randomBytes(32) }), false)
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.nat({ max: good.length - 1 }), (n) => {
    assert.throws(() => decodeFrame(good.subarray(0, n)), isAsmtp)
  }), { numRuns: 200 })
  fc.assert(fc.property(fc.integer({ min: 1, max: 70_000 }), (extra) => {
    const big = new Uint8Array(good.length + extra)
    big.set(good)
    assert.throws(() => decodeFrame(big), isAsmtp)
  }), { numRuns: 50 })
})

test('sealFrame/openFrame: an unstamped frame of the current hour opens; re-labelled hour or ttl_class fails the MAC', () => {
  const alice = generateX25519()
  const bob = generateX25519()
  const topic = deriveTopic(alice.secretKey, bob.publicKey)
  const time = Date.UTC(2026, 5, 1, 12, 30)
  const bytes = sealFrame({ sender: alice, recipientPublic: bob.publicKey, topic, contentType: 'text/plain', body: new TextEncoder().encode('hi'), time, ttlClass: 2 })
  const f = decodeFrame(bytes)
  assert.equal(f.hour, frameHour(time))
  assert.equal(f.ttlClass, 2)
  assert.equal(f.nonce, 0n)
  assert.equal(verifyFrameMac(bytes, topic), true)
  assert.equal(verifyFrameMac(f, topic), true)
  const { frame, opened } = openFrame(bytes, { recipient: bob, topic, expectedSender: alice.publicKey })
  assert.equal(frame.hour, f.hour)
  assert.equal(opened.message.time, time)
  assert.equal(new TextDecoder().decode(opened.message.body), 'hi')
  const stamped = setFrameNonce(bytes, 12345n)
  assert.equal(decodeFrame(stamped).nonce, 12345n)
  assert.equal(decodeFrame(bytes).nonce, 0n, 'setFrameNonce copies')
  assert.deepEqual(envelopeHash(decodeFrame(stamped).envelope), envelopeHash(f.envelope), 'the envelope hash survives a stamp')
  assert.notDeepEqual(frameHash(stamped), frameHash(bytes))
  assert.equal(verifyFrameMac(stamped, topic), true, 'the nonce is not under the MAC')
  for (const relabel of [{ ...f, hour: f.hour + 1 }, { ...f, ttlClass: 0 as const }, { ...f, ttlClass: 3 as const }]) {
    assert.equal(verifyFrameMac(relabel, topic), false)
    assert.throws(() => openFrame(encodeFrame(relabel), { recipient: bob, topic }), isCode('ENVELOPE_BAD_MAC'))
  }
  assert.equal(verifyFrameMac(bytes, deriveTopic(generateX25519().secretKey, bob.publicKey)), false)
  assert.equal(decodeFrame(sealFrame({ sender: alice, recipientPublic: bob.publicKey, topic, contentType: 'x', body: new Uint8Array(0) })).ttlClass, 0)
})

test('frame codec: programmer errors are RangeError; size classes', () => {
  const envelope = new Uint8Array(1024)
  assert.throws(() => encodeFrame({ hour: -1, ttlClass: 0, nonce: 0n, envelope }), RangeError)
  assert.throws(() => encodeFrame({ hour: 0, ttlClass: 4 as TtlClass, nonce: 0n, envelope }), RangeError)
  assert.throws(() => encodeFrame({ hour: 0, ttlClass: 0, nonce: -1n, envelope }), RangeError)
  assert.throws(() => encodeFrame({ hour: 0, ttlClass: 0, nonce: 2n ** 64n, envelope }), RangeError)
  assert.throws(() => setFrameNonce(new Uint8Array(13), 1n), RangeError)
  assert.deepEqual([1024, 4096, 16384, 65536].map(envelopeSizeClass), [0, 1, 2, 3])
  assert.throws(() => envelopeSizeClass(2048), RangeError)
})

test('frame time: hours since 2020, TTL classes, expiry and the acceptance window', () => {
  assert.equal(FRAME_EPOCH_MS, Date.parse('2020-01-01T00:00:00Z'))
  assert.equal(DEFAULT_FRAME_LIFETIME_MS, 14 * 24 * HOUR_MS)
  assert.equal(frameHour(FRAME_EPOCH_MS), 0)
  assert.equal(frameHour(FRAME_EPOCH_MS + HOUR_MS - 1), 0)
  assert.equal(frameHour(FRAME_EPOCH_MS + HOUR_MS), 1)
  assert.equal(frameHour(Date.UTC(2026, 0, 1)), 52608)
  const L = DEFAULT_FRAME_LIFETIME_MS
  assert.deepEqual(([0, 1, 2, 3] as const).map(c => ttlMs(c, L)), [L, HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS])
  assert.throws(() => ttlMs(4 as TtlClass, L), RangeError)
  assert.equal(frameExpiresAt(10, 1, L), FRAME_EPOCH_MS + 11 * HOUR_MS + HOUR_MS)
  const now = Date.UTC(2026, 0, 1, 12, 30)
  const h = frameHour(now)
  assert.equal(checkFrameTime(h, 0, L, now), 'ok')
  assert.equal(checkFrameTime(h + 1, 0, L, now), 'ok', 'one hour of clock skew ahead')
  assert.equal(checkFrameTime(h + 2, 0, L, now), 'future')
  assert.equal(checkFrameTime(h - 14 * 24 - 1, 3, L, now), 'expired', 'inside the window but past its 7-day TTL')
  assert.equal(checkFrameTime(h - 14 * 24 - 2, 0, L, now), 'too-old')
  assert.equal(checkFrameTime(h - 1, 1, L, now), 'ok', 'the 1 h TTL runs from the end of its hour')
  assert.equal(checkFrameTime(h - 2, 1, L, now), 'expired')
  assert.equal(checkFrameTime(h - 14 * 24, 0, L, now), 'ok')
  assert.equal(checkFrameTime(h - 14 * 24 - 1, 0, L, now), 'expired')
})

test('bucket vectors: bucketOf and bucketTopic; parseBucketTopic rejects every bad name', () => {
  for (const v of vectors.buckets) {
    assert.equal(bucketOf(fromHex(v.topicId), v.bits), v.bucket, `bits ${v.bits}`)
    assert.equal(bucketTopic(v.bits, v.bucket), v.topic)
    assert.deepEqual(parseBucketTopic(v.topic), { bits: v.bits, bucket: v.bucket })
  }
  for (const v of vectors.badTopics) assert.equal(parseBucketTopic(v.name), undefined, v.note)
  assert.throws(() => bucketOf(new Uint8Array(32), 17), RangeError)
  assert.throws(() => bucketOf(new Uint8Array(32), -1), RangeError)
  assert.throws(() => bucketOf(new Uint8Array(31), 4), RangeError)
  assert.throws(() => bucketTopic(4, 16), RangeError)
  assert.throws(() => bucketTopic(17, 0), RangeError)
})

test('buckets (fast-check): bucketOf < 2^bits, a prefix of the wider bucket; topic names round trip', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: MAX_BUCKET_BITS }), (id, bits) => {
    const b = bucketOf(id, bits)
    assert.ok(b >= 0 && b < 2 ** bits)
    if (bits < MAX_BUCKET_BITS) assert.equal(bucketOf(id, bits + 1) >>> 1, b)
    assert.deepEqual(parseBucketTopic(bucketTopic(bits, b)), { bits, bucket: b })
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.string({ maxLength: 20 }), (s) => {
    const r = parseBucketTopic(s)
    if (r !== undefined) assert.equal(bucketTopic(r.bits, r.bucket), s)
  }), { numRuns: 300 })
})
