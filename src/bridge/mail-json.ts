/** How the HTTP API, server-sent events and MCP tools show one message (docs/API.md "Message"). */
import type { InboxMessage } from '../client/index.js'
import { addressOf } from './address.js'
import type { ParsedMail } from './mime.js'

export interface MailJson {
  /** The bridge's cursor for this message (docs/API.md "Cursors"). */
  seq: number
  messageId: string
  direction: 'received' | 'sent'
  /** The contact's alias, and the address that names it. */
  contact: string
  address: string
  passportId: string
  /** Send time, ISO 8601, as the sender's clock said; null when that is no valid time. */
  time: string | null
  contentType: string
  subject?: string
  text?: string
  file?: { name: string, size: number, sha256: string }
  attachments?: Array<{ filename: string, contentType: string, size: number }>
  read: boolean
  /** Sent mail: delivered, waiting or undeliverable. */
  status?: string
}

const MAX_DATE_MS = 8.64e15

export function mailJson (m: InboxMessage, seq: number, parsed: ParsedMail | null): MailJson {
  const out: MailJson = {
    seq,
    messageId: m.id,
    direction: m.direction === 'in' ? 'received' : 'sent',
    contact: m.alias,
    address: addressOf(m.alias),
    passportId: m.contact,
    time: Number.isFinite(m.time) && Math.abs(m.time) <= MAX_DATE_MS ? new Date(m.time).toISOString() : null,
    contentType: m.contentType,
    read: m.read
  }
  if (m.text !== undefined) out.text = m.text
  if (m.file !== undefined) out.file = { name: m.file.name, size: m.file.size, sha256: m.file.sha256 }
  if (parsed !== null) {
    if (parsed.subject !== null) out.subject = parsed.subject
    if (parsed.text !== null) out.text = parsed.text
    out.attachments = parsed.attachments.map(a => ({ filename: a.filename, contentType: a.contentType, size: a.content.length }))
  }
  if (m.status !== undefined) out.status = m.status
  return out
}
