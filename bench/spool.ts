/**
 * Spool folders (docs/CLIENT.md "Spool folders"): the time from renaming a file into alice's
 * `outq/bob/` to its arrival, complete, in bob's `inq/alice/`, with a spawned asmtpd and two
 * spawned `asmtp-cli spool` processes, one file at a time. Baseline in the same run: the same
 * size of file sent with `asmtp-cli send --file` and fetched with `asmtp-cli sync` and
 * `asmtp-cli inbox --save` in a loop, the path a script takes without the spool.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer } from 'node:net'
import { Account } from '../src/index.js'
import { nowMs, summary } from './stats.js'
import type { ScenarioResult } from './report.js'

const CLI = fileURLToPath(new URL('../cli/asmtp-cli.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
const NODE_TOOL = fileURLToPath(new URL('../cli/asmtpd-cli.js', import.meta.url))
const FILE_BYTES = 4096
const WAIT_MS = 60_000

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => { resolve(typeof a === 'object' && a !== null ? a.port : 0) })
    })
  })
}

export async function benchSpool (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const files = quick ? 10 : 40
  const baselineFiles = quick ? 5 : 15
  const root = await mkdtemp(join(tmpdir(), 'asmtp-bench-spool-'))
  const children = new Set<ChildProcess>()
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete env[k]
  env.ASMTP_CLI_RECORD_DELAY_MS = '0'
  const launch = (script: string, args: string[]): ChildProcess => {
    const c = spawn(process.execPath, [script, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(c)
    c.once('exit', () => { children.delete(c) })
    return c
  }
  const run = async (script: string, args: string[]): Promise<string> => await new Promise((resolve, reject) => {
    const c = launch(script, args)
    let out = ''
    let err = ''
    c.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
    c.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d })
    const timer = setTimeout(() => { c.kill('SIGKILL') }, WAIT_MS)
    c.once('exit', (code) => { clearTimeout(timer); if (code === 0) resolve(out); else reject(new Error(`${args.join(' ')}: ${err}`)) })
  })
  const until = async (what: string, probe: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + WAIT_MS
    while (!await probe()) {
      if (Date.now() > deadline) throw new Error(`spool bench: timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  }
  const count = async (dir: string): Promise<number> => (await readdir(dir).catch(() => [] as string[])).filter(n => !n.startsWith('.')).length
  try {
    const alice = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
    const bob = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
    const users = (await Promise.all([alice, bob].map(async x => (await x.identity()).deviceKey))).map(k => `'${k}'`).join(', ')
    const nodeDir = join(root, 'node')
    await mkdir(nodeDir)
    await writeFile(join(nodeDir, 'config.yaml'), [
      'secret: ./node.key', `users: [${users}]`, 'client:', `  listen: 127.0.0.1:${await freePort()}`,
      'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', '  bootstrap: []', 'storage:', '  path: ./data', 'log:', '  level: error'
    ].join('\n') + '\n')
    await run(NODE_TOOL, ['generate-new-key', '--output', join(nodeDir, 'node.key'), '--json'])
    const daemon = launch(DAEMON, ['--config', join(nodeDir, 'config.yaml')])
    let out = ''
    daemon.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d })
    await until('asmtpd to be ready', async () => await Promise.resolve(/^ready$/m.test(out)))
    const remote = { remoteAddress: /^client channel: (\S+)$/m.exec(out)?.[1] ?? '', remoteId: /^asmtpd public id: ([0-9a-f]{64})$/m.exec(out)?.[1] ?? '' }
    const a = await Account.open({ dir: join(root, 'alice'), remote, recordDelayMs: 0 })
    const b = await Account.open({ dir: join(root, 'bob'), remote, recordDelayMs: 0 })
    await a.addContact('bob', { passport: (await b.passport()).export() })
    await b.addContact('alice', { passport: (await a.passport()).export() })
    await a.sync()
    await b.sync()
    const remoteArgs = ['--remote-address', remote.remoteAddress, '--remote-id', remote.remoteId]

    // the spool: one file at a time, rename into outq to complete file in inq
    const spools = [
      launch(CLI, ['--dir', join(root, 'alice'), ...remoteArgs, 'spool', join(root, 'alice-spool'), '--poll-ms', '100']),
      launch(CLI, ['--dir', join(root, 'bob'), ...remoteArgs, 'spool', join(root, 'bob-spool'), '--poll-ms', '100'])
    ]
    const outq = join(root, 'alice-spool', 'outq', 'bob')
    const inq = join(root, 'bob-spool', 'inq', 'alice')
    await until('the spools to start', async () => (await readdir(outq).catch(() => null)) !== null)
    await mkdir(join(root, 'staging'))
    const spoolMs: number[] = []
    for (let i = 0; i < files; i++) {
      const staged = join(root, 'staging', `f${i}.bin`)
      await writeFile(staged, randomBytes(FILE_BYTES))
      const t0 = nowMs()
      await rename(staged, join(outq, `f${i}.bin`))
      await until(`spool file ${i}`, async () => await count(inq) > i)
      spoolMs.push(nowMs() - t0)
      if (i % 10 === 9) progress(`spool: ${i + 1}/${files}`)
    }
    for (const s of spools) s.kill('SIGTERM')

    // baseline: asmtp-cli send --file, then sync and inbox --save until the file is saved
    const saved = join(root, 'saved')
    const baseMs: number[] = []
    for (let i = 0; i < baselineFiles; i++) {
      const file = join(root, 'staging', `g${i}.bin`)
      await writeFile(file, randomBytes(FILE_BYTES))
      const t0 = nowMs()
      await run(CLI, ['--dir', join(root, 'alice'), ...remoteArgs, 'send', 'bob', '--file', file])
      await until(`baseline file ${i}`, async () => {
        await run(CLI, ['--dir', join(root, 'bob'), ...remoteArgs, 'sync'])
        await run(CLI, ['--dir', join(root, 'bob'), ...remoteArgs, 'inbox', '--save', saved])
        return (await readdir(saved).catch(() => [] as string[])).some(n => n === `g${i}.bin`)
      })
      baseMs.push(nowMs() - t0)
    }
    const ours = summary(spoolMs)
    const base = summary(baseMs)
    return [{
      scenario: 'spool: outq to inq, one 4 KiB file',
      unit: 'ms',
      ours: { median: ours.median, p99: ours.p99, count: ours.n },
      baseline: { name: 'asmtp-cli send --file, then sync + inbox --save until saved', median: base.median, p99: base.p99, count: base.n },
      ratio: ours.median / base.median,
      better: 'lower',
      notes: `${files} files through two spawned spools (poll 100 ms) and one spawned asmtpd; ${baselineFiles} baseline files`
    }]
  } finally {
    for (const c of [...children]) c.kill('SIGKILL')
    await rm(root, { recursive: true, force: true })
  }
}
