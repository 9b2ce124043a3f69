import '../src/polyfill.js'
import { type NoiseVector, isCode, readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import NoiseHandshake from 'noise-handshake'
import NoiseHandshakeCipher from 'noise-handshake/cipher.js'
import { AsmtpError, type AsmtpErrorCode } from '../src/errors.js'
import { fromHex, toHex } from '../src/bytes.js'
import { generateX25519, x25519KeyPairFromSecret, x25519PublicKey, type X25519KeyPair } from '../src/crypto/x25519.js'
import {
  openNoiseX, sealNoiseX, NOISE_MAX_MESSAGE_BYTES, NOISE_X_MAX_PAYLOAD_BYTES, NOISE_X_OVERHEAD_BYTES, NOISE_X_PROTOCOL_NAME
} from '../src/envelope/index.js'
import { CipherState } from '../src/envelope/symmetric-state.js'
import { STATIC_DH_CACHE_SIZE } from '../src/envelope/dh.js'

interface NoiseXVectors {
  source: Array<{ repository: string, path: string }>
  valid: NoiseVector[]
  invalid: Array<{ note: string, recipient_static: string, prologue: string, message: string, code: AsmtpErrorCode }>
}
const vectors = readVectors<NoiseXVectors>('noise-x.json')

const buf = (b: Uint8Array): Buffer => Buffer.from(b)

/** noise-handshake's IK initiator renamed to X: X's only message has IK's first-message tokens. */
function noiseHandshakeSeal (sender: X25519KeyPair, recipientPublic: Uint8Array, ephemeral: X25519KeyPair, prologue: Uint8Array, payload: Uint8Array): Uint8Array {
  const hs = new NoiseHandshake('IK', true, { publicKey: buf(sender.publicKey), secretKey: buf(sender.secretKey) })
  hs.protocol = Buffer.from(NOISE_X_PROTOCOL_NAME)
  hs.initialise(buf(prologue), buf(recipientPublic))
  hs.e = { publicKey: buf(ephemeral.publicKey), secretKey: buf(ephemeral.secretKey) }
  return new Uint8Array(hs.send(buf(payload)))
}

function noiseHandshakeOpen (recipient: X25519KeyPair, prologue: Uint8Array, message: Uint8Array): { payload: Uint8Array, senderStatic: Uint8Array } {
  const hs = new NoiseHandshake('IK', false, { publicKey: buf(recipient.publicKey), secretKey: buf(recipient.secretKey) })
  hs.protocol = Buffer.from(NOISE_X_PROTOCOL_NAME)
  hs.initialise(buf(prologue))
  const payload = new Uint8Array(hs.recv(buf(message)))
  return { payload, senderStatic: new Uint8Array(hs.rs!) }
}

test('Noise X vectors (cacophony, snow): sealNoiseX gives the published first message byte for byte, openNoiseX opens it', () => {
  assert.ok(vectors.valid.some(v => v.source === 'cacophony'))
  assert.ok(vectors.source.some(s => s.path === 'tests/vectors/cacophony.txt'))
  for (const v of vectors.valid) {
    assert.equal(v.protocol_name, NOISE_X_PROTOCOL_NAME)
    const sender = x25519KeyPairFromSecret(fromHex(v.init_static))
    const recipient = x25519KeyPairFromSecret(fromHex(v.resp_static))
    assert.equal(toHex(recipient.publicKey), v.init_remote_static, `${v.source}: responder public key`)
    const first = v.messages[0]
    const message = sealNoiseX({
      senderStatic: sender,
      recipientStaticPublic: fromHex(v.init_remote_static),
      prologue: fromHex(v.init_prologue),
      payload: fromHex(first.payload),
      ephemeral: x25519KeyPairFromSecret(fromHex(v.init_ephemeral))
    })
    assert.equal(toHex(message), first.ciphertext, `${v.source}: ciphertext`)
    const opened = openNoiseX({ recipientStatic: recipient, prologue: fromHex(v.resp_prologue), message: fromHex(first.ciphertext) })
    assert.equal(toHex(opened.payload), first.payload, `${v.source}: payload`)
    assert.deepEqual(opened.senderStatic, sender.publicKey, `${v.source}: sender static`)
    if (v.handshake_hash !== undefined) assert.equal(toHex(opened.handshakeHash), v.handshake_hash, `${v.source}: handshake hash`)
  }
})

test('Noise X invalid vectors: each fails with the expected AsmtpError code', () => {
  assert.ok(vectors.invalid.length >= 8)
  for (const v of vectors.invalid) {
    assert.throws(() => openNoiseX({
      recipientStatic: x25519KeyPairFromSecret(fromHex(v.recipient_static)),
      prologue: fromHex(v.prologue),
      message: fromHex(v.message)
    }), isCode(v.code), v.note)
  }
})

test('noise-handshake (sodium) agrees: same message for the same keys, and each side opens the other\'s', () => {
  const v = vectors.valid.find(x => x.source === 'cacophony')!
  const first = v.messages[0]
  const fixed = noiseHandshakeSeal(
    x25519KeyPairFromSecret(fromHex(v.init_static)), fromHex(v.init_remote_static),
    x25519KeyPairFromSecret(fromHex(v.init_ephemeral)), fromHex(v.init_prologue), fromHex(first.payload))
  assert.equal(toHex(fixed), first.ciphertext, 'the renamed IK initiator reproduces the cacophony X vector')

  for (let i = 0; i < 40; i++) {
    const sender = generateX25519()
    const recipient = generateX25519()
    const ephemeral = generateX25519()
    const prologue = randomBytes(i % 3 === 0 ? 0 : i)
    const payload = randomBytes(i * 97)
    const ours = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload, ephemeral })
    const theirs = noiseHandshakeSeal(sender, recipient.publicKey, ephemeral, prologue, payload)
    assert.equal(toHex(ours), toHex(theirs))

    const fresh = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload })
    const byThem = noiseHandshakeOpen(recipient, prologue, fresh)
    assert.deepEqual(byThem.payload, new Uint8Array(payload))
    assert.deepEqual(byThem.senderStatic, sender.publicKey)
    const byUs = openNoiseX({ recipientStatic: recipient, prologue, message: theirs })
    assert.deepEqual(byUs.payload, new Uint8Array(payload))
    assert.deepEqual(byUs.senderStatic, sender.publicKey)
  }
})

test('Noise X: a fresh ephemeral per message, empty payload, the largest payload, and the size limits', () => {
  const sender = generateX25519()
  const recipient = generateX25519()
  const prologue = new TextEncoder().encode('p')
  const a = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload: new Uint8Array(0) })
  const b = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload: new Uint8Array(0) })
  assert.equal(a.length, NOISE_X_OVERHEAD_BYTES)
  assert.notDeepEqual(a.subarray(0, 32), b.subarray(0, 32))
  assert.equal(openNoiseX({ recipientStatic: recipient, prologue, message: a }).payload.length, 0)

  const big = randomBytes(NOISE_X_MAX_PAYLOAD_BYTES)
  const m = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload: big })
  assert.equal(m.length, NOISE_MAX_MESSAGE_BYTES)
  assert.deepEqual(openNoiseX({ recipientStatic: recipient, prologue, message: m }).payload, new Uint8Array(big))
  assert.throws(() => sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload: new Uint8Array(NOISE_X_MAX_PAYLOAD_BYTES + 1) }), isCode('ENVELOPE_BODY_TOO_LARGE'))
  const tooLong = new Uint8Array(NOISE_MAX_MESSAGE_BYTES + 1)
  tooLong.set(m)
  assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message: tooLong }), isCode('ENVELOPE_TOO_LARGE'))
  assert.throws(() => sealNoiseX({ senderStatic: sender, recipientStaticPublic: new Uint8Array(32), prologue, payload: new Uint8Array(1) }), isCode('ENVELOPE_DECRYPT_FAILED'), 'low-order recipient key')
  assert.throws(() => sealNoiseX({ senderStatic: sender, recipientStaticPublic: new Uint8Array(31), prologue, payload: new Uint8Array(1) }), isCode('KEY_INVALID'))
})

test('Noise X: tampering with e, the encrypted s or the payload fails; so do a wrong recipient and every truncation', () => {
  const sender = generateX25519()
  const recipient = generateX25519()
  const prologue = randomBytes(20)
  const message = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload: randomBytes(100) })
  const parts = { e: [0, 32], s: [32, 80], payload: [80, message.length] }
  for (const [name, [from, to]] of Object.entries(parts)) {
    for (let i = from; i < to; i += 7) {
      const bad = new Uint8Array(message)
      bad[i] = bad[i] ^ 0x80
      assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message: bad }), isCode('ENVELOPE_DECRYPT_FAILED'), `${name} byte ${i}`)
    }
  }
  assert.throws(() => openNoiseX({ recipientStatic: generateX25519(), prologue, message }), isCode('ENVELOPE_DECRYPT_FAILED'))
  assert.throws(() => openNoiseX({ recipientStatic: sender, prologue, message }), isCode('ENVELOPE_DECRYPT_FAILED'), 'the sender cannot reopen')
  for (let n = 0; n < message.length; n++) {
    assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message: message.subarray(0, n) }),
      isCode(n < NOISE_X_OVERHEAD_BYTES ? 'ENVELOPE_TOO_SHORT' : 'ENVELOPE_DECRYPT_FAILED'), `truncated to ${n}`)
  }
  assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message: new Uint8Array([...message, 0]) }), isCode('ENVELOPE_DECRYPT_FAILED'), 'one extra byte')
})

test('Noise X (fast-check): random bytes and bit-flipped messages give only AsmtpError', () => {
  const sender = generateX25519()
  const recipient = generateX25519()
  const prologue = new Uint8Array(0)
  assert.equal(toHex(x25519PublicKey(recipient.secretKey)), toHex(recipient.publicKey))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (message) => {
    assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message }), (e: unknown) => e instanceof AsmtpError)
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (payload, at, bit) => {
    const message = sealNoiseX({ senderStatic: sender, recipientStaticPublic: recipient.publicKey, prologue, payload })
    const i = at % message.length
    message[i] = message[i] ^ (1 << bit)
    assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message }), isCode('ENVELOPE_DECRYPT_FAILED'))
  }), { numRuns: 300 })
})

test('CipherState (Noise spec 5.1): nonce counter encoding agrees with noise-handshake\'s cipher for n = 0..5 and 2^32 - 1', () => {
  const key = randomBytes(32)
  const ad = randomBytes(64)
  const ours = new CipherState()
  ours.initializeKey(key)
  const theirs = new NoiseHandshakeCipher(Buffer.from(key))
  for (let n = 0; n < 6; n++) {
    const pt = randomBytes(n * 10)
    assert.equal(toHex(ours.encryptWithAd(ad, pt)), toHex(theirs.encrypt(pt, ad)), `n = ${n}`)
  }
  const last = 0xffffffff
  const a = new CipherState()
  a.initializeKey(key)
  const b = new NoiseHandshakeCipher(Buffer.from(key))
  b.setNonce(last)
  a.setNonce(last)
  const pt = randomBytes(33)
  const ct = a.encryptWithAd(ad, pt)
  assert.equal(toHex(ct), toHex(b.encrypt(pt, ad)))
  const c = new CipherState()
  c.initializeKey(key)
  assert.equal(c.decryptWithAd(ad, ct), null, 'another nonce does not open it')
  assert.deepEqual(c.decryptWithAd(ad, ours.encryptWithAd(ad, pt)), null, 'nor does n = 6 at n = 0')
  const d = new CipherState()
  assert.equal(d.hasKey(), false)
  assert.equal(d.encryptWithAd(ad, pt), pt, 'no key: plaintext passes through (spec 5.1)')
})

test('static-static DH cache: more contacts than the cache holds, each still opens with its own sender key', () => {
  const recipient = generateX25519()
  const prologue = new Uint8Array(0)
  const senders = Array.from({ length: STATIC_DH_CACHE_SIZE + 5 }, () => generateX25519())
  const messages = senders.map((s, i) => sealNoiseX({ senderStatic: s, recipientStaticPublic: recipient.publicKey, prologue, payload: new Uint8Array([i & 0xff]) }))
  const check = (i: number): void => {
    const opened = openNoiseX({ recipientStatic: recipient, prologue, message: messages[i] })
    assert.deepEqual(opened.senderStatic, senders[i].publicKey)
    assert.equal(opened.payload[0], i & 0xff)
  }
  for (let i = 0; i < senders.length; i++) check(i)
  check(0)
  check(senders.length - 1)
  // the same sender key to two recipients, and the other way round: no cache cross-talk
  const other = generateX25519()
  const m = sealNoiseX({ senderStatic: senders[0], recipientStaticPublic: other.publicKey, prologue, payload: new Uint8Array(1) })
  assert.throws(() => openNoiseX({ recipientStatic: recipient, prologue, message: m }), isCode('ENVELOPE_DECRYPT_FAILED'))
  assert.deepEqual(openNoiseX({ recipientStatic: other, prologue, message: m }).senderStatic, senders[0].publicKey)
})
