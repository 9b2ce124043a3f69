/**
 * Generates test/vectors/client-channel.json with code independent of src/channel: the
 * handshake from noise-handshake (libsodium) with Ed25519 keys converted by @noble/curves, the
 * transport frames and rekeys from @noble/ciphers ChaCha20-Poly1305, and every body laid out
 * here from docs/PROTOCOL.md section 5. Run after a build:
 *   node dist/test/vectors/generate-client-channel-vectors.js --write
 * (without --write it does nothing, since the test runner also loads every file under test/).
 */
import { writeFileSync } from 'node:fs'
import NoiseHandshake from 'noise-handshake'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { sha256 } from '@noble/hashes/sha2.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const label = (s: string): Uint8Array => sha256(utf8(`asmtp client channel vectors: ${s}`))
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))
const u8 = (n: number): Uint8Array => Uint8Array.of(n)
const u16 = (n: number): Uint8Array => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }
const u32 = (n: number): Uint8Array => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
const u64 = (n: bigint): Uint8Array => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b }

const PROLOGUE = utf8('asmtp/client/1')

function nonce (n: bigint): Uint8Array {
  const out = new Uint8Array(12)
  new DataView(out.buffer).setBigUint64(4, n, true)
  return out
}
const rekey = (k: Uint8Array): Uint8Array => chacha20poly1305(k, nonce((1n << 64n) - 1n)).encrypt(new Uint8Array(32)).slice(0, 32)
const frame = (type: number, id: number, body: Uint8Array): Uint8Array => cat(u8(type), u32(id), body)

// ---- handshake with fixed keys --------------------------------------------------------------
const deviceSeed = label('device seed')
const nodeSeed = label('node seed')
const x = (seed: Uint8Array): { secretKey: Buffer, publicKey: Buffer } => {
  const secretKey = Buffer.from(ed25519.utils.toMontgomerySecret(seed))
  return { secretKey, publicKey: Buffer.from(ed25519.utils.toMontgomery(ed25519.getPublicKey(seed))) }
}
const eph = (name: string): { secretKey: Buffer, publicKey: Buffer } => {
  const secretKey = Buffer.from(label(name))
  return { secretKey, publicKey: Buffer.from(x25519.getPublicKey(secretKey)) }
}

const device = x(deviceSeed)
const node = x(nodeSeed)
const initiator = new NoiseHandshake('IK', true, device)
initiator.initialise(Buffer.from(PROLOGUE), node.publicKey)
initiator.e = eph('device ephemeral')
const responder = new NoiseHandshake('IK', false, node)
responder.initialise(Buffer.from(PROLOGUE))
responder.e = eph('node ephemeral')
// recv zeroes the ephemeral key inside the buffer it is given: hand it copies
const m1 = new Uint8Array(initiator.send(Buffer.from([1])))
responder.recv(Buffer.from(m1))
const m2 = new Uint8Array(responder.send(Buffer.from([1])))
initiator.recv(Buffer.from(m2))
const clientTx = new Uint8Array(initiator.tx!)
const clientRx = new Uint8Array(initiator.rx!)

/** A direction of the channel: every frame sealed, then the key rekeyed; the counter runs on. */
function seal (key: Uint8Array, plaintexts: Uint8Array[]): Array<{ plaintext: string, ciphertext: string, keyAfter: string }> {
  let k = key
  return plaintexts.map((p, i) => {
    const ciphertext = chacha20poly1305(k, nonce(BigInt(i))).encrypt(p)
    k = rekey(k)
    return { plaintext: hex(p), ciphertext: hex(ciphertext), keyAfter: hex(k) }
  })
}

const clientFrames = [frame(0x00, 1, utf8('ping')), frame(0x02, 2, label('passport id')), frame(0x07, 3, new Uint8Array(0))]
const nodeFrames = [frame(0x80, 1, utf8('ping')), frame(0x7f, 2, cat(u16(3), utf8('NOT_FOUND: passport not found'))), frame(0x87, 3, new Uint8Array(0))]

const handshake = {
  note: 'device and node keys are Ed25519 seeds, converted to X25519 (RFC 7748 map); socket bytes are u16 BE length ‖ message',
  deviceSeed: hex(deviceSeed),
  devicePublic: hex(ed25519.getPublicKey(deviceSeed)),
  nodeSeed: hex(nodeSeed),
  nodePublic: hex(ed25519.getPublicKey(nodeSeed)),
  deviceEphemeral: hex(label('device ephemeral')),
  nodeEphemeral: hex(label('node ephemeral')),
  prologue: hex(PROLOGUE),
  message1: hex(m1),
  message2: hex(m2),
  refusal: '',
  handshakeHash: hex(initiator.hash!),
  clientTx: hex(clientTx),
  clientRx: hex(clientRx),
  clientFrames: seal(clientTx, clientFrames),
  nodeFrames: seal(clientRx, nodeFrames)
}

// the refusal message 2 (payload 0x00) for the same message 1
const responder2 = new NoiseHandshake('IK', false, node)
responder2.initialise(Buffer.from(PROLOGUE))
responder2.e = eph('node ephemeral')
responder2.recv(Buffer.from(m1))
handshake.refusal = hex(responder2.send(Buffer.from([0])))

// ---- message bodies ---------------------------------------------------------------------------
const topic = label('topic')
const topicKey = label('topic key')
const envelope = label('envelope').subarray(0, 20)

const valid = [
  { kind: 'frame', fields: { type: 0x05, id: 0x01020304, body: hex(utf8('body')) }, hex: hex(frame(0x05, 0x01020304, utf8('body'))) },
  { kind: 'registerTopic', fields: { topic: hex(topic), key: hex(topicKey) }, hex: hex(cat(topic, topicKey)) },
  { kind: 'publish', fields: { topic: hex(topic), envelope: hex(envelope) }, hex: hex(cat(topic, envelope)) },
  { kind: 'publishReply', fields: { stored: true, seq: '258' }, hex: hex(cat(u8(1), u64(258n))) },
  { kind: 'query', fields: { topic: hex(topic), cursor: '7', limit: 100 }, hex: hex(cat(topic, u64(7n), u16(100))) },
  {
    kind: 'queryReply',
    fields: { cursor: '9', more: true, envelopes: [{ seq: '8', data: hex(envelope) }, { seq: '9', data: 'ff' }] },
    hex: hex(cat(u64(9n), u8(1), u16(2), u64(8n), u32(envelope.length), envelope, u64(9n), u32(1), u8(0xff)))
  },
  { kind: 'queryReply', fields: { cursor: '0', more: false, envelopes: [] }, hex: hex(cat(u64(0n), u8(0), u16(0))) },
  { kind: 'watch', fields: { topics: [] }, hex: '' },
  { kind: 'watch', fields: { topics: [hex(topic), hex(topicKey)] }, hex: hex(cat(topic, topicKey)) },
  { kind: 'watchPush', fields: { topic: hex(topic), seq: '42', data: hex(envelope) }, hex: hex(cat(topic, u64(42n), envelope)) },
  { kind: 'unwatch', fields: { id: 3 }, hex: hex(u32(3)) },
  { kind: 'error', fields: { code: 4, message: 'topic not registered: é' }, hex: hex(cat(u16(4), utf8('topic not registered: é'))) }
]

const invalid = [
  { note: 'frame plaintext shorter than type and request id', kind: 'frame', hex: '00000000', code: 'FRAME_INVALID' },
  { note: 'register topic one byte short', kind: 'registerTopic', hex: hex(cat(topic, topicKey.subarray(1))), code: 'DECODE_TRUNCATED' },
  { note: 'register topic with a trailing byte', kind: 'registerTopic', hex: hex(cat(topic, topicKey, u8(0))), code: 'DECODE_TRAILING_BYTES' },
  { note: 'topic id 31 bytes (deregister, get passport)', kind: 'id32', hex: hex(topic.subarray(1)), code: 'DECODE_TRUNCATED' },
  { note: 'topic id 33 bytes', kind: 'id32', hex: hex(cat(topic, u8(1))), code: 'DECODE_TRAILING_BYTES' },
  { note: 'publish without an envelope', kind: 'publish', hex: hex(topic), code: 'DECODE_TRUNCATED' },
  { note: 'publish shorter than a topic id', kind: 'publish', hex: hex(topic.subarray(0, 5)), code: 'DECODE_TRUNCATED' },
  { note: 'publish reply stored flag 2', kind: 'publishReply', hex: hex(cat(u8(2), u64(1n))), code: 'DECODE_INVALID' },
  { note: 'publish reply without its seq', kind: 'publishReply', hex: '01', code: 'DECODE_TRUNCATED' },
  { note: 'publish reply with a trailing byte', kind: 'publishReply', hex: hex(cat(u8(0), u64(1n), u8(0))), code: 'DECODE_TRAILING_BYTES' },
  { note: 'query without its limit', kind: 'query', hex: hex(cat(topic, u64(0n))), code: 'DECODE_TRUNCATED' },
  { note: 'query with a trailing byte', kind: 'query', hex: hex(cat(topic, u64(0n), u16(1), u8(0))), code: 'DECODE_TRAILING_BYTES' },
  { note: 'query reply announcing 2 envelopes, holding 1', kind: 'queryReply', hex: hex(cat(u64(1n), u8(0), u16(2), u64(1n), u32(1), u8(7))), code: 'DECODE_TRUNCATED' },
  { note: 'query reply whose envelope length runs past the end', kind: 'queryReply', hex: hex(cat(u64(1n), u8(0), u16(1), u64(1n), u32(0xffffffff), u8(7))), code: 'DECODE_TRUNCATED' },
  { note: 'query reply more flag 9', kind: 'queryReply', hex: hex(cat(u64(1n), u8(9), u16(0))), code: 'DECODE_INVALID' },
  { note: 'query reply with a trailing byte', kind: 'queryReply', hex: hex(cat(u64(1n), u8(0), u16(0), u8(0))), code: 'DECODE_TRAILING_BYTES' },
  { note: 'watch body not a multiple of 32 bytes', kind: 'watch', hex: hex(cat(topic, u8(1))), code: 'DECODE_INVALID' },
  { note: 'watch push without an envelope', kind: 'watchPush', hex: hex(cat(topic, u64(1n))), code: 'DECODE_TRUNCATED' },
  { note: 'unwatch with 3 bytes', kind: 'unwatch', hex: '000001', code: 'DECODE_TRUNCATED' },
  { note: 'unwatch with a trailing byte', kind: 'unwatch', hex: '0000000100', code: 'DECODE_TRAILING_BYTES' },
  { note: 'error reply without a full code', kind: 'error', hex: '00', code: 'DECODE_TRUNCATED' },
  { note: 'error message that is not UTF-8', kind: 'error', hex: hex(cat(u16(1), Uint8Array.of(0xc3, 0x28))), code: 'DECODE_INVALID' }
]

const out = {
  description: 'Client channel vectors (docs/PROTOCOL.md section 5), generated by test/vectors/generate-client-channel-vectors.ts with noise-handshake (libsodium), @noble/curves and @noble/ciphers, independently of src/channel. handshake: the IK messages of a device and a node with fixed keys and ephemerals, then frames in each direction with a rekey after every frame (keyAfter is the key after that rekey). valid: bodies and their layout. invalid: bodies each decoder must refuse with `code`.',
  handshake,
  valid,
  invalid
}

if (process.argv.includes('--write')) {
  writeFileSync(new URL('../../../test/vectors/client-channel.json', import.meta.url), JSON.stringify(out, null, 2) + '\n')
}
