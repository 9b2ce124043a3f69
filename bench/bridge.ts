/**
 * The mail bridge (docs/BRIDGE.md), on two real asmtpd processes with two real asmtp-bridge
 * processes:
 * - SMTP-submitted messages/s through two nodes into bob's Maildir: N mails submitted over 4
 *   SMTP connections (nodemailer's pool) to alice's bridge, timed until all N are files in bob's
 *   Maildir/new; beside Debian's Postfix, with a private configuration under a temporary folder
 *   (`postfix -c`), taking the same N mails over SMTP and delivering them into a Maildir with its
 *   virtual(8) delivery agent, in the same run.
 * - HTTP send-to-SSE latency: alice POSTs /v1/messages, bob's /v1/events stream shows it; p50/p99.
 */
import { execFile } from 'node:child_process'
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import nodemailer from 'nodemailer'
import { startMailNet, SMTP_PASSWORD, type BridgeProc } from '../test/helpers/bridge-net.js'
import { freePort, stopChild } from '../test/helpers/process.js'
import { nowMs, summary } from './stats.js'
import type { ScenarioResult } from './report.js'

const run = promisify(execFile)
const DELIVERY_TIMEOUT_MS = 300_000

async function count (dir: string): Promise<number> {
  try {
    return (await readdir(dir)).length
  } catch {
    return 0
  }
}

async function until (what: string, check: () => Promise<boolean>, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`bridge bench: timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function mailOf (i: number): { subject: string, text: string } {
  return { subject: `bench mail ${i}`, text: `mail number ${i}\n${'0123456789abcdef'.repeat(60)}\n` }
}

/** Submits `n` mails over a pool of 4 SMTP connections; resolves when all were taken. */
async function submit (host: string, port: number, from: string, to: string, n: number, auth?: { user: string, pass: string }): Promise<void> {
  const transport = nodemailer.createTransport({ host, port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4, maxMessages: Infinity, ...(auth === undefined ? {} : { auth }) })
  try {
    await Promise.all(Array.from({ length: n }, async (_, i) => { await transport.sendMail({ from, to, ...mailOf(i) }) }))
  } finally {
    transport.close()
  }
}

async function hasCommand (name: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${name}`])
    return true
  } catch {
    return false
  }
}

/** Postfix with a private configuration under `root`: SMTP on 127.0.0.1:port, Maildir delivery for bob@bench.test. */
async function startPostfix (root: string, port: number): Promise<{ maildirNew: string, stop: () => Promise<void> }> {
  const conf = join(root, 'conf')
  // Postfix's own users (mail_owner, the delivery agent) must reach the queue and the Maildir
  await chmod(root, 0o755)
  for (const d of ['conf', 'queue', 'data', 'vmail']) await mkdir(join(root, d), { recursive: true })
  const { stdout: owner } = await run('id', ['-u', 'postfix'])
  await chown(join(root, 'data'), Number(owner.trim()), -1)
  await chown(join(root, 'vmail'), 65534, 65534)
  await writeFile(join(conf, 'main.cf'), [
    'compatibility_level = 3.6', `queue_directory = ${root}/queue`, `data_directory = ${root}/data`, 'mail_owner = postfix', 'setgid_group = postdrop',
    'myhostname = bench.localdomain', 'mydestination =', 'inet_interfaces = 127.0.0.1', 'inet_protocols = ipv4', 'mynetworks = 127.0.0.0/8',
    'alias_maps =', 'alias_database =', `maillog_file = ${root}/maillog`, `maillog_file_prefixes = ${root}`,
    'virtual_mailbox_domains = bench.test', `virtual_mailbox_base = ${root}/vmail`, `virtual_mailbox_maps = texthash:${conf}/vmailbox`,
    'virtual_uid_maps = static:65534', 'virtual_gid_maps = static:65534', 'virtual_minimum_uid = 100',
    'smtpd_relay_restrictions = permit_mynetworks, reject', 'smtpd_recipient_restrictions = permit_mynetworks, reject', 'message_size_limit = 20000000'
  ].join('\n') + '\n')
  await writeFile(join(conf, 'vmailbox'), 'bob@bench.test bob/\n')
  // the system master.cf, with smtpd on our port and nothing chrooted (the private queue has no chroot files)
  const master = (await readFile('/etc/postfix/master.cf', 'utf8')).split('\n').map((line) => {
    if (/^smtp\s+inet\s/.test(line)) return line.replace(/^smtp\s+inet(\s+\S+\s+\S+)\s+\S+/, `127.0.0.1:${port} inet$1 n`)
    return line.replace(/^(\S+\s+(?:unix|inet|unix-dgram|fifo|pass)\s+\S+\s+\S+\s+)y(\s)/, '$1n$2')
  }).join('\n')
  await writeFile(join(conf, 'master.cf'), master)
  await run('postfix', ['-c', conf, 'start'])
  return { maildirNew: join(root, 'vmail', 'bob', 'new'), stop: async () => { await run('postfix', ['-c', conf, 'stop']).catch(() => undefined) } }
}

async function sseLatency (alice: BridgeProc, bob: BridgeProc, n: number): Promise<number[]> {
  const stop = new AbortController()
  const stats = await fetch(`http://${bob.http ?? ''}/v1/stats`, { headers: { authorization: `Bearer ${bob.token ?? ''}` } })
  const { lastSeq } = await stats.json() as { lastSeq: number }
  const res = await fetch(`http://${bob.http ?? ''}/v1/events`, { headers: { authorization: `Bearer ${bob.token ?? ''}`, 'last-event-id': String(lastSeq) }, signal: stop.signal })
  const waiting = new Map<string, () => void>()
  const arrived = new Map<string, number>()
  const reader = (async () => {
    let buffer = ''
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1]
          buffer = buffer.slice(end + 2)
          if (data === undefined) continue
          const id = (JSON.parse(data) as { messageId: string }).messageId
          arrived.set(id, nowMs())
          waiting.get(id)?.()
        }
      }
    } catch {
      // aborted at the end
    }
  })()
  const out: number[] = []
  try {
    for (let i = 0; i < n; i++) {
      const t0 = nowMs()
      const post = await fetch(`http://${alice.http ?? ''}/v1/messages`, {
        method: 'POST', headers: { authorization: `Bearer ${alice.token ?? ''}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: 'bob', text: `latency ${i}` })
      })
      const { messageId } = await post.json() as { messageId: string }
      await new Promise<void>((resolve, reject) => {
        if (arrived.has(messageId)) { resolve(); return }
        const timer = setTimeout(() => { reject(new Error(`bridge bench: message ${i} not in bob's events within 60 s`)) }, 60_000)
        waiting.set(messageId, () => { clearTimeout(timer); resolve() })
      })
      out.push((arrived.get(messageId) ?? nowMs()) - t0)
    }
  } finally {
    stop.abort()
    await reader
  }
  return out
}

export async function benchBridge (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const n = quick ? 30 : 200
  const k = quick ? 10 : 50
  const net = await startMailNet('bench-bridge')
  const pfxRoot = await mkdtemp(join(tmpdir(), 'asmtp-bench-postfix-'))
  const results: ScenarioResult[] = []
  let alice: BridgeProc | undefined
  let bob: BridgeProc | undefined
  try {
    alice = await net.startBridge(net.alice, ['--smtp', `127.0.0.1:${await freePort()}`, '--http', '127.0.0.1:0'])
    const bobMaildir = join(net.root, 'bob-Maildir')
    bob = await net.startBridge(net.bob, ['--no-smtp', '--maildir', bobMaildir, '--http', '127.0.0.1:0'])
    progress(`bridge: ${n} mails by SMTP through two nodes into a Maildir`)
    const smtp = alice.smtp
    if (smtp === null) throw new Error('no smtp address')
    let t0 = nowMs()
    await submit(smtp.host, smtp.port, 'alice@asmtp', 'bob@asmtp', n, { user: 'alice', pass: SMTP_PASSWORD })
    await until(`${n} mails in bob's Maildir`, async () => await count(join(bobMaildir, 'new')) >= n)
    const oursPerS = n / ((nowMs() - t0) / 1000)

    let baseline: (ScenarioResult['baseline']) | undefined
    let notes = `${n} mails of about 1 KiB, 4 SMTP connections, submitted until all are files in Maildir/new`
    if (process.getuid?.() === 0 && await hasCommand('postfix')) {
      progress(`bridge: the same ${n} mails through a private Postfix`)
      const port = await freePort()
      const postfix = await startPostfix(pfxRoot, port)
      try {
        t0 = nowMs()
        await submit('127.0.0.1', port, 'alice@bench.test', 'bob@bench.test', n)
        await until(`${n} mails in Postfix's Maildir`, async () => await count(postfix.maildirNew) >= n)
        baseline = { name: 'Postfix 3 (private config, SMTP in, virtual(8) to Maildir)', median: n / ((nowMs() - t0) / 1000) }
      } finally {
        await postfix.stop()
      }
    } else {
      notes += '; no Postfix baseline (needs root and postfix: apt-get install -y postfix)'
    }
    results.push({
      scenario: 'bridge SMTP to Maildir', unit: 'messages/s', ours: { median: oursPerS, count: n }, better: 'higher', notes,
      ...(baseline === undefined ? {} : { baseline, ratio: oursPerS / baseline.median })
    })

    progress(`bridge: HTTP send to SSE latency, ${k} messages`)
    const lat = summary(await sseLatency(alice, bob, k))
    results.push({ scenario: 'bridge HTTP send to SSE', unit: 'ms', ours: { median: lat.median, p99: lat.p99, count: lat.n }, better: 'lower', notes: 'POST /v1/messages at alice to the event on bob\'s /v1/events, one at a time, two nodes' })
  } finally {
    await stopChild(alice?.child)
    await stopChild(bob?.child)
    await net.close()
    await rm(pfxRoot, { recursive: true, force: true })
  }
  return results
}
