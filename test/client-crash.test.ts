import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Account } from '../src/index.js'
import { freePort, readyDaemon, stopChild } from './helpers/process.js'
import { waitFor } from './helpers/testnet.js'
import { nodeFolder, soloNodeYaml } from './helpers/daemon.js'
import { FAST } from './helpers/accounts.js'

const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const MESSAGES = 100
const KILLS = 5
/** How long one message may take to get through, restarts included, on a loaded machine. */
const RETRY_MS = 90_000

let root: string
let nodeDir: string
let daemon: ChildProcess | undefined
let remote: { remoteAddress: string, remoteId: string } | undefined
const running = new Set<ChildProcess>()
let alice: Account
let bob: Account

function env (): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete e[k]
  return e
}

function launch (script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: env(), stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

/** Starts the one node of these tests (fixed client port, so a restarted node is found again). */
async function startDaemon (): Promise<void> {
  const child = launch(DAEMON, ['--config', join(nodeDir, 'config.yaml')])
  const address = await readyDaemon(child, RETRY_MS)
  daemon = child
  remote = address
}

async function stopDaemon (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await stopChild(daemon, signal)
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'asmtp-client-crash-'))
  const a = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
  const b = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
  const users = await Promise.all([a, b].map(async x => (await x.identity()).deviceKey))
  nodeDir = join(root, 'node')
  await nodeFolder(nodeDir, soloNodeYaml(users, await freePort()))
  await startDaemon()
  assert.ok(remote !== undefined)
  alice = await Account.open({ dir: join(root, 'alice'), remote, ...FAST })
  bob = await Account.open({ dir: join(root, 'bob'), remote, ...FAST })
  await alice.addContact('bob', { passport: (await bob.passport()).export() })
  await bob.addContact('alice', { passport: (await alice.passport()).export() })
  await alice.sync()
  await bob.sync()
})

after(async () => {
  await stopDaemon('SIGKILL')
  for (const child of running) child.kill('SIGKILL')
  await rm(root, { recursive: true, force: true })
})

/** Message indices at which the node is killed: KILLS distinct random ones, spread over the run. */
function killPoints (): Set<number> {
  const points = new Set<number>()
  while (points.size < KILLS) points.add(5 + Math.floor(Math.random() * (MESSAGES - 10)))
  return points
}

test(`the node is SIGKILLed at random points while ${MESSAGES} messages go out, each retried until it succeeds: bob has each exactly once`, async () => {
  const points = killPoints()
  let kills = 0
  let failures = 0
  let restarting: Promise<void> | undefined
  const ids = new Map<string, string>()
  for (let i = 0; i < MESSAGES; i++) {
    const text = `message ${i}`
    if (points.has(i)) {
      // the kill lands at a random moment of this send: before the node has it, while it stores, or after
      const delay = Math.floor(Math.random() * 40)
      restarting = (async () => {
        await new Promise(resolve => setTimeout(resolve, delay))
        await stopDaemon('SIGKILL')
        kills++
        await startDaemon()
      })()
    }
    const deadline = Date.now() + RETRY_MS
    for (;;) {
      try {
        const sent = await alice.send('bob', { text })
        const before = ids.get(text)
        assert.ok(before === undefined || before === sent.id, `a retry of ${text} keeps its message id`)
        ids.set(text, sent.id)
        break
      } catch (err) {
        failures++
        if (Date.now() > deadline) throw err
        await restarting
      }
    }
    if (restarting !== undefined) {
      await restarting
      restarting = undefined
    }
  }
  assert.equal(kills, KILLS, `the node was killed ${kills} times`)
  await waitFor(async () => {
    await bob.sync()
    return (await bob.inbox()).filter(m => m.direction === 'in').length >= MESSAGES
  }, 'bob to have every message', RETRY_MS)
  await bob.sync()
  const got = (await bob.inbox()).filter(m => m.direction === 'in').map(m => m.text ?? '')
  const counts = new Map<string, number>()
  for (const t of got) counts.set(t, (counts.get(t) ?? 0) + 1)
  for (let i = 0; i < MESSAGES; i++) assert.equal(counts.get(`message ${i}`), 1, `message ${i} exactly once`)
  assert.equal(got.length, MESSAGES)
  console.log(`# ${MESSAGES} messages, ${kills} kills, ${failures} failed sends retried`)
})
