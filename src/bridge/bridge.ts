/**
 * The mail bridge (docs/BRIDGE.md): one account served to several front-ends at once. It keeps
 * the account's mail numbered (MailIndex), writes every new message to a Maildir when asked,
 * tells listeners (server-sent events) about each one, and sends for the front-ends (SMTP
 * submission, HTTP, MCP). A watch keeps it connected to the node; when the node goes away it
 * says so in `status()` and tries again with a growing delay.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import debug from 'debug'
import { AsmtpError, isAsmtpError } from '../errors.js'
import { type Account, type ContactInfo, type InboxMessage, type MessageRecord, type SendContent } from '../client/index.js'
import { appendLine, readIfExists } from '../client/folder.js'
import { resolveRecipient } from './address.js'
import { Maildir } from './maildir.js'
import { MailIndex } from './mail-index.js'
import { isBridgeMail, MAIL_CONTENT_TYPE, MAIL_FILE_NAME, MAIL_INLINE_MAX_BYTES, parseMail, readHeaders, renderMail, type MailSource, type ParsedMail } from './mime.js'
import { mailJson, type MailJson } from './mail-json.js'
import { bridgeDir } from './secrets.js'

const log = debug('asmtp:bridge')
const RETRY_MIN_MS = 1000
const RETRY_MAX_MS = 30_000
const MAX_SUMMARIES = 10_000
const MAX_SUBMITTED = 10_000

export interface BridgeInit {
  account: Account
  /** Write each message into this Maildir. */
  maildir?: string
  /** A full sync this often while watching (ms). @default 60000 */
  fullSyncMs?: number
}

export interface BridgeStatus {
  /** Whether the bridge holds a connection to the node now. */
  nodeReachable: boolean
  node: { address: string, remoteId: string } | null
  /** The client channel does not report the node's peers (docs/API.md "status"). */
  peers: number | null
  lastSync: string | null
  lastError: { code: string, message: string, at: string } | null
}

export interface MailboxStats { total: number, received: number, sent: number, unread: number, lastSeq: number }

export type MailListener = (mail: MailJson) => void

function errorCode (err: unknown): string {
  return isAsmtpError(err) ? err.code : 'INTERNAL'
}

export class MailBridge {
  readonly account: Account
  private readonly index: MailIndex
  private readonly maildir: Maildir | null
  private readonly listeners = new Set<MailListener>()
  private readonly summaries = new Map<string, ParsedMail | null>()
  private submitted = new Map<string, string>()
  private self = ''
  private node: { address: string, remoteId: string } | null = null
  private pumping: Promise<void> = Promise.resolve()
  private connected = false
  private lastSync: number | null = null
  private lastError: BridgeStatus['lastError'] = null
  private readonly stopper = new AbortController()
  private watching: Promise<void> | null = null

  constructor (private readonly init: BridgeInit) {
    this.account = init.account
    const dir = bridgeDir(this.account.paths.dir)
    this.index = new MailIndex(join(dir, 'index.txt'), dir)
    this.maildir = init.maildir === undefined ? null : new Maildir(init.maildir)
  }

  private get submittedPath (): string { return join(bridgeDir(this.account.paths.dir), 'submitted.txt') }

  /** Reads the index and the Maildir, and numbers (and delivers) what the account already holds. */
  async open (): Promise<void> {
    const id = await this.account.identity()
    this.self = id.alias
    this.node = id.node
    await this.index.open()
    await this.maildir?.open()
    const raw = await readIfExists(this.submittedPath)
    for (const line of (raw?.toString('utf8') ?? '').split('\n').slice(-MAX_SUBMITTED)) {
      const [k, v] = line.split(' ')
      if (k !== undefined && v !== undefined) this.submitted.set(k, v)
    }
    await this.pump()
  }

  /** Watches the node until `stop()`: new mail is numbered, delivered and announced as it arrives. */
  startWatching (): void {
    this.watching ??= this.watchLoop()
  }

  async stop (): Promise<void> {
    this.stopper.abort()
    await this.watching
    await this.pumping
  }

  private noteError (err: unknown): void {
    this.lastError = { code: errorCode(err), message: err instanceof Error ? err.message : String(err), at: new Date().toISOString() }
    log('%s', this.lastError.message)
  }

  private async watchLoop (): Promise<void> {
    const signal = this.stopper.signal
    let wait = RETRY_MIN_MS
    while (!signal.aborted) {
      try {
        for await (const e of this.account.watch({ signal, ...(this.init.fullSyncMs === undefined ? {} : { fullSyncMs: this.init.fullSyncMs }) })) {
          if (e.type === 'connected') { this.connected = true; wait = RETRY_MIN_MS }
          if (e.type === 'report') { this.lastSync = Date.now(); await this.pump() }
          if (e.type === 'error') this.noteError(e.error)
          if (e.type === 'disconnected') { this.connected = false; if (e.error !== null) this.noteError(e.error) }
        }
      } catch (err) {
        if (signal.aborted) break
        this.noteError(err)
      }
      this.connected = false
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, wait)
        function done (): void { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
        signal.addEventListener('abort', done, { once: true })
      })
      wait = Math.min(wait * 2, RETRY_MAX_MS)
    }
  }

  /** Numbers, delivers and announces whatever the account holds that the bridge has not seen yet; one at a time. */
  async pump (): Promise<void> {
    const run = this.pumping.then(async () => { await this.pumpOnce() })
    this.pumping = run.catch((err: unknown) => { this.noteError(err) })
    await run
  }

  private async pumpOnce (): Promise<void> {
    for (const m of await this.account.inbox()) {
      const key = `${m.contact}:${m.id}`
      if (this.maildir !== null && !this.maildir.has(`${m.direction}:${key}`)) {
        await this.maildir.deliver(`${m.direction}:${key}`, await renderMail(await this.sourceOf(m), { self: this.self }), m.direction === 'in' ? 'inbox' : 'sent')
      }
      if (this.index.seqOf(key) !== undefined) continue
      const seq = await this.index.add(key)
      const json = mailJson(m, seq, await this.summaryOf(m))
      for (const l of this.listeners) l(json)
    }
  }

  private async fileData (m: MessageRecord): Promise<Uint8Array | null> {
    if (m.file === undefined || m.file.path === '') return null
    try {
      return new Uint8Array(await readFile(join(this.account.paths.dir, m.file.path)))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  private async sourceOf (m: MessageRecord): Promise<MailSource> {
    const s: MailSource = { direction: m.direction, alias: m.alias, contact: m.contact, id: m.id, time: m.time, contentType: m.contentType }
    if (m.text !== undefined) s.text = m.text
    if (m.body !== undefined) s.body = new Uint8Array(Buffer.from(m.body, 'base64'))
    if (m.file !== undefined) s.file = { name: m.file.name, data: await this.fileData(m) }
    return s
  }

  /** Subject, text and attachments of a bridge mail (parsed once); null for other messages. */
  private async summaryOf (m: MessageRecord): Promise<ParsedMail | null> {
    if (!isBridgeMail(m)) return null
    const key = `${m.contact}:${m.id}`
    if (this.summaries.has(key)) return this.summaries.get(key) ?? null
    const raw = m.contentType === MAIL_CONTENT_TYPE ? (m.body === undefined ? null : new Uint8Array(Buffer.from(m.body, 'base64'))) : await this.fileData(m)
    let parsed: ParsedMail | null = null
    if (raw !== null) {
      try {
        parsed = await parseMail(raw)
      } catch (err) {
        log('a mail did not parse: %s', (err as Error).message)
      }
    }
    if (this.summaries.size >= MAX_SUMMARIES) this.summaries.clear()
    this.summaries.set(key, parsed)
    return parsed
  }

  onMail (listener: MailListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  get lastSeq (): number { return this.index.lastSeq }

  /** Numbered messages after `since`, in order, at most `limit`. */
  async list (opts: { since?: number, limit?: number, direction?: 'in' | 'out', unread?: boolean } = {}): Promise<MailJson[]> {
    await this.pump()
    const since = opts.since ?? 0
    const limit = opts.limit ?? 100
    const picked: Array<{ m: InboxMessage, seq: number }> = []
    for (const m of await this.account.inbox({ ...(opts.direction === undefined ? {} : { direction: opts.direction }), ...(opts.unread === true ? { unread: true } : {}) })) {
      const seq = this.index.seqOf(`${m.contact}:${m.id}`)
      if (seq !== undefined && seq > since) picked.push({ m, seq })
    }
    picked.sort((a, b) => a.seq - b.seq)
    const out: MailJson[] = []
    for (const { m, seq } of picked.slice(0, limit)) out.push(mailJson(m, seq, await this.summaryOf(m)))
    return out
  }

  async stats (): Promise<MailboxStats> {
    const all = await this.account.inbox()
    const received = all.filter(m => m.direction === 'in')
    return { total: all.length, received: received.length, sent: all.length - received.length, unread: received.filter(m => !m.read).length, lastSeq: this.index.lastSeq }
  }

  status (): BridgeStatus {
    return {
      nodeReachable: this.connected,
      node: this.node,
      peers: null,
      lastSync: this.lastSync === null ? null : new Date(this.lastSync).toISOString(),
      lastError: this.lastError
    }
  }

  /** Connects once to check that the node answers (for a bridge that does not watch). */
  async probe (signal?: AbortSignal): Promise<void> {
    try {
      await this.account.sync(signal === undefined ? {} : { signal })
      this.connected = true
      this.lastSync = Date.now()
      await this.pump()
    } catch (err) {
      this.connected = false
      this.noteError(err)
      throw err
    }
  }

  async contacts (): Promise<ContactInfo[]> {
    return await this.account.contacts()
  }

  /** The contact an address names (CONTACT_UNKNOWN otherwise). */
  async recipient (address: string): Promise<ContactInfo> {
    return resolveRecipient(address, await this.account.contacts())
  }

  /** Sends to the contact an address names; resolves once the node has taken every envelope. */
  async send (address: string, content: SendContent, opts: { signal?: AbortSignal } = {}): Promise<MailJson> {
    const contact = await this.recipient(address)
    let sent: MessageRecord
    try {
      sent = await this.account.send(contact.alias, content, opts)
    } catch (err) {
      this.noteError(err)
      throw err
    }
    await this.pump()
    const seq = this.index.seqOf(`${sent.contact}:${sent.id}`) ?? await this.index.add(`${sent.contact}:${sent.id}`)
    return mailJson({ ...sent, read: true, status: 'waiting' }, seq, await this.summaryOf(sent))
  }

  /**
   * Sends a whole RFC 5322 mail (SMTP submission) to one contact: in one envelope of content
   * type message/rfc822 when it fits, else as the file MAIL_FILE_NAME in chunks. The same mail
   * (the same Message-ID, or without one the same bytes) submitted again to the same contact (a
   * client retrying after a temporary error) is not sent twice.
   */
  async sendMail (contact: ContactInfo, raw: Uint8Array, opts: { signal?: AbortSignal } = {}): Promise<string> {
    const messageId = readHeaders(raw).get('message-id')
    const digest = `${createHash('sha256').update(messageId === undefined ? raw : `message-id\n${messageId}`).digest('hex')}:${contact.passportId}`
    const done = this.submitted.get(digest)
    if (done !== undefined) return done
    const content: SendContent = raw.length <= MAIL_INLINE_MAX_BYTES
      ? { body: raw, contentType: MAIL_CONTENT_TYPE }
      : { file: { name: MAIL_FILE_NAME, data: raw } }
    let sent: MessageRecord
    try {
      sent = await this.account.send(contact.alias, content, opts)
    } catch (err) {
      this.noteError(err)
      throw err
    }
    await appendLine(this.submittedPath, `${digest} ${sent.id}`)
    this.submitted.set(digest, sent.id)
    if (this.submitted.size > MAX_SUBMITTED) this.submitted = new Map([...this.submitted].slice(-MAX_SUBMITTED / 2))
    await this.pump()
    return sent.id
  }

  async delete (messageId: string): Promise<number> {
    if (!/^[0-9a-fA-F]{32}$/.test(messageId)) throw new AsmtpError('MESSAGE_NOT_FOUND', `no message with id ${messageId} (an id is 32 hex digits)`)
    return await this.account.delete(messageId)
  }

  async markRead (mails: readonly MailJson[]): Promise<void> {
    await this.account.markRead(mails.filter(m => m.direction === 'received').map(m => ({ contact: m.passportId, id: m.messageId })))
  }
}
