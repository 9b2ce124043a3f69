/**
 * Spool folders (DESIGN.md "Modes from the dead-drop family"; docs/CLIENT.md "Spool folders"):
 * a file dropped into `outq/<alias>/` is sent to that contact as a file and then moved to
 * `sent/<alias>/`; received mail is written into `inq/<alias>/`. Files whose name starts with "."
 * or ends in ".part" are never taken, nor is anything outside a contact's folder, so a writer
 * that writes `name.part` (or into `tmp/`) and renames it when done is never sent half.
 *
 * Nothing is sent twice across a crash: before a file is sent, `.spool/sending.json` names it
 * with its SHA-256 and the time; after a restart a file so named whose copy is in the mailbox's
 * sent mail (same contact, same hash, sent since then) is only moved, and one that is not is sent
 * again, which the library's outbox makes the same message when a part of it had gone out.
 * Received mail gets its path in `.spool/inq.json` before it is written (through `.spool/tmp`
 * and a rename), so a restart writes the same file again instead of a second one.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { AsmtpError, isAsmtpError } from '../errors.js'
import type { Account } from './account.js'
import type { SendMode } from './expiry.js'
import { readIfExists, writeFileAtomic } from './folder.js'
import type { MessageRecord } from './mail-store.js'
import { messageKey } from './sync-state.js'

export const SPOOL_POLL_MS = 200
/** Errors that a later attempt may not have: the file stays in outq. */
const TRANSIENT: ReadonlySet<string> = new Set(['TIMEOUT', 'ABORTED', 'HANDSHAKE_FAILED', 'ACCOUNT_LOCKED', 'QUEUE_FULL', 'RATE_LIMITED', 'STAMP_QUEUE_FULL', 'NOT_STARTED', 'INTERNAL'])
const MAX_NAME_TRIES = 10_000

export interface SpoolInit {
  account: Account
  /** The spool folder: outq/, sent/, failed/, inq/ and .spool/ are made inside it. */
  dir: string
  signal: AbortSignal
  /** How often outq is scanned (ms). @default 200 */
  pollMs?: number
  /** TTL and burn for every file sent from outq. @default none */
  mode?: SendMode
  onEvent?: (e: SpoolEvent) => void
}

export type SpoolEvent =
  | { type: 'sent', alias: string, name: string, id: string }
  | { type: 'failed', alias: string, name: string, error: Error }
  | { type: 'received', alias: string, path: string }
  | { type: 'expired', path: string }
  | { type: 'error', error: Error }

interface Sending { alias: string, name: string, sha256: string, startedAt: number }
/** done: written (the user may have moved or deleted it since: never written again) */
interface InqEntry { path: string, done?: true, expiresAt?: number }

export interface SpoolPaths { outq: string, sent: string, failed: string, inq: string, state: string, tmp: string }

export function spoolPaths (dir: string): SpoolPaths {
  return { outq: join(dir, 'outq'), sent: join(dir, 'sent'), failed: join(dir, 'failed'), inq: join(dir, 'inq'), state: join(dir, '.spool'), tmp: join(dir, '.spool', 'tmp') }
}

/** A name the spool takes: not hidden, not a partial write. */
export function isSpoolable (name: string): boolean {
  return name !== '' && !name.startsWith('.') && !name.endsWith('.part')
}

function safeName (name: string): string {
  const cleaned = basename(name.replace(/[/\\\0]/g, '_'))
  return cleaned === '' || cleaned === '.' || cleaned === '..' || cleaned.startsWith('.') ? `_${cleaned}` : cleaned
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/** `dir/name`, or `dir/stem (n).ext` when taken (and not in `taken`). */
async function freePath (dir: string, name: string, taken: ReadonlySet<string> = new Set()): Promise<string> {
  const dot = name.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  for (let i = 0; i < MAX_NAME_TRIES; i++) {
    const candidate = join(dir, i === 0 ? name : `${stem} (${i})${ext}`)
    if (!taken.has(candidate) && !await exists(candidate)) return candidate
  }
  throw new AsmtpError('STORE_ERROR', `too many files named ${name} in ${dir}`)
}

async function readJson<T> (path: string, fallback: T): Promise<T> {
  const raw = await readIfExists(path)
  if (raw === undefined) return fallback
  try {
    return JSON.parse(raw.toString('utf8')) as T
  } catch (err) {
    throw new AsmtpError('STORE_ERROR', `${path} is not valid JSON`, { cause: err })
  }
}

async function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    signal.addEventListener('abort', done, { once: true })
  })
}

const asError = (err: unknown): Error => err instanceof Error ? err : new AsmtpError('INTERNAL', String(err))

export class Spool {
  readonly paths: SpoolPaths
  private inq: Record<string, InqEntry> = {}
  private readonly emit: (e: SpoolEvent) => void

  constructor (private readonly init: SpoolInit) {
    this.paths = spoolPaths(init.dir)
    this.emit = init.onEvent ?? (() => {})
  }

  private get journal (): string { return join(this.paths.state, 'sending.json') }
  private get inqState (): string { return join(this.paths.state, 'inq.json') }

  async prepare (): Promise<void> {
    const p = this.paths
    for (const d of [p.outq, p.sent, p.failed, p.inq, p.state, p.tmp]) await mkdir(d, { recursive: true, mode: 0o700 })
    for (const c of await this.init.account.contacts()) await mkdir(join(this.paths.outq, safeName(c.alias)), { recursive: true, mode: 0o700 })
    this.inq = await readJson(this.inqState, {})
  }

  /** Sends every complete file of outq once, oldest first per contact. */
  async sendQueued (): Promise<number> {
    const pending = await readJson<Sending | null>(this.journal, null)
    let sent = 0
    for (const alias of (await readdir(this.paths.outq, { withFileTypes: true })).filter(e => e.isDirectory() && isSpoolable(e.name)).map(e => e.name)) {
      const dir = join(this.paths.outq, alias)
      const names = (await readdir(dir, { withFileTypes: true })).filter(e => e.isFile() && isSpoolable(e.name)).map(e => e.name)
      const dated = await Promise.all(names.map(async n => ({ n, t: (await stat(join(dir, n))).mtimeMs })))
      for (const { n } of dated.sort((a, b) => a.t - b.t || (a.n < b.n ? -1 : 1))) {
        if (this.init.signal.aborted) return sent
        if (await this.sendOne(alias, n, pending?.alias === alias && pending.name === n ? pending : null)) sent++
      }
    }
    return sent
  }

  private async sendOne (alias: string, name: string, pending: Sending | null): Promise<boolean> {
    const path = join(this.paths.outq, alias, name)
    let data: Uint8Array
    try {
      data = new Uint8Array(await readFile(path))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw err
    }
    const sha256 = createHash('sha256').update(data).digest('hex')
    const account = this.init.account
    if (pending !== null && pending.sha256 === sha256) {
      const earlier = await this.sentSince(alias, sha256, pending.startedAt)
      if (earlier !== undefined) {
        await this.finish(alias, name, this.paths.sent)
        this.emit({ type: 'sent', alias, name, id: earlier.id })
        return true
      }
    }
    await writeFileAtomic(this.journal, JSON.stringify({ alias, name, sha256, startedAt: Date.now() } satisfies Sending))
    let record: MessageRecord
    try {
      record = await account.send(alias, { file: { name, data } }, { signal: this.init.signal, ...this.init.mode })
    } catch (err) {
      if (isAsmtpError(err) && !TRANSIENT.has(err.code)) {
        const target = await this.finish(alias, name, this.paths.failed)
        await writeFile(`${target}.error`, `${err.code}: ${err.message}\n`, { mode: 0o600 })
        this.emit({ type: 'failed', alias, name, error: err })
        return false
      }
      throw err
    }
    await this.finish(alias, name, this.paths.sent)
    this.emit({ type: 'sent', alias, name, id: record.id })
    return true
  }

  /** The sent copy of a file to `alias` with this hash, recorded at or after `since` (ms). */
  private async sentSince (alias: string, sha256: string, since: number): Promise<MessageRecord | undefined> {
    const sent = await this.init.account.inbox({ contact: alias, direction: 'out' })
    return sent.find(r => r.file?.sha256 === sha256 && r.at >= since)
  }

  /** Moves outq/<alias>/<name> into `root`/<alias>/ under a free name, then clears the journal. */
  private async finish (alias: string, name: string, root: string): Promise<string> {
    const dir = join(root, alias)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const target = await freePath(dir, name)
    await rename(join(this.paths.outq, alias, name), target)
    await rm(this.journal, { force: true })
    return target
  }

  /** Writes every received message not yet in inq; removes inq files whose message expired. */
  async deliver (): Promise<number> {
    const account = this.init.account
    const received = await account.inbox({ direction: 'in' })
    const now = Date.now()
    let n = 0
    const read: Array<{ contact: string, id: string }> = []
    for (const r of received) {
      const key = messageKey(r.contact, r.id)
      let entry = this.inq[key]
      if (entry?.done === true) continue
      if (entry === undefined) {
        const dir = join(this.paths.inq, safeName(r.alias))
        await mkdir(dir, { recursive: true, mode: 0o700 })
        entry = { path: await freePath(dir, inqName(r), new Set(Object.values(this.inq).map(e => e.path))), ...(r.expiresAt === undefined ? {} : { expiresAt: r.expiresAt }) }
        this.inq[key] = entry
        await writeFileAtomic(this.inqState, JSON.stringify(this.inq))
      }
      const bytes = r.file !== undefined
        ? new Uint8Array(await readFile(join(account.paths.dir, r.file.path)))
        : r.text !== undefined ? new TextEncoder().encode(r.text) : new Uint8Array(Buffer.from(r.body ?? '', 'base64'))
      const tmp = join(this.paths.tmp, `${key.replace(':', '-')}.part`)
      await writeFile(tmp, bytes, { mode: 0o600 })
      await rename(tmp, entry.path)
      entry.done = true
      await writeFileAtomic(this.inqState, JSON.stringify(this.inq))
      if (!r.read) read.push({ contact: r.contact, id: r.id })
      this.emit({ type: 'received', alias: r.alias, path: entry.path })
      n++
    }
    // written to inq is read: a burn-after-reading message now goes on every device (its inq file stays the user's)
    if (read.length > 0) await account.markRead(read)
    let changed = false
    for (const [key, e] of Object.entries(this.inq)) {
      if (e.expiresAt === undefined || e.expiresAt > now) continue
      await rm(e.path, { force: true })
      delete e.expiresAt
      changed = true
      this.emit({ type: 'expired', path: e.path })
      this.inq[key] = e
    }
    if (changed) await writeFileAtomic(this.inqState, JSON.stringify(this.inq))
    return n
  }

  /** Runs until the signal aborts: watches the node for mail and scans outq every pollMs. */
  async run (): Promise<void> {
    await this.prepare()
    const { signal } = this.init
    const receiving = this.receive()
    try {
      while (!signal.aborted) {
        try {
          await this.sendQueued()
        } catch (err) {
          if (!signal.aborted) this.emit({ type: 'error', error: asError(err) })
        }
        await pause(this.init.pollMs ?? SPOOL_POLL_MS, signal)
      }
    } finally {
      await receiving
    }
  }

  private async receive (): Promise<void> {
    const { signal } = this.init
    while (!signal.aborted) {
      try {
        await this.deliver()
        for await (const e of this.init.account.watch({ signal })) {
          if (e.type === 'report' && (e.report.received.length > 0 || e.report.deviceBatches > 0)) await this.deliver()
          else if (e.type === 'error') this.emit({ type: 'error', error: e.error })
        }
      } catch (err) {
        if (signal.aborted) return
        this.emit({ type: 'error', error: asError(err) })
        await pause(1000, signal)
      }
    }
  }
}

/** Files keep their name; text is `<time>-<id>.txt` (UTC, sortable); other content `<time>-<id>.bin`. */
function inqName (r: MessageRecord): string {
  if (r.file !== undefined) return safeName(r.file.name)
  const t = Number.isFinite(r.time) && Math.abs(r.time) <= 8.64e15 ? new Date(r.time).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z') : 'unknown-time'
  return `${t}-${r.id}${r.text !== undefined ? '.txt' : '.bin'}`
}

export async function runSpool (init: SpoolInit): Promise<void> {
  await new Spool(init).run()
}
