/**
 * asmtp-cli commands about mail, over the client library: send (text, stdin or a file), sync,
 * inbox, delete, watch. Each prints what the library returned; progress bars go to a terminal
 * only (cli/progress.ts).
 */
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { AsmtpError, MAX_FILE_BYTES, type InboxMessage, type SendContent, type SyncReport, type TtlName } from '../../src/index.js'
import type { CliOutput } from '../output.js'
import { createProgress } from '../progress.js'
import { formatMessage, formatSize, messageJson, safeText } from './format.js'
import { formatVanished, modeJson, modeTag, vanishedJson } from './format-modes.js'
import { openAccount, type Globals } from './identity-commands.js'
import { readMailOf } from './mail-view.js'

export interface SendOptions { file?: string, json?: boolean, ttl?: string, burn?: boolean }

export async function send (out: CliOutput, g: Globals, alias: string, text: string | undefined, opts: SendOptions, readStdin: () => Promise<Uint8Array>): Promise<void> {
  const contents: SendContent[] = []
  if (text !== undefined) contents.push({ text })
  else if (opts.file === undefined) contents.push({ text: new TextDecoder().decode(await readStdin()) })
  if (opts.file !== undefined) {
    const size = (await stat(opts.file)).size
    if (size > MAX_FILE_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `${opts.file} is ${formatSize(size)}; the largest file is ${formatSize(MAX_FILE_BYTES)}`)
    contents.push({ file: { name: basename(opts.file), data: new Uint8Array(await readFile(opts.file)) } })
  }
  const account = await openAccount(g)
  const sent = []
  for (const content of contents) {
    const bar = 'file' in content ? createProgress(out, opts.json === true, `sending ${content.file.name}`) : null
    try {
      const mode = { ...(opts.ttl === undefined ? {} : { ttl: opts.ttl as TtlName }), ...(opts.burn === true ? { burn: true } : {}) }
      sent.push(await account.send(alias, content, bar === null ? mode : { ...mode, onProgress: p => { bar.update(p.done, p.total) } }))
    } finally {
      bar?.stop()
    }
  }
  if (opts.json === true) {
    out.printJson(sent.map(r => ({ ...messageJson(r, g.dir), ...modeJson(r) })))
    return
  }
  for (const r of sent) {
    out.print((r.file === undefined
      ? `sent to ${safeText(r.alias)}: ${r.text?.length ?? 0} characters`
      : `sent to ${safeText(r.alias)}: file ${safeText(r.file.name)} (${formatSize(r.file.size)})`) + modeTag(r))
  }
}

// ---- sync -----------------------------------------------------------------------------------

function countBySender (records: ReadonlyArray<{ alias: string }>): Map<string, number> {
  const from = new Map<string, number>()
  for (const r of records) from.set(r.alias, (from.get(r.alias) ?? 0) + 1)
  return from
}

/** Prints the notes of a sync; returns the exit code (1 when something was rejected). */
function printReport (out: CliOutput, report: SyncReport): number {
  if (report.joined) out.info('this device has joined its passport')
  if (report.ownPassportChanged) out.info('your passport was changed by another of your devices; updated here')
  if (report.contactsChanged) out.info('your contacts were changed by another of your devices; updated here')
  if (report.sentElsewhere.length > 0) out.info(`${report.sentElsewhere.length} message(s) sent from your other devices`)
  for (const u of report.updates) out.info(`${safeText(u.alias)}'s passport changed${u.sharedKeyChanged ? ': new shared key, topics updated' : ''}`)
  if (report.resent.length > 0) out.info(`${report.resent.length} message(s) without a receipt were sent again`)
  for (const r of report.undeliverable) out.warn(`could not deliver your message to ${safeText(r.alias)} of ${new Date(r.time).toISOString()} (no receipt): send it again later or by other means`)
  if (report.unreadable > 0) out.info(`${report.unreadable} envelope(s) did not open for this device (mail your other devices sent)`)
  for (const r of report.rejected) out.error(r.message)
  return report.rejected.length > 0 ? 1 : 0
}

export async function sync (out: CliOutput, g: Globals, opts: { json?: boolean }): Promise<number> {
  const bar = createProgress(out, opts.json === true, 'syncing', 'topics {value}/{total}, {envelopes} envelopes')
  let report: SyncReport
  try {
    report = await (await openAccount(g)).sync({ onProgress: p => { bar?.update(p.done, p.total, { envelopes: p.envelopes ?? 0 }) } })
  } finally {
    bar?.stop()
  }
  const from = countBySender(report.received)
  if (opts.json === true) {
    out.printJson({
      newMessages: report.received.length,
      from: Object.fromEntries(from),
      messages: report.received.map(r => messageJson(r, g.dir)),
      sentElsewhere: report.sentElsewhere.map(r => messageJson(r, g.dir)),
      passportUpdates: report.updates,
      rejected: report.rejected.map(r => ({ alias: r.alias, code: r.code, message: r.message })),
      unreadable: report.unreadable,
      joined: report.joined,
      delivered: report.delivered.length,
      resent: report.resent.length,
      undeliverable: report.undeliverable.length
    })
  } else if (report.received.length === 0) {
    out.print('no new messages')
  } else {
    const n = report.received.length
    out.print(`${n} new message${n === 1 ? '' : 's'}: ${[...from].map(([a, c]) => `${c} from ${safeText(a)}`).join(', ')}`)
  }
  return printReport(out, report)
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

function savedJson (targets: string[] | undefined, mail: unknown): { savedTo?: string, savedAttachments?: string[] } {
  if (targets === undefined) return {}
  return mail === null ? { savedTo: targets[0] ?? '' } : { savedAttachments: targets }
}

export async function inbox (out: CliOutput, g: Globals, opts: { json?: boolean, save?: string, contact?: string, unread?: boolean }): Promise<void> {
  const account = await openAccount(g)
  const records = await account.inbox({ ...(opts.contact === undefined ? {} : { contact: opts.contact }), ...(opts.unread === true ? { unread: true } : {}) })
  const gone = opts.unread === true ? [] : await account.vanished(opts.contact === undefined ? {} : { contact: opts.contact })
  const saved = new Map<InboxMessage, string[]>()
  const mails = new Map(await Promise.all(records.map(async r => [r, await readMailOf(g.dir, r)] as const)))
  if (opts.save !== undefined) {
    await mkdir(opts.save, { recursive: true })
    for (const r of records) {
      const mail = mails.get(r) ?? null
      if (mail !== null) {
        const targets: string[] = []
        for (const a of mail.attachments) {
          const target = await uniquePath(opts.save, a.filename)
          await writeFile(target, a.content, { flag: 'wx' })
          targets.push(target)
        }
        if (targets.length > 0) saved.set(r, targets)
        continue
      }
      if (r.file === undefined || r.file.path === '') continue
      const target = await uniquePath(opts.save, r.file.name)
      await copyFile(join(g.dir, r.file.path), target)
      saved.set(r, [target])
    }
  }
  if (opts.json !== true) await account.markRead(records.filter(r => !r.read).map(r => ({ contact: r.contact, id: r.id })))
  if (opts.json === true) {
    out.printJson([...records.map(r => ({ ...messageJson(r, g.dir, mails.get(r) ?? null), ...modeJson(r), ...savedJson(saved.get(r), mails.get(r) ?? null) })), ...gone.map(vanishedJson)])
    return
  }
  if (records.length === 0 && gone.length === 0) out.info('no messages yet')
  for (const n of gone) out.print(formatVanished(n))
  for (const r of records) {
    out.print(formatMessage(r, mails.get(r) ?? null) + modeTag(r))
    for (const target of saved.get(r) ?? []) out.print(`    saved to ${target}`)
  }
}

export async function deleteMessage (out: CliOutput, g: Globals, id: string): Promise<void> {
  const n = await (await openAccount(g)).delete(id)
  out.print(`deleted ${n} message${n === 1 ? '' : 's'}; your other devices delete ${n === 1 ? 'it' : 'them'} at their next sync`)
}

// ---- watch ----------------------------------------------------------------------------------

/** Stays connected and prints mail as it arrives, until `stop` aborts; reconnects when the node goes away. */
export async function watch (out: CliOutput, g: Globals, opts: { json?: boolean }, stop: AbortSignal): Promise<number> {
  let exitCode = 0
  let announced = false
  const account = await openAccount(g)
  for await (const e of account.watch({ signal: stop })) {
    switch (e.type) {
      case 'connected':
        if (!announced) out.info('watching for new mail (Ctrl-C to stop)')
        announced = true
        break
      case 'message':
        out.print(opts.json === true ? JSON.stringify(messageJson(e.message, g.dir)) : formatMessage(e.message))
        break
      case 'report':
        if (printReport(out, { ...e.report, received: [] }) !== 0) exitCode = 1
        break
      case 'error':
        out.error(e.error.message)
        exitCode = 1
        break
      case 'disconnected':
        out.warn(`connection to the node lost${e.error === null ? '' : `: ${e.error.message}`}; reconnecting${e.retryInMs > 0 ? ` in ${e.retryInMs / 1000} s` : ''}`)
        break
    }
  }
  return exitCode
}
