/**
 * Mail as RFC 5322 (docs/BRIDGE.md "What the Maildir holds"). Mail that came in through a
 * bridge (content type message/rfc822, or a large one as the file MAIL_FILE_NAME) is kept as
 * its sender's program wrote it, under new trace headers: `From` the contact's address (the
 * sender is who the envelope proved, not what the mail claims), `Date` and a `Message-ID` made
 * from the message id. Texts and files from asmtp-cli are composed as MIME by nodemailer's
 * MailComposer, files as attachments. mailparser reads mail back (asmtp-cli, tests).
 */
import type MailComposer from 'nodemailer/lib/mail-composer'
import { AsmtpError } from '../errors.js'
import { maxBodyBytes } from '../envelope/index.js'
import { FILE_CONTENT_TYPE, TEXT_CONTENT_TYPE } from '../client/index.js'
import { addressOf } from './address.js'

export const MAIL_CONTENT_TYPE = 'message/rfc822'
/** A mail too large for one envelope travels as a file of this name, in chunks (docs/BRIDGE.md). */
export const MAIL_FILE_NAME = 'asmtp-mail.eml'
/** The largest mail in one envelope; larger goes as the file MAIL_FILE_NAME. */
export const MAIL_INLINE_MAX_BYTES = maxBodyBytes(MAIL_CONTENT_TYPE)
const SUBJECT_MAX_CHARS = 78
const HEADER_MAX_BYTES = 256 * 1024

/** Headers the bridge writes itself; the sender's own versions are dropped. */
const REPLACED_HEADERS = new Set(['from', 'sender', 'date', 'message-id', 'return-path', 'delivered-to', 'bcc', 'x-asmtp-passport'])

/** What the bridge needs of a message to write it as mail. */
export interface MailSource {
  direction: 'in' | 'out'
  /** The contact's alias. */
  alias: string
  /** The contact's passport id. */
  contact: string
  /** Message id (hex). */
  id: string
  time: number
  contentType: string
  text?: string
  /** Other content types: the body. */
  body?: Uint8Array
  /** A file; `data` is null when its bytes are not on this device (a file another device sent). */
  file?: { name: string, data: Uint8Array | null }
}

export interface RenderInit {
  /** The account's own alias (the address of this side). */
  self: string
}

/** True for mail that came from a bridge: a message/rfc822 body, or the file that carries a large one. */
export function isBridgeMail (m: { contentType: string, file?: { name: string } | undefined }): boolean {
  return m.contentType === MAIL_CONTENT_TYPE || (m.contentType === FILE_CONTENT_TYPE && m.file?.name === MAIL_FILE_NAME)
}

export function messageIdHeader (id: string): string {
  return `<${id}@asmtp>`
}

function validDate (ms: number): Date {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? new Date(0) : d
}

/** Splits a mail into its header block (without the blank line) and the rest; undefined when it has none. */
function splitHeader (raw: Buffer): { head: string, eol: string, rest: Buffer } {
  const limit = Math.min(raw.length, HEADER_MAX_BYTES)
  for (let i = 0; i < limit; i++) {
    if (raw[i] !== 0x0a) continue
    if (raw[i + 1] === 0x0a) return { head: raw.subarray(0, i).toString('latin1'), eol: '\n', rest: raw.subarray(i + 2) }
    if (raw[i + 1] === 0x0d && raw[i + 2] === 0x0a) return { head: raw.subarray(0, i - (raw[i - 1] === 0x0d ? 1 : 0)).toString('latin1'), eol: '\r\n', rest: raw.subarray(i + 3) }
  }
  throw new AsmtpError('DECODE_INVALID', 'the mail has no end of header (a blank line) within 256 KiB')
}

/** Header fields, each with its continuation lines, in order. */
function headerFields (head: string): string[] {
  const fields: string[] = []
  for (const line of head.split(/\r?\n/)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) fields[fields.length - 1] += `\r\n${line}`
    else if (line !== '') fields.push(line)
  }
  return fields
}

function fieldName (field: string): string {
  const colon = field.indexOf(':')
  return colon < 0 ? '' : field.slice(0, colon).trim().toLowerCase()
}

/** A mail's header fields by name (lowercase), unfolded; the first of each name wins. */
export function readHeaders (raw: Uint8Array): Map<string, string> {
  const out = new Map<string, string>()
  const { head } = splitHeader(Buffer.from(raw.buffer, raw.byteOffset, raw.length))
  for (const f of headerFields(head)) {
    const name = fieldName(f)
    if (name !== '' && !out.has(name)) out.set(name, f.slice(f.indexOf(':') + 1).replace(/\r\n[ \t]/g, ' ').trim())
  }
  return out
}

function traceHeaders (m: MailSource, init: RenderInit): string[] {
  const from = m.direction === 'in' ? m.alias : init.self
  return [
    `From: ${addressOf(from)}`,
    `Date: ${validDate(m.time).toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${messageIdHeader(m.id)}`,
    `X-Asmtp-Passport: ${m.contact}`
  ]
}

/** A bridge mail under the trace headers: the sender's header fields other than those, then its body as it was. */
function rewrap (raw: Buffer, m: MailSource, init: RenderInit): Buffer {
  const { head, eol, rest } = splitHeader(raw)
  const kept = headerFields(head).filter(f => !REPLACED_HEADERS.has(fieldName(f)))
  const fields = [...traceHeaders(m, init), ...kept.map(f => f.replace(/\r\n/g, eol))]
  return Buffer.concat([Buffer.from(fields.join(eol) + eol + eol, 'latin1'), rest])
}

async function compose (m: MailSource, init: RenderInit): Promise<Buffer> {
  const from = addressOf(m.direction === 'in' ? m.alias : init.self)
  const to = addressOf(m.direction === 'in' ? init.self : m.alias)
  const options: ConstructorParameters<typeof MailComposer>[0] = {
    from, to, date: validDate(m.time), messageId: messageIdHeader(m.id), headers: { 'X-Asmtp-Passport': m.contact }
  }
  if (m.text !== undefined) {
    options.subject = (m.text.split('\n')[0] ?? '').slice(0, SUBJECT_MAX_CHARS)
    options.text = m.text
  } else if (m.file !== undefined) {
    options.subject = m.file.name
    if (m.file.data === null) {
      options.text = `${m.file.name}: the file is kept on the device that sent it.`
    } else {
      options.text = `${m.file.name} (${m.file.data.length} bytes)`
      options.attachments = [{ filename: m.file.name, content: Buffer.from(m.file.data) }]
    }
  } else {
    const body = m.body ?? new Uint8Array(0)
    options.subject = `[${m.contentType}]`
    options.text = `A message of content type ${m.contentType} (${body.length} bytes), attached.`
    options.attachments = [{ filename: 'message.bin', contentType: m.contentType, content: Buffer.from(body) }]
  }
  // MailComposer and mailparser are loaded on first use, not with the package root
  const { default: Composer } = await import('nodemailer/lib/mail-composer')
  return await new Composer(options).compile().build()
}

/** The RFC 5322 form of a message, as the Maildir holds it. */
export async function renderMail (m: MailSource, init: RenderInit): Promise<Buffer> {
  if (m.contentType === MAIL_CONTENT_TYPE && m.body !== undefined) return rewrap(Buffer.from(m.body), m, init)
  if (m.file !== undefined && m.file.data !== null && m.contentType === FILE_CONTENT_TYPE && m.file.name === MAIL_FILE_NAME) return rewrap(Buffer.from(m.file.data), m, init)
  if (m.contentType === TEXT_CONTENT_TYPE && m.text === undefined && m.body !== undefined) return await compose({ ...m, text: new TextDecoder().decode(m.body) }, init)
  return await compose(m, init)
}

export interface ParsedMail {
  subject: string | null
  text: string | null
  attachments: Array<{ filename: string, contentType: string, content: Buffer }>
}

/** Reads a mail (for asmtp-cli and the HTTP API): subject, text, attachments. */
export async function parseMail (raw: Uint8Array): Promise<ParsedMail> {
  const { simpleParser } = await import('mailparser')
  const parsed = await simpleParser(Buffer.from(raw), { skipHtmlToText: false, skipTextToHtml: true, skipImageLinks: true })
  return {
    subject: parsed.subject ?? null,
    text: parsed.text ?? null,
    attachments: parsed.attachments.map((a, i) => ({ filename: a.filename ?? `attachment-${i + 1}`, contentType: a.contentType, content: a.content }))
  }
}
