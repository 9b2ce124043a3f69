/**
 * Generates test/vectors/catchup.json, laying the catch-up v2 messages out here from
 * docs/PROTOCOL.md 4.3 without src/node/catchup, with SHA-256 from @noble/hashes. Run after a build:
 *   node dist/test/vectors/generate-catchup-vectors.js --write
 * (without --write it does nothing, since the test runner also loads every file under test/).
 */
import { writeFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha2.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))
const u8 = (n: number): Uint8Array => Uint8Array.of(n)
const u16 = (n: number): Uint8Array => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return new Uint8Array(b) }
const u32 = (n: number): Uint8Array => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return new Uint8Array(b) }
const sorted = (hs: Uint8Array[]): Uint8Array[] => [...hs].sort((a, b) => Buffer.compare(a, b))

const V = 2
const ZERO = new Uint8Array(32)
const HOUR = 52_000 // hours since 2020-01-01: late 2025
const frames = [0, 1, 2, 3].map(i => cat(u8(2), u32(HOUR), u8(0), utf8(`frame ${i} of the catch-up vectors`)))
const hashes = sorted(frames.map(f => sha256(f)))
const frameOf = (h: Uint8Array): Uint8Array => frames.find(f => Buffer.compare(sha256(f), h) === 0)!
const digest = (hs: Uint8Array[]): Uint8Array => sha256(cat(...sorted(hs)))

const summaryReq = { type: 'summary', bucket: 5, fromHour: HOUR - 2, toHour: HOUR + 1 }
const summaryReqBytes = cat(u8(V), u8(1), u16(5), u32(HOUR - 2), u32(HOUR + 1))
const inventoryReq = { type: 'inventory', bucket: 5, hour: HOUR, after: hex(ZERO), limit: 1024 }
const inventoryReqBytes = cat(u8(V), u8(2), u16(5), u32(HOUR), ZERO, u16(1024))
const inventoryAfterReq = { type: 'inventory', bucket: 5, hour: HOUR, after: hex(hashes[1]), limit: 2 }
const fetchReq = { type: 'fetch', hashes: hashes.slice(0, 3).map(hex) }
const fetchReqBytes = cat(u8(V), u8(3), u16(3), ...hashes.slice(0, 3))

const hourEntry = (hour: number, hs: Uint8Array[]): Uint8Array => cat(u32(hour), u32(hs.length), digest(hs))
const fetchReply = (served: number, fs: Uint8Array[]): Uint8Array => cat(u8(0), u16(served), u16(fs.length), ...fs.flatMap(f => [u32(f.length), f]))

const hourDigests = [
  { note: 'one hash', hashes: [hashes[0]] },
  { note: 'four hashes, listed out of order: the digest sorts them first', hashes: [hashes[2], hashes[0], hashes[3], hashes[1]] }
].map(v => ({ note: v.note, hashes: v.hashes.map(hex), digest: hex(digest(v.hashes)) }))

const valid = [
  { note: 'SUMMARY request: bucket 5, four hours', kind: 'request', bytes: summaryReqBytes, value: summaryReq },
  { note: 'INVENTORY request from the start of an hour (after = 32 zero bytes)', kind: 'request', bytes: inventoryReqBytes, value: inventoryReq },
  { note: 'INVENTORY request after a hash, limit 2', kind: 'request', bytes: cat(u8(V), u8(2), u16(5), u32(HOUR), hashes[1], u16(2)), value: inventoryAfterReq },
  { note: 'FETCH request of three hashes, ascending', kind: 'request', bytes: fetchReqBytes, value: fetchReq },
  {
    note: 'SUMMARY reply: two non-empty hours of the four',
    kind: 'summary-reply',
    request: summaryReq,
    bytes: cat(u8(0), u16(2), hourEntry(HOUR - 1, [hashes[3]]), hourEntry(HOUR, hashes.slice(0, 3))),
    value: { status: 'ok', hours: [{ hour: HOUR - 1, count: 1, digest: hex(digest([hashes[3]])) }, { hour: HOUR, count: 3, digest: hex(digest(hashes.slice(0, 3))) }] }
  },
  { note: 'SUMMARY reply: nothing held in the range', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(0)), value: { status: 'ok', hours: [] } },
  { note: 'SUMMARY reply: UNKNOWN_BUCKET, the status byte alone', kind: 'summary-reply', request: summaryReq, bytes: u8(1), value: { status: 'unknown-bucket' } },
  { note: 'INVENTORY reply: four hashes, no more', kind: 'inventory-reply', request: inventoryReq, bytes: cat(u8(0), u16(4), ...hashes, u8(0)), value: { status: 'ok', hashes: hashes.map(hex), more: false } },
  { note: 'INVENTORY reply after hashes[1], limit 2: two hashes, more 0', kind: 'inventory-reply', request: inventoryAfterReq, bytes: cat(u8(0), u16(2), hashes[2], hashes[3], u8(0)), value: { status: 'ok', hashes: [hex(hashes[2]), hex(hashes[3])], more: false } },
  { note: 'INVENTORY reply: a page with more to come', kind: 'inventory-reply', request: { ...inventoryReq, limit: 2 }, bytes: cat(u8(0), u16(2), hashes[0], hashes[1], u8(1)), value: { status: 'ok', hashes: [hex(hashes[0]), hex(hashes[1])], more: true } },
  { note: 'INVENTORY reply: BUSY', kind: 'inventory-reply', request: inventoryReq, bytes: u8(2), value: { status: 'busy' } },
  { note: 'FETCH reply: all three served, the second not held', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(3, [frameOf(hashes[0]), frameOf(hashes[2])]), value: { status: 'ok', served: 3, frames: [hex(frameOf(hashes[0])), hex(frameOf(hashes[2]))] } },
  { note: 'FETCH reply: one served (the byte cap), the requester asks again for the other two', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(1, [frameOf(hashes[0])]), value: { status: 'ok', served: 1, frames: [hex(frameOf(hashes[0]))] } },
  { note: 'FETCH reply: BUDGET', kind: 'fetch-reply', request: fetchReq, bytes: u8(3), value: { status: 'budget' } },
  { note: 'FETCH reply: BAD_REQUEST', kind: 'fetch-reply', request: fetchReq, bytes: u8(4), value: { status: 'bad-request' } }
].map(v => ({ ...v, bytes: hex(v.bytes) }))

const invalid = [
  { note: 'empty request', kind: 'request', bytes: new Uint8Array(0), code: 'DECODE_TRUNCATED' },
  { note: 'request of version 1', kind: 'request', bytes: cat(u8(1), summaryReqBytes.subarray(1)), code: 'CATCHUP_BAD_VERSION' },
  { note: 'request of version 3', kind: 'request', bytes: cat(u8(3), summaryReqBytes.subarray(1)), code: 'CATCHUP_BAD_VERSION' },
  { note: 'unknown request type 4', kind: 'request', bytes: cat(u8(V), u8(4), u16(5)), code: 'DECODE_INVALID' },
  { note: 'SUMMARY cut inside toHour', kind: 'request', bytes: summaryReqBytes.subarray(0, 10), code: 'DECODE_TRUNCATED' },
  { note: 'SUMMARY with a trailing byte', kind: 'request', bytes: cat(summaryReqBytes, u8(0)), code: 'DECODE_TRAILING_BYTES' },
  { note: 'SUMMARY toHour before fromHour', kind: 'request', bytes: cat(u8(V), u8(1), u16(5), u32(HOUR), u32(HOUR - 1)), code: 'DECODE_INVALID' },
  { note: 'SUMMARY over 361 hours (at most 360)', kind: 'request', bytes: cat(u8(V), u8(1), u16(5), u32(HOUR), u32(HOUR + 360)), code: 'DECODE_TOO_LARGE' },
  { note: 'INVENTORY limit 0', kind: 'request', bytes: cat(u8(V), u8(2), u16(5), u32(HOUR), ZERO, u16(0)), code: 'DECODE_INVALID' },
  { note: 'INVENTORY limit 1025 (at most 1024)', kind: 'request', bytes: cat(u8(V), u8(2), u16(5), u32(HOUR), ZERO, u16(1025)), code: 'DECODE_TOO_LARGE' },
  { note: 'INVENTORY cut inside `after`', kind: 'request', bytes: inventoryReqBytes.subarray(0, 20), code: 'DECODE_TRUNCATED' },
  { note: 'FETCH of no hashes', kind: 'request', bytes: cat(u8(V), u8(3), u16(0)), code: 'DECODE_INVALID' },
  { note: 'FETCH of 1025 hashes (at most 1024)', kind: 'request', bytes: cat(u8(V), u8(3), u16(1025)), code: 'DECODE_TOO_LARGE' },
  { note: 'FETCH says 3 hashes, holds 2', kind: 'request', bytes: cat(u8(V), u8(3), u16(3), hashes[0], hashes[1]), code: 'DECODE_TRUNCATED' },
  { note: 'FETCH hashes descending', kind: 'request', bytes: cat(u8(V), u8(3), u16(2), hashes[1], hashes[0]), code: 'CATCHUP_BAD_ORDER' },
  { note: 'FETCH asks one hash twice', kind: 'request', bytes: cat(u8(V), u8(3), u16(2), hashes[0], hashes[0]), code: 'CATCHUP_BAD_ORDER' },
  { note: 'request larger than the largest FETCH (32,772 bytes)', kind: 'request', bytes: cat(fetchReqBytes, new Uint8Array(32772)), code: 'DECODE_TOO_LARGE' },
  { note: 'empty reply', kind: 'summary-reply', request: summaryReq, bytes: new Uint8Array(0), code: 'DECODE_TRUNCATED' },
  { note: 'unknown status 5', kind: 'summary-reply', request: summaryReq, bytes: u8(5), code: 'DECODE_INVALID' },
  { note: 'a refusal with bytes after the status', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(2), u16(0)), code: 'DECODE_TRAILING_BYTES' },
  { note: 'SUMMARY reply hour outside the range asked', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(1), hourEntry(HOUR + 2, [hashes[0]])), code: 'DECODE_INVALID' },
  { note: 'SUMMARY reply hours descending', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(2), hourEntry(HOUR, [hashes[0]]), hourEntry(HOUR - 1, [hashes[1]])), code: 'CATCHUP_BAD_ORDER' },
  { note: 'SUMMARY reply lists an hour twice', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(2), hourEntry(HOUR, [hashes[0]]), hourEntry(HOUR, [hashes[0]])), code: 'CATCHUP_BAD_ORDER' },
  { note: 'SUMMARY reply hour with count 0', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(1), u32(HOUR), u32(0), digest([])), code: 'DECODE_INVALID' },
  { note: 'SUMMARY reply of 5 hours for a 4-hour range', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(5)), code: 'DECODE_TOO_LARGE' },
  { note: 'SUMMARY reply cut inside a digest', kind: 'summary-reply', request: summaryReq, bytes: cat(u8(0), u16(1), hourEntry(HOUR, [hashes[0]])).subarray(0, 30), code: 'DECODE_TRUNCATED' },
  { note: 'INVENTORY reply without `more`', kind: 'inventory-reply', request: inventoryReq, bytes: cat(u8(0), u16(1), hashes[0]), code: 'DECODE_TRUNCATED' },
  { note: 'INVENTORY reply more = 2', kind: 'inventory-reply', request: inventoryReq, bytes: cat(u8(0), u16(1), hashes[0], u8(2)), code: 'DECODE_INVALID' },
  { note: 'INVENTORY reply more = 1 with no hashes (no progress)', kind: 'inventory-reply', request: inventoryReq, bytes: cat(u8(0), u16(0), u8(1)), code: 'DECODE_INVALID' },
  { note: 'INVENTORY reply hashes descending', kind: 'inventory-reply', request: inventoryReq, bytes: cat(u8(0), u16(2), hashes[1], hashes[0], u8(0)), code: 'CATCHUP_BAD_ORDER' },
  { note: 'INVENTORY reply hash not after `after`', kind: 'inventory-reply', request: inventoryAfterReq, bytes: cat(u8(0), u16(1), hashes[1], u8(0)), code: 'CATCHUP_BAD_ORDER' },
  { note: 'INVENTORY reply of 3 hashes for limit 2', kind: 'inventory-reply', request: { ...inventoryReq, limit: 2 }, bytes: cat(u8(0), u16(3), ...hashes.slice(0, 3), u8(0)), code: 'DECODE_TOO_LARGE' },
  { note: 'INVENTORY reply with a trailing byte', kind: 'inventory-reply', request: inventoryReq, bytes: cat(u8(0), u16(1), hashes[0], u8(0), u8(0)), code: 'DECODE_TRAILING_BYTES' },
  { note: 'FETCH reply served 0 (no progress)', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(0, []), code: 'DECODE_INVALID' },
  { note: 'FETCH reply served 4 of 3 asked', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(4, []), code: 'DECODE_INVALID' },
  { note: 'FETCH reply of 2 frames for 1 served', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(1, [frameOf(hashes[0]), frameOf(hashes[1])]), code: 'DECODE_INVALID' },
  { note: 'FETCH reply frame not asked for', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(3, [frameOf(hashes[3])]), code: 'CATCHUP_UNASKED_FRAME' },
  { note: 'FETCH reply frame asked but past the served prefix', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(1, [frameOf(hashes[1])]), code: 'CATCHUP_UNASKED_FRAME' },
  { note: 'FETCH reply frames out of the order asked', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(3, [frameOf(hashes[1]), frameOf(hashes[0])]), code: 'CATCHUP_BAD_ORDER' },
  { note: 'FETCH reply sends one frame twice', kind: 'fetch-reply', request: fetchReq, bytes: fetchReply(3, [frameOf(hashes[0]), frameOf(hashes[0])]), code: 'CATCHUP_BAD_ORDER' },
  { note: 'FETCH reply frame of length 0', kind: 'fetch-reply', request: fetchReq, bytes: cat(u8(0), u16(1), u16(1), u32(0)), code: 'DECODE_INVALID' },
  { note: 'FETCH reply frame length 65551 (at most 65550)', kind: 'fetch-reply', request: fetchReq, bytes: cat(u8(0), u16(1), u16(1), u32(65551)), code: 'DECODE_TOO_LARGE' },
  { note: 'FETCH reply frame length runs past the end', kind: 'fetch-reply', request: fetchReq, bytes: cat(u8(0), u16(1), u16(1), u32(100), frames[0]), code: 'DECODE_TRUNCATED' },
  { note: 'FETCH reply with a trailing byte', kind: 'fetch-reply', request: fetchReq, bytes: cat(fetchReply(3, [frameOf(hashes[0])]), u8(0)), code: 'DECODE_TRAILING_BYTES' }
].map(v => ({ ...v, bytes: hex(v.bytes) }))

const doc = {
  description: 'Catch-up v2 messages (docs/PROTOCOL.md 4.3), laid out by test/vectors/generate-catchup-vectors.ts without src/node/catchup. kind request: decodeRequest gives `value` and encodeRequest(value) gives `bytes`; kind *-reply: the decoder of that reply, given `request`, gives `value` and the encoder gives `bytes` back. invalid: the decoder throws AsmtpError with `code`. hourDigest: SHA-256 of the sorted hashes concatenated.',
  hourDigest: hourDigests,
  valid,
  invalid
}

if (process.argv.includes('--write')) {
  writeFileSync(new URL('../../../test/vectors/catchup.json', import.meta.url), JSON.stringify(doc, null, 2) + '\n')
}
