/**
 * asmtp-cli commands about mail: send (text or a file), sync, inbox, watch. Every exchange with
 * the node goes through a MailSession; the folder's lock is held only while a command reads or
 * writes local state, so `watch` in one terminal and `send` in another work together.
 */
import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { toHex } from '../../src/bytes.js'
import { AsmtpError, isAsmtpError } from '../../src/errors.js'
import type { ClientConnection } from '../../src/channel/index.js'
import {
  encodeFileChunk, encodeFileName, FILE_CONTENT_TYPE, MAX_FILE_BYTES, splitFile, TEXT_CONTENT_TYPE, type SealedForContact
} from '../../src/client/index.js'
import { maxBodyBytes, MESSAGE_ID_BYTES } from '../../src/envelope/index.js'
import type { CliOutput } from '../output.js'
import { mailboxFor, requirePassport, saveContext, type Context } from './context.js'
import { formatMessage, formatSize, messageJson, safeText } from './format.js'
import { findContact, pathsFor, toMailboxContact } from './home.js'
import { withContext, type Globals } from './identity-commands.js'
import { appendMessage, keepSentFile, readMessages, type MessageRecord } from './mail-store.js'
import { openConnection, resolveRemote, type Remote } from './remote.js'
import { MailSession, type SyncReport } from './session.js'

/** Envelopes sealed and published per step of a file, so memory stays bounded. */
const FILE_BATCH = 64

async function connect (g: Globals, ctx: Context): Promise<{ conn: ClientConnection, remote: Remote }> {
  const remote = resolveRemote(g, ctx.state.node)
  return { conn: await openConnection(ctx.device, remote), remote }
}

export interface SendOptions { file?: string, json?: boolean }

export async function send (out: CliOutput, g: Globals, alias: string, text: string | undefined, opts: SendOptions, readStdin: () => Promise<Uint8Array>): Promise<void> {
  let body: Uint8Array | undefined = text === undefined ? undefined : new TextEncoder().encode(text)
  if (body === undefined && opts.file === undefined) body = await readStdin()
  let file: { name: string, data: Uint8Array } | undefined
  if (opts.file !== undefined) {
    const size = (await stat(opts.file)).size
    if (size > MAX_FILE_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `${opts.file} is ${formatSize(size)}; the largest file is ${formatSize(MAX_FILE_BYTES)}`)
    const name = basename(opts.file)
    encodeFileName(name)
    file = { name, data: new Uint8Array(await readFile(opts.file)) }
  }
  const maxText = maxBodyBytes(TEXT_CONTENT_TYPE)
  if (body !== undefined && body.length > maxText) {
    throw new AsmtpError('ENVELOPE_BODY_TOO_LARGE', `the text is ${body.length} bytes; one message holds at most ${maxText}: send it as a file with --file`)
  }
  const sent: MessageRecord[] = []
  await withContext(g, async (ctx) => {
    const contact = findContact(ctx.state, alias)
    requirePassport(ctx)
    const { conn, remote } = await connect(g, ctx)
    try {
      const session = new MailSession(ctx, conn, remote)
      await session.announce(contact)
      const mailbox = mailboxFor(ctx)
      const mc = toMailboxContact(contact)
      const base = { v: 1 as const, direction: 'out' as const, alias: contact.alias, contact: contact.passportId }
      if (body !== undefined) {
        const time = Date.now()
        const id = new Uint8Array(randomBytes(MESSAGE_ID_BYTES))
        await session.publish([mailbox.sealMessage(mc, { contentType: TEXT_CONTENT_TYPE, body, time, id })])
        const record: MessageRecord = { ...base, id: toHex(id), time, at: Date.now(), contentType: TEXT_CONTENT_TYPE, text: new TextDecoder().decode(body) }
        await appendMessage(ctx.paths, record)
        sent.push(record)
      }
      if (file !== undefined) {
        const time = Date.now()
        const chunks = splitFile({ name: file.name, data: file.data })
        for (let i = 0; i < chunks.length; i += FILE_BATCH) {
          const batch: SealedForContact[] = chunks.slice(i, i + FILE_BATCH).map(chunk =>
            mailbox.sealMessage(mc, { contentType: FILE_CONTENT_TYPE, body: encodeFileChunk(chunk), time }))
          await session.publish(batch)
        }
        const first = chunks[0]
        if (first === undefined) throw new RangeError('splitFile returned no chunk')
        const fileRecord = await keepSentFile(ctx.paths, first, file.data)
        const record: MessageRecord = { ...base, id: fileRecord.id, time, at: Date.now(), contentType: FILE_CONTENT_TYPE, file: fileRecord }
        await appendMessage(ctx.paths, record)
        sent.push(record)
      }
      await saveContext(ctx)
    } finally {
      await conn.close()
    }
  })
  if (opts.json === true) {
    out.printJson(sent.map(r => messageJson(r, g.dir)))
    return
  }
  for (const r of sent) {
    out.print(r.file === undefined
      ? `sent to ${safeText(alias)}: ${r.text?.length ?? 0} characters`
      : `sent to ${safeText(alias)}: file ${safeText(r.file.name)} (${formatSize(r.file.size)})`)
  }
}

// ---- sync -----------------------------------------------------------------------------------

function countBySender (records: readonly MessageRecord[]): Map<string, number> {
  const from = new Map<string, number>()
  for (const r of records) from.set(r.alias, (from.get(r.alias) ?? 0) + 1)
  return from
}

/** Prints what a sync did; returns the exit code (1 when something was rejected). */
function printReport (out: CliOutput, report: SyncReport, ctxAlias: string): number {
  if (report.joined) out.info(`this device (${safeText(ctxAlias)}) has joined its passport`)
  if (report.ownPassportChanged) out.info('your passport was changed by another of your devices; updated here')
  for (const u of report.updates) {
    out.info(`${safeText(u.alias)}'s passport changed${u.sharedKeyChanged ? ': new shared key, topics updated' : ''}`)
  }
  if (report.unreadable > 0) out.info(`${report.unreadable} envelope(s) did not open for this device (sent by another of your devices?)`)
  for (const r of report.rejected) out.error(r.message)
  return report.rejected.length > 0 ? 1 : 0
}

export async function sync (out: CliOutput, g: Globals, opts: { json?: boolean }): Promise<number> {
  const { report, alias } = await withContext(g, async (ctx) => {
    const { conn, remote } = await connect(g, ctx)
    try {
      return { report: await new MailSession(ctx, conn, remote).run(), alias: ctx.state.alias }
    } finally {
      await conn.close()
    }
  })
  const from = countBySender(report.received)
  if (opts.json === true) {
    out.printJson({
      newMessages: report.received.length,
      from: Object.fromEntries(from),
      messages: report.received.map(r => messageJson(r, g.dir)),
      passportUpdates: report.updates,
      rejected: report.rejected.map(r => ({ alias: r.alias, code: r.code, message: r.message })),
      unreadable: report.unreadable,
      joined: report.joined
    })
  } else if (report.received.length === 0) {
    out.print('no new messages')
  } else {
    const n = report.received.length
    out.print(`${n} new message${n === 1 ? '' : 's'}: ${[...from].map(([a, c]) => `${c} from ${safeText(a)}`).join(', ')}`)
  }
  return printReport(out, report, alias)
}

// ---- inbox ----------------------------------------------------------------------------------

async function uniquePath (dir: string, name: string): Promise<string> {
  const safe = name.replace(/[/\\]/g, '_')
  const dot = safe.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [safe.slice(0, dot), safe.slice(dot)] : [safe, '']
  for (let i = 0; i < 10_000; i++) {
    const candidate = join(dir, i === 0 ? safe : `${stem} (${i})${ext}`)
    try {
      await stat(candidate)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return candidate
      throw err
    }
  }
  throw new AsmtpError('STORE_ERROR', `too many files named ${safe} in ${dir}`)
}

export async function inbox (out: CliOutput, g: Globals, opts: { json?: boolean, save?: string, contact?: string }): Promise<void> {
  const paths = pathsFor(g.dir)
  const state = await withContext(g, (ctx) => ctx.state)
  if (opts.contact !== undefined) findContact(state, opts.contact)
  const records = (await readMessages(paths))
    .filter(r => opts.contact === undefined || r.alias === opts.contact)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.time - b.r.time || a.i - b.i)
    .map(x => x.r)
  const saved = new Map<MessageRecord, string>()
  if (opts.save !== undefined) {
    await mkdir(opts.save, { recursive: true })
    for (const r of records) {
      if (r.file === undefined) continue
      const target = await uniquePath(opts.save, r.file.name)
      await copyFile(join(paths.dir, r.file.path), target)
      saved.set(r, target)
    }
  }
  if (opts.json === true) {
    out.printJson(records.map(r => ({ ...messageJson(r, g.dir), ...(saved.has(r) ? { savedTo: saved.get(r) } : {}) })))
    return
  }
  if (records.length === 0) out.info('no messages yet')
  for (const r of records) {
    out.print(formatMessage(r))
    const target = saved.get(r)
    if (target !== undefined) out.print(`    saved to ${target}`)
  }
}

// ---- watch ----------------------------------------------------------------------------------

/** A full sync (contacts added, keys rotated, topics aged out) this often while watching. */
export const WATCH_FULL_SYNC_MS = 60_000
const RECONNECT_MAX_MS = 30_000

/** Stays connected and prints mail as it arrives, until `stop` aborts; reconnects when the node goes away. */
export async function watch (out: CliOutput, g: Globals, opts: { json?: boolean }, stop: AbortSignal): Promise<number> {
  let exitCode = 0
  const show = (report: SyncReport, alias: string): void => {
    for (const r of report.received) out.print(opts.json === true ? JSON.stringify(messageJson(r, g.dir)) : formatMessage(r))
    if (printReport(out, report, alias) !== 0) exitCode = 1
  }
  const unit = async (conn: ClientConnection, remote: Remote, work: (s: MailSession) => Promise<void>): Promise<void> => {
    await withContext(g, async (ctx) => {
      const session = new MailSession(ctx, conn, remote)
      await session.load()
      await work(session)
      show(session.report, ctx.state.alias)
    })
  }
  const stopped = new Promise<void>(resolve => { stop.addEventListener('abort', () => { resolve() }, { once: true }) })
  let first = true
  let backoff = 1000
  while (!stop.aborted) {
    let conn: ClientConnection
    let remote: Remote
    try {
      ({ conn, remote } = await withContext(g, async (ctx) => await connect(g, ctx)))
    } catch (err) {
      if (first || !isAsmtpError(err, 'HANDSHAKE_FAILED')) throw err
      out.warn(`${(err as Error).message}; retrying in ${backoff / 1000} s`)
      await Promise.race([stopped, new Promise(resolve => setTimeout(resolve, backoff))])
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS)
      continue
    }
    let chain = Promise.resolve()
    const enqueue = (work: (s: MailSession) => Promise<void>): void => {
      chain = chain.then(async () => { await unit(conn, remote, work) }).catch((err: unknown) => {
        if (!stop.aborted) out.error(`${(err as Error).message}`)
      })
    }
    try {
      await unit(conn, remote, async (s) => { await s.run() })
      await conn.watch((push) => { enqueue(async (s) => { s.mapTopics(); await s.fetchTopic(toHex(push.topic)) }) })
    } catch (err) {
      await conn.close()
      if (first) throw err
      out.warn(`${(err as Error).message}; reconnecting in ${backoff / 1000} s`)
      await Promise.race([stopped, new Promise(resolve => setTimeout(resolve, backoff))])
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS)
      continue
    }
    if (first) out.info('watching for new mail (Ctrl-C to stop)')
    first = false
    backoff = 1000
    const timer = setInterval(() => { enqueue(async (s) => { await s.run() }) }, WATCH_FULL_SYNC_MS).unref()
    const lost = await Promise.race([conn.closed, stopped.then(() => undefined)])
    clearInterval(timer)
    await chain
    if (stop.aborted) {
      await conn.close()
      break
    }
    out.warn(`connection to the node lost${lost instanceof Error ? `: ${lost.message}` : ''}; reconnecting`)
  }
  return exitCode
}
