/**
 * One exchange with the node (docs/CLIENT.md "What sync does"): join a passport, put the own
 * passport, register the topics of every contact (and drop the ones that aged out), send
 * passport updates in-band to contacts, publish, and read everything new since the cursor of
 * each topic, opening each envelope with the contact's key as the only accepted sender.
 */
import { fromHex, toHex } from '../../src/bytes.js'
import { AsmtpError, isAsmtpError, type AsmtpErrorCode } from '../../src/errors.js'
import { Passport, mergePassport } from '../../src/passport/index.js'
import type { ClientConnection } from '../../src/channel/index.js'
import {
  applyPassportUpdate, decodeFileChunk, FILE_CONTENT_TYPE, PASSPORT_UPDATE_CONTENT_TYPE, TEXT_CONTENT_TYPE,
  withCurrentKey, type ContactTopic, type Mailbox, type SealedForContact
} from '../../src/client/index.js'
import type { EnvelopeMessage } from '../../src/envelope/index.js'
import { adoptOwnPassport, mailboxFor, requirePassport, saveContext, type Context } from './context.js'
import {
  contactKeysToRecord, loadContactPassport, saveContactPassport, toMailboxContact, type ContactRecord
} from './home.js'
import {
  appendMessage, appendSentHashes, completeIfReady, discardIncoming, readMessages, readSentHashes, storeChunk, type MessageRecord
} from './mail-store.js'
import type { Remote } from './remote.js'

const MAX_QUERY_PAGES = 100_000
const MAX_TOPIC_ROUNDS = 4
const PUBLISH_RETRY_MS = 30_000

export interface Rejection { alias: string, code: AsmtpErrorCode, message: string }

export interface SyncReport {
  received: MessageRecord[]
  updates: Array<{ alias: string, sharedKeyChanged: boolean }>
  rejected: Rejection[]
  /** Envelopes that do not open for this device: most likely sent by another device of this user. */
  unreadable: number
  joined: boolean
  ownPassportChanged: boolean
}

interface TopicEntry { contact: ContactRecord, topic: ContactTopic }

function describeRejection (alias: string, err: AsmtpError): string {
  if (err.code === 'ENVELOPE_WRONG_SENDER') return `rejected a message on the topic with ${alias}: it was sealed by a key that is not ${alias}'s (not stored)`
  return `rejected an envelope from ${alias}: ${err.message} (${err.code}; not stored)`
}

export class MailSession {
  readonly report: SyncReport = { received: [], updates: [], rejected: [], unreadable: 0, joined: false, ownPassportChanged: false }
  private readonly topics = new Map<string, TopicEntry>()
  private readonly registeredNow = new Set<string>()
  private sentHashes = new Set<string>()
  private seen = new Set<string>()
  private topicsChanged = false

  constructor (private readonly ctx: Context, private readonly conn: ClientConnection, private readonly remote: Remote) {}

  private get state (): Context['state'] { return this.ctx.state }

  private mailbox (): Mailbox { return mailboxFor(this.ctx) }

  /** Reads the sets that make processing idempotent: sent envelope hashes, received message and file ids. */
  async load (): Promise<void> {
    this.sentHashes = await readSentHashes(this.ctx.paths)
    this.seen = new Set((await readMessages(this.ctx.paths)).filter(r => r.direction === 'in').map(r => `${r.contact}:${r.id}`))
  }

  /** A full sync: what `asmtp-cli sync` runs. */
  async run (): Promise<SyncReport> {
    await this.load()
    if (this.state.joinRequest !== null) await this.completeJoin()
    await this.syncOwnPassport()
    for (let round = 0; round < MAX_TOPIC_ROUNDS; round++) {
      this.topicsChanged = false
      await this.ensureTopics()
      await this.announce()
      for (const hex of [...this.topics.keys()]) await this.fetchTopic(hex)
      if (!this.topicsChanged) break
    }
    return this.report
  }

  // ---- own passport -----------------------------------------------------------------------

  private async completeJoin (): Promise<void> {
    const id = fromHex(this.state.passportId, 32)
    let passport: Passport
    try {
      passport = Passport.import(await this.conn.getPassport(id), { expectedId: id })
    } catch (err) {
      if (!isAsmtpError(err, 'NOT_FOUND')) throw err
      throw new AsmtpError('NOT_FOUND', `passport ${this.state.passportId} was not found through the node: the device that adds this one must run "asmtp-cli sync" first`)
    }
    if (!passport.isActiveMasterKey(this.ctx.device.publicKey)) {
      throw new AsmtpError('NOT_FOUND', `this device is not in passport ${this.state.passportId} yet: run "asmtp-cli passport add-device ${this.state.joinRequest ?? ''}" on a device of it, then "asmtp-cli sync" there and here`)
    }
    this.ctx.ownKeys = []
    await adoptOwnPassport(this.ctx, passport)
    this.state.joinRequest = null
    await saveContext(this.ctx)
    this.report.joined = true
  }

  /**
   * Puts the own passport to the node and adopts what the node holds when it is longer (another
   * device extended it); with several devices, also asks the node for the network's copy.
   */
  private async syncOwnPassport (): Promise<void> {
    const local = requirePassport(this.ctx)
    let merged = local
    if (local.state.masterKeys.size > 1) {
      try {
        merged = mergePassport(merged, Passport.import(await this.conn.getPassport(local.id), { expectedId: local.id }))
      } catch (err) {
        if (!isAsmtpError(err) || err.code === 'LEDGER_FORK') throw err
      }
    }
    let held: Passport
    try {
      held = Passport.import(await this.conn.putPassport(merged.export()), { expectedId: local.id })
    } catch (err) {
      if (!isAsmtpError(err, 'LEDGER_FORK')) throw err
      throw new AsmtpError('LEDGER_FORK', `the node holds another version of your passport (two devices changed it at once): ${err.message}`, { cause: err })
    }
    merged = mergePassport(merged, held)
    if (merged.blocks.length > held.blocks.length) await this.conn.putPassport(merged.export())
    if (merged.blocks.length > local.blocks.length) {
      await adoptOwnPassport(this.ctx, merged)
      this.report.ownPassportChanged = true
    }
  }

  // ---- topics -----------------------------------------------------------------------------

  private cursors (): Record<string, string> {
    return (this.state.cursors[this.remote.remoteId] ??= {})
  }

  /** Computes the live topics of every contact (derived once per process, see TopicCache), without asking the node. */
  mapTopics (now = Date.now()): void {
    const mailbox = this.mailbox()
    this.topics.clear()
    for (const contact of this.state.contacts) {
      for (const topic of mailbox.topicsFor(toMailboxContact(contact), now)) this.topics.set(toHex(topic.topic.topic), { contact, topic })
    }
  }

  /** Registers every live topic of every contact; deregisters topics registered before that are no longer live. */
  async ensureTopics (now = Date.now()): Promise<void> {
    this.mapTopics(now)
    await Promise.all([...this.topics.values()].map(async e => { await this.register(e.topic) }))
    const before = this.state.registered[this.remote.remoteId] ?? []
    const gone = before.filter(hex => !this.topics.has(hex))
    for (const hex of gone) {
      await this.conn.deregisterTopic(fromHex(hex, 32)).catch((err: unknown) => { if (!isAsmtpError(err, 'NOT_FOUND')) throw err })
      delete this.cursors()[hex]
    }
    this.state.registered[this.remote.remoteId] = [...this.topics.keys()]
    await saveContext(this.ctx)
  }

  private async register (topic: ContactTopic): Promise<void> {
    const hex = toHex(topic.topic.topic)
    if (this.registeredNow.has(hex)) return
    await this.conn.registerTopic(topic.topic.topic, topic.topic.key)
    this.registeredNow.add(hex)
  }

  // ---- sending ----------------------------------------------------------------------------

  /** Sends the own passport to every contact (or `only`) that has not had its current tip. */
  async announce (only?: ContactRecord): Promise<void> {
    const passport = requirePassport(this.ctx)
    const tip = toHex(passport.state.tipId)
    for (const contact of only === undefined ? this.state.contacts : [only]) {
      if (contact.announcedTip === tip) continue
      await this.publish(this.mailbox().sealPassportUpdates(toMailboxContact(contact), passport))
      contact.announcedTip = tip
      await saveContext(this.ctx)
    }
  }

  /** Registers the topics, records the hashes (so the envelopes are known as ours), then publishes in order. */
  async publish (sealed: readonly SealedForContact[]): Promise<void> {
    for (const s of sealed) await this.register(s.topic)
    await appendSentHashes(this.ctx.paths, sealed.map(s => s.hash))
    for (const s of sealed) this.sentHashes.add(toHex(s.hash))
    for (const s of sealed) {
      const deadline = Date.now() + PUBLISH_RETRY_MS
      for (let wait = 50; ; wait = Math.min(wait * 2, 2000)) {
        try {
          await this.conn.publish(s.topic.topic.topic, s.envelope)
          break
        } catch (err) {
          if (!isAsmtpError(err, 'QUEUE_FULL') || Date.now() + wait > deadline) throw err
          await new Promise(resolve => setTimeout(resolve, wait))
        }
      }
    }
  }

  // ---- receiving --------------------------------------------------------------------------

  /** Reads a topic from its cursor to the end, storing what is new. Returns whether the topic is one of ours. */
  async fetchTopic (hex: string): Promise<boolean> {
    const entry = this.topics.get(hex)
    if (entry === undefined) return false
    for (let page = 0; page < MAX_QUERY_PAGES; page++) {
      const cursor = BigInt(this.cursors()[hex] ?? '0')
      const reply = await this.conn.query(entry.topic.topic.topic, cursor)
      const touched = new Set<string>()
      for (const item of reply.envelopes) await this.process(entry, item.data, touched)
      for (const fileId of touched) await this.finishFile(entry.contact, fileId)
      if (reply.cursor > cursor) this.cursors()[hex] = reply.cursor.toString()
      await saveContext(this.ctx)
      if (!reply.more || reply.envelopes.length === 0) break
    }
    return true
  }

  private reject (contact: ContactRecord, err: AsmtpError): void {
    this.report.rejected.push({ alias: contact.alias, code: err.code, message: describeRejection(contact.alias, err) })
  }

  private async process (entry: TopicEntry, data: Uint8Array, touched: Set<string>): Promise<void> {
    const result = this.mailbox().open(entry.topic, data, this.sentHashes)
    if (result.kind === 'own') return
    if (result.kind === 'rejected') {
      if (result.error.code === 'ENVELOPE_DECRYPT_FAILED') this.report.unreadable++
      else this.reject(entry.contact, result.error)
      return
    }
    const { message } = result
    try {
      switch (message.contentType) {
        case PASSPORT_UPDATE_CONTENT_TYPE:
          await this.applyUpdate(entry.contact, message.body)
          return
        case FILE_CONTENT_TYPE: {
          const chunk = decodeFileChunk(message.body)
          const fileId = toHex(chunk.fileId)
          if (this.seen.has(`${entry.contact.passportId}:${fileId}`)) return
          await storeChunk(this.ctx.paths, entry.contact.passportId, chunk, message.time)
          touched.add(fileId)
          return
        }
        default:
          await this.storeMessage(entry.contact, message)
      }
    } catch (err) {
      if (!isAsmtpError(err)) throw err
      this.reject(entry.contact, err)
    }
  }

  private async storeMessage (contact: ContactRecord, message: EnvelopeMessage): Promise<void> {
    const id = toHex(message.id)
    if (this.seen.has(`${contact.passportId}:${id}`)) return
    const record: MessageRecord = {
      v: 1, direction: 'in', alias: contact.alias, contact: contact.passportId, id, time: message.time, at: Date.now(), contentType: message.contentType
    }
    if (message.contentType === TEXT_CONTENT_TYPE) record.text = new TextDecoder().decode(message.body)
    else record.body = Buffer.from(message.body).toString('base64')
    await this.keep(record)
  }

  private async keep (record: MessageRecord): Promise<void> {
    await appendMessage(this.ctx.paths, record)
    this.seen.add(`${record.contact}:${record.id}`)
    this.report.received.push(record)
  }

  private async finishFile (contact: ContactRecord, fileIdHex: string): Promise<void> {
    const fileId = fromHex(fileIdHex, 16)
    try {
      const done = await completeIfReady(this.ctx.paths, contact.passportId, fileId)
      if (done === null) return
      await this.keep({
        v: 1, direction: 'in', alias: contact.alias, contact: contact.passportId, id: fileIdHex, time: done.time, at: Date.now(), contentType: FILE_CONTENT_TYPE, file: done.record
      })
    } catch (err) {
      if (!isAsmtpError(err)) throw err
      await discardIncoming(this.ctx.paths, contact.passportId, fileId)
      this.reject(contact, err)
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
    await saveContactPassport(this.ctx.paths, applied.passport)
    const now = Date.now()
    contact.updatedAt = now
    if (applied.sharedKeyChanged) {
      const keys = withCurrentKey(toMailboxContact(contact).keys, { publicKey: applied.passport.sharedPublicKey, retiredAt: null }, now)
      contact.keys = contactKeysToRecord(keys)
      this.topicsChanged = true
    }
    await saveContext(this.ctx)
    this.report.updates.push({ alias: contact.alias, sharedKeyChanged: applied.sharedKeyChanged })
  }
}
