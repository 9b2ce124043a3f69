/**
 * The outbox (docs/CLIENT.md "Sending is idempotent"): every envelope is written here, sealed,
 * before it is published, and removed only once the node has taken it. A publish that fails
 * after the node may have stored the envelope therefore leaves exactly those bytes behind, and
 * the retry (or the next send or sync) publishes them again: the node dedupes by hash, the
 * recipient by message id.
 *
 * One entry is two files: `outbox/<key>.bin`, records of topic id (32) ‖ topic key (32) ‖
 * length u32 BE ‖ envelope; then `outbox/<key>.json`, its description, written last (an entry
 * without it is incomplete and is dropped).
 */
import { open, readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ByteReader, concatBytes, toHex, u32be } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import type { Paths } from './account-files.js'
import { readIfExists, writeFileAtomic } from './folder.js'
import type { Sealed } from './seal.js'

export type OutboxKind = 'message' | 'file' | 'records' | 'receipt' | 'passport'

export interface OutboxEntry {
  v: 1
  key: string
  kind: OutboxKind
  /** The contact's passport id; null for the self topic. */
  contact: string | null
  /** Message id (hex) the entry carries, when it is a message or a file. */
  id: string | null
  /** SHA-256 (hex) of what was asked to be sent: a retry of the same send finds its entry by it. */
  digest: string | null
  count: number
  /** Envelopes the node has taken so far, in order. */
  published: number
  createdAt: number
}

export interface OutboxEnvelope { topic: Uint8Array, key: Uint8Array, envelope: Uint8Array }

const metaPath = (paths: Paths, key: string): string => join(paths.outbox, `${key}.json`)
const binPath = (paths: Paths, key: string): string => join(paths.outbox, `${key}.bin`)

function encodeItems (sealed: readonly Sealed[]): Uint8Array {
  return concatBytes(...sealed.flatMap(s => [s.topic.topic.topic, s.topic.topic.key, u32be(s.envelope.length), s.envelope]))
}

/** Starts an entry: its envelopes are appended with `appendOutbox`, then `commitOutbox` makes it live. */
export async function beginOutbox (paths: Paths, key: string): Promise<void> {
  await rm(binPath(paths, key), { force: true })
}

export async function appendOutbox (paths: Paths, key: string, sealed: readonly Sealed[]): Promise<void> {
  const handle = await open(binPath(paths, key), 'a', 0o600)
  try {
    await handle.writeFile(encodeItems(sealed))
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function commitOutbox (paths: Paths, entry: OutboxEntry): Promise<void> {
  await writeFileAtomic(metaPath(paths, entry.key), JSON.stringify(entry))
}

/** Writes a whole entry at once. */
export async function writeOutbox (paths: Paths, entry: Omit<OutboxEntry, 'v' | 'count' | 'published'>, sealed: readonly Sealed[]): Promise<OutboxEntry> {
  await beginOutbox(paths, entry.key)
  await appendOutbox(paths, entry.key, sealed)
  const full: OutboxEntry = { v: 1, ...entry, count: sealed.length, published: 0 }
  await commitOutbox(paths, full)
  return full
}

/** Live entries, oldest first. Incomplete ones (no description) are removed. */
export async function listOutbox (paths: Paths): Promise<OutboxEntry[]> {
  let names: string[]
  try {
    names = await readdir(paths.outbox)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: OutboxEntry[] = []
  for (const n of names.filter(x => x.endsWith('.bin'))) {
    const key = n.slice(0, -4)
    const raw = await readIfExists(metaPath(paths, key))
    if (raw === undefined) {
      await rm(join(paths.outbox, n), { force: true })
      continue
    }
    try {
      out.push(JSON.parse(raw.toString('utf8')) as OutboxEntry)
    } catch (err) {
      throw new AsmtpError('STORE_ERROR', `${metaPath(paths, key)} is not valid JSON`, { cause: err })
    }
  }
  return out.sort((a, b) => a.createdAt - b.createdAt || a.key.localeCompare(b.key))
}

export async function readOutbox (paths: Paths, entry: OutboxEntry): Promise<OutboxEnvelope[]> {
  const bytes = new Uint8Array(await readFile(binPath(paths, entry.key)))
  const r = new ByteReader(bytes, `outbox entry ${entry.key}`)
  const items: OutboxEnvelope[] = []
  while (r.remaining > 0 && items.length < entry.count) {
    const topic = r.bytesN(32)
    const key = r.bytesN(32)
    items.push({ topic, key, envelope: r.bytesN(r.u32()) })
  }
  if (items.length !== entry.count) throw new AsmtpError('STORE_ERROR', `outbox entry ${entry.key} holds ${items.length} envelopes, not ${entry.count}`)
  return items
}

export async function removeOutbox (paths: Paths, key: string): Promise<void> {
  await rm(metaPath(paths, key), { force: true })
  await rm(binPath(paths, key), { force: true })
}

export function outboxKey (kind: OutboxKind, id: Uint8Array | string): string {
  return `${kind}-${typeof id === 'string' ? id : toHex(id)}`
}
