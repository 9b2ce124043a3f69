/**
 * SMTP submission for standard mail programs (docs/BRIDGE.md "Sending from your mail
 * program"), on smtp-server: AUTH PLAIN or LOGIN with the password set by the user, recipients
 * `<contact alias>@asmtp` or `<passport id>@asmtp` (any letter case; any other gets 550), mail
 * of up to MAX_MAIL_BYTES (larger gets 552). The 250 after DATA comes only once the node has
 * taken every envelope for every recipient; when it cannot (the node is down), the answer is a
 * temporary 451 and the mail program tries again: nothing is lost, and a mail sent again to a
 * recipient that already had it is not sent twice.
 */
import type { AddressInfo } from 'node:net'
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server'
import debug from 'debug'
import { isAsmtpError } from '../errors.js'
import { NETWORK_MAX_FILE_BYTES } from '../client/send.js'
import type { MailBridge } from './bridge.js'

const log = debug('asmtp:bridge:smtp')

/** The largest mail taken: the network's file limit (network.max_file_bytes, 16 MiB by default). */
export const MAX_MAIL_BYTES = NETWORK_MAX_FILE_BYTES
export const DEFAULT_SMTP_PORT = 2525
const MAX_RECIPIENTS = 100
const SEND_TIMEOUT_MS = 120_000

export interface SmtpSubmissionInit {
  bridge: MailBridge
  checkPassword: (password: string) => Promise<boolean>
  host?: string
  /** @default 2525; 0 picks a free port */
  port?: number
}

export interface SmtpSubmission {
  address: string
  close: () => Promise<void>
}

function smtpError (responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode })
}

async function readData (stream: SMTPServerDataStream): Promise<Buffer | null> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    size += (chunk as Buffer).length
    if (size <= MAX_MAIL_BYTES) parts.push(chunk as Buffer)
  }
  return stream.sizeExceeded || size > MAX_MAIL_BYTES ? null : Buffer.concat(parts)
}

/** An error from sending, as the SMTP reply a mail program understands. */
function replyFor (err: unknown): Error {
  const text = err instanceof Error ? err.message : String(err)
  if (isAsmtpError(err, 'CONTACT_UNKNOWN')) return smtpError(550, `5.1.1 ${text}`)
  if (isAsmtpError(err, 'FILE_TOO_LARGE') || isAsmtpError(err, 'ENVELOPE_BODY_TOO_LARGE')) return smtpError(552, `5.3.4 ${text}`)
  return smtpError(451, `4.4.1 the node did not take the mail (${text}); nothing was lost: try again later`)
}

export async function startSmtpSubmission (init: SmtpSubmissionInit): Promise<SmtpSubmission> {
  const { bridge } = init
  // loaded here, not with the package root: every CLI imports the root, few serve SMTP
  const { SMTPServer } = await import('smtp-server')
  const server = new SMTPServer({
    name: 'asmtp-bridge',
    banner: 'asmtp bridge: mail submission',
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    size: MAX_MAIL_BYTES,
    maxClients: 32,
    logger: false,
    onAuth (auth, _session, callback) {
      init.checkPassword(auth.password ?? '').then((ok) => {
        if (ok) callback(null, { user: auth.username ?? 'user' })
        else callback(smtpError(535, '5.7.8 authentication failed: wrong user name or password'))
      }, (err: unknown) => { callback(err instanceof Error ? err : new Error(String(err))) })
    },
    onRcptTo (address, session, callback) {
      if (session.envelope.rcptTo.length >= MAX_RECIPIENTS) {
        callback(smtpError(452, `4.5.3 at most ${MAX_RECIPIENTS} recipients per mail`))
        return
      }
      bridge.recipient(address.address).then(() => { callback() }, (err: unknown) => {
        callback(isAsmtpError(err, 'CONTACT_UNKNOWN') || isAsmtpError(err, 'DECODE_INVALID') ? smtpError(550, `5.1.1 ${(err as Error).message}`) : replyFor(err))
      })
    },
    onData (stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const work = async (): Promise<string> => {
        const raw = await readData(stream)
        if (raw === null) throw smtpError(552, `5.3.4 the mail is larger than ${MAX_MAIL_BYTES} bytes, the largest an asmtp network carries (network.max_file_bytes)`)
        const ids: string[] = []
        for (const rcpt of session.envelope.rcptTo) {
          try {
            const contact = await bridge.recipient(rcpt.address)
            ids.push(await bridge.sendMail(contact, new Uint8Array(raw), { signal: AbortSignal.timeout(SEND_TIMEOUT_MS) }))
          } catch (err) {
            log('mail to %s not sent: %s', rcpt.address, (err as Error).message)
            throw replyFor(err)
          }
        }
        return `2.0.0 sent: ${ids.join(', ')}`
      }
      work().then((message) => { callback(null, message) }, (err: unknown) => { callback(err as Error) })
    }
  })
  server.on('error', (err) => { log('smtp server: %s', err.message) })
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(err) }
    server.server.once('error', onError)
    server.listen(init.port ?? DEFAULT_SMTP_PORT, init.host ?? '127.0.0.1', () => { server.server.off('error', onError); resolve() })
  })
  const a = server.server.address() as AddressInfo
  return {
    address: `${a.address}:${a.port}`,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }) }) }
  }
}
