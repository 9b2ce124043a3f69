/**
 * SMTP submission's refusals, with swaks against a real bridge on real nodes: an unknown
 * recipient gets 550, a mail over the limit 552, a wrong password 535; a mail while the node is
 * down gets a temporary 451 (and the bridge's status says the node is unreachable), and the same
 * mail submitted once the node is back is accepted and reaches bob exactly once.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_MAIL_BYTES, parseMail } from '../src/index.js'
import { SMTP_PASSWORD, startMailNet, type BridgeProc, type MailNet } from './helpers/bridge-net.js'
import { syncUntil } from './helpers/accounts.js'
import { collect, freePort, stopChild } from './helpers/process.js'
import { needsCommands } from './helpers/root.js'
import { waitFor } from './helpers/testnet.js'

const skip = needsCommands('swaks')
let net: MailNet
let bridge: BridgeProc

async function swaks (args: string[], password = SMTP_PASSWORD): Promise<{ code: number | null, out: string }> {
  const smtp = bridge.smtp
  assert.ok(smtp !== null)
  const child = spawn('swaks', ['--server', smtp.host, '--port', String(smtp.port), '--auth', 'LOGIN', '--auth-user', 'alice', '--auth-password', password, '--from', 'alice@asmtp', ...args])
  const r = await collect(child, 120_000)
  return { code: r.code, out: r.stdout + r.stderr }
}

async function status (): Promise<{ nodeReachable: boolean, lastError: { code: string, message: string } | null }> {
  const res = await fetch(`http://${bridge.http ?? ''}/v1/status`, { headers: { authorization: `Bearer ${bridge.token ?? ''}` } })
  assert.equal(res.status, 200)
  return await res.json() as { nodeReachable: boolean, lastError: { code: string, message: string } | null }
}

before(async () => {
  if (skip !== undefined) return
  net = await startMailNet('bridge-errors')
  bridge = await net.startBridge(net.alice, ['--smtp', `127.0.0.1:${await freePort()}`, '--http', '127.0.0.1:0'])
})

after(async () => {
  await stopChild(bridge?.child)
  await net?.close()
})

test('an unknown recipient gets 550 with a clear text', { skip }, async () => {
  const r = await swaks(['--to', 'carol@asmtp', '--header', 'Subject: to nobody'])
  assert.notEqual(r.code, 0)
  assert.match(r.out, /<\*\* 550 5\.1\.1 no contact carol@asmtp \(contacts: bob@asmtp\)/, r.out)
  const other = await swaks(['--to', 'bob@example.org'])
  assert.match(other.out, /<\*\* 550 5\.1\.1 bob@example\.org is not an asmtp address/, other.out)
})

test('a wrong password is refused with 535 and nothing is sent', { skip }, async () => {
  const r = await swaks(['--to', 'bob@asmtp', '--header', 'Subject: wrong password'], 'not the password')
  assert.notEqual(r.code, 0)
  assert.match(r.out, /<\*\* 535 5\.7\.8 authentication failed/, r.out)
  const noAuth = spawn('swaks', ['--server', bridge.smtp?.host ?? '', '--port', String(bridge.smtp?.port), '--from', 'alice@asmtp', '--to', 'bob@asmtp'])
  const n = await collect(noAuth, 60_000)
  assert.match(n.stdout + n.stderr, /<\*\* 530 /, 'mail without AUTH is refused')
  assert.equal((await net.alice.account.inbox({ direction: 'out' })).length, 0)
})

test('a mail over the limit gets 552', { skip }, async () => {
  const big = join(net.root, 'big.bin')
  await writeFile(big, Buffer.alloc(MAX_MAIL_BYTES + 1024, 7))
  const r = await swaks(['--to', 'bob@asmtp', '--header', 'Subject: too big', '--attach-type', 'application/octet-stream', '--attach', `@${big}`])
  assert.notEqual(r.code, 0)
  assert.match(r.out, /<\*\* 552 5\.3\.4 the mail is larger than 16777216 bytes/, r.out.slice(-2000))
  assert.equal((await net.alice.account.inbox({ direction: 'out' })).length, 0)
})

test('while the node is down a mail gets a temporary 451; once it is back the same mail is accepted and arrives once', { skip }, async () => {
  const subject = 'sent while the node was down'
  const args = ['--to', 'bob@asmtp', '--header', `Subject: ${subject}`, '--header', 'Message-Id: <retry-1@example>', '--body', 'try again later']
  await net.stopNode(net.alice.node)
  const down = await swaks(args)
  assert.notEqual(down.code, 0)
  assert.match(down.out, /<\*\* 451 4\.4\.1 the node did not take the mail .*nothing was lost: try again later/, down.out)
  await waitFor(async () => !(await status()).nodeReachable, 'the status to say the node is unreachable', 30_000)
  assert.ok((await status()).lastError !== null)

  await net.startNode(net.alice.node)
  const up = await swaks(args)
  assert.equal(up.code, 0, up.out)
  assert.match(up.out, /<- {2}250 2\.0\.0 sent: [0-9a-f]{32}/)
  const again = await swaks(args)
  assert.equal(again.code, 0, again.out)
  const id = /sent: ([0-9a-f]{32})/.exec(up.out)?.[1]
  assert.equal(/sent: ([0-9a-f]{32})/.exec(again.out)?.[1], id, 'the same mail submitted again is the same message')
  await waitFor(async () => (await status()).nodeReachable, 'the bridge to reconnect', 60_000)

  const got = await syncUntil(net.bob.account, 'the mail at bob', inbox => inbox.find(m => m.direction === 'in' && m.contentType === 'message/rfc822'), 90_000)
  assert.equal(got.id, id)
  assert.equal((await parseMail(Buffer.from(got.body ?? '', 'base64'))).subject, subject)
  await net.bob.account.sync()
  assert.equal((await net.bob.account.inbox({ direction: 'in' })).length, 1, 'exactly one copy')
})
