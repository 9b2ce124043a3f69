/**
 * Two users on two real asmtpd processes, each with an account folder, for the bridge tests:
 * alice on node a, bob on node b (which dials a), contacts of each other and synced once. Bridges
 * are started as real `asmtp-bridge` processes; everything spawned is killed and the folder
 * removed by `close()`.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Account, loopbackConfigYaml, setPassword } from '../../src/index.js'
import { FAST } from './accounts.js'
import { collect, freePort, readyDaemon, stopChild } from './process.js'

export const BRIDGE = fileURLToPath(new URL('../../cli/asmtp-bridge.js', import.meta.url))
const DAEMON = fileURLToPath(new URL('../../cli/asmtpd.js', import.meta.url))
const NODE_TOOL = fileURLToPath(new URL('../../cli/asmtpd-cli.js', import.meta.url))
const READY_MS = 60_000
export const SMTP_PASSWORD = 'correct horse battery'

export interface NodeProc { name: string, dir: string, child: ChildProcess, remoteAddress: string, remoteId: string, listen: string }
export interface NetUser { name: string, dir: string, node: NodeProc, account: Account, passportId: string }
export interface BridgeProc { child: ChildProcess, smtp: { host: string, port: number } | null, http: string | null, token: string | null, stdout: () => string, stderr: () => string }

export interface MailNet {
  root: string
  alice: NetUser
  bob: NetUser
  startNode: (n: NodeProc) => Promise<NodeProc>
  stopNode: (n: NodeProc, signal?: NodeJS.Signals) => Promise<void>
  startBridge: (u: NetUser, args: string[]) => Promise<BridgeProc>
  launch: (script: string, args: string[], env?: Record<string, string>) => ChildProcess
  close: () => Promise<void>
}

function childEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete env[k]
  return { ...env, ASMTP_CLI_RECORD_DELAY_MS: '0', ...extra }
}

export async function startMailNet (prefix: string): Promise<MailNet> {
  const root = await mkdtemp(join(tmpdir(), `asmtp-${prefix}-`))
  const running = new Set<ChildProcess>()
  const launch = (script: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
    const child = spawn(process.execPath, [script, ...args], { cwd: root, env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'] })
    running.add(child)
    child.once('exit', () => { running.delete(child) })
    return child
  }
  const startNode = async (n: NodeProc): Promise<NodeProc> => {
    const child = launch(DAEMON, ['--config', join(n.dir, 'config.yaml')])
    let out = ''
    child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
    const address = await readyDaemon(child, READY_MS)
    n.child = child
    n.remoteAddress = address.remoteAddress
    n.remoteId = address.remoteId
    n.listen = /^listening: (\S+)$/m.exec(out)?.[1] ?? n.listen
    return n
  }
  const makeNode = async (name: string, users: string[], bootstrap: string[]): Promise<NodeProc> => {
    const dir = join(root, name)
    await mkdir(dir, { recursive: true })
    const yaml = loopbackConfigYaml({ users, bootstrap }).replace('listen: 127.0.0.1:0', `listen: 127.0.0.1:${await freePort()}`).replace('level: warn', 'level: error')
    await writeFile(join(dir, 'config.yaml'), yaml)
    const key = await collect(launch(NODE_TOOL, ['generate-new-key', '--output', join(dir, 'node.key'), '--json']), READY_MS)
    assert.equal(key.code, 0, key.stderr)
    return await startNode({ name, dir, child: undefined as unknown as ChildProcess, remoteAddress: '', remoteId: '', listen: '' })
  }
  const made: NetUser[] = []
  const close = async (): Promise<void> => {
    for (const child of running) child.kill('SIGKILL')
    await rm(root, { recursive: true, force: true })
  }
  try {
    const a = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
    const b = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
    const nodeA = await makeNode('node-a', [(await a.identity()).deviceKey], [])
    const nodeB = await makeNode('node-b', [(await b.identity()).deviceKey], [nodeA.listen])
    for (const [name, node] of [['alice', nodeA], ['bob', nodeB]] as const) {
      const dir = join(root, name)
      const account = await Account.open({ dir, remote: { remoteAddress: node.remoteAddress, remoteId: node.remoteId }, ...FAST })
      made.push({ name, dir, node, account, passportId: (await account.identity()).passportId })
      await setPassword(dir, SMTP_PASSWORD)
    }
    const [alice, bob] = made as [NetUser, NetUser]
    await alice.account.addContact('bob', { passport: (await bob.account.passport()).export() })
    await bob.account.addContact('alice', { passport: (await alice.account.passport()).export() })
    await alice.account.sync()
    await bob.account.sync()
    const startBridge = async (u: NetUser, args: string[]): Promise<BridgeProc> => {
      const child = launch(BRIDGE, ['serve', '--account', u.dir, '--remote-address', u.node.remoteAddress, '--remote-id', u.node.remoteId, ...args])
      let out = ''
      let err = ''
      child.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`bridge not ready within ${READY_MS} ms: ${out} ${err}`)) }, READY_MS)
        const onExit = (code: number | null): void => { clearTimeout(timer); reject(new Error(`bridge exited with ${code}: ${err}`)) }
        child.once('exit', onExit)
        child.stdout?.setEncoding('utf8').on('data', (c: string) => {
          out += c
          if (/^ready$/m.test(out)) { clearTimeout(timer); child.off('exit', onExit); resolve() }
        })
      })
      const smtp = /^smtp: (\S+):(\d+)$/m.exec(out)
      const http = /^http: (\S+)$/m.exec(out)?.[1] ?? null
      const tokenPath = /^http token file: (.+)$/m.exec(out)?.[1]
      return {
        child,
        smtp: smtp === null ? null : { host: smtp[1] ?? '', port: Number(smtp[2]) },
        http,
        token: tokenPath === undefined ? null : (await readFile(tokenPath, 'utf8')).trim(),
        stdout: () => out,
        stderr: () => err
      }
    }
    return {
      root, alice, bob, startNode, launch, close, startBridge,
      stopNode: async (n, signal = 'SIGTERM') => { await stopChild(n.child, signal) }
    }
  } catch (err) {
    await close()
    throw err
  }
}
