import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromString } from '@libp2p/peer-id'
import { DEFAULT_CONFIG_YAML, loadConfig } from '../src/config/index.js'
import { Ed25519KeyPair, readKeyFile } from '../src/crypto/index.js'
import { nodeIdentity } from '../src/node/identity.js'
import { AsmtpError } from '../src/errors.js'
import { CommanderError } from 'commander'
import { Writable } from 'node:stream'
import { createOutput, debugNamespacesFor, describeError, exitCodeFor } from '../cli/output.js'
import { collect as collectChild, type Result } from './helpers/process.js'

const CLI = fileURLToPath(new URL('../cli/asmtpd-cli.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const RUN_TIMEOUT_MS = 30_000
const READY_TIMEOUT_MS = 60_000

const collect = async (child: ChildProcess, timeoutMs = RUN_TIMEOUT_MS): Promise<Result> => await collectChild(child, timeoutMs)

let dir: string
before(async () => { dir = await mkdtemp(join(tmpdir(), 'asmtp-cli-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

function childEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra }
  if (extra.ASMTPD_KEY_PASSWORD === undefined) delete env.ASMTPD_KEY_PASSWORD
  if (extra.DEBUG === undefined) delete env.DEBUG
  return env
}

function launch (script: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [script, ...args], { cwd: dir, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
}


async function cli (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return await collect(launch(CLI, args, env))
}

async function daemon (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return await collect(launch(DAEMON, args, env))
}

function identityLines (publicId: string, peerId: string): string {
  return `public id: ${publicId}\npeer id: ${peerId}\n`
}

function assertOneLine (stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `one stderr line expected, got: ${stderr}`)
  assert.match(lines[0], pattern)
}

async function newKey (name: string, env: Record<string, string> = {}): Promise<{ path: string, publicId: string, peerId: string }> {
  const path = join(dir, name)
  const r = await cli(['generate-new-key', '--output', path, '--json'], env)
  assert.equal(r.code, 0, r.stderr)
  const ids = JSON.parse(r.stdout) as { publicId: string, peerId: string }
  return { path, ...ids }
}

test('output: errors map to one line and an exit code', () => {
  assert.equal(exitCodeFor(new AsmtpError('CONFIG_INVALID', 'config: x: bad')), 2)
  assert.equal(exitCodeFor(new AsmtpError('KEY_FILE_INVALID', 'key file k cannot be read: ENOENT')), 1)
  assert.equal(exitCodeFor(new CommanderError(1, 'commander.unknownOption', 'x')), 2)
  assert.equal(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', '')), 0)
  assert.equal(exitCodeFor(new Error('boom')), 1)
  assert.equal(describeError(new AsmtpError('KEY_FILE_PASSWORD', 'key file k: wrong password'), { KEY_FILE_PASSWORD: 'hint' }), 'key file k: wrong password (hint)')
  const exists = Object.assign(new Error('EEXIST: file already exists'), { code: 'EEXIST', syscall: 'open', path: '/x/node.key' })
  assert.equal(describeError(exists), '/x/node.key already exists; not overwriting it')
  const inUse = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 9800 })
  assert.equal(describeError(new Error('wrapped', { cause: inUse })), 'cannot listen on 127.0.0.1:9800: address already in use (EADDRINUSE)')
  const listen = Object.assign(new Error('Some configured addresses failed to be listened on, ...:\n\n  /ip4/127.0.0.1/tcp/1: Error: listen EADDRINUSE: address already in use 127.0.0.1:1\n    at Server.setupListenHandle\n'), { name: 'UnsupportedListenAddressesError' })
  assert.equal(describeError(listen), 'network.listen /ip4/127.0.0.1/tcp/1: cannot listen: address already in use (EADDRINUSE)')
  assert.equal(describeError(new Error('two\nlines')), 'two lines')
})

test('output: log levels filter stderr and choose the debug namespaces', () => {
  let err = ''
  let out = ''
  const sink = (append: (s: string) => void): Writable => new Writable({ write (chunk: Buffer, _enc, cb) { append(chunk.toString()); cb() } })
  const o = createOutput('prog', { level: 'warn', stdout: sink(s => { out += s }), stderr: sink(s => { err += s }) })
  o.info('hidden')
  o.debug('hidden')
  o.warn('shown')
  o.error('also shown')
  o.print('result')
  assert.equal(err, 'prog: shown\nprog: also shown\n')
  assert.equal(out, 'result\n')
  assert.equal(o.fail(new AsmtpError('CONFIG_INVALID', 'config: users[0]: bad')), 2)
  assert.equal(err.split('\n').at(-2), 'prog: config: users[0]: bad')
  assert.equal(debugNamespacesFor('error'), 'asmtp:*:error')
  assert.equal(debugNamespacesFor('info'), 'asmtp:*:error,asmtp:*:warn,asmtp:*:info')
  assert.equal(debugNamespacesFor('debug'), 'asmtp:*')
})

test('default-config prints DEFAULT_CONFIG_YAML, and that file parses as a config', async () => {
  const r = await cli(['default-config'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, DEFAULT_CONFIG_YAML)
  assert.equal(r.stderr, '')
  const path = join(dir, 'default.yaml')
  await writeFile(path, r.stdout)
  const config = await loadConfig(path)
  assert.equal(config.secret, join(dir, 'node.key'))
  assert.equal(config.storage.path, join(dir, 'data'))
})

test('generate-new-key writes a 0600 key; public-id prints the same public id and peer id', async () => {
  const keyPath = join(dir, 'gen.key')
  const r = await cli(['generate-new-key', '--output', keyPath])
  assert.equal(r.code, 0, r.stderr)
  const m = /^public id: ([0-9a-f]{64})\npeer id: (\S+)\n$/.exec(r.stdout)
  assert.ok(m, r.stdout)
  const [, publicId, peerId] = m
  assert.equal(((await stat(keyPath)).mode & 0o777), 0o600)

  const key = Ed25519KeyPair.fromSecretKey(await readKeyFile(keyPath, 'ed25519'))
  const identity = nodeIdentity(key)
  assert.equal(identity.publicId, publicId)
  assert.equal(identity.peerId.toString(), peerId)
  assert.ok(peerIdFromString(peerId).equals(identity.peerId))

  const configPath = join(dir, 'gen.yaml')
  await writeFile(configPath, 'secret: gen.key\n')
  const viaConfig = await cli(['public-id', '--config', configPath])
  assert.equal(viaConfig.code, 0, viaConfig.stderr)
  assert.equal(viaConfig.stdout, identityLines(publicId, peerId))

  const viaKeyJson = await cli(['public-id', '--key', keyPath, '--json'])
  assert.equal(viaKeyJson.code, 0, viaKeyJson.stderr)
  assert.deepEqual(JSON.parse(viaKeyJson.stdout), { publicId, peerId })
})

test('generate-new-key never overwrites an existing file', async () => {
  const path = join(dir, 'existing.key')
  await writeFile(path, 'precious\n')
  const r = await cli(['generate-new-key', '--output', path])
  assert.equal(r.code, 1)
  assert.equal(r.stdout, '')
  assertOneLine(r.stderr, /^asmtpd-cli: .*existing\.key already exists; not overwriting it$/)
  assert.equal(await readFile(path, 'utf8'), 'precious\n')
})

test('a password from ASMTPD_KEY_PASSWORD (or --password) encrypts the key; public-id needs it', async () => {
  const key = await newKey('locked.key', { ASMTPD_KEY_PASSWORD: 'correct horse' })
  const text = await readFile(key.path, 'utf8')
  assert.ok(text.includes('ciphertext') && !text.includes('"secret"'), 'the key file is encrypted')

  const noPassword = await cli(['public-id', '--key', key.path])
  assert.equal(noPassword.code, 1)
  assertOneLine(noPassword.stderr, /^asmtpd-cli: key file .*locked\.key is encrypted: a password is required .*ASMTPD_KEY_PASSWORD/)

  const wrong = await cli(['public-id', '--key', key.path], { ASMTPD_KEY_PASSWORD: 'wrong' })
  assert.equal(wrong.code, 1)
  assertOneLine(wrong.stderr, /wrong password/)

  const right = await cli(['public-id', '--key', key.path], { ASMTPD_KEY_PASSWORD: 'correct horse' })
  assert.equal(right.code, 0, right.stderr)
  assert.equal(right.stdout, identityLines(key.publicId, key.peerId))

  const flag = await cli(['generate-new-key', '--output', join(dir, 'flag.key'), '--password', 'pw'])
  assert.equal(flag.code, 0, flag.stderr)
  const flagged = await cli(['public-id', '--key', join(dir, 'flag.key')], { ASMTPD_KEY_PASSWORD: 'pw' })
  assert.equal(flagged.code, 0, flagged.stderr)
  assert.equal(flagged.stdout, flag.stdout)
})

test('asmtpd-cli usage errors exit 2 with one line', async () => {
  const noOutput = await cli(['generate-new-key'])
  assert.equal(noOutput.code, 2)
  assertOneLine(noOutput.stderr, /^asmtpd-cli: required option '-o, --output <file>' not specified/)
  const neither = await cli(['public-id'])
  assert.equal(neither.code, 2)
  assertOneLine(neither.stderr, /--config <file> or --key <file>/)
  const badConfig = await cli(['public-id', '--config', join(dir, 'missing.yaml')])
  assert.equal(badConfig.code, 2)
  assertOneLine(badConfig.stderr, /^asmtpd-cli: config file .*missing\.yaml cannot be read: ENOENT$/)
})

test('asmtpd refuses a bad config with one line naming the field or file', async () => {
  const key = await newKey('bad-config.key')
  const cases: Array<{ yaml: string, code: number, line: RegExp }> = [
    { yaml: `secret: ${key.path}\nbogus: 1\n`, code: 2, line: /^asmtpd: config: bogus: unknown field/ },
    { yaml: `secret: ${key.path}\nlimits:\n  max_envelope_size: big\n`, code: 2, line: /^asmtpd: config: limits\.max_envelope_size: must be a whole number/ },
    { yaml: `secret: ${key.path}\nusers: [nothex]\n`, code: 2, line: /^asmtpd: config: users\[0\]: not an Ed25519 public key/ },
    { yaml: `secret: ${key.path}\nclient:\n  listen: 127.0.0.1:99999\n`, code: 2, line: /^asmtpd: config: client\.listen: port must be from 0 to 65535/ },
    { yaml: `secret: ${key.path}\nsecret: again\n`, code: 2, line: /^asmtpd: config: line 2, column 1: YAML syntax error/ },
    { yaml: 'secret: ./no-such.key\n', code: 1, line: new RegExp(`^asmtpd: key file ${join(dir, 'no-such.key')} cannot be read: ENOENT$`) }
  ]
  for (const [i, c] of cases.entries()) {
    const path = join(dir, `bad-${i}.yaml`)
    await writeFile(path, c.yaml)
    const r = await daemon(['--config', path])
    assert.equal(r.code, c.code, `${c.yaml}: ${r.stderr}`)
    assert.equal(r.stdout, '')
    assertOneLine(r.stderr, c.line)
  }
  const missing = await daemon(['--config', join(dir, 'nope.yaml')])
  assert.equal(missing.code, 2)
  assertOneLine(missing.stderr, /^asmtpd: config file .*nope\.yaml cannot be read: ENOENT$/)
  const noConfig = await daemon([])
  assert.equal(noConfig.code, 2)
  assertOneLine(noConfig.stderr, /^asmtpd: required option '-c, --config <file>' not specified/)
  const badLevel = await daemon(['--config', join(dir, 'bad-0.yaml'), '--log-level', 'loud'])
  assert.equal(badLevel.code, 2)
  assertOneLine(badLevel.stderr, /--log-level/)
})

test('asmtpd with an encrypted key needs ASMTPD_KEY_PASSWORD', async () => {
  const key = await newKey('daemon-locked.key', { ASMTPD_KEY_PASSWORD: 'pw' })
  const path = join(dir, 'locked.yaml')
  await writeFile(path, `secret: ${key.path}\n`)
  const r = await daemon(['--config', path])
  assert.equal(r.code, 1)
  assertOneLine(r.stderr, /^asmtpd: key file .*daemon-locked\.key is encrypted: a password is required/)
})

/** The default config with the test's key, loopback port-0 addresses and storage in the temp dir. */
async function runnableConfig (name: string, listen = '/ip4/127.0.0.1/tcp/0'): Promise<{ path: string, publicId: string, peerId: string }> {
  const key = await newKey(`${name}.key`)
  const yaml = DEFAULT_CONFIG_YAML
    .replace('secret: ./node.key', `secret: ./${name}.key`)
    .replace('listen: 127.0.0.1:9800', 'listen: 127.0.0.1:0')
    .replace('    - /ip4/0.0.0.0/tcp/9801\n    - /ip6/::/tcp/9801\n', `    - ${listen}\n`)
    .replace('path: ./data', `path: ./${name}-data`)
  assert.notEqual(yaml, DEFAULT_CONFIG_YAML)
  const path = join(dir, `${name}.yaml`)
  await writeFile(path, yaml)
  return { path, publicId: key.publicId, peerId: key.peerId }
}

interface Running { child: ChildProcess, stdout: () => string, done: Promise<Result> }

async function startDaemon (configPath: string, args: readonly string[] = []): Promise<Running> {
  const child = launch(DAEMON, ['--config', configPath, ...args], {})
  const done = collect(child, READY_TIMEOUT_MS + RUN_TIMEOUT_MS)
  let stdout = ''
  child.stdout?.on('data', (chunk: string) => { stdout += chunk })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`asmtpd did not print ready within ${READY_TIMEOUT_MS} ms: ${stdout}`))
    }, READY_TIMEOUT_MS)
    const check = (): void => {
      if (/^ready$/m.test(stdout)) { clearTimeout(timer); resolve() }
    }
    child.stdout?.on('data', check)
    void done.then(r => { clearTimeout(timer); reject(new Error(`asmtpd exited (${r.code}) before ready: ${r.stderr}`)) }, reject)
  })
  return { child, stdout: () => stdout, done }
}

test('asmtpd starts from the default config, prints its identity and ready, and exits 0 on SIGTERM (needs the node)', async () => {
  const config = await runnableConfig('run')
  const running = await startDaemon(config.path)
  const out = running.stdout()
  assert.match(out, new RegExp(`^asmtpd public id: ${config.publicId}\npeer id: ${config.peerId}\n`))
  const listening = [...out.matchAll(/^listening: (\S+)$/gm)].map(m => m[1])
  assert.ok(listening.length >= 1, out)
  for (const addr of listening) assert.match(addr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${config.peerId}$`))
  assert.match(out, /\nready\n$/)
  running.child.kill('SIGTERM')
  const r = await running.done
  assert.equal(r.code, 0, r.stderr)
  assert.ok((await stat(join(dir, 'run-data'))).isDirectory(), 'storage folder created under the config folder')
})

test('asmtpd --log-level debug shows the node\'s asmtp:* logs; the default level does not (needs the node)', async () => {
  const config = await runnableConfig('verbose')
  for (const [args, shown] of [[['--log-level', 'debug'], true], [[], false]] as const) {
    const running = await startDaemon(config.path, args)
    running.child.kill('SIGTERM')
    const r = await running.done
    assert.equal(r.code, 0, r.stderr)
    assert.equal(/asmtp:node /.test(r.stderr), shown, r.stderr)
    assert.match(r.stderr, /asmtpd: stopped/)
  }
})

test('asmtpd exits 130 on a second signal during shutdown (needs the node)', async () => {
  const config = await runnableConfig('twice')
  const running = await startDaemon(config.path)
  running.child.kill('SIGINT')
  running.child.kill('SIGTERM')
  const r = await running.done
  assert.equal(r.code, 130, r.stderr)
  assert.match(r.stderr, /again: exiting without a clean shutdown/)
})

test('asmtpd with its listen port in use exits 1 with one line naming network.listen (needs the node)', async () => {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const { port } = server.address() as AddressInfo
    const config = await runnableConfig('busy', `/ip4/127.0.0.1/tcp/${port}`)
    const r = await daemon(['--config', config.path])
    assert.equal(r.code, 1, r.stderr)
    assert.equal(r.stdout, '')
    assertOneLine(r.stderr, new RegExp(`^asmtpd: network\\.listen /ip4/127\\.0\\.0\\.1/tcp/${port}: cannot listen: address already in use \\(EADDRINUSE\\)$`))
  } finally {
    await new Promise(resolve => server.close(resolve))
  }
})
