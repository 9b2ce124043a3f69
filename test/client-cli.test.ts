import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectClient, deriveTopic, fromHex, generateX25519, sealFrame } from '../src/index.js'
import { TEXT_CONTENT_TYPE } from '../src/client/index.js'
import { loopbackConfigYaml } from '../src/config/index.js'
import { loadDevice, loadSharedKeys, pathsFor } from '../src/client/account-files.js'
import { collect as collectChild, type Result } from './helpers/process.js'

const CLI = fileURLToPath(new URL('../cli/asmtp-cli.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const NODE_TOOL = fileURLToPath(new URL('../cli/asmtpd-cli.js', import.meta.url))
const RUN_TIMEOUT_MS = 30_000
const READY_TIMEOUT_MS = 30_000
const ARRIVAL_TIMEOUT_MS = 45_000

const collect = async (child: ChildProcess, input?: string, timeoutMs = RUN_TIMEOUT_MS): Promise<Result> => await collectChild(child, timeoutMs, input)

interface NodeProc {
  name: string
  dir: string
  publicId: string
  clientAddress: string
  listen: string
  child: ChildProcess
}

interface User { name: string, dir: string, node: NodeProc }

let root: string
const running = new Set<ChildProcess>()
const nodes: Record<string, NodeProc> = {}
const users: Record<string, User> = {}

function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete env[k]
  return { ...env, ...extra }
}

function launch (script: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}


function remoteArgs (node: NodeProc): string[] {
  return ['--remote-address', node.clientAddress, '--remote-id', node.publicId]
}

async function cli (u: User, args: string[], opts: { input?: string, env?: Record<string, string>, remote?: boolean } = {}): Promise<Result> {
  const remote = opts.remote === false ? [] : remoteArgs(u.node)
  return await collect(launch(CLI, ['--dir', u.dir, ...remote, ...args], opts.env), opts.input ?? '')
}

async function ok (u: User, args: string[], opts: { input?: string, env?: Record<string, string> } = {}): Promise<string> {
  const r = await cli(u, args, opts)
  assert.equal(r.code, 0, `asmtp-cli ${args.join(' ')} (${u.name}) failed: ${r.stderr}`)
  return r.stdout
}

function oneLine (stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `one stderr line expected, got: ${stderr}`)
  assert.match(lines[0], pattern)
}

/** Polls `probe` until it returns a value; bounded by `timeoutMs`. */
async function until<T> (what: string | (() => string), probe: () => Promise<T | undefined> | T | undefined, timeoutMs = ARRIVAL_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise(resolve => setTimeout(resolve, wait))
  }
}

interface InboxEntry { direction: string, alias: string, text?: string, file?: { name: string, size: number, sha256: string }, savedTo?: string }

async function inbox (u: User, extra: string[] = []): Promise<InboxEntry[]> {
  return JSON.parse(await ok(u, ['inbox', '--json', ...extra], {})) as InboxEntry[]
}

/** Syncs until a received message matching `match` is in the inbox. */
async function receive (u: User, from: string, match: (e: InboxEntry) => boolean): Promise<InboxEntry> {
  let last = ''
  return await until(() => `${u.name} to receive from ${from} (last sync: ${last})`, async () => {
    last = await ok(u, ['sync', '--json'])
    return (await inbox(u)).find(e => e.direction === 'received' && e.alias === from && match(e))
  })
}

async function startNode (name: string, userKeys: string[], bootstrap: string[]): Promise<NodeProc> {
  const dir = join(root, name)
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'config.yaml')
  const yaml = loopbackConfigYaml({ users: userKeys, bootstrap })
  await writeFile(config, yaml)
  const key = await collect(launch(NODE_TOOL, ['generate-new-key', '--output', join(dir, 'node.key'), '--json']))
  assert.equal(key.code, 0, key.stderr)
  return await runNode(name, dir)
}

async function runNode (name: string, dir: string): Promise<NodeProc> {
  const child = launch(DAEMON, ['--config', join(dir, 'config.yaml')])
  let out = ''
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c })
  const lines = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name} not ready within ${READY_TIMEOUT_MS} ms: ${out} ${err}`)) }, READY_TIMEOUT_MS)
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c
      if (/^ready$/m.test(out)) { clearTimeout(timer); resolve(out) }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}: ${err}`)) })
  })
  const field = (re: RegExp): string => {
    const m = re.exec(lines)
    assert.ok(m?.[1], `${re} in ${lines}`)
    return m[1]
  }
  return {
    name,
    dir,
    child,
    publicId: field(/^asmtpd public id: ([0-9a-f]{64})$/m),
    clientAddress: field(/^client channel: (\S+)$/m),
    listen: field(/^listening: (\S+)$/m)
  }
}

async function stopNode (n: NodeProc): Promise<void> {
  if (n.child.exitCode !== null) return
  const exited = new Promise(resolve => n.child.once('exit', resolve))
  n.child.kill('SIGTERM')
  const timer = setTimeout(() => { n.child.kill('SIGKILL') }, 15_000)
  await exited
  clearTimeout(timer)
}

async function initUser (name: string, extra: string[] = []): Promise<{ dir: string, deviceKey: string, passportId: string, registrationRequest?: string }> {
  const dir = join(root, `user-${name}`)
  const r = await collect(launch(CLI, ['--dir', dir, 'init', '--alias', name, '--json', ...extra]))
  assert.equal(r.code, 0, r.stderr)
  const id = JSON.parse(r.stdout) as { alias: string, deviceKey: string, passportId: string, registrationRequest?: string }
  assert.equal(id.alias, name)
  assert.match(id.deviceKey, /^[0-9a-f]{64}$/)
  return { dir, ...id }
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'asmtp-client-cli-'))
  const [alice, bob, carol] = await Promise.all([initUser('alice'), initUser('bob'), initUser('carol')])
  const phone = await initUser('phone', ['--join', alice.passportId])
  nodes.relay = await startNode('relay', [], [])
  // alice's phone is on a node of its own: devices of one passport may use different nodes
  const [na, nb, nc] = await Promise.all([
    startNode('node-a', [alice.deviceKey], [nodes.relay.listen]),
    startNode('node-b', [bob.deviceKey, carol.deviceKey], [nodes.relay.listen]),
    startNode('node-c', [phone.deviceKey], [nodes.relay.listen])
  ])
  nodes.a = na
  nodes.b = nb
  nodes.c = nc
  users.alice = { name: 'alice', dir: alice.dir, node: na }
  users.bob = { name: 'bob', dir: bob.dir, node: nb }
  users.carol = { name: 'carol', dir: carol.dir, node: nb }
  users.phone = { name: 'phone', dir: phone.dir, node: nc }
})

after(async () => {
  await Promise.all(Object.values(nodes).map(stopNode))
  for (const child of running) child.kill('SIGKILL')
  await rm(root, { recursive: true, force: true })
})

test('init refuses to overwrite; whoami --json (also with ASMTP_CLI_DIR); passports exchanged as files', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  const again = await cli(alice, ['init', '--alias', 'alice'], { remote: false })
  assert.equal(again.code, 1)
  oneLine(again.stderr, /already holds an identity.*not overwriting/)
  const me = JSON.parse((await collect(launch(CLI, ['whoami', '--json'], { ASMTP_CLI_DIR: alice.dir }))).stdout) as Record<string, string>
  assert.deepEqual(Object.keys(me).sort(), ['alias', 'deviceKey', 'passportId'])
  assert.equal(me.alias, 'alice')

  await ok(alice, ['passport', 'export', '--output', join(root, 'alice.passport')])
  await ok(bob, ['passport', 'export', '--output', join(root, 'bob.passport')])
  await ok(alice, ['contact', 'add', 'bob', join(root, 'bob.passport')])
  await ok(bob, ['contact', 'add', 'alice', join(root, 'alice.passport')])
  const contacts = JSON.parse(await ok(alice, ['contact', 'list', '--json'])) as Array<{ alias: string, passportId: string }>
  const bobId = (JSON.parse(await ok(bob, ['whoami', '--json'])) as { passportId: string }).passportId
  assert.deepEqual(contacts.map(c => [c.alias, c.passportId]), [['bob', bobId]])
  // both register their topics before anything is sent
  await ok(alice, ['sync'])
  await ok(bob, ['sync'])
})

test('the errors a person meets: one clear line and a non-zero exit', async () => {
  const { alice, carol } = users as { alice: User, carol: User }
  const wrongId = await cli(alice, ['sync', '--remote-address', nodes.a.clientAddress, '--remote-id', nodes.b.publicId], { remote: false })
  assert.equal(wrongId.code, 1)
  oneLine(wrongId.stderr, /^asmtp-cli: handshake failed: wrong --remote-id/)

  const notUser = await cli({ ...carol, node: nodes.a }, ['sync'])
  assert.equal(notUser.code, 1)
  oneLine(notUser.stderr, /not in the node's users: add [0-9a-f]{64} to users/)

  const unreachable = await cli(alice, ['sync', '--remote-address', '127.0.0.1:1', '--remote-id', nodes.a.publicId], { remote: false })
  assert.equal(unreachable.code, 1)
  oneLine(unreachable.stderr, /cannot reach the node at 127\.0\.0\.1:1/)

  const unknown = await cli(alice, ['send', 'mallory', 'hi'])
  assert.equal(unknown.code, 1)
  oneLine(unknown.stderr, /unknown contact "mallory" \(contacts: bob\)/)

  const noNode = await cli(alice, ['sync'], { remote: false })
  assert.equal(noNode.code, 2)
  oneLine(noNode.stderr, /no node to talk to: give --remote-address/)
})

test('send, sync, inbox --json: the text arrives with the right sender; the sender keeps a copy', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  const sent = await ok(alice, ['send', 'bob', 'Hello Bob, this is Alice.'])
  assert.match(sent, /^sent to bob/)
  await ok(alice, ['send', 'bob'], { input: 'from stdin\nsecond line' })
  const got = await receive(bob, 'alice', e => e.text === 'Hello Bob, this is Alice.')
  assert.equal(got.alias, 'alice')
  await receive(bob, 'alice', e => e.text === 'from stdin\nsecond line')
  const mine = await inbox(alice)
  assert.deepEqual(mine.filter(e => e.direction === 'sent').map(e => [e.alias, e.text]), [['bob', 'Hello Bob, this is Alice.'], ['bob', 'from stdin\nsecond line']])
  assert.equal(mine.filter(e => e.direction === 'received').length, 0, 'alice\'s own envelopes came back in her queries and were skipped')
  const text = await ok(bob, ['inbox'])
  assert.match(text, /from alice: Hello Bob, this is Alice\./)
})

test('a file larger than one envelope arrives with identical bytes', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  const data = randomBytes(200_000)
  const path = join(root, 'photo.bin')
  await writeFile(path, data)
  await ok(alice, ['send', 'bob', '--file', path])
  await receive(bob, 'alice', e => e.file?.name === 'photo.bin')
  const out = join(root, 'saved')
  const saved = (await inbox(bob, ['--save', out])).find(e => e.file?.name === 'photo.bin')
  assert.equal(saved?.file?.size, data.length)
  assert.ok(saved?.savedTo)
  assert.deepEqual(await readFile(saved.savedTo), data)
})

/** Runs asmtp-cli for `u` on a pseudo-terminal (util-linux `script`), as a person at a terminal would; stdout and stderr arrive together. */
async function onTerminal (u: User, args: string[]): Promise<Result> {
  const quote = (a: string): string => `'${a.replaceAll("'", "'\\''")}'`
  const command = [process.execPath, CLI, '--dir', u.dir, ...remoteArgs(u.node), ...args].map(quote).join(' ')
  const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: root, env: { ...childEnv(), COLUMNS: '100', LINES: '30' }, stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return await collect(child)
}

test('progress bars: send --file and sync draw one on a terminal, none when piped or with --quiet or --json', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  const path = join(root, 'progress.bin')
  await writeFile(path, randomBytes(300_000))
  const tty = await onTerminal(alice, ['send', 'bob', '--file', path])
  assert.equal(tty.code, 0, tty.stdout)
  assert.match(tty.stdout, /sending progress\.bin \[[^\]]*\] \d+% \d+\/\d+/, 'a bar for the file on the terminal')
  const piped = await cli(alice, ['send', 'bob', '--file', path])
  assert.equal(piped.code, 0, piped.stderr)
  assert.doesNotMatch(piped.stderr + piped.stdout, /sending progress\.bin \[/, 'no bar when stderr is not a terminal')
  const quiet = await onTerminal(alice, ['--quiet', 'send', 'bob', '--file', path])
  assert.equal(quiet.code, 0, quiet.stdout)
  assert.doesNotMatch(quiet.stdout, /\[[^\]]*\] \d+%/, 'no bar with --quiet')
  const json = await onTerminal(alice, ['send', 'bob', '--file', path, '--json'])
  assert.equal(json.code, 0, json.stdout)
  assert.doesNotMatch(json.stdout, /\[[^\]]*\] \d+%/, 'no bar with --json')
  const synced = await onTerminal(bob, ['sync'])
  assert.equal(synced.code, 0, synced.stdout)
  assert.match(synced.stdout, /syncing \[[^\]]*\] \d+% topics \d+\/\d+, \d+ envelopes/, 'a bar for the sync on the terminal')
})

test('a message sealed by a key that is not the contact\'s is reported and not stored', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  // someone holding the topic key (here: alice's node's user) seals with a key of their own
  const paths = pathsFor(alice.dir)
  const device = await loadDevice(paths)
  const mine = (await loadSharedKeys(paths, device)).find(k => k.retiredAt === null)!
  const state = JSON.parse(await readFile(paths.state, 'utf8')) as { contacts: Array<{ keys: Array<{ publicKey: string }> }> }
  const bobPublic = state.contacts[0].keys[0].publicKey
  const topic = deriveTopic(mine.secretKey, fromHex(bobPublic))
  const forged = sealFrame({ sender: generateX25519(), recipientPublic: fromHex(bobPublic), topic, contentType: TEXT_CONTENT_TYPE, body: new TextEncoder().encode('trust me, I am alice') })
  const conn = await connectClient({ host: '127.0.0.1', port: Number(nodes.a.clientAddress.split(':')[1]), remoteId: nodes.a.publicId, device })
  try {
    await conn.publish(topic.topic, forged)
  } finally {
    await conn.close()
  }
  const r = await until('bob to reject the forged message', async () => {
    const s = await cli(bob, ['sync'])
    return s.code === 1 ? s : undefined
  })
  oneLine(r.stderr, /rejected a message on the topic with alice: it was sealed by a key that is not alice's \(not stored\)/)
  assert.ok(!(await inbox(bob)).some(e => e.text === 'trust me, I am alice'))
  const next = await cli(bob, ['sync'])
  assert.equal(next.code, 0, 'reported once: the cursor moved past it')
})

test('contact add --id fetches a passport through the network', async () => {
  const { alice, carol } = users as { alice: User, carol: User }
  const aliceId = (JSON.parse(await ok(alice, ['whoami', '--json'])) as { passportId: string }).passportId
  await ok(carol, ['contact', 'add', 'alice', '--id', aliceId])
  const contacts = JSON.parse(await ok(carol, ['contact', 'list', '--json'])) as Array<{ alias: string, passportId: string, sharedKey: string }>
  const shown = JSON.parse(await ok(alice, ['passport', 'show', '--json'])) as { id: string, sharedKey: string }
  assert.deepEqual(contacts.map(c => [c.alias, c.passportId, c.sharedKey]), [['alice', aliceId, shown.sharedKey]])
  const bogus = await cli(carol, ['contact', 'add', 'nobody', '--id', 'ab'.repeat(32)])
  assert.equal(bogus.code, 1)
  oneLine(bogus.stderr, /not found/)
})

test('after passport rotate-shared-key both sides keep talking, on the old topics and the new', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  const before = JSON.parse(await ok(bob, ['passport', 'show', '--json'])) as { sharedKey: string, sharedKeyVersion: number }
  await ok(bob, ['passport', 'rotate-shared-key'])
  const after = JSON.parse(await ok(bob, ['passport', 'show', '--json'])) as { sharedKey: string, sharedKeyVersion: number }
  assert.notEqual(after.sharedKey, before.sharedKey)
  assert.equal(after.sharedKeyVersion, before.sharedKeyVersion + 1)
  await ok(bob, ['sync'])
  // alice has not heard of it yet: she writes on the old topic, which bob still reads
  await ok(alice, ['send', 'bob', 'on the old topic'])
  await receive(bob, 'alice', e => e.text === 'on the old topic')
  // alice's sync applies bob's verified update
  await until('alice to learn bob\'s new key', async () => {
    await ok(alice, ['sync'])
    const c = (JSON.parse(await ok(alice, ['contact', 'list', '--json'])) as Array<{ sharedKey: string }>)[0]
    return c?.sharedKey === after.sharedKey ? true : undefined
  })
  await ok(alice, ['send', 'bob', 'on the new topic'])
  await ok(bob, ['send', 'alice', 'bob replies on the new topic'])
  await receive(bob, 'alice', e => e.text === 'on the new topic')
  await receive(alice, 'bob', e => e.text === 'bob replies on the new topic')
})

test('a message sent while the recipient\'s node was stopped arrives after it restarts', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  await stopNode(nodes.b)
  await ok(alice, ['send', 'bob', 'sent while your node was down'])
  const restarted = await runNode('node-b', nodes.b.dir)
  nodes.b = restarted
  bob.node = restarted
  users.carol.node = restarted
  await receive(bob, 'alice', e => e.text === 'sent while your node was down')
})

test('watch prints mail as it arrives and stops cleanly on SIGINT', async () => {
  const { alice, bob } = users as { alice: User, bob: User }
  const child = launch(CLI, ['--dir', bob.dir, ...remoteArgs(bob.node), 'watch'])
  const done = collect(child, '', 60_000)
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: string) => { out += c })
  child.stderr?.on('data', (c: string) => { err += c })
  await until('watch to start', () => /watching for new mail/.test(err) ? true : undefined, 20_000)
  await ok(alice, ['send', 'bob', 'live, while bob watches'])
  await until('the message to appear in watch', () => /from alice: live, while bob watches/.test(out) ? true : undefined, 20_000)
  child.kill('SIGINT')
  const r = await done
  assert.equal(r.code, 0, r.stderr)
})

test('a second device joins the passport (init --join, passport add-device, sync) and writes as the same person', async () => {
  const { alice, bob, phone } = users as { alice: User, bob: User, phone: User }
  const early = await cli(phone, ['sync'])
  assert.equal(early.code, 1)
  oneLine(early.stderr, /not in passport [0-9a-f]{64} yet|passport [0-9a-f]{64} was not found through the node/)
  const state = JSON.parse(await readFile(join(phone.dir, 'state.json'), 'utf8')) as { joinRequest: string }
  assert.match(await ok(alice, ['passport', 'add-device', state.joinRequest]), /^added device phone/)
  await ok(alice, ['sync'])
  await ok(phone, ['sync'])
  const shown = JSON.parse(await ok(phone, ['passport', 'show', '--json'])) as { id: string, devices: Array<{ alias: string }> }
  const aliceId = (JSON.parse(await ok(alice, ['whoami', '--json'])) as { passportId: string }).passportId
  assert.equal(shown.id, aliceId)
  assert.deepEqual(shown.devices.map(d => d.alias).sort(), ['alice', 'phone'])
  // the laptop posted a snapshot of its contacts when it added the phone
  await until('the phone to have bob from the snapshot', async () => {
    await ok(phone, ['sync'])
    const contacts = JSON.parse(await ok(phone, ['contact', 'list', '--json'])) as Array<{ alias: string }>
    return contacts.some(c => c.alias === 'bob') ? true : undefined
  })
  await ok(phone, ['send', 'bob', 'from alice\'s phone'])
  await receive(bob, 'alice', e => e.text === 'from alice\'s phone')
})

test('two devices on two nodes: bob\'s mail shows on the laptop and the phone; the laptop\'s mail shows on the phone as sent', async () => {
  const { alice, bob, phone } = users as { alice: User, bob: User, phone: User }
  await ok(bob, ['send', 'alice', 'bob writes to both of alice\'s devices'])
  await receive(alice, 'bob', e => e.text === 'bob writes to both of alice\'s devices')
  await receive(phone, 'bob', e => e.text === 'bob writes to both of alice\'s devices')
  // no random wait for the device-sync record of this send, as a script may choose
  const now = { env: { ASMTP_CLI_RECORD_DELAY_MS: '0' } }
  await ok(alice, ['send', 'bob', 'the laptop writes; the phone keeps the copy'], now)
  // the send's record goes out with the laptop's next operation
  await ok(alice, ['sync'], now)
  await receive(bob, 'alice', e => e.text === 'the laptop writes; the phone keeps the copy')
  const copy = await until('the phone to show the laptop\'s sent mail', async () => {
    await ok(phone, ['sync'])
    return (await inbox(phone)).find(e => e.direction === 'sent' && e.text === 'the laptop writes; the phone keeps the copy')
  })
  assert.equal(copy.alias, 'bob')
})
