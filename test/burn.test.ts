/**
 * Burn after reading (issue 16, point 3). The flag's codec: plaintext version 2 (flags in the
 * top byte of the time field), fed truncated, oversized and random input. Then real processes:
 * a spawned asmtpd serves alice and bob's two devices; alice runs `asmtp-cli send --burn`; bob's
 * laptop holds the message, his phone shows it once (`asmtp-cli inbox`), and after that it is
 * gone on both, and `inbox` on each says that a burnt message was read.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { Account, isAsmtpError, decodePlaintext, encodePlaintext, PLAINTEXT_VERSION, PLAINTEXT_VERSION_FLAGS } from '../src/index.js'
import { collect, freePort, readyDaemon, stopChild } from './helpers/process.js'
import { waitFor } from './helpers/testnet.js'
import { nodeFolder, soloNodeYaml } from './helpers/daemon.js'
import { FAST, syncUntil } from './helpers/accounts.js'

const CLI = fileURLToPath(new URL('../cli/asmtp-cli.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const RUN_MS = 30_000

const message = (burn: boolean): Parameters<typeof encodePlaintext>[0] => ({ id: randomBytes(16), time: Date.now(), contentType: 'text/plain', body: randomBytes(40), ...(burn ? { burn: true } : {}) })

test('plaintext: burn is version 2 with flag bit 0 in the time field\'s top byte; no flag stays version 1; both round-trip', () => {
  const plain = encodePlaintext(message(false))
  const burn = encodePlaintext(message(true))
  assert.equal(plain[0], PLAINTEXT_VERSION)
  assert.equal(burn[0], PLAINTEXT_VERSION_FLAGS)
  assert.equal(burn[17], 0x01)
  assert.equal(plain.length, burn.length, 'the flag costs no byte: same buckets, same largest body')
  assert.equal(decodePlaintext(plain).burn, undefined)
  const m = message(true)
  const back = decodePlaintext(encodePlaintext(m))
  assert.equal(back.burn, true)
  assert.equal(back.time, m.time)
  assert.deepEqual(Buffer.from(back.body), Buffer.from(m.body))
})

test('plaintext v2: unknown flags, a v2 without flags, truncation and random bytes are clear errors, never another exception', () => {
  const good = encodePlaintext(message(true))
  const unknown = good.slice()
  unknown[17] = 0x03
  assert.throws(() => decodePlaintext(unknown), (e: unknown) => isAsmtpError(e, 'DECODE_INVALID') && /flag/.test(e.message))
  const flagless = good.slice()
  flagless[17] = 0
  assert.throws(() => decodePlaintext(flagless), (e: unknown) => isAsmtpError(e, 'DECODE_INVALID'))
  for (let n = 0; n < 64; n++) assert.throws(() => decodePlaintext(good.subarray(0, n)), (e: unknown) => isAsmtpError(e))
  const oversized = new Uint8Array(good.length + 1000)
  oversized.set(good)
  oversized[good.length + 10] = 1
  assert.throws(() => decodePlaintext(oversized), (e: unknown) => isAsmtpError(e, 'ENVELOPE_BAD_PADDING'))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom(PLAINTEXT_VERSION, PLAINTEXT_VERSION_FLAGS), (bytes, version) => {
    const input = bytes.length > 0 ? Uint8Array.from([version, ...bytes]) : bytes
    try {
      const m = decodePlaintext(input)
      assert.ok(m.burn === undefined || m.burn === true)
    } catch (e) {
      assert.ok(isAsmtpError(e), `not an AsmtpError: ${String(e)}`)
    }
  }), { numRuns: 2000 })
})

let root: string
let remote: { remoteAddress: string, remoteId: string }
const running = new Set<ChildProcess>()

function launch (script: string, args: string[]): ChildProcess {
  const e: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete e[k]
  const child = spawn(process.execPath, [script, ...args], { cwd: root, env: { ...e, ASMTP_CLI_RECORD_DELAY_MS: '0' }, stdio: ['pipe', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => { running.delete(child) })
  return child
}

async function cli (who: string, args: string[]): Promise<string> {
  const r = await collect(launch(CLI, ['--dir', join(root, who), '--remote-address', remote.remoteAddress, '--remote-id', remote.remoteId, ...args]), RUN_MS, '')
  assert.equal(r.code, 0, `asmtp-cli ${args.join(' ')} (${who}): ${r.stderr}`)
  return r.stdout
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'asmtp-burn-'))
  const alice = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
  const laptop = await Account.create({ dir: join(root, 'laptop'), alias: 'laptop' })
  const phone = await Account.create({ dir: join(root, 'phone'), alias: 'phone', join: (await laptop.identity()).passportId })
  const users = await Promise.all([alice, laptop, phone].map(async x => (await x.identity()).deviceKey))
  const nodeDir = join(root, 'node')
  await nodeFolder(nodeDir, soloNodeYaml(users, await freePort()))
  remote = await readyDaemon(launch(DAEMON, ['--config', join(nodeDir, 'config.yaml')]), RUN_MS)
})

after(async () => {
  for (const child of [...running]) await stopChild(child, 'SIGKILL')
  await rm(root, { recursive: true, force: true })
})

interface Entry { direction: string, text?: string, burn?: boolean, vanished?: string }

test('burn: after the first read on bob\'s phone, alice\'s message is gone on both of bob\'s devices, and inbox says a burnt message was read', { timeout: 240_000 }, async () => {
  const open = async (who: string): Promise<Account> => await Account.open({ dir: join(root, who), remote, ...FAST })
  const [alice, laptop, phone] = [await open('alice'), await open('laptop'), await open('phone')]
  await laptop.addDevice((await phone.identity()).registrationRequest ?? '')
  await laptop.sync()
  await waitFor(async () => {
    try {
      return (await phone.sync()).joined
    } catch (err) {
      if (isAsmtpError(err, 'NOT_FOUND') || isAsmtpError(err, 'ACCOUNT_JOIN_PENDING')) return false
      throw err
    }
  }, 'the phone to join bob\'s passport', 60_000)
  await alice.addContact('bob', { passport: (await laptop.passport()).export() })
  await laptop.addContact('alice', { passport: (await alice.passport()).export() })
  await laptop.flush()
  await waitFor(async () => { await phone.sync(); return (await phone.contacts()).some(c => c.alias === 'alice') }, 'the phone to learn alice', 60_000)
  await alice.sync()

  const secret = `burn me ${randomBytes(4).toString('hex')}`
  await cli('alice', ['send', 'bob', secret, '--burn'])
  await cli('alice', ['send', 'bob', 'an ordinary one'])
  const hold = async (a: Account, who: string): Promise<void> => {
    await syncUntil(a, `${who} to hold both messages`, m => m.filter(x => x.direction === 'in').length === 2 ? true : undefined, 60_000)
  }
  await hold(laptop, 'the laptop')
  await hold(phone, 'the phone')
  const held = JSON.parse(await cli('laptop', ['inbox', '--json'])) as Entry[]
  assert.equal(held.find(e => e.text === secret)?.burn, true, 'the laptop holds it, flagged (inbox --json is not a read)')

  // the first read: the phone shows it once, with its tag, and deletes it
  const shown = await cli('phone', ['inbox'])
  assert.match(shown, new RegExp(`${secret}.*burn after reading`))
  const again = await cli('phone', ['inbox'])
  assert.ok(!again.includes(secret), 'gone on the phone after its read')
  assert.match(again, /burnt message from alice .* was read and deleted on all your devices/)
  assert.match(again, /an ordinary one/)

  // the laptop syncs (the phone's mark goes out at once with a record delay of 0) and deletes it too
  await cli('phone', ['sync'])
  await waitFor(async () => {
    await cli('laptop', ['sync'])
    return !(JSON.parse(await cli('laptop', ['inbox', '--json'])) as Entry[]).some(e => e.text === secret)
  }, 'the laptop to delete the burnt message', 60_000)
  const laptopText = await cli('laptop', ['inbox'])
  assert.ok(!laptopText.includes(secret))
  assert.match(laptopText, /burnt message from alice .* was read and deleted/)
  const notes = (JSON.parse(await cli('laptop', ['inbox', '--json'])) as Entry[]).filter(e => e.vanished !== undefined)
  assert.deepEqual(notes.map(e => e.vanished), ['burnt'])
  assert.ok((await alice.inbox({ direction: 'out' })).some(m => m.text === secret && m.burn === true), 'the sender keeps its own copy, flagged')
})
