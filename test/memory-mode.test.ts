/**
 * RAM-only mode (issue 16 point 4) with a real asmtpd: `storage.memory: true`, the node key
 * passed in on stdin (--key-stdin), mail carried between two devices. Every file the daemon
 * process touched is listed with `strace -f` (openat, open, creat, mkdir, rename, unlink,
 * truncate, link, symlink) and by comparing its working and home folders before and after:
 * nothing is written anywhere, and the only file read from those folders is the config. A
 * restart with the same key forgets every frame.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Account, Ed25519KeyPair, encodeKeyFile, nodeIdentity } from '../src/index.js'
import { needsCommands } from './helpers/root.js'
import { FAST, syncUntil, textsOf } from './helpers/accounts.js'
import { nodeFolder, spawnDaemon, type Daemon } from './helpers/daemon.js'
import { freePort } from './helpers/process.js'

const TRACED = ['openat', 'open', 'creat', 'mkdir', 'mkdirat', 'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'truncate', 'link', 'linkat', 'symlink', 'symlinkat']
/** Kernel and device files every process opens; they are not storage. */
const SYSTEM = ['/dev/', '/proc/', '/sys/']

async function listTree (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) out.push(relative(dir, join(e.parentPath, e.name)))
  return out.sort()
}

interface Touch { call: string, path: string, writes: boolean }

/** The file system calls of an strace -f log: each call, its path and whether it writes. */
function touches (log: string): Touch[] {
  const out: Touch[] = []
  for (const line of log.split('\n')) {
    const m = /^(?:\[pid\s+)?\d*\]?\s*(\w+)\((.*)$/.exec(line.trim())
    if (m === null) continue
    const call = m[1] ?? ''
    if (!TRACED.includes(call)) continue
    const path = /"([^"]*)"/.exec(m[2] ?? '')?.[1]
    if (path === undefined) continue
    const writes = !(call === 'openat' || call === 'open') || /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND/.test(m[2] ?? '')
    out.push({ call, path, writes })
  }
  return out
}

test('RAM only: mail flows, the node writes no file at all and reads only its config from its folders; a restart forgets everything', { skip: needsCommands('strace') }, async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'asmtp-ram-'))
  const outside = await mkdtemp(join(tmpdir(), 'asmtp-ram-trace-'))
  const daemons: Daemon[] = []
  t.after(async () => {
    for (const d of daemons) await d.stop().catch(() => {})
    await rm(home, { recursive: true, force: true })
    await rm(outside, { recursive: true, force: true })
  })
  const alice = await Account.create({ dir: join(outside, 'alice'), alias: 'alice' })
  const bob = await Account.create({ dir: join(outside, 'bob'), alias: 'bob' })
  const users = (await Promise.all([alice, bob].map(async a => (await a.identity()).deviceKey))).map(k => `'${k}'`).join(', ')
  const nodeDir = join(home, 'node')
  await mkdir(join(home, 'home'))
  const config = await nodeFolder(nodeDir, [
    'users: [' + users + ']', 'client:', `  listen: 127.0.0.1:${await freePort()}`,
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', '  bucket_bits: 0',
    'storage:', '  memory: true', '  path: ./data',
    'metrics:', '  listen: 127.0.0.1:0', 'log:', '  level: info'
  ], { key: false })
  const key = Ed25519KeyPair.generate()
  const keyText = encodeKeyFile('ed25519', key.secretKey)
  const before = await listTree(home)
  const trace = join(outside, 'strace.log')
  const env = { HOME: join(home, 'home'), TMPDIR: join(home, 'home') }

  const first = await spawnDaemon({ config, cwd: nodeDir, env, args: ['--key-stdin'], stdin: keyText, wrapper: ['strace', '-f', '-qq', '-o', trace, '-e', `trace=${TRACED.join(',')}`] })
  daemons.push(first)
  assert.equal(first.publicId, nodeIdentity(key).publicId, 'the key passed on stdin is the node key')
  const remote = { remoteAddress: first.clientAddress, remoteId: first.publicId }
  const a = await Account.open({ dir: join(outside, 'alice'), remote, ...FAST })
  const b = await Account.open({ dir: join(outside, 'bob'), remote, ...FAST })
  await a.addContact('bob', { passport: (await b.passport()).export() })
  await b.addContact('alice', { passport: (await a.passport()).export() })
  await a.sync()
  await b.sync()
  await a.send('bob', { text: 'kept in RAM only' })
  await syncUntil(b, 'bob to receive the message', inbox => textsOf(inbox, 'in').includes('kept in RAM only') ? true : undefined)
  const held = await first.status()
  assert.ok(held.matchedFrames >= 1, `the node holds the mail: ${JSON.stringify(held)}`)
  assert.equal((held.storage as { memory: boolean }).memory, true)
  // SIGTERM to the node itself (strace would detach on it); strace then exits with the node's code
  process.kill(held.pid, 'SIGTERM')
  const exit = await first.stop()
  assert.equal(exit.code, 0, first.stderr)

  const calls = touches(await readFile(trace, 'utf8'))
  assert.ok(calls.length > 100, `strace saw the process open its files (${calls.length} calls)`)
  assert.ok(calls.some(c => c.path.endsWith('config.yaml')), 'strace saw the config being read')
  const written = calls.filter(c => c.writes && !SYSTEM.some(s => c.path.startsWith(s)))
  assert.deepEqual(written, [], 'no file written, created, renamed or removed')
  const inHome = [...new Set(calls.filter(c => c.path.startsWith(home) || (!c.path.startsWith('/') && c.path !== '')).map(c => c.path))]
  assert.deepEqual(inHome, [config], 'the only file the node touched in its folders is its config')
  assert.deepEqual(await listTree(home), before, 'its folders are as they were: no data folder, no key file')
  console.log(`# strace: ${calls.length} file calls, ${written.length} writes; files read outside system folders: ${[...new Set(calls.filter(c => !SYSTEM.some(s => c.path.startsWith(s))).map(c => c.path))].length}`)

  const second = await spawnDaemon({ config, cwd: nodeDir, env, args: ['--key-stdin'], stdin: keyText })
  daemons.push(second)
  assert.equal(second.publicId, first.publicId, 'the same key again')
  const after = await second.status()
  assert.equal(after.frames, 0, 'a restart forgets every frame')
  assert.deepEqual(after.buckets, [], 'and every registered topic')
})
