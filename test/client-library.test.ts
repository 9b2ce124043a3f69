import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { Account, connectClient, fromHex, isAsmtpError, selfTopics, type InboxMessage } from '../src/index.js'
import { loadDevice, loadSharedKeys, pathsFor } from '../src/client/account-files.js'
import { createTestnet, waitFor, type Testnet } from './helpers/testnet.js'
import { folders, openOn, remoteOf, syncUntil, textsOf, type Folders } from './helpers/accounts.js'
import { collect } from './helpers/process.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DAY_MS = 24 * 3600_000

let net: Testnet
let f: Folders
let alice: Account
let bob: Account
let mallory: Account
let clock = Date.now()
const aliceClock = (): number => clock

before(async () => {
  f = await folders()
  const a = await Account.create({ dir: f.dir('alice'), alias: 'alice' })
  const b = await Account.create({ dir: f.dir('bob'), alias: 'bob' })
  const m = await Account.create({ dir: f.dir('mallory'), alias: 'mallory' })
  const users = await Promise.all([a, b, m].map(async x => (await x.identity()).deviceKey))
  net = await createTestnet(2, { users })
  // alice's folder remembers her node, as when init is given --remote-address and --remote-id
  const statePath = pathsFor(f.dir('alice')).state
  const state = JSON.parse(await readFile(statePath, 'utf8')) as { node: unknown }
  state.node = { address: remoteOf(net.nodes[0]).remoteAddress, remoteId: remoteOf(net.nodes[0]).remoteId }
  await writeFile(statePath, JSON.stringify(state))
  alice = await openOn(f.dir('alice'), net.nodes[0], { clock: aliceClock })
  bob = await openOn(f.dir('bob'), net.nodes[1])
  mallory = await openOn(f.dir('mallory'), net.nodes[0])
  await alice.addContact('bob', { passport: (await bob.passport()).export() })
  await bob.addContact('alice', { passport: (await alice.passport()).export() })
  await mallory.addContact('bob', { passport: (await bob.passport()).export() })
  await Promise.all([alice.sync(), bob.sync(), mallory.sync()])
})

after(async () => {
  await net?.teardown()
  await f?.remove()
})

function docExample (markdown: string): string {
  const m = /<!-- example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- example:end -->/.exec(markdown)
  assert.ok(m?.[1], 'docs/CLIENT.md has the example between its markers')
  return m[1]
}

test('the example program of docs/CLIENT.md compiles against the package and sends, then sees the reply', async () => {
  const source = docExample(await readFile(join(ROOT, 'docs/CLIENT.md'), 'utf8'))
  const dir = join(ROOT, 'dist', `doc-example-${process.pid}`)
  await mkdir(dir, { recursive: true })
  try {
    const file = join(dir, 'example.ts')
    await writeFile(file, source)
    const program = ts.createProgram([file], {
      strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, outDir: dir, skipLibCheck: true, types: ['node'], paths: { asmtp: [join(ROOT, 'dist/src/index.d.ts')] }
    })
    const emitted = program.emit()
    const problems = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].map(d => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    assert.deepEqual(problems, [], 'the example type-checks')
    const child = spawn(process.execPath, [join(dir, 'example.js'), f.dir('alice'), 'bob', 'hello from the example'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    const done = collect(child, 60_000)
    await syncUntil(bob, 'bob to get the example\'s message', i => textsOf(i, 'in').includes('hello from the example') ? true : undefined)
    await bob.send('alice', { text: 'a reply to the example' })
    const r = await done
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^sent [0-9a-f]{32} to bob\nbob wrote: a reply to the example\n$/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

const statusOf = (inbox: InboxMessage[], text: string): string | undefined => inbox.find(m => m.direction === 'out' && m.text === text)?.status

test('receipts: bob\'s node is down past alice\'s resend point; alice resends, bob gets it once, and it turns delivered', async () => {
  await net.stop(1)
  await alice.send('bob', { text: 'are you there?' })
  assert.equal(statusOf(await alice.inbox(), 'are you there?'), 'waiting')
  let r = await alice.sync()
  assert.deepEqual(r.resent, [], 'not resent before half the frame lifetime')
  clock += 7 * DAY_MS + 60_000
  r = await alice.sync()
  assert.equal(r.resent.length, 1, 'resent once the resend point passed')
  assert.equal(statusOf(await alice.inbox(), 'are you there?'), 'waiting')
  await net.restart(1, [net.nodes[0].node.getMultiaddrs()[0]])
  bob = await openOn(f.dir('bob'), net.nodes[1])
  const got = await syncUntil(bob, 'bob to get the message', i => i.filter(m => m.direction === 'in' && m.text === 'are you there?').length > 0 ? i : undefined)
  // both envelopes (the first and the resent one) reach bob's node; he keeps one message
  await waitFor(async () => { await bob.sync(); return true }, 'one more sync')
  assert.equal(got.filter(m => m.text === 'are you there?').length, 1)
  assert.equal((await bob.inbox()).filter(m => m.text === 'are you there?').length, 1, 'the repeated id is ignored')
  await waitFor(async () => { await alice.sync(); return statusOf(await alice.inbox(), 'are you there?') === 'delivered' }, 'alice to see the receipt')
})

test('receipts: with no receipt after the whole lifetime, alice is told the message could not be delivered', async () => {
  const silent = await Account.create({ dir: f.dir('silent'), alias: 'silent' })
  await alice.addContact('silent', { passport: (await silent.passport()).export() })
  await alice.sync()
  await alice.send('silent', { text: 'nobody reads this' })
  clock += 7 * DAY_MS + 60_000
  assert.equal((await alice.sync()).resent.length, 1)
  clock += 7 * DAY_MS + 60_000
  const r = await alice.sync()
  assert.deepEqual(r.undeliverable.map(m => m.text), ['nobody reads this'])
  assert.equal(statusOf(await alice.inbox(), 'nobody reads this'), 'undeliverable')
  await alice.removeContact('silent')
})

test('access on a shared node: a device cannot query, watch or deregister the topics another passport registered', async () => {
  const paths = pathsFor(f.dir('alice'))
  const device = await loadDevice(paths)
  const keys = await loadSharedKeys(paths, device)
  const self = selfTopics(keys, Date.now())[0]
  assert.ok(self !== undefined)
  const malloryPaths = pathsFor(f.dir('mallory'))
  const malloryDevice = await loadDevice(malloryPaths)
  const [host, port] = (net.nodes[0].node.clientAddress ?? '').split(':')
  const conn = await connectClient({ host: host ?? '', port: Number(port), remoteId: net.nodes[0].node.publicId, device: malloryDevice })
  try {
    const state = JSON.parse(await readFile(paths.state, 'utf8')) as { registered: Record<string, string[]> }
    const aliceTopics = state.registered[net.nodes[0].node.publicId] ?? []
    assert.ok(aliceTopics.length >= 2)
    for (const hex of aliceTopics) {
      await assert.rejects(conn.query(fromHex(hex, 32), 0n), (err: unknown) => isAsmtpError(err, 'TOPIC_NOT_REGISTERED'), `query of ${hex}`)
      await assert.rejects(conn.watch(() => {}, { topics: [fromHex(hex, 32)] }), (err: unknown) => isAsmtpError(err, 'TOPIC_NOT_REGISTERED'), `watch of ${hex}`)
    }
    await conn.deregisterTopic(self.topic.topic).catch(() => {})
    // alice's registration survives mallory's attempt: her own query still works and her mail still arrives
    await bob.send('alice', { text: 'after mallory tried' })
    await syncUntil(alice, 'alice to still get mail', i => textsOf(i, 'in').includes('after mallory tried') ? true : undefined)
    assert.ok(net.nodes[0].node.isTopicOwner(self.topic.topic, (await alice.identity()).deviceKey))
  } finally {
    await conn.close()
  }
})
