/**
 * Spool folders (issue 16, point 5) with real processes: one spawned asmtpd, and a spawned
 * `asmtp-cli spool` for each of alice and bob. 100 files dropped into alice's outq at once (each
 * written under tmp/ and renamed in) all reach bob's inq byte-identical, once each; a `.part`
 * file and a dotfile are never sent. Then, in process: a file whose send went out before a crash
 * (journal written, file still in outq) is moved to sent/ after the restart, not sent again.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Account, Spool, spoolPaths } from '../src/index.js'
import { freePort, readyDaemon, stopChild } from './helpers/process.js'
import { waitFor } from './helpers/testnet.js'
import { nodeFolder, soloNodeYaml } from './helpers/daemon.js'
import { FAST, syncUntil } from './helpers/accounts.js'

const CLI = fileURLToPath(new URL('../cli/asmtp-cli.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const RUN_MS = 30_000
const FILES = 100
const ARRIVAL_MS = 150_000

let root: string
let remote: { remoteAddress: string, remoteId: string }
const running = new Set<ChildProcess>()
let alice: Account
let bob: Account

function env (): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete e[k]
  return { ...e, ASMTP_CLI_RECORD_DELAY_MS: '0' }
}

function launch (script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: env(), stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

function startSpool (user: string, folder: string): { child: ChildProcess, out: () => string } {
  const child = launch(CLI, ['--dir', join(root, user), '--remote-address', remote.remoteAddress, '--remote-id', remote.remoteId, 'spool', folder, '--json', '--poll-ms', '100'])
  let out = ''
  child.stdout?.setEncoding('utf8').on('data', (c: string) => { out += c })
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { out += c })
  return { child, out: () => out }
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function filesIn (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter(e => e.isFile()).map(e => e.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'asmtp-spool-'))
  const a = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
  const b = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
  const users = await Promise.all([a, b].map(async x => (await x.identity()).deviceKey))
  const nodeDir = join(root, 'node')
  await nodeFolder(nodeDir, soloNodeYaml(users, await freePort()))
  remote = await readyDaemon(launch(DAEMON, ['--config', join(nodeDir, 'config.yaml')]), RUN_MS)
  alice = await Account.open({ dir: join(root, 'alice'), remote, ...FAST })
  bob = await Account.open({ dir: join(root, 'bob'), remote, ...FAST })
  await alice.addContact('bob', { passport: (await bob.passport()).export() })
  await bob.addContact('alice', { passport: (await alice.passport()).export() })
  await alice.sync()
  await bob.sync()
})

after(async () => {
  for (const child of [...running]) await stopChild(child, 'SIGKILL')
  await rm(root, { recursive: true, force: true })
})

test('spool: 100 files dropped at once into outq/bob/ all reach bob\'s inq byte-identical, none twice; .part and dotfiles stay', { timeout: 300_000 }, async () => {
  const aliceSpool = join(root, 'alice-spool')
  const bobSpool = join(root, 'bob-spool')
  const a = startSpool('alice', aliceSpool)
  const b = startSpool('bob', bobSpool)
  const outq = join(spoolPaths(aliceSpool).outq, 'bob')
  await waitFor(async () => (await readdir(outq).catch(() => null)) !== null, 'alice\'s spool to make outq/bob/', RUN_MS)

  // sizes from a few bytes to several chunks (a chunk holds a little under 64 KiB)
  const sent = new Map<string, string>()
  const staging = join(aliceSpool, 'tmp')
  await mkdir(staging, { recursive: true })
  for (let i = 0; i < FILES; i++) {
    const size = i % 10 === 0 ? 100_000 + i * 1000 : 1 + ((i * 7919) % 20_000)
    const data = randomBytes(size)
    const name = `file-${String(i).padStart(3, '0')}.bin`
    sent.set(name, sha(data))
    await writeFile(join(staging, name), data)
  }
  const partial = randomBytes(5000)
  await writeFile(join(outq, 'half-written.bin.part'), partial)
  await writeFile(join(outq, '.hidden'), 'never sent')
  await Promise.all([...sent.keys()].map(async name => { await rename(join(staging, name), join(outq, name)) }))

  const inq = join(spoolPaths(bobSpool).inq, 'alice')
  await waitFor(async () => (await filesIn(inq)).length >= FILES, `${FILES} files in bob's inq (alice: ${a.out().slice(-500)} bob: ${b.out().slice(-500)})`, ARRIVAL_MS)
  const got = await filesIn(inq)
  assert.deepEqual(got, [...sent.keys()].sort(), 'each file once, under its own name (a second copy would be "name (1).bin")')
  for (const name of got) assert.equal(sha(await readFile(join(inq, name))), sent.get(name), `${name} arrived byte-identical`)

  await waitFor(async () => (await filesIn(join(spoolPaths(aliceSpool).sent, 'bob'))).length === FILES, 'alice\'s sent/bob/ to hold every file', RUN_MS)
  assert.deepEqual(await filesIn(outq), ['.hidden', 'half-written.bin.part'], 'outq keeps the partial write and the dotfile')

  await stopChild(a.child)
  await stopChild(b.child)
  const received = (await bob.inbox({ direction: 'in' })).filter(m => m.file !== undefined)
  assert.equal(received.length, FILES, 'bob\'s mailbox holds each file once')
  assert.equal(new Set(received.map(m => m.file?.sha256)).size, FILES)
  assert.ok(!received.some(m => m.file?.sha256 === sha(partial)), 'the .part file was never sent')
  assert.equal((await alice.inbox({ direction: 'out' })).filter(m => m.file !== undefined).length, FILES, 'alice sent each file once')
})

test('spool: a file sent just before a crash (journal written, not yet moved) is moved to sent/ after the restart, not sent again', { timeout: 120_000 }, async () => {
  const dir = join(root, 'crash-spool')
  const paths = spoolPaths(dir)
  const stop = new AbortController()
  const spool = new Spool({ account: alice, dir, signal: stop.signal })
  await spool.prepare()
  const data = randomBytes(3000)
  const name = 'sent-before-crash.bin'
  // what the spool had done when it was killed: the journal names the file, the send went out, the file is still in outq
  await writeFile(join(paths.state, 'sending.json'), JSON.stringify({ alias: 'bob', name, sha256: sha(data), startedAt: Date.now() - 1 }))
  await alice.send('bob', { file: { name, data } })
  await writeFile(join(paths.outq, 'bob', name), data)
  const before = (await alice.inbox({ direction: 'out' })).length

  assert.equal(await spool.sendQueued(), 1)
  assert.deepEqual(await filesIn(join(paths.sent, 'bob')), [name])
  assert.deepEqual(await filesIn(join(paths.outq, 'bob')), [])
  assert.equal((await alice.inbox({ direction: 'out' })).length, before, 'no second send')
  await syncUntil(bob, 'the file', (m) => m.find(r => r.file?.sha256 === sha(data)))
  await bob.sync()
  assert.equal((await bob.inbox({ direction: 'in' })).filter(r => r.file?.sha256 === sha(data)).length, 1, 'bob has it once')

  // the same bytes dropped again later are a new send (the journal is gone): the user asked twice
  await writeFile(join(paths.outq, 'bob', name), data)
  assert.equal(await spool.sendQueued(), 1)
  assert.equal((await alice.inbox({ direction: 'out' })).length, before + 1)
  stop.abort()
})
