import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { collect, freePort, readyDaemon, stopChild, type Result } from './helpers/process.js'
import { waitFor } from './helpers/testnet.js'

const CLI = fileURLToPath(new URL('../cli/asmtp-cli.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const NODE_TOOL = fileURLToPath(new URL('../cli/asmtpd-cli.js', import.meta.url))
const RUN_MS = 30_000

let root: string
let nodeDir: string
let daemon: ChildProcess | undefined
let remote: string[] = []
const running = new Set<ChildProcess>()
const dirs: Record<string, string> = {}
const keys: Record<string, string> = {}

function env (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete e[k]
  return { ...e, ASMTP_CLI_RECORD_DELAY_MS: '0', ...extra }
}

function launch (script: string, args: string[], extra: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: env(extra), stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

async function cli (who: string, args: string[], extra: Record<string, string> = {}): Promise<Result> {
  return await collect(launch(CLI, ['--dir', dirs[who] ?? who, ...remote, ...args], extra), RUN_MS, '')
}

async function ok (who: string, args: string[], extra: Record<string, string> = {}): Promise<string> {
  const r = await cli(who, args, extra)
  assert.equal(r.code, 0, `asmtp-cli ${args.join(' ')} (${who}): ${r.stderr}`)
  return r.stdout
}

/** Starts the one node of these tests (fixed client port, so a restarted node is found again). */
async function startDaemon (): Promise<void> {
  const child = launch(DAEMON, ['--config', join(nodeDir, 'config.yaml')])
  const address = await readyDaemon(child, 30_000)
  daemon = child
  remote = ['--remote-address', address.remoteAddress, '--remote-id', address.remoteId]
}

async function stopDaemon (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopChild(daemon, signal)
}

async function initUser (name: string, extra: string[] = [], envExtra: Record<string, string> = {}): Promise<{ deviceKey: string, passportId: string }> {
  dirs[name] = join(root, `user-${name}`)
  const r = await collect(launch(CLI, ['--dir', dirs[name], 'init', '--alias', name, '--json', ...extra], envExtra), RUN_MS, '')
  assert.equal(r.code, 0, r.stderr)
  const id = JSON.parse(r.stdout) as { deviceKey: string, passportId: string }
  keys[name] = id.deviceKey
  return id
}

const PASSWORD = 'correct horse battery staple'

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'asmtp-cli-ops-'))
  const alice = await initUser('alice')
  await initUser('bob')
  await initUser('phone', ['--join', alice.passportId])
  await initUser('locked', [], { ASMTP_CLI_PASSWORD: PASSWORD })
  nodeDir = join(root, 'node')
  await mkdir(nodeDir)
  const users = Object.values(keys).map(k => `'${k}'`).join(', ')
  await writeFile(join(nodeDir, 'config.yaml'), [
    'secret: ./node.key', `users: [${users}]`, 'client:', `  listen: 127.0.0.1:${await freePort()}`,
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', '  bootstrap: []', 'storage:', '  path: ./data', 'log:', '  level: warn'
  ].join('\n') + '\n')
  const key = await collect(launch(NODE_TOOL, ['generate-new-key', '--output', join(nodeDir, 'node.key'), '--json']), RUN_MS)
  assert.equal(key.code, 0, key.stderr)
  await startDaemon()
  await ok('alice', ['passport', 'export', '--output', join(root, 'alice.passport')])
  await ok('bob', ['passport', 'export', '--output', join(root, 'bob.passport')])
  await ok('alice', ['contact', 'add', 'bob', join(root, 'bob.passport')])
  await ok('bob', ['contact', 'add', 'alice', join(root, 'alice.passport')])
  await ok('alice', ['sync'])
  await ok('bob', ['sync'])
})

after(async () => {
  await stopDaemon('SIGKILL')
  for (const child of running) child.kill('SIGKILL')
  await rm(root, { recursive: true, force: true })
})

interface Entry { direction: string, alias: string, text?: string, file?: { name: string }, savedTo?: string }

async function receive (who: string, match: (e: Entry) => boolean): Promise<Entry> {
  let found: Entry | undefined
  await waitFor(async () => {
    await ok(who, ['sync'])
    found = (JSON.parse(await ok(who, ['inbox', '--json'])) as Entry[]).find(e => e.direction === 'received' && match(e))
    return found !== undefined
  }, `${who} to receive`, 30_000)
  return found as Entry
}

test('a malformed --remote-address is exit code 2 with one line', async () => {
  for (const bad of ['nonsense', '127.0.0.1', '127.0.0.1:99999', '::1:9800']) {
    const r = await collect(launch(CLI, ['--dir', dirs.alice, '--remote-address', bad, '--remote-id', 'ab'.repeat(32), 'sync']), RUN_MS, '')
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`)
    assert.match(r.stderr, /^asmtp-cli: --remote-address ".*" is not host:port/)
  }
})

test('file modes: keys, state and mail are 0600 in a 0700 folder; passports 0644', async () => {
  await ok('alice', ['send', 'bob', 'for the modes'])
  const mode = async (p: string): Promise<number> => (await stat(join(dirs.alice, p))).mode & 0o777
  assert.equal(await mode('.'), 0o700)
  for (const p of ['device.key', 'state.json', 'shared-keys.bin', 'messages.jsonl', 'sent-envelopes.txt', 'sync-state.json']) assert.equal(await mode(p), 0o600, p)
  assert.equal(await mode('passport.bin'), 0o644)
  for (const d of ['contacts', 'files', 'outbox', 'incoming']) assert.equal(await mode(d), 0o700, d)
})

test('ASMTP_CLI_PASSWORD encrypts the device key: without it or with a wrong one, exit 1; with it, the folder opens', async () => {
  const file = await readFile(join(dirs.locked, 'device.key'), 'utf8')
  const plain = await readFile(join(dirs.alice, 'device.key'), 'utf8')
  assert.notEqual(file.length, 0)
  assert.notDeepEqual(Object.keys(JSON.parse(file) as object).sort(), Object.keys(JSON.parse(plain) as object).sort(), 'the encrypted file is not the plain format')
  const none = await cli('locked', ['whoami'])
  assert.equal(none.code, 1)
  assert.match(none.stderr, /ASMTP_CLI_PASSWORD/)
  const wrong = await cli('locked', ['whoami'], { ASMTP_CLI_PASSWORD: 'wrong' })
  assert.equal(wrong.code, 1)
  const right = await cli('locked', ['whoami', '--json'], { ASMTP_CLI_PASSWORD: PASSWORD })
  assert.equal(right.code, 0, right.stderr)
  assert.equal((JSON.parse(right.stdout) as { deviceKey: string }).deviceKey, keys.locked)
})

test('the lock file: a stale one (dead pid) is taken over; a live one is waited for', async () => {
  const lock = join(dirs.alice, 'lock')
  const gone = spawn(process.execPath, ['-e', ''])
  await new Promise(resolve => gone.once('exit', resolve))
  await writeFile(lock, `${gone.pid ?? 0}\n`)
  await ok('alice', ['whoami'])
  await assert.rejects(stat(lock), 'the stale lock was taken over and released')

  const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'])
  try {
    await writeFile(lock, `${holder.pid ?? 0}\n`)
    const waiting = launch(CLI, ['--dir', dirs.alice, 'whoami'])
    const done = collect(waiting, RUN_MS, '')
    // whoami takes well under a second: still running after 2 s means it waits for the lock
    await assert.rejects(waitFor(() => waiting.exitCode !== null, 'whoami to finish despite the lock', 2000))
    await rm(lock)
    const r = await done
    assert.equal(r.code, 0, r.stderr)
  } finally {
    holder.kill('SIGKILL')
  }
})

test('inbox --save never overwrites: name (1).ext, then name (2).ext', async () => {
  const file = join(root, 'note.txt')
  await writeFile(file, 'the file bob sends')
  await ok('bob', ['send', 'alice', '--file', file])
  await receive('alice', e => e.file?.name === 'note.txt')
  const out = join(root, 'saved')
  await mkdir(out)
  await writeFile(join(out, 'note.txt'), 'already here')
  const first = (JSON.parse(await ok('alice', ['inbox', '--json', '--save', out])) as Entry[]).find(e => e.file?.name === 'note.txt')
  assert.equal(first?.savedTo, join(out, 'note (1).txt'))
  const second = (JSON.parse(await ok('alice', ['inbox', '--json', '--save', out])) as Entry[]).find(e => e.file?.name === 'note.txt')
  assert.equal(second?.savedTo, join(out, 'note (2).txt'))
  assert.equal(await readFile(join(out, 'note.txt'), 'utf8'), 'already here')
  assert.equal(await readFile(join(out, 'note (1).txt'), 'utf8'), 'the file bob sends')
  assert.equal(await readFile(join(out, 'note (2).txt'), 'utf8'), 'the file bob sends')
})

test('watch reconnects when the node goes away and comes back', async () => {
  const child = launch(CLI, ['--dir', dirs.bob, ...remote, 'watch'])
  const done = collect(child, 90_000, '')
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: string) => { out += c })
  child.stderr?.on('data', (c: string) => { err += c })
  await waitFor(() => /watching for new mail/.test(err), 'watch to start', 20_000)
  await stopDaemon('SIGKILL')
  await waitFor(() => /connection to the node lost/.test(err), 'watch to notice', 20_000)
  await startDaemon()
  await ok('alice', ['send', 'bob', 'after the node came back'])
  await waitFor(() => /from alice: after the node came back/.test(out), `the message in watch (stderr: ${err})`, 40_000)
  child.kill('SIGINT')
  const r = await done
  assert.equal(r.code, 0, r.stderr)
})

test('contact remove: the contact is gone, sending to it fails, its mail stays', async () => {
  await ok('bob', ['contact', 'remove', 'alice'])
  assert.deepEqual(JSON.parse(await ok('bob', ['contact', 'list', '--json'])), [])
  const r = await cli('bob', ['send', 'alice', 'hello?'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /unknown contact "alice"/)
  const inbox = JSON.parse(await ok('bob', ['inbox', '--json'])) as Entry[]
  assert.ok(inbox.some(e => e.text === 'after the node came back'), 'the mail stays in the inbox')
  const again = await cli('bob', ['contact', 'remove', 'alice'])
  assert.equal(again.code, 1)
  await ok('bob', ['sync'])
})

test('passport remove-device: not itself; the removed device is told at its next sync', async () => {
  const state = JSON.parse(await readFile(join(dirs.phone, 'state.json'), 'utf8')) as { joinRequest: string }
  await ok('alice', ['passport', 'add-device', state.joinRequest])
  await ok('alice', ['sync'])
  await waitFor(async () => (await cli('phone', ['sync'])).code === 0, 'the phone to join', 30_000)
  const self = await cli('alice', ['passport', 'remove-device', keys.alice])
  assert.equal(self.code, 1)
  assert.match(self.stderr, /cannot remove itself/)
  const before = JSON.parse(await ok('alice', ['passport', 'show', '--json'])) as { sharedKey: string, devices: Array<{ key: string }> }
  assert.equal(before.devices.length, 2)
  assert.match(await ok('alice', ['passport', 'remove-device', keys.phone]), /^removed device/)
  const after = JSON.parse(await ok('alice', ['passport', 'show', '--json'])) as { sharedKey: string, devices: Array<{ key: string }> }
  assert.notEqual(after.sharedKey, before.sharedKey, 'a new shared key')
  assert.ok(!JSON.stringify(after.devices).includes(keys.phone), 'the phone is no longer an active device')
  await ok('alice', ['sync'])
  let last: Result | undefined
  await waitFor(async () => { last = await cli('phone', ['sync']); return last.code === 1 }, 'the phone to be told', 30_000)
  assert.match(last?.stderr ?? '', /was removed from passport/)
})
