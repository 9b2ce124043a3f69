/**
 * Generates test/vectors/stem.json, laying the stem message out here from docs/PROTOCOL.md 4.4
 * without src/node/stem. Run after a build:
 *   node dist/test/vectors/generate-stem-vectors.js --write
 * (without --write it does nothing, since the test runner also loads every file under test/).
 */
import { writeFileSync } from 'node:fs'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))
const u8 = (n: number): Uint8Array => Uint8Array.of(n)
const u16 = (n: number): Uint8Array => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return new Uint8Array(b) }
const u32 = (n: number): Uint8Array => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return new Uint8Array(b) }

const V = 1
const HOUR = 52_000
const frame = cat(u8(2), u32(HOUR), u8(0), new Uint8Array(8), utf8('a frame carried on the stem'))

const valid = [
  { note: 'bucket 0 (b = 0), a short frame', bytes: cat(u8(V), u16(0), frame), value: { bucket: 0, frame: hex(frame) } },
  { note: 'bucket 0xa (b = 4)', bytes: cat(u8(V), u16(0xa), frame), value: { bucket: 0xa, frame: hex(frame) } },
  { note: 'bucket 0xffff (b = 16), the largest bucket', bytes: cat(u8(V), u16(0xffff), frame), value: { bucket: 0xffff, frame: hex(frame) } },
  { note: 'a one-byte frame: the codec does not judge the frame, the intake does', bytes: cat(u8(V), u16(3), u8(2)), value: { bucket: 3, frame: '02' } }
].map(v => ({ ...v, bytes: hex(v.bytes) }))

const invalid = [
  { note: 'empty message', bytes: new Uint8Array(0), code: 'DECODE_TRUNCATED' },
  { note: 'version byte alone', bytes: u8(V), code: 'DECODE_TRUNCATED' },
  { note: 'cut inside the bucket', bytes: cat(u8(V), u8(0)), code: 'DECODE_TRUNCATED' },
  { note: 'no frame after the bucket', bytes: cat(u8(V), u16(5)), code: 'STEM_EMPTY_FRAME' },
  { note: 'version 0', bytes: cat(u8(0), u16(5), frame), code: 'STEM_BAD_VERSION' },
  { note: 'version 2', bytes: cat(u8(2), u16(5), frame), code: 'STEM_BAD_VERSION' },
  { note: 'a gossip frame sent without the stem header (its first byte 0x02 reads as version 2)', bytes: frame, code: 'STEM_BAD_VERSION' }
].map(v => ({ ...v, bytes: hex(v.bytes) }))

const doc = {
  description: 'Stem messages of /asmtp/stem/1.0.0 (docs/PROTOCOL.md 4.4), laid out by test/vectors/generate-stem-vectors.ts without src/node/stem: version u8 (1) ‖ bucket u16 ‖ frame. valid: decodeStemMessage gives `value` and encodeStemMessage(value) gives `bytes`. invalid: the decoder throws AsmtpError with `code`. The size bound (messages of at most 65,553 bytes: a 65,550-byte frame) is tested in test/stem-codec.test.ts, not listed here.',
  valid,
  invalid
}

if (process.argv.includes('--write')) {
  writeFileSync(new URL('../../../test/vectors/stem.json', import.meta.url), JSON.stringify(doc, null, 2) + '\n')
}
