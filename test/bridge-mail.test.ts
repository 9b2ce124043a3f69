/**
 * The mail bridge with real mail programs: swaks submits a mail with a subject and a binary
 * attachment (large enough to travel in chunks) to alice's bridge for bob@asmtp; it crosses two
 * real nodes; bob's bridge writes it into his Maildir, where the attachment is byte-identical;
 * alice's copy is in her Maildir's .Sent. Then a private Dovecot serves bob's Maildir and curl
 * fetches the subject and body over IMAP.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parseMail, type ParsedMail } from '../src/index.js'
import { SMTP_PASSWORD, startMailNet, type BridgeProc, type MailNet } from './helpers/bridge-net.js'
import { collect, freePort, stopChild } from './helpers/process.js'
import { needsCommands, needsRoot } from './helpers/root.js'
import { waitFor } from './helpers/testnet.js'

const run = promisify(execFile)
const ARRIVAL_MS = 90_000
const SUBJECT = 'Quarterly figures, with the binary'
const BODY_LINE = 'Hello Bob, the figures are attached.'

let net: MailNet
let aliceBridge: BridgeProc
let bobBridge: BridgeProc
const attachment = randomBytes(150 * 1024)
let bobMaildir: string
let delivered: { path: string, mail: ParsedMail } | undefined
const skipSwaks = needsCommands('swaks')

async function mailIn (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).map(n => join(dir, n))
  } catch {
    return []
  }
}

before(async () => {
  net = await startMailNet('bridge-mail')
  bobMaildir = join(net.root, 'bob-Maildir')
  aliceBridge = await net.startBridge(net.alice, ['--smtp', `127.0.0.1:${await freePort()}`, '--maildir', join(net.root, 'alice-Maildir')])
  bobBridge = await net.startBridge(net.bob, ['--no-smtp', '--maildir', bobMaildir])
})

after(async () => {
  await stopChild(aliceBridge?.child)
  await stopChild(bobBridge?.child)
  await net?.close()
})

test('swaks submits a mail with a binary attachment; bob\'s Maildir holds it, the attachment byte-identical', { skip: skipSwaks }, async () => {
  const file = join(net.root, 'figures.bin')
  await writeFile(file, attachment)
  const smtp = aliceBridge.smtp
  assert.ok(smtp !== null)
  const r = await run('swaks', [
    '--server', smtp.host, '--port', String(smtp.port), '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', SMTP_PASSWORD,
    '--from', 'alice@asmtp', '--to', 'Bob@ASMTP', '--header', `Subject: ${SUBJECT}`, '--body', BODY_LINE,
    '--attach-type', 'application/octet-stream', '--attach-name', 'figures.bin', '--attach', `@${file}`
  ], { timeout: 120_000 })
  assert.match(r.stdout, /<- {2}250 2\.0\.0 sent: [0-9a-f]{32}/, r.stdout)

  await waitFor(async () => (await mailIn(join(bobMaildir, 'new'))).length > 0, 'the mail in bob\'s Maildir/new', ARRIVAL_MS)
  const [path] = await mailIn(join(bobMaildir, 'new'))
  assert.ok(path !== undefined)
  assert.equal((await mailIn(join(bobMaildir, 'tmp'))).length, 0, 'nothing left in tmp/')
  assert.match(path, /\/new\/\d+\.M\d+P\d+Q\d+R[0-9a-f]+\.[^/]+,S=\d+$/, 'a Maildir-unique name')
  const raw = await readFile(path)
  const mail = await parseMail(raw)
  assert.equal(mail.subject, SUBJECT)
  assert.match(mail.text ?? '', new RegExp(BODY_LINE))
  const att = mail.attachments.find(a => a.filename === 'figures.bin')
  assert.ok(att !== undefined, 'the attachment is there')
  assert.ok(att.content.equals(attachment), 'the attachment is byte-identical')
  const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1')
  assert.match(head, /^From: alice@asmtp$/m)
  assert.match(head, /^Message-ID: <[0-9a-f]{32}@asmtp>$/m)
  assert.match(head, /^Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/m)
  delivered = { path, mail }

  const sent = join(net.root, 'alice-Maildir', '.Sent', 'cur')
  await waitFor(async () => (await mailIn(sent)).length > 0, 'the copy in alice\'s .Sent', ARRIVAL_MS)
  const [copy] = await mailIn(sent)
  assert.match(copy ?? '', /:2,S$/)
  assert.equal((await parseMail(await readFile(copy ?? ''))).subject, SUBJECT)
})

test('Dovecot serves bob\'s Maildir and curl fetches the subject and body over IMAP', { skip: skipSwaks ?? needsRoot('dovecot', 'curl') }, async (t) => {
  assert.ok(delivered !== undefined, 'the swaks test delivered a mail')
  const dir = join(net.root, 'dovecot')
  for (const sub of ['run', 'state', 'home']) await mkdir(join(dir, sub), { recursive: true })
  const port = await freePort()
  await writeFile(join(dir, 'passwd'), 'bob:{PLAIN}imap-secret::::::\n', { mode: 0o600 })
  // Dovecot will not serve mail as root: bob's Maildir goes to nobody for this test
  await run('chown', ['-R', 'nobody:nogroup', bobMaildir, join(dir, 'home')])
  await chmod(net.root, 0o711)
  await run('chown', ['dovecot', join(dir, 'passwd')])
  await writeFile(join(dir, 'dovecot.conf'), [
    `base_dir = ${dir}/run`, `state_dir = ${dir}/state`, `log_path = ${dir}/dovecot.log`, `info_log_path = ${dir}/dovecot.log`,
    'protocols = imap', 'listen = 127.0.0.1', 'ssl = no', 'disable_plaintext_auth = no', 'auth_mechanisms = plain',
    `mail_location = maildir:${bobMaildir}`, 'first_valid_uid = 1', 'mail_privileged_group =',
    `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN ${dir}/passwd\n}`,
    `userdb {\n  driver = static\n  args = uid=65534 gid=65534 home=${dir}/home\n}`,
    `service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`
  ].join('\n') + '\n')
  const dovecot: ChildProcess = spawn('/usr/sbin/dovecot', ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  dovecot.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c })
  t.after(async () => { await stopChild(dovecot) })
  const log = async (): Promise<string> => `${err}\n${await readFile(join(dir, 'dovecot.log'), 'utf8').catch(() => '')}`
  const curl = async (url: string, extra: string[] = []): Promise<string> => (await run('curl', ['-sS', '--max-time', '20', '--user', 'bob:imap-secret', ...extra, url], { timeout: 30_000 })).stdout
  await waitFor(async () => {
    if (dovecot.exitCode !== null) throw new Error(`dovecot exited: ${await log()}`)
    try { await curl(`imap://127.0.0.1:${port}/`); return true } catch { return false }
  }, 'Dovecot answering IMAP', 30_000).catch(async (e: Error) => { throw new Error(`${e.message}: ${await log()}`) })
  const search = await curl(`imap://127.0.0.1:${port}/INBOX`, ['-X', `SEARCH SUBJECT "${SUBJECT.split(',')[0] ?? ''}"`])
  assert.match(search, /\* SEARCH 1\b/, `${search} ${await log()}`)
  const header = await curl(`imap://127.0.0.1:${port}/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT%20FROM)`)
  assert.match(header, new RegExp(`Subject: ${SUBJECT}`))
  assert.match(header, /From: alice@asmtp/)
  const whole = await curl(`imap://127.0.0.1:${port}/INBOX;UID=1`)
  const fetched = await parseMail(Buffer.from(whole, 'latin1'))
  assert.match(fetched.text ?? '', new RegExp(BODY_LINE))
  assert.ok(fetched.attachments.find(a => a.filename === 'figures.bin')?.content.equals(attachment), 'the attachment over IMAP is byte-identical')
})

test('asmtp-cli shows the subject and text of that mail, and inbox --save writes its attachment', { skip: skipSwaks }, async () => {
  assert.ok(delivered !== undefined, 'the swaks test delivered a mail')
  const cli = fileURLToPath(new URL('../cli/asmtp-cli.js', import.meta.url))
  const save = join(net.root, 'saved')
  const shown = await collect(net.launch(cli, ['--dir', net.bob.dir, 'inbox', '--save', save]), 60_000)
  assert.equal(shown.code, 0, shown.stderr)
  assert.match(shown.stdout, new RegExp(`from alice: \\[mail\\] ${SUBJECT}`))
  assert.match(shown.stdout, new RegExp(`^ {4}${BODY_LINE}`, 'm'))
  assert.match(shown.stdout, /\[attachment\] figures\.bin \(150\.0 KiB\)/)
  assert.ok((await readFile(join(save, 'figures.bin'))).equals(attachment), 'the saved attachment is byte-identical')
  const json = await collect(net.launch(cli, ['--dir', net.bob.dir, 'inbox', '--json']), 60_000)
  const [m] = JSON.parse(json.stdout) as Array<{ subject: string, text: string, attachments: Array<{ filename: string, size: number }> }>
  assert.equal(m?.subject, SUBJECT)
  assert.deepEqual(m?.attachments.map(a => [a.filename, a.size]), [['figures.bin', attachment.length]])
})
