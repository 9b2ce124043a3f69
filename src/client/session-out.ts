/**
 * What a session sends (docs/CLIENT.md "Sending is idempotent", "Device sync", "Receipts"):
 * every envelope goes through the outbox before it is published; device-sync records and
 * receipts wait until their random due time, then go out in batches; sent mail with no receipt
 * after half the frame lifetime is sealed again with the same message id, and after a second
 * half it is reported as undeliverable.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fromHex, toHex } from '../bytes.js'
import type { ClientConnection } from '../channel/index.js'
import { isAsmtpError } from '../errors.js'
import type { TopicKeys } from '../topic/index.js'
import { toMailboxContact } from './account-files.js'
import { mailboxFor, requirePassport, saveContext, type Context } from './context.js'
import { encodeDeviceSyncBatch, fitRecord, packDeviceRecords, DEVICE_SYNC_CONTENT_TYPE } from './device-sync.js'
import { encodeFileChunk, FILE_CONTENT_TYPE, splitFile } from './file-chunks.js'
import { appendSentHashes, deleteMessages, readMessages, type MessageRecord } from './mail-store.js'
import { appendOutbox, beginOutbox, commitOutbox, listOutbox, outboxKey, readOutbox, removeOutbox, writeOutbox, type OutboxEntry, type OutboxKind } from './outbox.js'
import { encodeReceipt, MAX_RECEIPT_IDS, RECEIPT_CONTENT_TYPE } from './receipts.js'
import { sealOnTopic, type Sealed } from './seal.js'
import { selfTopics } from './self-topic.js'
import { messageKey } from './sync-state.js'
import { vanishMessages } from './vanished.js'

/** The network's default frame lifetime (DESIGN.md "What travels"): mail unconfirmed for half of it is sent again. */
export const FRAME_LIFETIME_MS = 14 * 24 * 3600_000
const PUBLISH_RETRY_MS = 30_000
/** Envelopes sealed and published per step of a file, so memory stays bounded. */
export const FILE_BATCH = 64

export interface Progress {
  phase: 'send' | 'sync'
  done: number
  total: number
  /** sync: envelopes read so far. */
  envelopes?: number
}

export interface SessionOptions {
  /** The node's public id (hex): cursors and registrations are kept per node. */
  remoteId: string
  /** Device-sync records and receipts go out at a random time within this (ms). */
  recordDelayMs: number
  /** How long a sync reads newly registered topics again while the node catches up (ms). */
  settleMs: number
  /** Sent mail with no receipt after this long is sent again (ms). */
  resendAfterMs: number
  signal?: AbortSignal
  onProgress?: (p: Progress) => void
}

interface ReportSink {
  resent: string[]
  undeliverable: MessageRecord[]
}

export class Publisher {
  private readonly registered = new Set<string>()

  constructor (
    private readonly ctx: Context,
    private readonly conn: ClientConnection,
    private readonly opts: SessionOptions,
    private readonly report: ReportSink,
    private readonly sentHashes: () => Set<string>
  ) {}

  private signal (): { signal?: AbortSignal } {
    return this.opts.signal === undefined ? {} : { signal: this.opts.signal }
  }

  async register (topic: TopicKeys): Promise<void> {
    const hex = toHex(topic.topic)
    if (this.registered.has(hex)) return
    await this.conn.registerTopic(topic.topic, topic.key, this.signal())
    this.registered.add(hex)
  }

  private async remember (sealed: readonly Sealed[]): Promise<void> {
    await appendSentHashes(this.ctx.paths, sealed.map(s => s.hash))
    for (const s of sealed) this.sentHashes().add(toHex(s.hash))
  }

  /** Writes `sealed` to the outbox (so a failure leaves the very bytes to publish again), then publishes them. */
  async sendSealed (kind: OutboxKind, id: string, contact: string | null, digest: string | null, sealed: readonly Sealed[]): Promise<void> {
    await this.publishEntry(await this.stage(kind, id, contact, digest, sealed))
  }

  /** Writes `sealed` to the outbox and records their hashes as ours, without publishing. */
  async stage (kind: OutboxKind, id: string, contact: string | null, digest: string | null, sealed: readonly Sealed[]): Promise<OutboxEntry> {
    await this.remember(sealed)
    return await writeOutbox(this.ctx.paths, { key: outboxKey(kind, id), kind, contact, id, digest, createdAt: Date.now() }, sealed)
  }

  /** An outbox entry filled in batches (a file): `fill` gets an append function. */
  async sendBatches (kind: OutboxKind, id: string, contact: string, digest: string, fill: (append: (sealed: readonly Sealed[]) => Promise<void>) => Promise<void>): Promise<OutboxEntry> {
    const key = outboxKey(kind, id)
    await beginOutbox(this.ctx.paths, key)
    let count = 0
    await fill(async (sealed) => {
      await this.remember(sealed)
      await appendOutbox(this.ctx.paths, key, sealed)
      count += sealed.length
    })
    const entry: OutboxEntry = { v: 1, key, kind, contact, id, digest, count, published: 0, createdAt: Date.now() }
    await commitOutbox(this.ctx.paths, entry)
    return entry
  }

  /** Publishes an entry from where it stopped, then removes it. */
  async publishEntry (entry: OutboxEntry): Promise<void> {
    const items = await readOutbox(this.ctx.paths, entry)
    for (let i = entry.published; i < items.length; i++) {
      const item = items[i]
      if (item === undefined) break
      await this.register({ topic: item.topic, key: item.key })
      await this.publishOne(item.topic, item.envelope)
      if ((i + 1) % FILE_BATCH === 0 && i + 1 < items.length) {
        entry.published = i + 1
        await commitOutbox(this.ctx.paths, entry)
      }
      if (entry.kind === 'file') this.opts.onProgress?.({ phase: 'send', done: i + 1, total: items.length })
    }
    await removeOutbox(this.ctx.paths, entry.key)
  }

  private async publishOne (topic: Uint8Array, envelope: Uint8Array): Promise<void> {
    const deadline = Date.now() + PUBLISH_RETRY_MS
    for (let wait = 50; ; wait = Math.min(wait * 2, 2000)) {
      try {
        await this.conn.publish(topic, envelope, this.signal())
        return
      } catch (err) {
        if (!isAsmtpError(err, 'QUEUE_FULL') || Date.now() + wait > deadline) throw err
        await new Promise(resolve => setTimeout(resolve, wait))
      }
    }
  }

  /** Publishes every entry left by a send or sync that failed. */
  async flushOutbox (): Promise<void> {
    for (const entry of await listOutbox(this.ctx.paths)) await this.publishEntry(entry)
  }

  /** Sends the device-sync records and receipts whose time has come (all of them with `all`). */
  async flushDue (all = false): Promise<void> {
    const now = this.ctx.now()
    const s = this.ctx.sync
    const due = s.pendingRecords.filter(p => all || p.due <= now)
    if (due.length > 0 && this.ctx.passport !== null) {
      const passport = requirePassport(this.ctx)
      const self = selfTopics(this.ctx.ownKeys, now).find(t => t.current)
      if (self !== undefined) {
        for (const records of packDeviceRecords(due.map(p => fitRecord(p.record)))) {
          const body = encodeDeviceSyncBatch(records, { device: this.ctx.device, passportId: passport.id, sharedKey: self.mine.publicKey, time: now })
          const sealed = sealOnTopic(self, { contentType: DEVICE_SYNC_CONTENT_TYPE, body })
          await this.sendSealed('records', toHex(sealed.hash).slice(0, 32), null, null, [sealed])
        }
      }
      s.pendingRecords = s.pendingRecords.filter(p => !due.includes(p))
      await saveContext(this.ctx)
    }
    const receipts = s.pendingReceipts.filter(p => all || p.due <= now)
    for (const r of receipts) {
      const contact = this.ctx.state.contacts.find(c => c.passportId === r.contact)
      if (contact !== undefined) {
        const mailbox = mailboxFor(this.ctx)
        const sealed: Sealed[] = []
        for (let i = 0; i < r.ids.length; i += MAX_RECEIPT_IDS) {
          const body = encodeReceipt(r.ids.slice(i, i + MAX_RECEIPT_IDS).map(id => fromHex(id, 16)))
          sealed.push(mailbox.sealMessage(toMailboxContact(contact), { contentType: RECEIPT_CONTENT_TYPE, body }))
        }
        await this.sendSealed('receipt', toHex(sealed[0]?.hash ?? new Uint8Array(16)).slice(0, 32), contact.passportId, null, sealed)
      }
      s.pendingReceipts = s.pendingReceipts.filter(p => p !== r)
      await saveContext(this.ctx)
    }
  }

  /** Seals again (same id, new envelope) the mail this device sent that has no receipt after resendAfterMs; reports what stays unconfirmed after twice that. */
  async resendOverdue (): Promise<void> {
    const now = this.ctx.now()
    const after = this.opts.resendAfterMs
    const overdue = Object.entries(this.ctx.sync.delivery).filter(([, d]) => d.mine && d.delivered === null && d.failedAt === null &&
      now - (d.resentAt ?? d.sentAt) >= after)
    if (overdue.length === 0) return
    const records = new Map((await readMessages(this.ctx.paths)).filter(r => r.direction === 'out').map(r => [messageKey(r.contact, r.id), r]))
    for (const [key, d] of overdue) {
      const record = records.get(key)
      const contact = this.ctx.state.contacts.find(c => c.passportId === record?.contact)
      // a message with a TTL is not sent again: a new frame would outlive the TTL the sender chose
      if (record?.expiresAt !== undefined) continue
      if (record === undefined || contact === undefined || d.resentAt !== null) {
        d.failedAt = now
        if (record !== undefined) this.report.undeliverable.push(record)
        continue
      }
      const mc = toMailboxContact(contact)
      const mailbox = mailboxFor(this.ctx)
      const id = fromHex(record.id, 16)
      if (record.file !== undefined) {
        const data = new Uint8Array(await readFile(join(this.ctx.paths.dir, record.file.path)))
        const entry = await this.sendBatches('file', `${record.id}-resend`, contact.passportId, '', async (append) => {
          const chunks = splitFile({ name: record.file?.name ?? 'file', data, fileId: id })
          for (let i = 0; i < chunks.length; i += FILE_BATCH) {
            await append(chunks.slice(i, i + FILE_BATCH).map(chunk => mailbox.sealMessage(mc, { contentType: FILE_CONTENT_TYPE, body: encodeFileChunk(chunk), ...(record.burn === true ? { burn: true } : {}) })))
          }
        })
        await this.publishEntry(entry)
      } else {
        const body = record.text !== undefined ? new TextEncoder().encode(record.text) : new Uint8Array(Buffer.from(record.body ?? '', 'base64'))
        await this.sendSealed('message', `${record.id}-resend`, contact.passportId, null, [mailbox.sealMessage(mc, { contentType: record.contentType, body, id, ...(record.burn === true ? { burn: true } : {}) })])
      }
      d.resentAt = now
      this.report.resent.push(key)
      await saveContext(this.ctx)
    }
  }

  /** Removes messages (`${contact}:${id}`) from the local mailbox; those in `burnt` leave a note that they were burnt. */
  async deleteLocal (keys: readonly string[], burnt: readonly string[] = []): Promise<void> {
    const at = this.ctx.now()
    await vanishMessages(this.ctx, new Map(burnt.map(k => [k, { reason: 'burnt' as const, at }])))
    await deleteMessages(this.ctx.paths, new Set(keys))
  }
}
