/**
 * One exchange with the node (docs/CLIENT.md "What sync does"): join a passport, put the own
 * passport, register the self topics and every contact's topics (dropping the ones that aged
 * out), send passport updates in-band, publish what the outbox holds, read everything new since
 * each topic's cursor (device-sync records on the self topics, mail and receipts on the
 * contacts' topics), then send the records, receipts and resends that are due.
 */
import { fromHex, toHex } from '../bytes.js'
import type { ClientConnection } from '../channel/index.js'
import type { EnvelopeMessage } from '../envelope/index.js'
import { AsmtpError, isAsmtpError, type AsmtpErrorCode } from '../errors.js'
import { mergePassport, Passport } from '../passport/index.js'
import { loadContactPassport, saveContactPassport, toMailboxContact, type ContactRecord } from './account-files.js'
import { adoptOwnPassport, mailboxFor, requirePassport, saveContext, type Context } from './context.js'
import { adoptContactPassport, applyRecords, queueReceipt } from './device-records.js'
import { decodeDeviceSyncBatch, DEVICE_SYNC_CONTENT_TYPE, verifyDeviceSyncBatch } from './device-sync.js'
import { receivedMode, trackExpiry } from './expiry.js'
import { decodeFileChunk, FILE_CONTENT_TYPE } from './file-chunks.js'
import { appendMessage, completeIfReady, discardIncoming, readMessages, readSentHashes, storeChunk, type MessageMode, type MessageRecord } from './mail-store.js'
import type { ContactTopic, Mailbox } from './mailbox.js'
import { applyPassportUpdate, PASSPORT_UPDATE_CONTENT_TYPE } from './passport-update.js'
import { decodeReceipt, RECEIPT_CONTENT_TYPE } from './receipts.js'
import { openOnTopic } from './seal.js'
import { selfTopics, type SelfTopic } from './self-topic.js'
import { Publisher, type SessionOptions } from './session-out.js'
import { messageKey } from './sync-state.js'

const MAX_QUERY_PAGES = 100_000
const MAX_TOPIC_ROUNDS = 4
const SETTLE_POLL_MS = 200

export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8'

export interface Rejection { alias: string, code: AsmtpErrorCode, message: string }

export interface SyncReport {
  received: MessageRecord[]
  /** Copies of mail sent by another device of this passport. */
  sentElsewhere: MessageRecord[]
  updates: Array<{ alias: string, sharedKeyChanged: boolean }>
  rejected: Rejection[]
  /** Envelopes that do not open for this device. */
  unreadable: number
  joined: boolean
  ownPassportChanged: boolean
  contactsChanged: boolean
  /** `${contact}:${id}` of sent mail that a receipt confirmed during this sync. */
  delivered: string[]
  resent: string[]
  undeliverable: MessageRecord[]
  /** Device-sync batches applied. */
  deviceBatches: number
}

export function emptyReport (): SyncReport {
  return {
    received: [], sentElsewhere: [], updates: [], rejected: [], unreadable: 0, joined: false, ownPassportChanged: false, contactsChanged: false,
    delivered: [], resent: [], undeliverable: [], deviceBatches: 0
  }
}

type TopicEntry = { kind: 'contact', contact: ContactRecord, topic: ContactTopic } | { kind: 'self', topic: SelfTopic }

function describeRejection (alias: string, err: AsmtpError): string {
  if (err.code === 'ENVELOPE_WRONG_SENDER') return `rejected a message on the topic with ${alias}: it was sealed by a key that is not ${alias}'s (not stored)`
  return `rejected an envelope from ${alias}: ${err.message} (${err.code}; not stored)`
}

export class MailSession {
  readonly report: SyncReport = emptyReport()
  readonly out: Publisher
  private readonly topics = new Map<string, TopicEntry>()
  /** Topics whose mail may already wait elsewhere: read again for a moment after registering them. */
  private readonly expectMail = new Set<string>()
  private sentHashes = new Set<string>()
  private seen = new Set<string>()
  private topicsChanged = false

  constructor (private readonly ctx: Context, private readonly conn: ClientConnection, private readonly opts: SessionOptions) {
    this.out = new Publisher(ctx, conn, opts, this.report, () => this.sentHashes)
  }

  private get state (): Context['state'] { return this.ctx.state }

  private mailbox (): Mailbox { return mailboxFor(this.ctx) }

  /** Reads the sets that make processing idempotent: sent envelope hashes, message and file ids held. */
  async load (): Promise<void> {
    this.sentHashes = await readSentHashes(this.ctx.paths)
    this.seen = new Set((await readMessages(this.ctx.paths)).map(r => `${r.direction}:${messageKey(r.contact, r.id)}`))
    for (const [key, m] of Object.entries(this.ctx.sync.marks)) if (m.deleted !== undefined) { this.seen.add(`in:${key}`); this.seen.add(`out:${key}`) }
  }

  /** A full sync. */
  async run (): Promise<SyncReport> {
    await this.load()
    if (this.state.joinRequest !== null) await this.completeJoin()
    await this.syncOwnPassport()
    await this.out.flushOutbox()
    for (let round = 0; round < MAX_TOPIC_ROUNDS; round++) {
      this.topicsChanged = false
      await this.ensureTopics()
      await this.announce()
      this.progressTotal = this.topics.size
      this.progressDone = 0
      const order = [...this.topics].sort(([, a], [, b]) => Number(b.kind === 'self') - Number(a.kind === 'self')).map(([hex]) => hex)
      for (const hex of order) {
        await this.fetchTopic(hex)
        this.progressDone++
        this.progress()
      }
      await this.settle()
      if (!this.topicsChanged) break
    }
    await this.out.resendOverdue()
    await this.out.flushDue()
    await saveContext(this.ctx)
    return this.report
  }

  private progressTotal = 0
  private progressDone = 0
  private envelopesRead = 0

  private progress (): void {
    this.opts.onProgress?.({ phase: 'sync', done: this.progressDone, total: this.progressTotal, envelopes: this.envelopesRead })
  }

  // ---- own passport -----------------------------------------------------------------------

  private async completeJoin (): Promise<void> {
    const id = fromHex(this.state.passportId, 32)
    let passport: Passport
    try {
      passport = Passport.import(await this.conn.getPassport(id, this.signal()), { expectedId: id })
    } catch (err) {
      if (!isAsmtpError(err, 'NOT_FOUND')) throw err
      throw new AsmtpError('NOT_FOUND', `passport ${this.state.passportId} was not found through the node: the device that adds this one must run "asmtp-cli sync" first`)
    }
    if (!passport.isActiveMasterKey(this.ctx.device.publicKey)) {
      throw new AsmtpError('ACCOUNT_JOIN_PENDING', `this device is not in passport ${this.state.passportId} yet: run "asmtp-cli passport add-device ${this.state.joinRequest ?? ''}" on a device of it, then "asmtp-cli sync" there and here`)
    }
    this.ctx.ownKeys = []
    await adoptOwnPassport(this.ctx, passport, this.ctx.now())
    this.state.joinRequest = null
    await saveContext(this.ctx)
    this.report.joined = true
  }

  private signal (): { signal?: AbortSignal } {
    return this.opts.signal === undefined ? {} : { signal: this.opts.signal }
  }

  /**
   * Puts the own passport to the node and adopts what the node holds when it is longer (another
   * device extended it); with several devices, also asks the node for the network's copy.
   * DEVICE_REMOVED when the longer chain no longer lists this device.
   */
  private async syncOwnPassport (): Promise<void> {
    const local = requirePassport(this.ctx)
    let merged = local
    if (local.state.masterKeys.size > 1) {
      try {
        merged = mergePassport(merged, Passport.import(await this.conn.getPassport(local.id, this.signal()), { expectedId: local.id }))
      } catch (err) {
        if (!isAsmtpError(err) || err.code === 'LEDGER_FORK') throw err
      }
    }
    let held: Passport
    try {
      held = Passport.import(await this.conn.putPassport(merged.export(), this.signal()), { expectedId: local.id })
    } catch (err) {
      if (!isAsmtpError(err, 'LEDGER_FORK')) throw err
      throw new AsmtpError('LEDGER_FORK', `the node holds another version of your passport (two devices changed it at once): ${err.message}`, { cause: err })
    }
    merged = mergePassport(merged, held)
    if (merged.blocks.length > held.blocks.length) await this.conn.putPassport(merged.export(), this.signal())
    if (merged.blocks.length > local.blocks.length) {
      const keyChanged = await adoptOwnPassport(this.ctx, merged, this.ctx.now())
      this.report.ownPassportChanged = true
      if (keyChanged) for (const t of selfTopics(this.ctx.ownKeys, this.ctx.now())) if (t.current) this.expectMail.add(toHex(t.topic.topic))
    }
  }

  // ---- topics -----------------------------------------------------------------------------

  private cursors (): Record<string, string> {
    return (this.state.cursors[this.opts.remoteId] ??= {})
  }

  /** The live self topics and every live topic of every contact (derived once per process), without asking the node. */
  mapTopics (): void {
    const now = this.ctx.now()
    const mailbox = this.mailbox()
    this.topics.clear()
    for (const topic of selfTopics(this.ctx.ownKeys, now)) this.topics.set(toHex(topic.topic.topic), { kind: 'self', topic })
    for (const contact of this.state.contacts) {
      for (const topic of mailbox.topicsFor(toMailboxContact(contact), now)) this.topics.set(toHex(topic.topic.topic), { kind: 'contact', contact, topic })
    }
  }

  /** Registers every live topic; deregisters topics registered before that are no longer live. */
  async ensureTopics (): Promise<void> {
    this.mapTopics()
    const before = this.state.registered[this.opts.remoteId] ?? []
    const known = new Set(before)
    if (this.report.joined) for (const [hex, e] of this.topics) if (e.kind === 'self') this.expectMail.add(hex)
    await Promise.all([...this.topics.entries()].map(async ([hex, e]) => {
      await this.out.register(e.topic.topic)
      if (!known.has(hex) && e.kind === 'contact' && this.expectNew.has(e.contact.passportId)) this.expectMail.add(hex)
    }))
    for (const hex of before.filter(h => !this.topics.has(h))) {
      await this.conn.deregisterTopic(fromHex(hex, 32), this.signal()).catch((err: unknown) => { if (!isAsmtpError(err, 'NOT_FOUND') && !isAsmtpError(err, 'UNAUTHORIZED_DEVICE')) throw err })
      delete this.cursors()[hex]
    }
    this.state.registered[this.opts.remoteId] = [...this.topics.keys()]
    await saveContext(this.ctx)
  }

  /** Contacts (passport ids) whose topics may already hold mail when first registered here. */
  private readonly expectNew = new Set<string>()

  /** Sends the own passport to every contact (or `only`) that has not had its current tip. */
  async announce (only?: ContactRecord): Promise<void> {
    const passport = requirePassport(this.ctx)
    const tip = toHex(passport.state.tipId)
    for (const contact of only === undefined ? this.state.contacts : [only]) {
      if (contact.announcedTip === tip) continue
      await this.out.sendSealed('passport', `${contact.passportId}-${tip}`, contact.passportId, null, this.mailbox().sealPassportUpdates(toMailboxContact(contact), passport))
      contact.announcedTip = tip
      await saveContext(this.ctx)
    }
  }

  /** After registering topics that may already hold mail elsewhere, reads them again for up to settleMs while the node catches up. */
  private async settle (): Promise<void> {
    const waiting = new Set([...this.expectMail].filter(hex => this.topics.has(hex)))
    this.expectMail.clear()
    const deadline = Date.now() + this.opts.settleMs
    while (waiting.size > 0 && Date.now() < deadline && this.opts.signal?.aborted !== true) {
      await new Promise(resolve => setTimeout(resolve, SETTLE_POLL_MS))
      for (const hex of [...waiting]) if (await this.fetchTopic(hex) > 0) waiting.delete(hex)
    }
  }

  // ---- receiving --------------------------------------------------------------------------

  /** Reads a topic from its cursor to the end, storing what is new. Returns how many envelopes were read (-1: not one of ours). */
  async fetchTopic (hex: string): Promise<number> {
    const entry = this.topics.get(hex)
    if (entry === undefined) return -1
    let count = 0
    for (let page = 0; page < MAX_QUERY_PAGES; page++) {
      const cursor = BigInt(this.cursors()[hex] ?? '0')
      const reply = await this.conn.query(entry.topic.topic.topic, cursor, 0, this.signal())
      const touched = new Set<string>()
      for (const item of reply.envelopes) await this.process(entry, item.data, touched)
      if (entry.kind === 'contact') for (const fileId of touched) await this.finishFile(entry.contact, fileId)
      count += reply.envelopes.length
      this.envelopesRead += reply.envelopes.length
      if (reply.envelopes.length > 0) this.progress()
      if (reply.cursor > cursor) this.cursors()[hex] = reply.cursor.toString()
      await saveContext(this.ctx)
      if (!reply.more || reply.envelopes.length === 0) break
    }
    return count
  }

  private reject (alias: string, err: AsmtpError): void {
    this.report.rejected.push({ alias, code: err.code, message: describeRejection(alias, err) })
  }

  private async process (entry: TopicEntry, data: Uint8Array, touched: Set<string>): Promise<void> {
    const result = openOnTopic(entry.topic, data, this.sentHashes)
    if (result.kind === 'own') return
    if (result.kind === 'rejected') {
      if (result.error.code === 'ENVELOPE_DECRYPT_FAILED') this.report.unreadable++
      else this.reject(entry.kind === 'self' ? 'your other devices' : entry.contact.alias, result.error)
      return
    }
    if (entry.kind === 'self') {
      await this.processSelf(entry.topic, result.message)
      return
    }
    const { contact } = entry
    const { message } = result
    const mode = receivedMode(result)
    try {
      switch (message.contentType) {
        case PASSPORT_UPDATE_CONTENT_TYPE:
          await this.applyUpdate(contact, message.body)
          return
        case RECEIPT_CONTENT_TYPE:
          this.applyReceipt(contact, message.body)
          return
        case FILE_CONTENT_TYPE: {
          const chunk = decodeFileChunk(message.body)
          const fileId = toHex(chunk.fileId)
          if (this.seen.has(`in:${messageKey(contact.passportId, fileId)}`)) {
            this.ack(contact, fileId)
            return
          }
          await storeChunk(this.ctx.paths, contact.passportId, chunk, message.time, mode)
          touched.add(fileId)
          return
        }
        default:
          await this.storeMessage(contact, message, mode)
      }
    } catch (err) {
      if (!isAsmtpError(err)) throw err
      this.reject(contact.alias, err)
    }
  }

  private ack (contact: ContactRecord, id: string): void {
    queueReceipt(this.ctx, contact.passportId, id, this.opts.recordDelayMs)
  }

  private applyReceipt (contact: ContactRecord, body: Uint8Array): void {
    for (const id of decodeReceipt(body)) {
      const key = messageKey(contact.passportId, toHex(id))
      const d = this.ctx.sync.delivery[key]
      if (d === undefined || d.delivered !== null) continue
      d.delivered = this.ctx.now()
      this.report.delivered.push(key)
    }
  }

  /** A device-sync batch: checked (sealed to us by us, signed by an active device for this key), then applied once. */
  private async processSelf (topic: SelfTopic, message: EnvelopeMessage): Promise<void> {
    if (message.contentType !== DEVICE_SYNC_CONTENT_TYPE) return
    try {
      const batch = decodeDeviceSyncBatch(message.body)
      verifyDeviceSyncBatch(batch, { passport: requirePassport(this.ctx), sealedWith: topic.theirs, retiredAt: topic.retiredAt })
      const id = toHex(batch.batchId)
      if (this.ctx.sync.batches.includes(id)) return
      this.ctx.sync.batches.push(id)
      const applied = await applyRecords(this.ctx, batch.records, toHex(batch.signer))
      this.report.deviceBatches++
      if (applied.contactsChanged) {
        this.report.contactsChanged = true
        this.topicsChanged = true
        for (const c of this.state.contacts) if (!(this.state.registered[this.opts.remoteId] ?? []).some(h => this.topics.get(h)?.kind === 'contact' && (this.topics.get(h) as { contact: ContactRecord }).contact.passportId === c.passportId)) this.expectNew.add(c.passportId)
      }
      for (const r of applied.sent) {
        const k = `out:${messageKey(r.contact, r.id)}`
        if (this.seen.has(k)) continue
        await appendMessage(this.ctx.paths, r)
        trackExpiry(this.ctx, r)
        this.seen.add(k)
        this.report.sentElsewhere.push(r)
      }
      if (applied.deleted.length > 0) await this.out.deleteLocal(applied.deleted, applied.burnt)
    } catch (err) {
      if (!isAsmtpError(err)) throw err
      this.reject('your other devices', err)
    }
  }

  private async storeMessage (contact: ContactRecord, message: EnvelopeMessage, mode: MessageMode): Promise<void> {
    const id = toHex(message.id)
    this.ack(contact, id)
    if (this.seen.has(`in:${messageKey(contact.passportId, id)}`)) return
    const record: MessageRecord = {
      v: 1, direction: 'in', alias: contact.alias, contact: contact.passportId, id, time: message.time, at: Date.now(), contentType: message.contentType, ...mode
    }
    if (message.contentType === TEXT_CONTENT_TYPE) record.text = new TextDecoder().decode(message.body)
    else record.body = Buffer.from(message.body).toString('base64')
    await this.keep(record)
  }

  private async keep (record: MessageRecord): Promise<void> {
    await appendMessage(this.ctx.paths, record)
    trackExpiry(this.ctx, record)
    this.seen.add(`in:${messageKey(record.contact, record.id)}`)
    this.report.received.push(record)
  }

  private async finishFile (contact: ContactRecord, fileIdHex: string): Promise<void> {
    const fileId = fromHex(fileIdHex, 16)
    try {
      const done = await completeIfReady(this.ctx.paths, contact.passportId, fileId)
      if (done === null) return
      this.ack(contact, fileIdHex)
      await this.keep({
        v: 1, direction: 'in', alias: contact.alias, contact: contact.passportId, id: fileIdHex, time: done.time, at: Date.now(), contentType: FILE_CONTENT_TYPE, file: done.record, ...done.mode
      })
    } catch (err) {
      if (!isAsmtpError(err)) throw err
      await discardIncoming(this.ctx.paths, contact.passportId, fileId)
      this.reject(contact.alias, err)
    }
  }

  /** Verifies a contact's passport update against the copy held and applies it (new keys, new topics). */
  private async applyUpdate (contact: ContactRecord, body: Uint8Array): Promise<void> {
    const held = await loadContactPassport(this.ctx.paths, contact)
    let applied
    try {
      applied = applyPassportUpdate(held, body)
    } catch (err) {
      if (!isAsmtpError(err)) throw err
      throw new AsmtpError(err.code, `passport update refused: ${err.message}`, { cause: err })
    }
    if (!applied.extended) return
    const keyChanged = await adoptContactPassport(this.ctx, contact, applied.passport)
    await saveContactPassport(this.ctx.paths, applied.passport)
    if (keyChanged) {
      this.topicsChanged = true
      this.expectNew.add(contact.passportId)
    }
    await saveContext(this.ctx)
    this.report.updates.push({ alias: contact.alias, sharedKeyChanged: keyChanged })
  }
}
