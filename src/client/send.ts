/**
 * Sending one message or file (docs/CLIENT.md "send", "Sending is idempotent"). The envelopes
 * are sealed into the outbox, the sent copy is recorded (inbox, delivery, a device-sync record
 * for the other devices), and only then published. A send that fails after that leaves its
 * outbox entry; the same send asked again (same contact, same content) publishes that entry
 * and returns the same message, so nothing arrives twice.
 */
import { randomBytes } from 'node:crypto'
import { concatBytes, toHex } from '../bytes.js'
import { sha256 } from '../crypto/hash.js'
import { maxBodyBytes, MESSAGE_ID_BYTES } from '../envelope/index.js'
import { AsmtpError } from '../errors.js'
import { findContact, toMailboxContact } from './account-files.js'
import { mailboxFor, requirePassport, saveContext, type Context } from './context.js'
import { queueRecord } from './device-records.js'
import { messageExpiry, trackExpiry, ttlClassOf, type SendMode } from './expiry.js'
import { frameHour } from '../frame/time.js'
import type { DeviceRecord } from './device-sync.js'
import { encodeFileChunk, encodeFileName, FILE_CONTENT_TYPE, splitFile } from './file-chunks.js'
import { CONFIG_DEFAULTS } from '../config/schema.js'

/** The default network's file limit (DESIGN.md: every bucket member carries every byte). */
export const NETWORK_MAX_FILE_BYTES = CONFIG_DEFAULTS.maxFileBytes
import { appendMessage, keepSentFile, readMessages, type MessageRecord } from './mail-store.js'
import { listOutbox } from './outbox.js'
import { TEXT_CONTENT_TYPE, type MailSession } from './session.js'
import { FILE_BATCH } from './session-out.js'
import { messageKey } from './sync-state.js'

/** What to send: text, a body of another content type, or a file. */
export type SendContent =
  | { text: string }
  | { body: Uint8Array, contentType: string }
  | { file: { name: string, data: Uint8Array } }

function digestOf (content: SendContent): string {
  const utf8 = new TextEncoder()
  if ('text' in content) return toHex(sha256(concatBytes(utf8.encode(`${TEXT_CONTENT_TYPE}\n`), utf8.encode(content.text))))
  if ('body' in content) return toHex(sha256(concatBytes(utf8.encode(`${content.contentType}\n`), content.body)))
  return toHex(sha256(concatBytes(utf8.encode(`${FILE_CONTENT_TYPE}\n${content.file.name}\n`), sha256(content.file.data))))
}

/** Checks sizes before anything is sealed. */
export function checkContent (content: SendContent): void {
  if ('file' in content) {
    encodeFileName(content.file.name)
    if (content.file.data.length > NETWORK_MAX_FILE_BYTES) {
      throw new AsmtpError('FILE_TOO_LARGE', `the file is ${content.file.data.length} bytes; the network's limit (network.max_file_bytes) is ${NETWORK_MAX_FILE_BYTES} bytes, because every member of a bucket carries every byte`)
    }
    return
  }
  const contentType = 'text' in content ? TEXT_CONTENT_TYPE : content.contentType
  const size = 'text' in content ? Buffer.byteLength(content.text, 'utf8') : content.body.length
  const max = maxBodyBytes(contentType)
  if (size > max) throw new AsmtpError('ENVELOPE_BODY_TOO_LARGE', `the text is ${size} bytes; one message holds at most ${max}: send it as a file`)
}

function sentRecordOf (r: MessageRecord, at: number): DeviceRecord {
  const out: DeviceRecord = { type: 'sent', at, contact: r.contact, id: r.id, time: r.time, contentType: r.contentType }
  if (r.text !== undefined) out.text = r.text
  if (r.body !== undefined) out.body = r.body
  if (r.file !== undefined) out.file = { id: r.file.id, name: r.file.name, size: r.file.size, sha256: r.file.sha256 }
  if (r.expiresAt !== undefined) out.expiresAt = r.expiresAt
  if (r.burn === true) out.burn = true
  return out
}

/** The outbox digest: the content's, and with a TTL or burn asked, those too (the same content in another mode is another send). */
function sendDigest (content: SendContent, mode: SendMode): string {
  const plain = digestOf(content)
  return mode.ttl === undefined && mode.burn !== true ? plain : toHex(sha256(new TextEncoder().encode(`${plain}\nttl=${mode.ttl ?? ''}\nburn=${String(mode.burn === true)}`)))
}

/** Sends under the folder's lock over `session`'s connection; returns the sent copy. */
export async function sendContent (ctx: Context, session: MailSession, alias: string, content: SendContent, recordDelayMs: number, mode: SendMode = {}): Promise<MessageRecord> {
  checkContent(content)
  const ttlClass = ttlClassOf(mode.ttl)
  const seal = { ...(ttlClass === 0 ? {} : { ttlClass }), ...(mode.burn === true ? { burn: true } : {}) }
  const contact = findContact(ctx.state, alias)
  requirePassport(ctx)
  await session.load()
  const digest = sendDigest(content, mode)
  const retry = (await listOutbox(ctx.paths)).find(e => e.contact === contact.passportId && e.digest === digest && (e.kind === 'message' || e.kind === 'file'))
  await session.out.flushOutbox()
  if (retry !== undefined) {
    const earlier = (await readMessages(ctx.paths)).find(r => r.direction === 'out' && r.contact === contact.passportId && r.id === retry.id)
    if (earlier !== undefined) return earlier
  }
  await session.out.flushDue()
  await session.announce(contact)
  const mailbox = mailboxFor(ctx)
  const mc = toMailboxContact(contact)
  const time = Date.now()
  const expiresAt = messageExpiry(frameHour(time), ttlClass)
  const base = {
    v: 1 as const, direction: 'out' as const, alias: contact.alias, contact: contact.passportId, time, at: Date.now(),
    ...(expiresAt === undefined ? {} : { expiresAt }), ...(mode.burn === true ? { burn: true as const } : {})
  }
  let record: MessageRecord
  let publish: () => Promise<void>
  if ('file' in content) {
    const chunks = splitFile({ name: content.file.name, data: content.file.data })
    const first = chunks[0]
    if (first === undefined) throw new RangeError('splitFile returned no chunk')
    const id = toHex(first.fileId)
    const entry = await session.out.sendBatches('file', id, contact.passportId, digest, async (append) => {
      for (let i = 0; i < chunks.length; i += FILE_BATCH) {
        await append(chunks.slice(i, i + FILE_BATCH).map(chunk => mailbox.sealMessage(mc, { contentType: FILE_CONTENT_TYPE, body: encodeFileChunk(chunk), time, ...seal })))
      }
    })
    record = { ...base, id, contentType: FILE_CONTENT_TYPE, file: await keepSentFile(ctx.paths, first, content.file.data) }
    publish = async () => { await session.out.publishEntry(entry) }
  } else {
    const id = new Uint8Array(randomBytes(MESSAGE_ID_BYTES))
    const contentType = 'text' in content ? TEXT_CONTENT_TYPE : content.contentType
    const body = 'text' in content ? new TextEncoder().encode(content.text) : content.body
    const sealed = mailbox.sealMessage(mc, { contentType, body, time, id, ...seal })
    const entry = await session.out.stage('message', toHex(id), contact.passportId, digest, [sealed])
    record = { ...base, id: toHex(id), contentType }
    if ('text' in content) record.text = content.text
    else record.body = Buffer.from(content.body).toString('base64')
    publish = async () => { await session.out.publishEntry(entry) }
  }
  await appendMessage(ctx.paths, record)
  trackExpiry(ctx, record)
  ctx.sync.delivery[messageKey(record.contact, record.id)] = { sentAt: ctx.now(), delivered: null, resentAt: null, failedAt: null, mine: true }
  queueRecord(ctx, sentRecordOf(record, ctx.now()), recordDelayMs)
  await saveContext(ctx)
  await publish()
  return record
}
