import '../src/polyfill.js'
import { type NoiseVector, isCode, readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { AsmtpError, type AsmtpErrorCode } from '../src/errors.js'
import { fromHex, toHex } from '../src/bytes.js'
import { Ed25519KeyPair } from '../src/crypto/ed25519.js'
import { x25519KeyPairFromSecret, type X25519KeyPair } from '../src/crypto/x25519.js'
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../src/channel/framing.js'
import { CipherState, FrameCipher, rekeyKey, REKEY_NONCE, transportNonce } from '../src/channel/transport-cipher.js'
import { channelStaticKey, IkInitiator, IkResponder, nodeStaticFromId } from '../src/channel/handshake.js'
import {
  decodeFramePlaintext, decodeId32, decodePublish, decodePublishReply, decodeQuery, decodeQueryReply, decodeRegisterTopic,
  decodeUnwatch, decodeWatch, decodeWatchPush, encodeFramePlaintext, encodePublish, encodePublishReply, encodeQuery,
  encodeQueryReply, encodeRegisterTopic, encodeUnwatch, encodeWatch, encodeWatchPush, MessageType
} from '../src/channel/messages.js'
import { decodeError, encodeError, ErrorCode, errorFromReply, errorReplyFor, MAX_ERROR_MESSAGE_BYTES } from '../src/channel/error-codes.js'
import { fragment, Reassembler } from '../src/channel/reassembly.js'
import { CHANNEL_PROLOGUE, MAX_FRAME_PLAINTEXT_BYTES, MAX_MESSAGE_BYTES, resolveLimits } from '../src/channel/limits.js'

interface SealedFrame { plaintext: string, ciphertext: string, keyAfter: string }
interface ChannelVectors {
  handshake: {
    deviceSeed: string, devicePublic: string, nodeSeed: string, nodePublic: string, deviceEphemeral: string, nodeEphemeral: string
    prologue: string, message1: string, message2: string, refusal: string, handshakeHash: string, clientTx: string, clientRx: string
    clientFrames: SealedFrame[], nodeFrames: SealedFrame[]
  }
  valid: Array<{ kind: string, fields: Record<string, unknown>, hex: string }>
  invalid: Array<{ note: string, kind: string, hex: string, code: AsmtpErrorCode }>
}

const ik = readVectors<{ valid: NoiseVector[] }>('noise-ik.json')
const channel = readVectors<ChannelVectors>('client-channel.json')

const onlyAsmtpErrors = (fn: () => unknown): void => {
  try {
    fn()
  } catch (err) {
    if (!(err instanceof AsmtpError)) throw err
  }
}
const keyPairOf = (secretHex: string): X25519KeyPair => x25519KeyPairFromSecret(fromHex(secretHex))

// ---- Noise IK against published vectors ---------------------------------------------------------

test('IK handshake reproduces the cacophony and snow Noise_IK_25519_ChaChaPoly_BLAKE2b vectors byte for byte', () => {
  assert.ok(ik.valid.some(v => v.source === 'cacophony'))
  for (const v of ik.valid) {
    assert.equal(v.protocol_name, 'Noise_IK_25519_ChaChaPoly_BLAKE2b')
    const initiator = new IkInitiator(keyPairOf(v.init_static), fromHex(v.init_remote_static), { prologue: fromHex(v.init_prologue), ephemeral: keyPairOf(v.init_ephemeral) })
    const responder = new IkResponder(keyPairOf(v.resp_static), { prologue: fromHex(v.resp_prologue), ephemeral: keyPairOf(v.resp_ephemeral!) })
    const [m1, m2, ...transport] = v.messages
    assert.ok(m1 !== undefined && m2 !== undefined && transport.length >= 2)
    assert.equal(toHex(initiator.writeMessage1(fromHex(m1.payload))), m1.ciphertext, `${v.source}: message 1`)
    assert.equal(toHex(responder.readMessage1(fromHex(m1.ciphertext))), m1.payload)
    assert.equal(toHex(responder.remoteStatic), toHex(keyPairOf(v.init_static).publicKey))
    assert.equal(toHex(responder.writeMessage2(fromHex(m2.payload))), m2.ciphertext, `${v.source}: message 2`)
    assert.equal(toHex(initiator.readMessage2(fromHex(m2.ciphertext))), m2.payload)
    const ik1 = initiator.keys()
    const ik2 = responder.keys()
    if (v.handshake_hash !== undefined) assert.equal(toHex(ik1.hash), v.handshake_hash)
    assert.deepEqual(ik1.tx, ik2.rx)
    assert.deepEqual(ik1.rx, ik2.tx)
    // the vectors' transport messages use the split keys without rekey: our CipherState reproduces them
    const sendI = new CipherState(ik1.tx)
    const sendR = new CipherState(ik2.tx)
    transport.forEach((m, i) => {
      const sender = i % 2 === 0 ? sendI : sendR
      assert.equal(toHex(sender.encrypt(fromHex(m.payload))), m.ciphertext, `${v.source}: transport message ${i + 3}`)
    })
  }
})

test('channel handshake with Ed25519 keys matches the independently generated vector (noise-handshake + noble)', () => {
  const h = channel.handshake
  const device = Ed25519KeyPair.fromSecretKey(fromHex(h.deviceSeed))
  const node = Ed25519KeyPair.fromSecretKey(fromHex(h.nodeSeed))
  assert.equal(toHex(device.publicKey), h.devicePublic)
  assert.equal(toHex(CHANNEL_PROLOGUE), h.prologue)
  const initiator = new IkInitiator(channelStaticKey(device), nodeStaticFromId(fromHex(h.nodePublic)), { ephemeral: keyPairOf(h.deviceEphemeral) })
  assert.equal(toHex(initiator.writeMessage1(Uint8Array.of(1))), h.message1)
  const responder = new IkResponder(channelStaticKey(node), { ephemeral: keyPairOf(h.nodeEphemeral) })
  assert.deepEqual(responder.readMessage1(fromHex(h.message1)), Uint8Array.of(1))
  assert.equal(toHex(responder.writeMessage2(Uint8Array.of(1))), h.message2)
  assert.deepEqual(initiator.readMessage2(fromHex(h.message2)), Uint8Array.of(1))
  const keys = initiator.keys()
  assert.equal(toHex(keys.hash), h.handshakeHash)
  assert.equal(toHex(keys.tx), h.clientTx)
  assert.equal(toHex(keys.rx), h.clientRx)

  const refusing = new IkResponder(channelStaticKey(node), { ephemeral: keyPairOf(h.nodeEphemeral) })
  refusing.readMessage1(fromHex(h.message1))
  assert.equal(toHex(refusing.writeMessage2(Uint8Array.of(0))), h.refusal)

  for (const [key, frames] of [[keys.tx, h.clientFrames], [keys.rx, h.nodeFrames]] as const) {
    const sender = new FrameCipher(key)
    const receiver = new FrameCipher(key)
    let k: Uint8Array = key
    for (const f of frames) {
      assert.equal(toHex(sender.seal(fromHex(f.plaintext))), f.ciphertext)
      assert.equal(toHex(receiver.open(fromHex(f.ciphertext))), f.plaintext)
      k = rekeyKey(k)
      assert.equal(toHex(k), f.keyAfter)
    }
    assert.equal(sender.state.rekeys, frames.length)
    assert.equal(sender.state.nonce, BigInt(frames.length))
  }
})

test('IK handshake failures are HANDSHAKE_FAILED: wrong pinned node key, tampered and truncated messages', () => {
  const device = channelStaticKey(Ed25519KeyPair.generate())
  const node = Ed25519KeyPair.generate()
  const other = Ed25519KeyPair.generate()
  const wrong = new IkInitiator(device, nodeStaticFromId(other.publicKey)).writeMessage1(Uint8Array.of(1))
  assert.throws(() => new IkResponder(channelStaticKey(node)).readMessage1(wrong), isCode('HANDSHAKE_FAILED'))
  const good = new IkInitiator(device, nodeStaticFromId(node.publicKey)).writeMessage1(Uint8Array.of(1))
  assert.equal(good.length, 97)
  assert.throws(() => new IkResponder(channelStaticKey(node)).readMessage1(good.subarray(0, 50)), isCode('HANDSHAKE_FAILED'))
  const tampered = new Uint8Array(good)
  tampered[90] = (tampered[90] ?? 0) ^ 1
  assert.throws(() => new IkResponder(channelStaticKey(node)).readMessage1(tampered), isCode('HANDSHAKE_FAILED'))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    assert.throws(() => new IkResponder(channelStaticKey(node)).readMessage1(bytes), isCode('HANDSHAKE_FAILED'))
  }), { numRuns: 200 })
})

// ---- transport cipher and rekey ----------------------------------------------------------------

test('REKEY (Noise spec 11.3) agrees with an independent computation on @noble/ciphers', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
    const nonce = new Uint8Array(12)
    nonce.fill(0xff, 4)
    const expected = chacha20poly1305(key, nonce).encrypt(new Uint8Array(32)).slice(0, 32)
    assert.deepEqual(rekeyKey(key), expected)
  }), { numRuns: 100 })
  assert.deepEqual(transportNonce(REKEY_NONCE), fromHex('00000000ffffffffffffffff'))
  assert.deepEqual(transportNonce(0x0102n), fromHex('000000000201000000000000'))
})

test('FrameCipher: nonce counts across rekeys, each frame under a new key (noble reference); the un-rekeyed key fails', () => {
  const key = new Uint8Array(randomBytes(32))
  const sender = new FrameCipher(key)
  let reference = key
  for (let n = 0n; n < 5n; n++) {
    const plaintext = new Uint8Array(randomBytes(Number(n) * 7))
    const ciphertext = sender.seal(plaintext)
    const nonce = new Uint8Array(12)
    new DataView(nonce.buffer).setBigUint64(4, n, true)
    assert.deepEqual(ciphertext, chacha20poly1305(reference, nonce).encrypt(plaintext))
    if (n > 0n) assert.equal(new CipherState(key).decrypt(ciphertext), null)
    reference = chacha20poly1305(reference, fromHex('00000000ffffffffffffffff')).encrypt(new Uint8Array(32)).slice(0, 32)
  }
  assert.equal(sender.state.rekeys, 5)
})

test('FrameCipher.open: a frame that fails to decrypt is FRAME_INVALID and does not advance the state', () => {
  const key = new Uint8Array(randomBytes(32))
  const a = new FrameCipher(key)
  const b = new FrameCipher(key)
  const c1 = a.seal(Uint8Array.of(1, 2, 3))
  const bad = new Uint8Array(c1)
  bad[0] = (bad[0] ?? 0) ^ 0x80
  assert.throws(() => b.open(bad), isCode('FRAME_INVALID'))
  assert.throws(() => b.open(new Uint8Array(5)), isCode('FRAME_INVALID'))
  assert.equal(b.state.nonce, 0n)
  assert.deepEqual(b.open(c1), Uint8Array.of(1, 2, 3))
  assert.throws(() => b.open(c1), isCode('FRAME_INVALID'), 'replayed frame')
})

// ---- framing ----------------------------------------------------------------------------------

test('length-prefixed framing: any chunking of the stream gives back the messages', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }), (messages, cuts) => {
    const stream = Buffer.concat(messages.map(encodeLengthPrefixed))
    const d = new LengthPrefixedDecoder({ min: 1, max: 300 })
    const out: Uint8Array[] = []
    let offset = 0
    let i = 0
    while (offset < stream.length) {
      const n = cuts[i++ % cuts.length] ?? 1
      d.push(stream.subarray(offset, offset + n))
      offset += n
      for (let m = d.next(); m !== null; m = d.next()) out.push(new Uint8Array(m))
    }
    assert.deepEqual(out, messages.map(m => new Uint8Array(m)))
    d.end()
  }))
})

test('length-prefixed framing: lengths outside the bounds are refused at the prefix; truncation at the end is DECODE_TRUNCATED', () => {
  const d = new LengthPrefixedDecoder({ min: 21, max: 1000 })
  d.push(Uint8Array.of(0xff, 0xff))
  assert.throws(() => d.next(), isCode('FRAME_TOO_LARGE'))
  const small = new LengthPrefixedDecoder({ min: 21, max: 1000 })
  small.push(Uint8Array.of(0, 3, 1, 2, 3))
  assert.throws(() => small.next(), isCode('FRAME_INVALID'))
  const cut = new LengthPrefixedDecoder({ min: 1, max: 1000 })
  cut.push(Uint8Array.of(0, 100, 1, 2))
  assert.equal(cut.next(), null)
  assert.throws(() => cut.end(), isCode('DECODE_TRUNCATED'))
  assert.throws(() => encodeLengthPrefixed(new Uint8Array(65536)), isCode('FRAME_TOO_LARGE'))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (bytes, a, b) => {
    const dec = new LengthPrefixedDecoder({ min: Math.min(a, b), max: Math.max(a, b) })
    dec.push(bytes)
    onlyAsmtpErrors(() => { while (dec.next() !== null) { /* drain */ } dec.end() })
  }))
})

// ---- message bodies ---------------------------------------------------------------------------

const big = (s: unknown): bigint => BigInt(s as string)
const hx = (s: unknown): Uint8Array => fromHex(s as string)

const codecs: Record<string, { decode: (b: Uint8Array) => unknown, encode?: (fields: Record<string, unknown>) => Uint8Array, expect?: (fields: Record<string, unknown>) => unknown }> = {
  frame: {
    decode: decodeFramePlaintext,
    encode: f => encodeFramePlaintext(f.type as number, f.id as number, hx(f.body)),
    expect: f => ({ type: f.type, id: f.id, body: hx(f.body) })
  },
  registerTopic: { decode: decodeRegisterTopic, encode: f => encodeRegisterTopic({ topic: hx(f.topic), key: hx(f.key) }), expect: f => ({ topic: hx(f.topic), key: hx(f.key) }) },
  id32: { decode: b => decodeId32(b, 'id') },
  publish: { decode: decodePublish, encode: f => encodePublish({ topic: hx(f.topic), envelope: hx(f.envelope) }), expect: f => ({ topic: hx(f.topic), envelope: hx(f.envelope) }) },
  publishReply: { decode: decodePublishReply, encode: f => encodePublishReply({ stored: f.stored as boolean, seq: big(f.seq) }), expect: f => ({ stored: f.stored, seq: big(f.seq) }) },
  query: { decode: decodeQuery, encode: f => encodeQuery({ topic: hx(f.topic), cursor: big(f.cursor), limit: f.limit as number }), expect: f => ({ topic: hx(f.topic), cursor: big(f.cursor), limit: f.limit }) },
  queryReply: {
    decode: decodeQueryReply,
    encode: f => encodeQueryReply({ cursor: big(f.cursor), more: f.more as boolean, envelopes: (f.envelopes as Array<{ seq: string, data: string }>).map(e => ({ seq: big(e.seq), data: hx(e.data) })) }),
    expect: f => ({ cursor: big(f.cursor), more: f.more, envelopes: (f.envelopes as Array<{ seq: string, data: string }>).map(e => ({ seq: big(e.seq), data: hx(e.data) })) })
  },
  watch: { decode: b => decodeWatch(b, 100), encode: f => encodeWatch((f.topics as string[]).map(hx)), expect: f => (f.topics as string[]).map(hx) },
  watchPush: { decode: decodeWatchPush, encode: f => encodeWatchPush({ topic: hx(f.topic), seq: big(f.seq), data: hx(f.data) }), expect: f => ({ topic: hx(f.topic), seq: big(f.seq), data: hx(f.data) }) },
  unwatch: { decode: decodeUnwatch, encode: f => encodeUnwatch(f.id as number), expect: f => f.id },
  error: { decode: decodeError, encode: f => encodeError({ code: f.code as number, message: f.message as string }), expect: f => ({ code: f.code, message: f.message }) }
}

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? toHex(x) : x))

test('message bodies: the vectors encode and decode both ways', () => {
  assert.ok(channel.valid.length >= 10)
  for (const v of channel.valid) {
    const c = codecs[v.kind]
    assert.ok(c?.encode !== undefined && c.expect !== undefined, v.kind)
    assert.equal(toHex(c.encode(v.fields)), v.hex, `${v.kind} encode`)
    assert.deepEqual(plain(c.decode(fromHex(v.hex))), plain(c.expect(v.fields)), `${v.kind} decode`)
  }
})

test('message bodies: every invalid vector is refused with its code', () => {
  assert.ok(channel.invalid.length >= 15)
  for (const v of channel.invalid) {
    const c = codecs[v.kind]
    assert.ok(c !== undefined, v.kind)
    assert.throws(() => c.decode(fromHex(v.hex)), isCode(v.code), v.note)
  }
})

test('fast-check: every body decoder fed random, truncated or extended input throws only AsmtpError', () => {
  const samples = channel.valid.map(v => ({ c: codecs[v.kind], bytes: fromHex(v.hex) }))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
    for (const c of Object.values(codecs)) onlyAsmtpErrors(() => c.decode(bytes))
  }), { numRuns: 500 })
  fc.assert(fc.property(fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 40 }), (which, cut, tail) => {
    const s = samples[which % samples.length]
    assert.ok(s?.c !== undefined)
    const { c, bytes } = s
    onlyAsmtpErrors(() => c.decode(bytes.subarray(0, cut % (bytes.length + 1))))
    onlyAsmtpErrors(() => c.decode(new Uint8Array(Buffer.concat([bytes, tail]))))
  }), { numRuns: 500 })
  assert.throws(() => decodeWatch(new Uint8Array(32 * 3), 2), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => encodeRegisterTopic({ topic: new Uint8Array(31), key: new Uint8Array(32) }), RangeError)
})

// ---- fragmentation ----------------------------------------------------------------------------

function reassembleAll (r: Reassembler, plaintexts: Uint8Array[]): Array<{ type: number, id: number, body: Uint8Array }> {
  const out = []
  for (const p of plaintexts) {
    const m = r.push(decodeFramePlaintext(p))
    if (m !== null) out.push(m)
  }
  return out
}

test('fragment + Reassembler: MORE frames rebuild any message, interleaved across request ids', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: 6, max: 700 }), (specs, maxPlain) => {
    const messages = specs.map(([type, size], i) => ({ type, id: i + 1, body: new Uint8Array(randomBytes(size)) }))
    const queues = messages.map(m => fragment(m.type, m.id, m.body, maxPlain))
    for (const q of queues) for (const f of q) assert.ok(f.length <= maxPlain)
    const interleaved: Uint8Array[] = []
    for (let round = 0; queues.some(q => q.length > 0); round++) {
      const q = queues[round % queues.length]
      const f = q?.shift()
      if (f !== undefined) interleaved.push(f)
    }
    const r = new Reassembler({ maxMessageBytes: 4000, maxPartialMessages: 4 })
    const out = reassembleAll(r, interleaved)
    assert.deepEqual(out.sort((a, b) => a.id - b.id), messages)
    assert.equal(r.open, 0)
  }), { numRuns: 100 })
  const frames = fragment(MessageType.PING, 9, new Uint8Array(200 * 1024))
  assert.equal(frames.length, Math.ceil(200 * 1024 / (MAX_FRAME_PLAINTEXT_BYTES - 5)))
  assert.ok(frames.slice(0, -1).every(f => f[0] === MessageType.MORE && f.length === MAX_FRAME_PLAINTEXT_BYTES))
  assert.equal(frames.at(-1)?.[0], MessageType.PING)
})

test('Reassembler: empty MORE parts, too many open messages and oversized messages are violations', () => {
  const r = new Reassembler({ maxMessageBytes: 100, maxPartialMessages: 2 })
  assert.throws(() => r.push({ type: MessageType.MORE, id: 1, body: new Uint8Array(0) }), isCode('PROTOCOL_VIOLATION'))
  r.push({ type: MessageType.MORE, id: 1, body: new Uint8Array(60) })
  assert.throws(() => r.push({ type: MessageType.MORE, id: 1, body: new Uint8Array(41) }), isCode('FRAME_TOO_LARGE'))
  r.push({ type: MessageType.MORE, id: 2, body: new Uint8Array(1) })
  assert.throws(() => r.push({ type: MessageType.MORE, id: 3, body: new Uint8Array(1) }), isCode('PROTOCOL_VIOLATION'))
  assert.throws(() => r.push({ type: MessageType.PING, id: 2, body: new Uint8Array(100) }), isCode('FRAME_TOO_LARGE'))
  assert.throws(() => new Reassembler({ maxMessageBytes: 10, maxPartialMessages: 1 }).push({ type: 1, id: 1, body: new Uint8Array(11) }), isCode('FRAME_TOO_LARGE'))
  fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { maxLength: 60 }), (frames) => {
    const re = new Reassembler({ maxMessageBytes: 200, maxPartialMessages: 3 })
    onlyAsmtpErrors(() => { for (const f of frames) re.push(decodeFramePlaintext(f)) })
  }))
})

// ---- errors and limits ------------------------------------------------------------------------

test('error replies: AsmtpError codes travel in the message and come back exact; others map by table', () => {
  const put = errorReplyFor(new AsmtpError('LEDGER_FORK', 'a second block on block 3'))
  assert.equal(put.code, ErrorCode.PASSPORT_INVALID)
  const back = errorFromReply(decodeError(encodeError(put)))
  assert.equal(back.code, 'LEDGER_FORK')
  assert.match(back.message, /a second block on block 3/)
  assert.equal(errorFromReply({ code: ErrorCode.ENVELOPE_INVALID, message: 'ENVELOPE_BAD_MAC: x' }).code, 'ENVELOPE_BAD_MAC')
  assert.equal(errorFromReply({ code: ErrorCode.ENVELOPE_INVALID, message: 'LEDGER_FORK: not an envelope code' }).code, 'ENVELOPE_BAD_SIZE')
  assert.equal(errorFromReply({ code: ErrorCode.TOO_MANY_REQUESTS, message: 'too many' }).code, 'RATE_LIMITED')
  assert.equal(errorFromReply({ code: ErrorCode.NOT_FOUND, message: 'x' }).code, 'NOT_FOUND')
  assert.equal(errorFromReply({ code: 999, message: 'x' }).code, 'PROTOCOL_VIOLATION')
  assert.deepEqual(errorReplyFor(new TypeError('secret detail')), { code: ErrorCode.INTERNAL, message: 'internal error' })
  assert.equal(errorReplyFor(new AsmtpError('QUEUE_FULL', 'q')).code, ErrorCode.QUEUE_FULL)
  const long = encodeError({ code: 1, message: 'é'.repeat(MAX_ERROR_MESSAGE_BYTES) })
  assert.ok(long.length <= 2 + MAX_ERROR_MESSAGE_BYTES)
  assert.equal(decodeError(long).message, 'é'.repeat(MAX_ERROR_MESSAGE_BYTES / 2))
})

test('limits: defaults, overrides and nonsense values', () => {
  assert.equal(resolveLimits().maxMessageBytes, MAX_MESSAGE_BYTES)
  assert.equal(resolveLimits({ maxInFlight: 4 }).maxInFlight, 4)
  assert.throws(() => resolveLimits({ maxFrameBytes: 70000 }), RangeError)
  assert.throws(() => resolveLimits({ idleTimeoutMs: -1 }), RangeError)
  assert.throws(() => resolveLimits({ maxSendQueueBytes: 10 }), RangeError)
})
