/**
 * An account's mail on disk (docs/CLIENT.md "Local files"): the append-only message log (one
 * JSON record per line, received and sent), the hashes of envelopes this device sent (so they
 * are skipped when they come back in queries), and files: chunks being received under
 * incoming/, complete files under files/.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fromHex, toHex } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import { assembleFile, sameFile, type FileChunk, type FileDescription } from './file-chunks.js'
import { appendLine, readIfExists, writeFileAtomic } from './folder.js'
import type { Paths } from './account-files.js'

export interface FileRecord {
  id: string
  name: string
  size: number
  sha256: string
  /** Relative to the folder. */
  path: string
}

export interface MessageRecord {
  v: 1
  direction: 'in' | 'out'
  alias: string
  /** The contact's passport id. */
  contact: string
  /** Message id (hex); for a file, the file id. */
  id: string
  /** Send time (ms since the epoch), as the sender's clock said. */
  time: number
  /** When this device received or sent it. */
  at: number
  contentType: string
  text?: string
  file?: FileRecord
  /** Other content types: the body, base64. */
  body?: string
  /** The sender's TTL: the message is deleted then (ms; docs/CLIENT.md "TTL and burn after reading"). */
  expiresAt?: number
  /** Burn after reading: deleted on every device of the recipient after its first read. */
  burn?: true
}

export async function appendMessage (paths: Paths, record: MessageRecord): Promise<void> {
  await appendLine(paths.messages, JSON.stringify(record))
}

function isRecord (r: unknown): r is MessageRecord {
  if (typeof r !== 'object' || r === null) return false
  const m = r as Partial<MessageRecord>
  return m.v === 1 && (m.direction === 'in' || m.direction === 'out') && typeof m.alias === 'string' &&
    typeof m.contact === 'string' && typeof m.id === 'string' && typeof m.time === 'number' &&
    typeof m.at === 'number' && typeof m.contentType === 'string'
}

/** Every record of the log in log order; a line cut short by a crash is skipped. */
export async function readMessages (paths: Paths): Promise<MessageRecord[]> {
  const raw = await readIfExists(paths.messages)
  if (raw === undefined) return []
  const out: MessageRecord[] = []
  for (const line of raw.toString('utf8').split('\n')) {
    if (line === '') continue
    try {
      const r: unknown = JSON.parse(line)
      if (isRecord(r)) out.push(r)
    } catch {
      // a partial last line
    }
  }
  return out
}

export async function readSentHashes (paths: Paths): Promise<Set<string>> {
  const raw = await readIfExists(paths.sent)
  return new Set((raw?.toString('utf8') ?? '').split('\n').filter(l => /^[0-9a-f]{64}$/.test(l)))
}

/** Recorded before the envelopes are published, so a reply racing the publish is never taken for mail. */
export async function appendSentHashes (paths: Paths, hashes: readonly Uint8Array[]): Promise<void> {
  if (hashes.length === 0) return
  await appendLine(paths.sent, hashes.map(toHex).join('\n'))
}

// ---- files ------------------------------------------------------------------------------------

function incomingDir (paths: Paths, contact: string, fileId: Uint8Array): string {
  return join(paths.incoming, `${contact}-${toHex(fileId)}`)
}

interface IncomingMeta { name: string, count: number, totalSize: number, sha256: string, time: number, expiresAt?: number, burn?: true }

/** A received message's TTL and burn flag, as its envelope said. */
export interface MessageMode { expiresAt?: number, burn?: true }

async function readMeta (dir: string, fileId: Uint8Array): Promise<(FileDescription & { time: number, mode: MessageMode }) | undefined> {
  const raw = await readIfExists(join(dir, 'meta.json'))
  if (raw === undefined) return undefined
  let m: IncomingMeta
  try {
    m = JSON.parse(raw.toString('utf8')) as IncomingMeta
  } catch (err) {
    throw new AsmtpError('STORE_ERROR', `${dir}/meta.json is not valid JSON`, { cause: err })
  }
  const mode: MessageMode = { ...(typeof m.expiresAt === 'number' ? { expiresAt: m.expiresAt } : {}), ...(m.burn === true ? { burn: true as const } : {}) }
  return { fileId, name: m.name, count: m.count, totalSize: m.totalSize, sha256: fromHex(m.sha256, 32), time: m.time, mode }
}

/**
 * Keeps one received chunk of a contact's file. Throws DECODE_INVALID when it describes the
 * file differently from the chunks already held (a different name, size, count or hash).
 */
export async function storeChunk (paths: Paths, contact: string, chunk: FileChunk, time: number, mode: MessageMode = {}): Promise<void> {
  const dir = incomingDir(paths, contact, chunk.fileId)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const meta = await readMeta(dir, chunk.fileId)
  if (meta === undefined) {
    const m: IncomingMeta = { name: chunk.name, count: chunk.count, totalSize: chunk.totalSize, sha256: toHex(chunk.sha256), time, ...mode }
    await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(m))
  } else if (!sameFile(meta, chunk)) {
    throw new AsmtpError('DECODE_INVALID', `a chunk of file ${toHex(chunk.fileId)} describes it differently from the chunks received before`)
  }
  await writeFileAtomic(join(dir, `${chunk.index}.chunk`), chunk.data)
}

export interface CompletedFile { record: FileRecord, time: number, mode: MessageMode }

/** When every chunk of the file is held: joins and checks them, writes files/<id>, and removes the chunks. */
export async function completeIfReady (paths: Paths, contact: string, fileId: Uint8Array): Promise<CompletedFile | null> {
  const dir = incomingDir(paths, contact, fileId)
  const meta = await readMeta(dir, fileId)
  if (meta === undefined) return null
  const names = (await readdir(dir)).filter(n => n.endsWith('.chunk'))
  if (names.length < meta.count) return null
  const chunks: FileChunk[] = []
  for (const n of names) {
    chunks.push({ ...meta, index: Number.parseInt(n, 10), data: new Uint8Array(await readFile(join(dir, n))) })
  }
  const { description, data } = assembleFile(chunks)
  const rel = join('files', toHex(fileId))
  await writeFileAtomic(join(paths.dir, rel), data)
  await rm(dir, { recursive: true, force: true })
  return {
    time: meta.time,
    mode: meta.mode,
    record: { id: toHex(fileId), name: description.name, size: description.totalSize, sha256: toHex(description.sha256), path: rel }
  }
}

/** Drops the chunks of a file that failed to assemble. */
export async function discardIncoming (paths: Paths, contact: string, fileId: Uint8Array): Promise<void> {
  await rm(incomingDir(paths, contact, fileId), { recursive: true, force: true })
}

/** Keeps a copy of a sent file under files/<id>. */
export async function keepSentFile (paths: Paths, description: FileDescription, data: Uint8Array): Promise<FileRecord> {
  const rel = join('files', toHex(description.fileId))
  await writeFile(join(paths.dir, rel), data, { mode: 0o600 })
  return { id: toHex(description.fileId), name: description.name, size: description.totalSize, sha256: toHex(description.sha256), path: rel }
}

/** Rewrites the log without the messages `${contact}:${id}` in `keys`, and removes their files. Returns how many went. */
export async function deleteMessages (paths: Paths, keys: ReadonlySet<string>): Promise<number> {
  const all = await readMessages(paths)
  const gone = all.filter(r => keys.has(`${r.contact}:${r.id}`))
  if (gone.length === 0) return 0
  const kept = all.filter(r => !keys.has(`${r.contact}:${r.id}`))
  await writeFileAtomic(paths.messages, kept.map(r => JSON.stringify(r) + '\n').join(''))
  for (const r of gone) if (r.file !== undefined && r.file.path !== '') await rm(join(paths.dir, r.file.path), { force: true })
  return gone.length
}
