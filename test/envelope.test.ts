import '../src/polyfill.js'
import { isCode, readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { sha256 as multiformatsSha256 } from 'multiformats/hashes/sha2'
import { AsmtpError, type AsmtpErrorCode } from '../src/errors.js'
import { fromHex, toHex } from '../src/bytes.js'
import { generateX25519, x25519KeyPairFromSecret } from '../src/crypto/x25519.js'
import { hmacSha256 } from '../src/crypto/hash.js'
import { deriveTopic } from '../src/topic/derive.js'
import {
  sealEnvelope, openEnvelope, assertEnvelopeShape, verifyEnvelopeMac, envelopeHash, bucketFor, maxBodyBytes,
  sealNoiseX, envelopeMac, ENVELOPE_BUCKETS, MAX_ENVELOPE_BYTES, ENVELOPE_OVERHEAD_BYTES
} from '../src/envelope/index.js'
import type { TtlClass } from '../src/frame/index.js'

interface EnvelopeVectors {
  keys: { senderSecret: string, senderPublic: string, recipientSecret: string, recipientPublic: string, topicId: string, topicKey: string }
  valid: Array<{
    note: string, bucket: number, ephemeralSecret: string, id: string, time: number, contentType: string,
    body?: string, bodyRepeat?: string, bodyLength?: number, burn?: boolean, wire: string, hash: string, hour: number, ttlClass: TtlClass
  }>
  invalid: Array<{
    note: string, stage: 'shape' | 'mac' | 'open', code: AsmtpErrorCode, recipientSecret: string, topicId: string, topicKey: string,
    expectedSender?: string, maxBytes?: number, wire: string, appendZeros?: number, hour: number, ttlClass: TtlClass
  }>
}
const vectors = readVectors<EnvelopeVectors>('envelope.json')

const isAsmtp = (e: unknown): boolean => e instanceof AsmtpError
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const H = { hour: 52608, ttlClass: 0 as const }

const sender = x25519KeyPairFromSecret(fromHex(vectors.keys.senderSecret))
const recipient = x25519KeyPairFromSecret(fromHex(vectors.keys.recipientSecret))
const topic = { topic: fromHex(vectors.keys.topicId), key: fromHex(vectors.keys.topicKey) }

function vectorBody (v: EnvelopeVectors['valid'][number]): Uint8Array {
  if (v.body !== undefined) return fromHex(v.body)
  const unit = utf8(v.bodyRepeat!)
  const out = new Uint8Array(v.bodyLength!)
  for (let i = 0; i < out.length; i++) out[i] = unit[i % unit.length]!
  return out
}

function invalidWire (v: EnvelopeVectors['invalid'][number]): Uint8Array {
  const head = fromHex(v.wire)
  const out = new Uint8Array(head.length + (v.appendZeros ?? 0))
  out.set(head)
  return out
}

test('envelope vectors: sealEnvelope gives the generated wire bytes exactly; openEnvelope returns the inputs', () => {
  assert.equal(toHex(sender.publicKey), vectors.keys.senderPublic)
  assert.equal(toHex(recipient.publicKey), vectors.keys.recipientPublic)
  assert.deepEqual([...new Set(vectors.valid.map(v => v.bucket))], [...ENVELOPE_BUCKETS], 'a vector in every bucket')
  for (const v of vectors.valid) {
    const body = vectorBody(v)
    const wire = sealEnvelope({
      sender, recipientPublic: recipient.publicKey, topic, contentType: v.contentType, body,
      id: fromHex(v.id), time: v.time, ephemeral: x25519KeyPairFromSecret(fromHex(v.ephemeralSecret)), hour: v.hour, ttlClass: v.ttlClass,
      ...(v.burn === true ? { burn: true } : {})
    })
    assert.equal(wire.length, v.bucket, v.note)
    assert.equal(toHex(wire), v.wire, v.note)
    assert.equal(toHex(envelopeHash(wire)), v.hash, v.note)
    assert.doesNotThrow(() => assertEnvelopeShape(wire))
    assert.equal(verifyEnvelopeMac(wire, topic, v), true)
    const opened = openEnvelope(fromHex(v.wire), { recipient, topic, expectedSender: sender.publicKey, hour: v.hour, ttlClass: v.ttlClass })
    assert.deepEqual(opened.senderStatic, sender.publicKey)
    assert.equal(toHex(opened.message.id), v.id)
    assert.equal(opened.message.time, v.time)
    assert.equal(opened.message.contentType, v.contentType)
    assert.equal(toHex(opened.message.body), toHex(body), v.note)
    assert.equal(opened.message.burn, v.burn, v.note)
  }
})

test('envelope invalid vectors: each fails at its stage with the expected code', () => {
  const codes = new Set<AsmtpErrorCode>()
  for (const v of vectors.invalid) {
    const wire = invalidWire(v)
    const t = { topic: fromHex(v.topicId), key: fromHex(v.topicKey) }
    const init = {
      recipient: x25519KeyPairFromSecret(fromHex(v.recipientSecret)),
      topic: t,
      hour: v.hour,
      ttlClass: v.ttlClass,
      ...(v.expectedSender === undefined ? {} : { expectedSender: fromHex(v.expectedSender) })
    }
    if (v.stage === 'shape') {
      assert.throws(() => assertEnvelopeShape(wire, v.maxBytes), isCode(v.code), v.note)
      if (v.maxBytes === undefined) assert.throws(() => openEnvelope(wire, init), isCode(v.code), v.note)
    } else {
      assert.doesNotThrow(() => assertEnvelopeShape(wire), v.note)
      assert.equal(verifyEnvelopeMac(wire, t, v), v.stage === 'open', v.note)
      assert.throws(() => openEnvelope(wire, init), isCode(v.code), v.note)
    }
    codes.add(v.code)
  }
  for (const code of ['ENVELOPE_TOO_SHORT', 'ENVELOPE_TOO_LARGE', 'ENVELOPE_BAD_SIZE', 'ENVELOPE_BAD_VERSION', 'ENVELOPE_BAD_MAC',
    'ENVELOPE_DECRYPT_FAILED', 'ENVELOPE_BAD_PADDING', 'ENVELOPE_WRONG_SENDER'] as const) {
    assert.ok(codes.has(code), `an invalid vector for ${code}`)
  }
})

test('MAC v2 covers the hour and ttl_class: re-labelling either fails the MAC, sealing under them succeeds', () => {
  const a = generateX25519()
  const b = generateX25519()
  const t = { topic: randomBytes(32), key: randomBytes(32) }
  const wire = sealEnvelope({ sender: a, recipientPublic: b.publicKey, topic: t, contentType: 'text/plain', body: utf8('x'), hour: 1000, ttlClass: 1 })
  assert.equal(wire[0], 2)
  const expected = hmacSha256(t.key, utf8('asmtp/envelope-mac/v2'), t.topic, new Uint8Array([0, 0, 0x03, 0xe8, 1]), wire.subarray(0, wire.length - 32))
  assert.deepEqual(wire.subarray(wire.length - 32), expected)
  assert.equal(verifyEnvelopeMac(wire, t, { hour: 1000, ttlClass: 1 }), true)
  for (const h of [{ hour: 1001, ttlClass: 1 as const }, { hour: 999, ttlClass: 1 as const }, { hour: 1000, ttlClass: 0 as const }, { hour: 1000, ttlClass: 3 as const }]) {
    assert.equal(verifyEnvelopeMac(wire, t, h), false, JSON.stringify(h))
    assert.throws(() => openEnvelope(wire, { recipient: b, topic: t, ...h }), isCode('ENVELOPE_BAD_MAC'))
  }
  assert.equal(verifyEnvelopeMac(wire, t, { hour: -1, ttlClass: 1 }), false, 'a bad header is false, not a throw')
})

test('envelope hash is the sha256 of the wire bytes, as gossipsub\'s StrictNoSign message id', () => {
  const v = vectors.valid[0]
  const wire = fromHex(v.wire)
  assert.deepEqual(envelopeHash(wire), multiformatsSha256.encode(wire))
})

test('buckets: bucketFor and maxBodyBytes at every boundary; round trip in every bucket with the largest body and one byte more', () => {
  assert.deepEqual([...ENVELOPE_BUCKETS], [1024, 4096, 16384, 65536])
  assert.equal(MAX_ENVELOPE_BYTES, 65536)
  assert.equal(ENVELOPE_OVERHEAD_BYTES, 129)
  assert.equal(bucketFor(0), 1024)
  for (let i = 0; i < ENVELOPE_BUCKETS.length; i++) {
    const bucket = ENVELOPE_BUCKETS[i]
    assert.equal(bucketFor(bucket - 129), bucket)
    if (i + 1 < ENVELOPE_BUCKETS.length) assert.equal(bucketFor(bucket - 128), ENVELOPE_BUCKETS[i + 1])
  }
  assert.throws(() => bucketFor(65536 - 128), isCode('ENVELOPE_BODY_TOO_LARGE'))
  const contentType = 'text/markdown; charset=utf-8'
  const ctBytes = utf8(contentType).length
  assert.equal(maxBodyBytes(contentType), 65536 - 129 - 30 - ctBytes)
  assert.equal(maxBodyBytes('x'), 65536 - 129 - 30 - 1)
  assert.throws(() => maxBodyBytes(''), RangeError)

  const a = generateX25519()
  const b = generateX25519()
  const t = { topic: randomBytes(32), key: randomBytes(32) }
  for (let i = 0; i < ENVELOPE_BUCKETS.length; i++) {
    const bucket = ENVELOPE_BUCKETS[i]
    const largest = bucket - 129 - 30 - ctBytes
    for (const size of [largest, largest + 1]) {
      const body = randomBytes(size)
      const seal = (): Uint8Array => sealEnvelope({ sender: a, recipientPublic: b.publicKey, topic: t, contentType, body, ...H })
      if (size === largest + 1 && i + 1 === ENVELOPE_BUCKETS.length) {
        assert.equal(size, maxBodyBytes(contentType) + 1)
        assert.throws(seal, isCode('ENVELOPE_BODY_TOO_LARGE'))
        continue
      }
      const wire = seal()
      assert.equal(wire.length, size === largest ? bucket : ENVELOPE_BUCKETS[i + 1], `body ${size}`)
      const opened = openEnvelope(wire, { recipient: b, topic: t, expectedSender: a.publicKey, ...H })
      assert.deepEqual(opened.message.body, new Uint8Array(body))
      assert.equal(opened.message.contentType, contentType)
    }
  }
})

test('envelope between two users on their derived topic; random ids, current time, fresh ephemerals', () => {
  const alice = generateX25519()
  const bob = generateX25519()
  const fromAlice = deriveTopic(alice.secretKey, bob.publicKey)
  const atBob = deriveTopic(bob.secretKey, alice.publicKey)
  const before = Date.now()
  const one = sealEnvelope({ sender: alice, recipientPublic: bob.publicKey, topic: fromAlice, contentType: 'text/plain', body: utf8('hi'), ...H })
  const two = sealEnvelope({ sender: alice, recipientPublic: bob.publicKey, topic: fromAlice, contentType: 'text/plain', body: utf8('hi'), ...H })
  assert.notDeepEqual(one, two)
  const m1 = openEnvelope(one, { recipient: bob, topic: atBob, expectedSender: alice.publicKey, ...H }).message
  const m2 = openEnvelope(two, { recipient: bob, topic: atBob, expectedSender: alice.publicKey, ...H }).message
  assert.equal(m1.id.length, 16)
  assert.notDeepEqual(m1.id, m2.id)
  assert.ok(m1.time >= before && m1.time <= Date.now())
  assert.equal(new TextDecoder().decode(m1.body), 'hi')
  assert.deepEqual(m1.body, m2.body)
  const carol = generateX25519()
  const carolTopic = deriveTopic(carol.secretKey, bob.publicKey)
  assert.throws(() => openEnvelope(one, { recipient: bob, topic: carolTopic, ...H }), isCode('ENVELOPE_BAD_MAC'))
})

test('sealEnvelope: programmer errors stay RangeError/KEY_INVALID', () => {
  const a = generateX25519()
  const base = { sender: a, recipientPublic: generateX25519().publicKey, topic: { topic: randomBytes(32), key: randomBytes(32) }, contentType: 'text/plain', body: new Uint8Array(1), ...H }
  assert.throws(() => sealEnvelope({ ...base, contentType: '' }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, contentType: 'x'.repeat(256) }), RangeError)
  assert.doesNotThrow(() => sealEnvelope({ ...base, contentType: 'x'.repeat(255) }))
  assert.throws(() => sealEnvelope({ ...base, id: new Uint8Array(15) }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, time: -1 }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, time: 1.5 }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, topic: { topic: new Uint8Array(31), key: randomBytes(32) } }), isCode('KEY_INVALID'))
  assert.throws(() => sealEnvelope({ ...base, recipientPublic: new Uint8Array(31) }), isCode('KEY_INVALID'))
  assert.throws(() => sealEnvelope({ ...base, hour: -1 }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, hour: 2 ** 32 }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, hour: 1.5 }), RangeError)
  assert.throws(() => sealEnvelope({ ...base, ttlClass: 4 as TtlClass }), RangeError)
  assert.doesNotThrow(() => sealEnvelope({ ...base, hour: 2 ** 32 - 1, ttlClass: 3 }))
})

test('envelope (fast-check): random, truncated and bit-flipped input gives only AsmtpError; verifyEnvelopeMac only false', () => {
  const v = vectors.valid[0]
  const good = fromHex(v.wire)
  const init = { recipient, topic, expectedSender: sender.publicKey, hour: v.hour, ttlClass: v.ttlClass }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (wire) => {
    assert.throws(() => openEnvelope(wire, init), isAsmtp)
    try { assertEnvelopeShape(wire) } catch (e) { assert.ok(isAsmtp(e), String(e)) }
    assert.equal(verifyEnvelopeMac(wire, topic, v), false)
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.uint8Array({ minLength: 1023, maxLength: 1023 }), fc.constantFrom(...ENVELOPE_BUCKETS), (head, size) => {
    const wire = new Uint8Array(size)
    wire.set(head)
    wire[0] = 2
    assert.doesNotThrow(() => assertEnvelopeShape(wire))
    assert.throws(() => openEnvelope(wire, init), isCode('ENVELOPE_BAD_MAC'))
  }), { numRuns: 100 })
  fc.assert(fc.property(fc.nat({ max: good.length - 1 }), (n) => {
    const cut = good.subarray(0, n)
    assert.throws(() => openEnvelope(cut, init), isCode('ENVELOPE_TOO_SHORT'))
    assert.throws(() => assertEnvelopeShape(cut), isCode('ENVELOPE_TOO_SHORT'))
    assert.equal(verifyEnvelopeMac(cut, topic, v), false)
  }), { numRuns: 200 })
  fc.assert(fc.property(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 7 }), fc.boolean(), (at, bit, insider) => {
    const macAt = good.length - 32
    if (insider && at >= macAt) return
    const wire = new Uint8Array(good)
    wire[at] = wire[at] ^ (1 << bit)
    // an insider who knows the topic key recomputes the MAC: then decryption must catch the flip
    if (insider) wire.set(envelopeMac(topic, v, wire.subarray(0, macAt)), macAt)
    assert.equal(verifyEnvelopeMac(wire, topic, v), insider)
    assert.throws(() => openEnvelope(wire, init), isCode(!insider ? (at === 0 ? 'ENVELOPE_BAD_VERSION' : 'ENVELOPE_BAD_MAC') : (at === 0 ? 'ENVELOPE_BAD_VERSION' : 'ENVELOPE_DECRYPT_FAILED')))
  }), { numRuns: 300 })
  assert.equal(verifyEnvelopeMac(good, { topic: new Uint8Array(3), key: new Uint8Array(0) }, v), false)
})

test('a plaintext sealed without the envelope layout does not open as an envelope', () => {
  const t = { topic: randomBytes(32), key: randomBytes(32) }
  const a = generateX25519()
  const b = generateX25519()
  const sealed = sealNoiseX({ senderStatic: a, recipientStaticPublic: b.publicKey, prologue: new Uint8Array([...utf8('asmtp/envelope/1'), ...t.topic]), payload: new Uint8Array(1024 - 129) })
  const wire = new Uint8Array(1024)
  wire[0] = 2
  wire.set(sealed, 1)
  wire.set(hmacSha256(t.key, utf8('asmtp/envelope-mac/v2'), t.topic, new Uint8Array([0, 0, 0xcd, 0x80, 0]), wire.subarray(0, 992)), 992)
  assert.throws(() => openEnvelope(wire, { recipient: b, topic: t, ...H }), isCode('ENVELOPE_BAD_VERSION'), 'all-zero plaintext has version 0')
})
