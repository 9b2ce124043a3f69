/**
 * asmtp-cli's view of mail that came through a bridge (content type message/rfc822, or a large
 * one as the file asmtp-mail.eml): its subject, text and attachments, read with mailparser, so
 * that `inbox` shows them and `inbox --save` writes the attachments.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isBridgeMail, parseMail, type MessageRecord, type ParsedMail } from '../../src/index.js'

/** The parsed mail of a bridge message; null for other messages or a mail that does not parse. */
export async function readMailOf (dir: string, r: MessageRecord): Promise<ParsedMail | null> {
  if (!isBridgeMail(r)) return null
  try {
    if (r.body !== undefined) return await parseMail(Buffer.from(r.body, 'base64'))
    if (r.file !== undefined && r.file.path !== '') return await parseMail(await readFile(join(dir, r.file.path)))
  } catch {
    return null
  }
  return null
}
