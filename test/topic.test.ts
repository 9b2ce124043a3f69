import '../src/polyfill.js'
import { readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AsmtpError, TopicCache, deriveTopic, deriveTopicAsync, fromHex, generateX25519, toHex, x25519PublicKey } from '../src/index.js'

interface TopicVectors {
  valid: Array<{ note: string, aSecret: string, aPublic: string, bSecret: string, bPublic: string, topic: string, key: string }>
  invalid: Array<{ note: string, mySecret: string, theirPublic: string, code: string }>
}
const vectors = readVectors<TopicVectors>('topic.json')

test('topic vectors: both sides derive the published topic and key (noble-computed)', async () => {
  for (const v of vectors.valid) {
    const a = fromHex(v.aSecret)
    const b = fromHex(v.bSecret)
    assert.equal(toHex(x25519PublicKey(a)), v.aPublic, v.note)
    const fromA = deriveTopic(a, fromHex(v.bPublic))
    const fromB = deriveTopic(b, fromHex(v.aPublic))
    assert.equal(toHex(fromA.topic), v.topic, `${v.note}: topic from A`)
    assert.equal(toHex(fromA.key), v.key, `${v.note}: key from A`)
    assert.equal(toHex(fromB.topic), v.topic, `${v.note}: topic from B`)
    assert.equal(toHex(fromB.key), v.key, `${v.note}: key from B`)
    const async = await deriveTopicAsync(b, fromHex(v.aPublic))
    assert.equal(toHex(async.topic), v.topic)
    assert.equal(toHex(async.key), v.key)
  }
})

test('topic vectors: invalid keys give AsmtpError with the expected code', async () => {
  for (const v of vectors.invalid) {
    const check = (e: unknown): boolean => e instanceof AsmtpError && e.code === v.code
    assert.throws(() => deriveTopic(fromHex(v.mySecret), fromHex(v.theirPublic)), check, v.note)
    await assert.rejects(deriveTopicAsync(fromHex(v.mySecret), fromHex(v.theirPublic)), check, v.note)
  }
})

test('topic: symmetric for random pairs, distinct for a third party and after a rotation', () => {
  fc.assert(fc.property(fc.integer(), () => {
    const a = generateX25519()
    const b = generateX25519()
    const c = generateX25519()
    const ab = deriveTopic(a.secretKey, b.publicKey)
    const ba = deriveTopic(b.secretKey, a.publicKey)
    assert.deepEqual(ab, ba)
    assert.equal(ab.topic.length, 32)
    assert.equal(ab.key.length, 32)
    assert.notDeepEqual(deriveTopic(c.secretKey, b.publicKey).topic, ab.topic)
    assert.notDeepEqual(ab.topic, ab.key)
  }), { numRuns: 20 })
})

test('topic cache: derived once per pair and shared-key version, bounded, newest kept', async () => {
  const me = generateX25519()
  const peers = Array.from({ length: 4 }, () => generateX25519())
  const cache = new TopicCache({ maxEntries: 3 })
  const derivations = (): number => cache.derivations
  const t0 = cache.get(me.secretKey, peers[0].publicKey)
  assert.deepEqual(cache.get(me.secretKey, peers[0].publicKey), t0)
  assert.deepEqual(await cache.getAsync(me.secretKey, peers[0].publicKey), t0)
  assert.equal(derivations(), 1)
  assert.deepEqual(t0, deriveTopic(me.secretKey, peers[0].publicKey))
  // concurrent async lookups of one pair share one derivation
  const [x, y] = await Promise.all([cache.getAsync(me.secretKey, peers[1].publicKey), cache.getAsync(me.secretKey, peers[1].publicKey)])
  assert.deepEqual(x, y)
  assert.equal(derivations(), 2)
  // a rotated shared key on my side is a new pair
  const rotated = generateX25519()
  assert.notDeepEqual(cache.get(rotated.secretKey, peers[0].publicKey).topic, t0.topic)
  assert.equal(derivations(), 3)
  // overflow evicts the least recently used (peer 1), not the newest
  cache.get(me.secretKey, peers[0].publicKey)
  cache.get(me.secretKey, peers[2].publicKey)
  assert.equal(cache.size, 3)
  const before = derivations()
  cache.get(me.secretKey, peers[2].publicKey)
  cache.get(me.secretKey, peers[0].publicKey)
  assert.equal(derivations(), before)
  cache.get(me.secretKey, peers[1].publicKey)
  assert.equal(derivations(), before + 1)
})
