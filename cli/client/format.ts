/**
 * How asmtp-cli shows mail and passports to a person (text) and to scripts (--json). Text from
 * contacts is shown with control characters escaped, so a message cannot drive the terminal.
 */
import { FILE_CONTENT_TYPE, fromPassportTime, toHex, type DeliveryStatus, type MessageRecord, type ParsedMail, type Passport } from '../../src/index.js'

type Shown = MessageRecord & { status?: DeliveryStatus }

const pad = (n: number, w = 2): string => String(n).padStart(w, '0')

const MAX_DATE_MS = 8.64e15

/** ISO 8601, or null for a time no Date can hold (a sender's clock is not to be trusted). */
export function isoTime (ms: number): string | null {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : null
}

/** Local time, to the second: 2025-03-01 14:05:09. */
export function formatTime (ms: number): string {
  if (isoTime(ms) === null) return '(invalid time)'
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

/** Escapes C0/C1 control characters (but keeps newlines and tabs) and bidi overrides. */
export function safeText (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

export function formatSize (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

function summary (r: MessageRecord, mail: ParsedMail | null): string {
  if (mail !== null) {
    const files = mail.attachments.map(a => `[attachment] ${safeText(a.filename)} (${formatSize(a.content.length)})`)
    return [`[mail] ${safeText(mail.subject ?? '(no subject)')}`, ...(mail.text === null ? [] : [safeText(mail.text.trimEnd())]), ...files].join('\n')
  }
  if (r.file !== undefined) return `[file] ${safeText(r.file.name)} (${formatSize(r.file.size)})`
  if (r.text !== undefined) return safeText(r.text)
  const size = r.body === undefined ? 0 : Buffer.from(r.body, 'base64').length
  return `[${safeText(r.contentType)}, ${formatSize(size)}]`
}

/** One message for a person: time, who, and the text (further lines indented). */
export function formatMessage (r: Shown, mail: ParsedMail | null = null): string {
  const who = r.direction === 'in' ? `from ${safeText(r.alias)}` : `to ${safeText(r.alias)}`
  const [first, ...rest] = summary(r, mail).split('\n')
  const status = r.status === undefined ? '' : `  [${r.status}]`
  return [`${formatTime(r.time)}  ${who}: ${first ?? ''}${rest.length === 0 ? status : ''}`, ...rest.map((l, i) => `    ${l}${i === rest.length - 1 ? status : ''}`)].join('\n')
}

export interface MessageJson {
  direction: 'received' | 'sent'
  alias: string
  passportId: string
  messageId: string
  time: string | null
  contentType: string
  text?: string
  file?: { id: string, name: string, size: number, sha256: string, path: string | null }
  size?: number
  status?: DeliveryStatus
  /** Mail through a bridge (message/rfc822). */
  subject?: string | null
  attachments?: Array<{ filename: string, contentType: string, size: number }>
}

export function messageJson (r: Shown, dir: string, mail: ParsedMail | null = null): MessageJson {
  const out: MessageJson = {
    direction: r.direction === 'in' ? 'received' : 'sent',
    alias: r.alias,
    passportId: r.contact,
    messageId: r.id,
    time: isoTime(r.time),
    contentType: r.contentType
  }
  if (r.text !== undefined) out.text = r.text
  if (r.file !== undefined) out.file = { ...r.file, path: r.file.path === '' ? null : `${dir}/${r.file.path}` }
  if (r.status !== undefined) out.status = r.status
  if (r.body !== undefined && r.contentType !== FILE_CONTENT_TYPE) out.size = Buffer.from(r.body, 'base64').length
  if (mail !== null) {
    out.subject = mail.subject
    if (mail.text !== null) out.text = mail.text
    out.attachments = mail.attachments.map(a => ({ filename: a.filename, contentType: a.contentType, size: a.content.length }))
  }
  return out
}

export interface PassportJson {
  id: string
  blocks: number
  tip: string
  updated: string
  sharedKey: string | null
  sharedKeyVersion: number
  devices: Array<{ key: string, alias: string, created: string, expiry: string | null }>
}

export function passportJson (p: Passport): PassportJson {
  return {
    id: toHex(p.id),
    blocks: p.blocks.length,
    tip: toHex(p.state.tipId),
    updated: new Date(fromPassportTime(p.state.tipTime)).toISOString(),
    sharedKey: p.state.sharedPublicKey === null ? null : toHex(p.state.sharedPublicKey),
    sharedKeyVersion: p.state.sharedKeyVersion,
    devices: [...p.state.masterKeys.values()].map(k => ({
      key: toHex(k.key),
      alias: k.alias,
      created: new Date(fromPassportTime(k.created)).toISOString(),
      expiry: k.expiry === 0 ? null : new Date(fromPassportTime(k.expiry)).toISOString()
    }))
  }
}

export function formatPassport (p: Passport, thisDevice?: string): string[] {
  const j = passportJson(p)
  const lines = [
    `passport id: ${j.id}`,
    `blocks: ${j.blocks} (last change ${formatTime(Date.parse(j.updated))})`,
    `shared key: ${j.sharedKey ?? 'none'} (version ${j.sharedKeyVersion})`,
    'devices:'
  ]
  for (const d of j.devices) {
    const mark = d.key === thisDevice ? '  (this device)' : ''
    const expiry = d.expiry === null ? '' : `, expires ${formatTime(Date.parse(d.expiry))}`
    lines.push(`  ${d.key}  ${safeText(d.alias)}  added ${formatTime(Date.parse(d.created))}${expiry}${mark}`)
  }
  return lines
}
