#!/usr/bin/env node
/**
 * npm run demo: a small asmtp network on this machine. Three asmtpd processes on loopback (a
 * relay, and one home node for each of alice and bob, which listen nowhere, as behind NAT, and
 * dial only the relay: they never connect to each other), two users with their own folders;
 * alice sends bob a message and a file, bob syncs and reads them, the file's bytes are
 * compared, and each node's connections are printed. Every step is printed as the command a person would type, with
 * its output. Processes and temporary folders are removed on success, on failure and on Ctrl-C.
 * Exits 0 when everything arrived, 1 otherwise.
 */
import '../src/polyfill.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loopbackConfigYaml } from '../src/config/index.js'

const BIN = {
  'asmtpd': fileURLToPath(new URL('./asmtpd.js', import.meta.url)),
  'asmtpd-cli': fileURLToPath(new URL('./asmtpd-cli.js', import.meta.url)),
  'asmtp-cli': fileURLToPath(new URL('./asmtp-cli.js', import.meta.url))
} as const
type Program = keyof typeof BIN

const COMMAND_TIMEOUT_MS = 30_000
const READY_TIMEOUT_MS = 30_000
const ARRIVAL_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 10_000

const children = new Set<ChildProcess>()
let work = ''

const say = (text = ''): void => { console.log(text) }
const indent = (text: string): string => text.trimEnd().split('\n').filter(l => l !== '').map(l => `    ${l}`).join('\n')
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

interface Result { code: number | null, stdout: string, stderr: string }

function launch (program: Program, args: string[], env: Record<string, string> = {}): ChildProcess {
  const clean: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(clean)) if (k.startsWith('ASMTP')) delete clean[k]
  const child = spawn(process.execPath, [BIN[program], ...args], { cwd: work, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  return child
}

async function exec (program: Program, args: string[], env: Record<string, string> = {}): Promise<Result> {
  const child = launch(program, args, env)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${program} ${args.join(' ')} did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`))
    }, COMMAND_TIMEOUT_MS)
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

interface User { name: string, env: Record<string, string> }

/** Prints the command as typed at `who`'s prompt, runs it, prints its output; throws when it fails. */
async function step (who: string, program: Program, args: string[], env: Record<string, string> = {}, quiet = false): Promise<string> {
  const shown = args.map(a => /^[\w./:@=-]+$/.test(a) ? a : `'${a.replace(/'/g, '\'\\\'\'')}'`).join(' ')
  if (!quiet) say(`${who}$ ${program} ${shown}`)
  const r = await exec(program, args, env)
  if (!quiet && r.stdout.trim() !== '') say(indent(r.stdout))
  if (!quiet && r.stderr.trim() !== '') say(indent(r.stderr))
  if (r.code !== 0) throw new Error(`${program} ${args[0] ?? ''} exited with ${r.code}: ${r.stderr.trim()}`)
  return r.stdout
}

const asUser = async (u: User, args: string[], quiet = false): Promise<string> => await step(u.name, 'asmtp-cli', args, u.env, quiet)

interface RunningNode { name: string, publicId: string, peerId: string, clientAddress: string, listen: string, log: () => string }

interface NodeRole { relay?: boolean, reachable?: boolean }

async function startNode (name: string, users: string[], bootstrap: string[], role: NodeRole = {}): Promise<RunningNode> {
  await mkdir(join(work, name))
  await step('operator', 'asmtpd-cli', ['generate-new-key', '--output', `${name}/node.key`])
  const yaml = loopbackConfigYaml({ comment: `${name}: asmtpd-cli default-config documents every field`, users, bootstrap, ...role })
  await writeFile(join(work, name, 'config.yaml'), yaml)
  say(`operator$ asmtpd --config ${name}/config.yaml &`)
  const child = launch('asmtpd', ['--config', `${name}/config.yaml`, '--log-level', 'info'])
  let out = ''
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s: ${err.trim()}`)) }, READY_TIMEOUT_MS)
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c
      if (/^ready$/m.test(out)) { clearTimeout(timer); resolve() }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}: ${err.trim()}`)) })
  })
  say(indent(out))
  const field = (re: RegExp, fallback?: string): string => {
    const value = re.exec(out)?.[1] ?? fallback
    if (value === undefined) throw new Error(`${name} did not print ${re.source}`)
    return value
  }
  return {
    name,
    publicId: field(/^asmtpd public id: (\S+)$/m),
    peerId: field(/^peer id: (\S+)$/m),
    clientAddress: field(/^client channel: (\S+)$/m),
    listen: field(/^listening: (\S+)$/m, ''),
    log: () => err
  }
}

function connectTo (u: User, node: RunningNode): void {
  u.env.ASMTP_CLI_REMOTE_ADDRESS = node.clientAddress
  u.env.ASMTP_CLI_REMOTE_ID = node.publicId
  say(`${u.name}$ export ASMTP_CLI_DIR=${u.env.ASMTP_CLI_DIR} ASMTP_CLI_REMOTE_ADDRESS=${node.clientAddress} ASMTP_CLI_REMOTE_ID=${node.publicId}`)
}

interface InboxEntry { direction: string, alias: string, text?: string, file?: { name: string, size: number, sha256: string } }

async function main (): Promise<number> {
  work = await mkdtemp(join(tmpdir(), 'asmtp-demo-'))
  say(`asmtp demo: a relay and two mail nodes on 127.0.0.1, two users, all under ${work}`)
  say()
  const alice: User = { name: 'alice', env: { ASMTP_CLI_DIR: 'alice' } }
  const bob: User = { name: 'bob', env: { ASMTP_CLI_DIR: 'bob' } }
  const phone: User = { name: 'alice-phone', env: { ASMTP_CLI_DIR: 'alice-phone' } }

  say('# 1. each user makes a device key and a passport')
  const keyOf = (stdout: string): string => /^device key: ([0-9a-f]{64})$/m.exec(stdout)?.[1] ?? ''
  const aliceKey = keyOf(await asUser(alice, ['init', '--alias', 'alice']))
  const bobKey = keyOf(await asUser(bob, ['init', '--alias', 'bob']))
  const aliceId = /^passport id: ([0-9a-f]{64})$/m.exec(await asUser(alice, ['whoami']))?.[1] ?? ''
  const phoneInit = await asUser(phone, ['init', '--alias', 'phone', '--join', aliceId])
  const phoneKey = keyOf(phoneInit)
  const request = /^registration request: ([0-9a-f]+)$/m.exec(phoneInit)?.[1] ?? ''
  say()

  say('# 2. three nodes: a relay, and a home node for each user that lets in its user\'s device key;')
  say('#    the home nodes listen nowhere (as behind NAT) and dial only the relay')
  const relay = await startNode('relay', [], [], { relay: true })
  const nodeA = await startNode('node-alice', [aliceKey, phoneKey], [relay.listen], { reachable: false })
  const nodeB = await startNode('node-bob', [bobKey], [relay.listen], { reachable: false })
  nodes.push(relay, nodeA, nodeB)
  connectTo(alice, nodeA)
  connectTo(bob, nodeB)
  connectTo(phone, nodeA)
  say()

  say('# 3. they exchange passports as files (mail, a USB stick, a chat...)')
  await asUser(alice, ['passport', 'export', '--output', 'alice.passport'])
  await asUser(bob, ['passport', 'export', '--output', 'bob.passport'])
  await asUser(alice, ['contact', 'add', 'bob', 'bob.passport'])
  await asUser(bob, ['contact', 'add', 'alice', 'alice.passport'])
  await asUser(alice, ['sync'])
  await asUser(bob, ['sync'])
  say()

  say('# 4. alice writes to bob and sends him a file larger than one envelope')
  const file = randomBytes(150_000)
  await writeFile(join(work, 'holiday-photos.bin'), file)
  say(`alice$ head -c ${file.length} /dev/urandom > holiday-photos.bin`)
  const text = 'Hello Bob! The photos from the weekend are attached.'
  await asUser(alice, ['send', 'bob', text])
  await asUser(alice, ['send', 'bob', '--file', 'holiday-photos.bin'])
  say()

  say('# 5. bob syncs until the network has carried both to his node')
  const deadline = Date.now() + ARRIVAL_TIMEOUT_MS
  for (let wait = 100, first = true; ; wait = Math.min(wait * 2, 1000), first = false) {
    await asUser(bob, ['sync'], !first)
    const received = (JSON.parse(await asUser(bob, ['inbox', '--json'], true)) as InboxEntry[]).filter(e => e.direction === 'received' && e.alias === 'alice')
    if (received.some(e => e.text === text) && received.some(e => e.file?.name === 'holiday-photos.bin')) break
    if (Date.now() > deadline) {
      say(`bob did not receive everything within ${ARRIVAL_TIMEOUT_MS / 1000} s`)
      return 1
    }
    await new Promise(resolve => setTimeout(resolve, wait))
  }
  await asUser(bob, ['inbox'])
  await asUser(bob, ['inbox', '--save', 'received'])
  say()

  say('# 6. alice\'s phone joins her passport; bob replies, and the reply reaches both of her devices')
  await asUser(alice, ['passport', 'add-device', request])
  await asUser(alice, ['sync'])
  await asUser(phone, ['sync'])
  const reply = 'Thanks Alice, got the photos!'
  await asUser(bob, ['send', 'alice', reply])
  for (const device of [alice, phone]) {
    const until = Date.now() + ARRIVAL_TIMEOUT_MS
    for (let wait = 100, first = true; ; wait = Math.min(wait * 2, 1000), first = false) {
      await asUser(device, ['sync'], !first)
      const got = (JSON.parse(await asUser(device, ['inbox', '--json'], true)) as InboxEntry[]).some(e => e.direction === 'received' && e.text === reply)
      if (got) break
      if (Date.now() > until) {
        say(`${device.name} did not receive bob's reply within ${ARRIVAL_TIMEOUT_MS / 1000} s`)
        return 1
      }
      await new Promise(resolve => setTimeout(resolve, wait))
    }
    await asUser(device, ['inbox', '--contact', 'bob'])
  }
  say()

  say('# 7. the file bob received is the file alice sent')
  const got = await readFile(join(work, 'received', 'holiday-photos.bin'))
  say(`sha256 sent:     ${sha256(file)}`)
  say(`sha256 received: ${sha256(got)}`)
  if (!got.equals(file)) {
    say('the bytes differ')
    return 1
  }
  say('identical')
  say()

  say('# 8. who connected to whom: alice\'s and bob\'s nodes never met, the relay carried the mail')
  const nameOf = (peer: string): string => nodes.find(n => n.peerId === peer)?.name ?? peer
  let met = false
  for (const n of nodes) {
    const peers = [...new Set([...n.log().matchAll(/^asmtpd: peer connected: (\S+)$/gm)].map(m => nameOf(m[1] ?? '')))]
    say(`${n.name} connected to: ${peers.length === 0 ? 'nobody' : peers.join(', ')}`)
    if ((n === nodeA && peers.includes(nodeB.name)) || (n === nodeB && peers.includes(nodeA.name))) met = true
  }
  if (met) {
    say('alice\'s and bob\'s nodes connected to each other')
    return 1
  }
  say('the demo worked')
  return 0
}

const nodes: RunningNode[] = []

async function stopChildren (): Promise<void> {
  await Promise.all([...children].map(async (child) => {
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }))
}

let cleaning: Promise<void> | null = null
async function cleanup (): Promise<void> {
  cleaning ??= (async () => {
    await stopChildren()
    if (work !== '') await rm(work, { recursive: true, force: true })
  })()
  await cleaning
}

let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true
    say(`\n${signal}: stopping the nodes and removing ${work}`)
    void cleanup().finally(() => process.exit(130))
  })
}
process.on('exit', () => { for (const child of children) child.kill('SIGKILL') })

let code = 1
try {
  code = await main()
} catch (err) {
  if (!interrupted) say(`demo failed: ${(err as Error).message}`)
}
if (!interrupted) say('stopping the nodes and removing the demo folder')
await cleanup()
process.exit(code)
