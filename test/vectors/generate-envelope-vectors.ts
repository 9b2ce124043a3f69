/**
 * Generates test/vectors/envelope.json with code independent of src/envelope: the Noise X message
 * comes from noise-handshake (libsodium; its IK initiator renamed to X, whose only message has
 * IK's first-message tokens), the MAC and hash from @noble/hashes, and the plaintext is laid out
 * here from docs/PROTOCOL.md section 3. Run after a build:
 *   node dist/test/vectors/generate-envelope-vectors.js --write
 * (without --write it does nothing, since the test runner also loads every file under test/).
 */
import { writeFileSync } from 'node:fs'
import NoiseHandshake from 'noise-handshake'
import { x25519 } from '@noble/curves/ed25519.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const label = (s: string): Uint8Array => sha256(utf8(`asmtp envelope vectors: ${s}`))

const BUCKETS = [1024, 4096, 16384, 65536]
const OVERHEAD = 1 + 32 + 48 + 16 + 32
const HEADER = 1 + 16 + 8 + 1 + 4

interface Keys { secret: Uint8Array, public: Uint8Array }
const key = (name: string): Keys => {
  const secret = label(name)
  return { secret, public: x25519.getPublicKey(secret) }
}
const sender = key('sender')
const recipient = key('recipient')
const stranger = key('stranger')
const topic = { id: label('topic id'), key: label('topic key') }
const otherTopic = { id: label('other topic id'), key: label('other topic key') }

interface Plain { version?: number, id: Uint8Array, time: bigint, contentType: Uint8Array, body: Uint8Array, bodyLength?: number, bucket?: number, lastPaddingByte?: number }

function plaintext (p: Plain): { bytes: Uint8Array, bucket: number } {
  const unpadded = HEADER + p.contentType.length + p.body.length
  const bucket = p.bucket ?? BUCKETS.find(b => unpadded <= b - OVERHEAD)
  if (bucket === undefined) throw new Error('body too large')
  const out = new Uint8Array(bucket - OVERHEAD)
  const view = new DataView(out.buffer)
  out[0] = p.version ?? 1
  out.set(p.id, 1)
  view.setBigUint64(17, p.time)
  out[25] = p.contentType.length
  out.set(p.contentType, 26)
  view.setUint32(26 + p.contentType.length, p.bodyLength ?? p.body.length)
  out.set(p.body, 30 + p.contentType.length)
  if (p.lastPaddingByte !== undefined) out[out.length - 1] = p.lastPaddingByte
  return { bytes: out, bucket }
}

function noiseX (ephemeral: Keys, prologue: Uint8Array, payload: Uint8Array): Uint8Array {
  const hs = new NoiseHandshake('IK', true, { publicKey: Buffer.from(sender.public), secretKey: Buffer.from(sender.secret) })
  hs.protocol = Buffer.from('Noise_X_25519_ChaChaPoly_BLAKE2b')
  hs.initialise(Buffer.from(prologue), Buffer.from(recipient.public))
  hs.e = { publicKey: Buffer.from(ephemeral.public), secretKey: Buffer.from(ephemeral.secret) }
  return new Uint8Array(hs.send(Buffer.from(payload)))
}

const prologueFor = (t: { id: Uint8Array }): Uint8Array => new Uint8Array([...utf8('asmtp/envelope/1'), ...t.id])

const HOUR = 52608 // 2026-01-01T00:00Z, in hours since 2020-01-01T00:00Z
const TTL_CLASS = 2
interface Header { hour: number, ttlClass: number }
const HEADER_FIELDS: Header = { hour: HOUR, ttlClass: TTL_CLASS }

function headerBytes (h: Header): Uint8Array {
  return new Uint8Array([h.hour >>> 24, (h.hour >>> 16) & 0xff, (h.hour >>> 8) & 0xff, h.hour & 0xff, h.ttlClass])
}

function withMac (versionAndSealed: Uint8Array, t: { id: Uint8Array, key: Uint8Array }, h: Header = HEADER_FIELDS, macLabel = 'asmtp/envelope-mac/v2'): Uint8Array {
  const input = macLabel === 'asmtp/envelope-mac/v1' ? [...t.id] : [...t.id, ...headerBytes(h)]
  const mac = hmac(sha256, t.key, new Uint8Array([...utf8(macLabel), ...input, ...versionAndSealed]))
  const out = new Uint8Array(versionAndSealed.length + 32)
  out.set(versionAndSealed)
  out.set(mac, versionAndSealed.length)
  return out
}

function seal (p: Plain, ephemeral: Keys, t = topic, prologueTopic = topic, version = 2, h: Header = HEADER_FIELDS, macLabel?: string): Uint8Array {
  const sealed = noiseX(ephemeral, prologueFor(prologueTopic), plaintext(p).bytes)
  return withMac(new Uint8Array([version, ...sealed]), t, h, macLabel)
}

function pattern (seed: string, length: number): Uint8Array {
  const unit = utf8(seed)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = unit[i % unit.length] ?? 0
  return out
}

const REPEAT = 'asmtp: mail without a central server. '
const TIME = 1767225600000n // 2026-01-01T00:00:00Z
const cases: Array<{ note: string, contentType: string, body?: string, bodyLength?: number, burn?: boolean }> = [
  { note: 'short text in the 1 KiB bucket', contentType: 'text/plain; charset=utf-8', body: 'Hello Bob,\nthe envelope works.\n' },
  { note: 'empty body', contentType: 'application/octet-stream', body: '' },
  { note: 'largest body in the 1 KiB bucket (1024 - 129 - 30 - 10)', contentType: 'text/plain', bodyLength: 1024 - OVERHEAD - HEADER - 10 },
  { note: 'one byte more moves to the 4 KiB bucket', contentType: 'text/plain', bodyLength: 1024 - OVERHEAD - HEADER - 10 + 1 },
  { note: '16 KiB bucket', contentType: 'application/asmtp-passport', bodyLength: 10000 },
  { note: 'largest body of all (65536 - 129 - 30 - 24)', contentType: 'application/octet-stream', bodyLength: 65536 - OVERHEAD - HEADER - 24 },
  { note: 'burn after reading: plaintext version 0x02, flags 0x01 in the top byte of the time field', contentType: 'text/plain; charset=utf-8', body: 'read me once', burn: true }
]

function generate (): unknown {
  const valid = cases.map((c, i) => {
    const body = c.body !== undefined ? utf8(c.body) : pattern(REPEAT, c.bodyLength ?? 0)
    const ephemeral = key(`ephemeral ${i}`)
    const id = label(`message id ${i}`).slice(0, 16)
    const time = TIME + BigInt(i)
    const p: Plain = c.burn === true
      ? { id, time: (0x01n << 56n) | time, contentType: utf8(c.contentType), body, version: 2 }
      : { id, time, contentType: utf8(c.contentType), body }
    const wire = seal(p, ephemeral, topic, topic, 2, { hour: HOUR + i, ttlClass: i % 4 })
    return {
      note: c.note,
      bucket: wire.length,
      ephemeralSecret: hex(ephemeral.secret),
      id: hex(id),
      time: Number(time),
      contentType: c.contentType,
      hour: HOUR + i,
      ttlClass: i % 4,
      ...(c.body !== undefined ? { body: hex(body) } : { bodyRepeat: REPEAT, bodyLength: body.length }),
      ...(c.burn === true ? { burn: true } : {}),
      wire: hex(wire),
      hash: hex(sha256(wire))
    }
  })

  const ephemeral = key('ephemeral invalid')
  const base: Plain = { id: label('message id invalid').slice(0, 16), time: TIME, contentType: utf8('text/plain'), body: utf8('tamper with me') }
  const good = seal(base, ephemeral)
  const flip = (w: Uint8Array, i: number): Uint8Array => { const o = new Uint8Array(w); o[i] = (o[i] ?? 0) ^ 0x01; return o }
  const remac = (w: Uint8Array, t = topic): Uint8Array => withMac(w.subarray(0, w.length - 32), t)
  const open = { recipientSecret: hex(recipient.secret), topicId: hex(topic.id), topicKey: hex(topic.key), ...HEADER_FIELDS }
  const big = seal({ ...base, body: new Uint8Array(2000) }, ephemeral)
  const invalid = [
    { note: 'wire version 0x01, the version before MAC v2 (MAC recomputed)', stage: 'shape', code: 'ENVELOPE_BAD_VERSION', ...open, wire: hex(seal(base, ephemeral, topic, topic, 1)) },
    { note: 'wire version 0x03 (MAC recomputed)', stage: 'shape', code: 'ENVELOPE_BAD_VERSION', ...open, wire: hex(seal(base, ephemeral, topic, topic, 3)) },
    { note: 'MAC v1: label asmtp/envelope-mac/v1 without hour and ttl_class', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, wire: hex(seal(base, ephemeral, topic, topic, 2, HEADER_FIELDS, 'asmtp/envelope-mac/v1')) },
    { note: 'MAC v2 label but over the v1 input (no hour, no ttl_class)', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, wire: hex(new Uint8Array([...good.subarray(0, good.length - 32), ...hmac(sha256, topic.key, new Uint8Array([...utf8('asmtp/envelope-mac/v2'), ...topic.id, ...good.subarray(0, good.length - 32)]))])) },
    { note: 'hour changed: opened with hour + 1 (a relay re-labels the frame)', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, hour: HOUR + 1, wire: hex(good) },
    { note: 'hour changed: opened with hour - 1', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, hour: HOUR - 1, wire: hex(good) },
    { note: 'ttl_class changed: a 24 h envelope opened as ttl_class 0 (the full frame lifetime)', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, ttlClass: 0, wire: hex(good) },
    { note: 'ttl_class changed: opened as ttl_class 3 (7 days)', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, ttlClass: 3, wire: hex(good) },
    { note: 'wire version 0x00 (MAC not recomputed)', stage: 'shape', code: 'ENVELOPE_BAD_VERSION', ...open, wire: hex(new Uint8Array([0, ...good.subarray(1)])) },
    { note: 'truncated by one byte (1023 bytes)', stage: 'shape', code: 'ENVELOPE_TOO_SHORT', ...open, wire: hex(good.subarray(0, 1023)) },
    { note: 'only the version byte', stage: 'shape', code: 'ENVELOPE_TOO_SHORT', ...open, wire: '02' },
    { note: 'empty', stage: 'shape', code: 'ENVELOPE_TOO_SHORT', ...open, wire: '' },
    { note: 'one extra byte (1025 bytes, not a bucket)', stage: 'shape', code: 'ENVELOPE_BAD_SIZE', ...open, wire: hex(new Uint8Array([...good, 0])) },
    { note: '2048 bytes, not a bucket', stage: 'shape', code: 'ENVELOPE_BAD_SIZE', ...open, wire: hex(good), appendZeros: 1024 },
    { note: '65537 bytes, larger than the largest bucket', stage: 'shape', code: 'ENVELOPE_TOO_LARGE', ...open, wire: hex(good), appendZeros: 65537 - 1024 },
    { note: 'a 4 KiB envelope where the limit is 1 KiB', stage: 'shape', code: 'ENVELOPE_TOO_LARGE', ...open, maxBytes: 1024, wire: hex(big) },
    { note: 'byte 1 (in e) xor 0x01, MAC not recomputed', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, wire: hex(flip(good, 1)) },
    { note: 'byte 500 (in the encrypted payload) xor 0x01, MAC not recomputed', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, wire: hex(flip(good, 500)) },
    { note: 'last byte (in the MAC) xor 0x01', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, wire: hex(flip(good, 1023)) },
    { note: 'wrong topic key', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, topicKey: hex(otherTopic.key), wire: hex(good) },
    { note: 'wrong topic id with the right key (the id is under the MAC)', stage: 'mac', code: 'ENVELOPE_BAD_MAC', ...open, topicId: hex(otherTopic.id), wire: hex(good) },
    { note: 'byte 1 (in e) xor 0x01, MAC recomputed by an insider', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, wire: hex(remac(flip(good, 1))) },
    { note: 'e replaced by the all-zero (low-order) point, MAC recomputed', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, wire: hex(remac(new Uint8Array([2, ...new Uint8Array(32), ...good.subarray(33)]))) },
    { note: 'byte 50 (in the encrypted s) xor 0x01, MAC recomputed', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, wire: hex(remac(flip(good, 50))) },
    { note: 'byte 500 (in the encrypted payload) xor 0x01, MAC recomputed', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, wire: hex(remac(flip(good, 500))) },
    { note: 'byte 991 (the payload tag) xor 0x01, MAC recomputed', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, wire: hex(remac(flip(good, 991))) },
    { note: 'sealed with the prologue of another topic, MAC of this topic', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, wire: hex(seal(base, ephemeral, topic, otherTopic)) },
    { note: 'wrong recipient (a stranger opens it)', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, recipientSecret: hex(stranger.secret), wire: hex(good) },
    { note: 'the sender tries to reopen its own envelope (X is one-way)', stage: 'open', code: 'ENVELOPE_DECRYPT_FAILED', ...open, recipientSecret: hex(sender.secret), wire: hex(good) },
    { note: 'sealed by the sender, but the contact\'s current key is the stranger\'s', stage: 'open', code: 'ENVELOPE_WRONG_SENDER', ...open, expectedSender: hex(stranger.public), wire: hex(good) },
    { note: 'crafted plaintext: last padding byte 0x01', stage: 'open', code: 'ENVELOPE_BAD_PADDING', ...open, wire: hex(seal({ ...base, lastPaddingByte: 1 }, ephemeral)) },
    { note: 'crafted plaintext: body length 1000 runs past the 895-byte plaintext', stage: 'open', code: 'ENVELOPE_BAD_SIZE', ...open, wire: hex(seal({ ...base, bodyLength: 1000 }, ephemeral)) },
    { note: 'crafted plaintext: body length 0xffffffff', stage: 'open', code: 'ENVELOPE_BAD_SIZE', ...open, wire: hex(seal({ ...base, bodyLength: 0xffffffff }, ephemeral)) },
    { note: 'crafted plaintext: version 0x03', stage: 'open', code: 'ENVELOPE_BAD_VERSION', ...open, wire: hex(seal({ ...base, version: 3 }, ephemeral)) },
    { note: 'crafted plaintext: version 0x02 (flags) with no flag set', stage: 'open', code: 'DECODE_INVALID', ...open, wire: hex(seal({ ...base, version: 2 }, ephemeral)) },
    { note: 'crafted plaintext: version 0x02 with flag bit 1, which no version knows', stage: 'open', code: 'DECODE_INVALID', ...open, wire: hex(seal({ ...base, version: 2, time: (0x03n << 56n) | base.time }, ephemeral)) },
    { note: 'crafted plaintext: empty content type', stage: 'open', code: 'DECODE_INVALID', ...open, wire: hex(seal({ ...base, contentType: new Uint8Array(0) }, ephemeral)) },
    { note: 'crafted plaintext: content type 0xff is not UTF-8', stage: 'open', code: 'DECODE_INVALID', ...open, wire: hex(seal({ ...base, contentType: new Uint8Array([0xff]) }, ephemeral)) },
    { note: 'crafted plaintext: time 2^53 ms is past Number.MAX_SAFE_INTEGER', stage: 'open', code: 'DECODE_INVALID', ...open, wire: hex(seal({ ...base, time: 2n ** 53n }, ephemeral)) }
  ]

  return {
    description: 'Sealed envelopes (docs/PROTOCOL.md section 3), generated by test/vectors/generate-envelope-vectors.ts with noise-handshake (libsodium) and @noble/hashes, independently of src/envelope. ' +
      'MAC v2 covers the frame header: HMAC-SHA256(topic key, "asmtp/envelope-mac/v2" ‖ topic id ‖ hour u32 BE ‖ ttl_class u8 ‖ version ‖ sealed). ' +
      'valid: sealEnvelope with these inputs (hour, ttlClass included) must give `wire` byte for byte, and openEnvelope must return them; a body given as bodyRepeat/bodyLength is the UTF-8 of bodyRepeat repeated and cut to bodyLength bytes. ' +
      'invalid: open with recipientSecret, topicId/topicKey, hour, ttlClass and expectedSender; `wire` is extended by appendZeros zero bytes when given; stage says which check fails (shape: assertEnvelopeShape with maxBytes; mac: verifyEnvelopeMac is false; open: openEnvelope).',
    keys: {
      senderSecret: hex(sender.secret),
      senderPublic: hex(sender.public),
      recipientSecret: hex(recipient.secret),
      recipientPublic: hex(recipient.public),
      topicId: hex(topic.id),
      topicKey: hex(topic.key)
    },
    valid,
    invalid
  }
}

if (process.argv.includes('--write')) {
  writeFileSync(new URL('../../../test/vectors/envelope.json', import.meta.url), JSON.stringify(generate(), null, 2) + '\n')
}
