/**
 * Generates test/vectors/file-chunk.json, laying the chunk bytes out here from docs/CLIENT.md
 * ("File chunks") without src/client, with SHA-256 from @noble/hashes. Run after a build:
 *   node dist/test/vectors/generate-file-chunk-vectors.js --write
 * (without --write it does nothing, since the test runner also loads every file under test/).
 */
import { writeFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha2.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
const MAX_FILE_BYTES = 256 * 1024 * 1024

interface Fields { version?: number, fileId: Uint8Array, index: number, count: number, total: bigint, hash: Uint8Array, name: Uint8Array, nameLength?: number, data: Uint8Array }

function chunk (f: Fields): Uint8Array {
  const out = new Uint8Array(1 + 16 + 4 + 4 + 8 + 32 + 1 + f.name.length + f.data.length)
  const view = new DataView(out.buffer)
  let at = 0
  out[at++] = f.version ?? 1
  out.set(f.fileId, at); at += 16
  view.setUint32(at, f.index); at += 4
  view.setUint32(at, f.count); at += 4
  view.setBigUint64(at, f.total); at += 8
  out.set(f.hash, at); at += 32
  out[at++] = f.nameLength ?? f.name.length
  out.set(f.name, at); at += f.name.length
  out.set(f.data, at)
  return out
}

const fileId = sha256(utf8('asmtp file chunk vectors: file id')).slice(0, 16)
const content = utf8('The quick brown fox jumps over the lazy dog.\n')
const base: Fields = { fileId, index: 0, count: 1, total: BigInt(content.length), hash: sha256(content), name: utf8('fox.txt'), data: content }
const three = utf8('abcdefghi')

const valid = [
  { note: 'a whole small file in one chunk', body: chunk(base), fields: { index: 0, count: 1, totalSize: content.length, name: 'fox.txt', data: content } },
  { note: 'an empty file: one chunk without data', body: chunk({ ...base, total: 0n, hash: sha256(new Uint8Array(0)), name: utf8('empty'), data: new Uint8Array(0) }), fields: { index: 0, count: 1, totalSize: 0, name: 'empty', data: new Uint8Array(0) } },
  { note: 'the middle chunk of three, a UTF-8 name', body: chunk({ ...base, index: 1, count: 3, total: 9n, hash: sha256(three), name: utf8('résumé.txt'), data: three.slice(3, 6) }), fields: { index: 1, count: 3, totalSize: 9, name: 'résumé.txt', data: three.slice(3, 6) } }
].map(v => ({ note: v.note, body: hex(v.body), fileId: hex(fileId), index: v.fields.index, count: v.fields.count, totalSize: v.fields.totalSize, name: v.fields.name, data: hex(v.fields.data) }))

const good = chunk(base)
const invalid = [
  { note: 'empty body', body: new Uint8Array(0), code: 'DECODE_TRUNCATED' },
  { note: 'cut inside the header', body: good.slice(0, 40), code: 'DECODE_TRUNCATED' },
  { note: 'name length runs past the end', body: chunk({ ...base, name: utf8('a'), nameLength: 200, data: new Uint8Array(0) }), code: 'DECODE_TRUNCATED' },
  { note: 'version 2', body: chunk({ ...base, version: 2 }), code: 'DECODE_INVALID' },
  { note: 'index equal to count', body: chunk({ ...base, index: 1 }), code: 'DECODE_INVALID' },
  { note: 'zero chunks', body: chunk({ ...base, count: 0 }), code: 'DECODE_INVALID' },
  { note: 'more chunks than bytes', body: chunk({ ...base, count: 3, total: 2n, data: utf8('a') }), code: 'DECODE_INVALID' },
  { note: 'more than MAX_FILE_CHUNKS chunks', body: chunk({ ...base, count: 262145, total: BigInt(MAX_FILE_BYTES) }), code: 'DECODE_INVALID' },
  { note: 'file larger than MAX_FILE_BYTES', body: chunk({ ...base, total: BigInt(MAX_FILE_BYTES) + 1n }), code: 'DECODE_TOO_LARGE' },
  { note: 'file size near 2^64', body: chunk({ ...base, total: 0xffffffffffffffffn }), code: 'DECODE_TOO_LARGE' },
  { note: 'empty name', body: chunk({ ...base, name: new Uint8Array(0) }), code: 'DECODE_INVALID' },
  { note: 'name with a path separator', body: chunk({ ...base, name: utf8('../etc/passwd') }), code: 'DECODE_INVALID' },
  { note: 'name with a backslash', body: chunk({ ...base, name: utf8('a\\b') }), code: 'DECODE_INVALID' },
  { note: 'name is ..', body: chunk({ ...base, name: utf8('..') }), code: 'DECODE_INVALID' },
  { note: 'name with a control character (ESC)', body: chunk({ ...base, name: utf8('a\u001b[2Jb') }), code: 'DECODE_INVALID' },
  { note: 'name is not UTF-8', body: chunk({ ...base, name: new Uint8Array([0x66, 0xff, 0x6f]) }), code: 'DECODE_INVALID' },
  { note: 'more data than the file size', body: chunk({ ...base, total: 3n }), code: 'DECODE_INVALID' },
  { note: 'no data for a non-empty file', body: chunk({ ...base, data: new Uint8Array(0) }), code: 'DECODE_INVALID' }
].map(v => ({ note: v.note, body: hex(v.body), code: v.code }))

const doc = {
  description: 'File chunk bodies (docs/CLIENT.md "File chunks"), laid out by test/vectors/generate-file-chunk-vectors.ts without src/client. valid: decodeFileChunk gives the fields and encodeFileChunk gives the body back; invalid: decodeFileChunk throws AsmtpError with `code`.',
  valid,
  invalid
}

if (process.argv.includes('--write')) {
  writeFileSync(new URL('../../../test/vectors/file-chunk.json', import.meta.url), JSON.stringify(doc, null, 2) + '\n')
}
