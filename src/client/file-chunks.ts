/**
 * Files in envelopes (docs/CLIENT.md "File chunks"): a file is split into chunks that each fit
 * one envelope of content type `application/x-asmtp-file`. Every chunk carries the whole
 * description of its file, so chunks may arrive in any order, across syncs, and be checked alone:
 *
 *   version u8 (0x01) ‖ file id (16) ‖ index u32 BE ‖ count u32 BE ‖ total size u64 BE ‖
 *   SHA-256 of the whole file (32) ‖ name length u8 ‖ name (UTF-8, 1..255 bytes) ‖ data (rest)
 */
import { randomBytes } from 'node:crypto'
import { ByteReader, concatBytes, equalBytes, toHex, u32be, u64be } from '../bytes.js'
import { sha256 } from '../crypto/hash.js'
import { maxBodyBytes } from '../envelope/plaintext.js'
import { AsmtpError } from '../errors.js'

export const FILE_CONTENT_TYPE = 'application/x-asmtp-file'
export const FILE_CHUNK_VERSION = 0x01
export const FILE_ID_BYTES = 16
export const MAX_FILE_NAME_BYTES = 255
/** version + file id + index + count + total size + sha256 + name length. */
export const FILE_CHUNK_HEADER_BYTES = 1 + FILE_ID_BYTES + 4 + 4 + 8 + 32 + 1
/** Largest file a client sends or accepts. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024
/** Enough chunks for MAX_FILE_BYTES at the smallest chunk size a sender can choose (1 KiB of data). */
export const MAX_FILE_CHUNKS = MAX_FILE_BYTES / 1024

export interface FileChunk {
  fileId: Uint8Array
  index: number
  count: number
  totalSize: number
  sha256: Uint8Array
  name: string
  data: Uint8Array
}

/** What the chunks of one file share: every chunk of a file must agree on it. */
export interface FileDescription {
  fileId: Uint8Array
  count: number
  totalSize: number
  sha256: Uint8Array
  name: string
}

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })
// eslint-disable-next-line no-control-regex
const FORBIDDEN_NAME_RE = /[\u0000-\u001f\u007f-\u009f/\\]/

function invalid (message: string): AsmtpError {
  return new AsmtpError('DECODE_INVALID', message)
}

/** The bytes of a valid file name: 1..255 UTF-8 bytes, no path separators or control characters, not `.` or `..`. */
export function encodeFileName (name: string): Uint8Array {
  const bytes = utf8.encode(name)
  if (bytes.length < 1 || bytes.length > MAX_FILE_NAME_BYTES) throw invalid(`file name must be 1 to ${MAX_FILE_NAME_BYTES} UTF-8 bytes, got ${bytes.length}`)
  if (FORBIDDEN_NAME_RE.test(name) || name === '.' || name === '..') throw invalid('file name must not contain path separators or control characters, nor be . or ..')
  return bytes
}

function decodeFileName (bytes: Uint8Array): string {
  let name: string
  try {
    name = utf8Strict.decode(bytes)
  } catch (err) {
    throw new AsmtpError('DECODE_INVALID', 'file name is not valid UTF-8', { cause: err })
  }
  encodeFileName(name)
  return name
}

/** Data bytes that fit in one chunk of a file with this name. */
export function chunkDataBytes (name: string): number {
  return maxBodyBytes(FILE_CONTENT_TYPE) - FILE_CHUNK_HEADER_BYTES - encodeFileName(name).length
}

function checkDescription (d: FileDescription): void {
  if (d.fileId.length !== FILE_ID_BYTES) throw invalid(`file id must be ${FILE_ID_BYTES} bytes`)
  if (d.sha256.length !== 32) throw invalid('file hash must be 32 bytes')
  if (!Number.isSafeInteger(d.totalSize) || d.totalSize < 0 || d.totalSize > MAX_FILE_BYTES) {
    throw new AsmtpError('DECODE_TOO_LARGE', `file size ${d.totalSize} is outside 0..${MAX_FILE_BYTES}`)
  }
  if (!Number.isInteger(d.count) || d.count < 1 || d.count > MAX_FILE_CHUNKS) throw invalid(`chunk count ${d.count} is outside 1..${MAX_FILE_CHUNKS}`)
  if (d.count > Math.max(1, d.totalSize)) throw invalid(`a file of ${d.totalSize} bytes cannot have ${d.count} chunks`)
}

export function encodeFileChunk (chunk: FileChunk): Uint8Array {
  checkDescription(chunk)
  if (!Number.isInteger(chunk.index) || chunk.index < 0 || chunk.index >= chunk.count) throw invalid(`chunk index ${chunk.index} is outside 0..${chunk.count - 1}`)
  const name = encodeFileName(chunk.name)
  const head = new Uint8Array([FILE_CHUNK_VERSION])
  return concatBytes(head, chunk.fileId, u32be(chunk.index), u32be(chunk.count), u64be(chunk.totalSize), chunk.sha256,
    new Uint8Array([name.length]), name, chunk.data)
}

/** Decodes one chunk body. Throws AsmtpError DECODE_TRUNCATED, DECODE_INVALID or DECODE_TOO_LARGE, nothing else. */
export function decodeFileChunk (body: Uint8Array): FileChunk {
  const r = new ByteReader(body, 'file chunk')
  const version = r.u8()
  if (version !== FILE_CHUNK_VERSION) throw invalid(`file chunk version ${version} is not ${FILE_CHUNK_VERSION}`)
  const fileId = r.bytesN(FILE_ID_BYTES)
  const index = r.u32()
  const count = r.u32()
  const total = r.u64()
  if (total > BigInt(MAX_FILE_BYTES)) throw new AsmtpError('DECODE_TOO_LARGE', `file size ${total} exceeds ${MAX_FILE_BYTES}`)
  const hash = r.bytesN(32)
  const name = decodeFileName(r.bytesN(r.u8()))
  const data = r.rest()
  const chunk: FileChunk = { fileId, index, count, totalSize: Number(total), sha256: hash, name, data }
  checkDescription(chunk)
  if (index >= count) throw invalid(`chunk index ${index} is outside 0..${count - 1}`)
  if (data.length > chunk.totalSize) throw invalid(`chunk of ${data.length} bytes is larger than its file (${chunk.totalSize})`)
  if (data.length === 0 && chunk.totalSize > 0) throw invalid('a chunk of a non-empty file carries no data')
  return chunk
}

export interface SplitFileInit {
  name: string
  data: Uint8Array
  /** 16 bytes; random by default. */
  fileId?: Uint8Array
  /** Data bytes per chunk; the most that fits one envelope by default. */
  chunkBytes?: number
}

/** Splits a file into chunks, in order. Throws DECODE_INVALID for a bad name, DECODE_TOO_LARGE over MAX_FILE_BYTES. */
export function splitFile (init: SplitFileInit): FileChunk[] {
  const max = chunkDataBytes(init.name)
  const size = init.chunkBytes ?? max
  if (!Number.isInteger(size) || size < 1 || size > max) throw new RangeError(`chunkBytes must be an integer in 1..${max}`)
  const totalSize = init.data.length
  if (totalSize > MAX_FILE_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `file of ${totalSize} bytes exceeds the limit of ${MAX_FILE_BYTES}`)
  const count = Math.max(1, Math.ceil(totalSize / size))
  const description: FileDescription = {
    fileId: init.fileId ?? new Uint8Array(randomBytes(FILE_ID_BYTES)),
    count,
    totalSize,
    sha256: sha256(init.data),
    name: init.name
  }
  checkDescription(description)
  const chunks: FileChunk[] = []
  for (let index = 0; index < count; index++) {
    chunks.push({ ...description, index, data: init.data.subarray(index * size, Math.min(totalSize, (index + 1) * size)) })
  }
  return chunks
}

/** Whether two chunks describe the same file identically (id, count, size, hash, name). */
export function sameFile (a: FileDescription, b: FileDescription): boolean {
  return equalBytes(a.fileId, b.fileId) && a.count === b.count && a.totalSize === b.totalSize &&
    equalBytes(a.sha256, b.sha256) && a.name === b.name
}

/**
 * Joins the chunks of one file (any order, duplicates allowed if identical). Throws AsmtpError
 * DECODE_INVALID when chunks disagree, one is missing, or the sizes or the hash do not match.
 */
export function assembleFile (chunks: readonly FileChunk[]): { description: FileDescription, data: Uint8Array } {
  const first = chunks[0]
  if (first === undefined) throw invalid('no chunks to assemble')
  const byIndex = new Map<number, Uint8Array>()
  for (const c of chunks) {
    if (!sameFile(first, c)) throw invalid(`chunk ${c.index} does not describe the same file as chunk ${first.index}`)
    const held = byIndex.get(c.index)
    if (held !== undefined && !equalBytes(held, c.data)) throw invalid(`two different chunks ${c.index} of file ${toHex(first.fileId)}`)
    byIndex.set(c.index, c.data)
  }
  if (byIndex.size !== first.count) throw invalid(`file ${toHex(first.fileId)} has ${byIndex.size} of ${first.count} chunks`)
  const parts: Uint8Array[] = []
  let size = 0
  for (let i = 0; i < first.count; i++) {
    const part = byIndex.get(i)
    if (part === undefined) throw invalid(`chunk ${i} of file ${toHex(first.fileId)} is missing`)
    size += part.length
    if (size > first.totalSize) throw invalid(`the chunks of file ${toHex(first.fileId)} hold more than its ${first.totalSize} bytes`)
    parts.push(part)
  }
  if (size !== first.totalSize) throw invalid(`the chunks of file ${toHex(first.fileId)} hold ${size} bytes, not ${first.totalSize}`)
  const data = concatBytes(...parts)
  if (!equalBytes(sha256(data), first.sha256)) throw invalid(`file ${toHex(first.fileId)} does not match its SHA-256`)
  const { fileId, count, totalSize, sha256: hash, name } = first
  return { description: { fileId, count, totalSize, sha256: hash, name }, data }
}
