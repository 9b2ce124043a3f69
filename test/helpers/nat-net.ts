/**
 * The mail network of the namespace testbed (test/helpers/netns.ts): real asmtpd processes,
 * two public relays (relay1, relay2) and a home node behind each home router (home1: alice,
 * home2: bob), with each user's device as a process (test/helpers/device-main.ts) in the home
 * namespace. Home nodes are `reachable: false` (no listening port, DHT client mode) and know
 * only the relays. Fixed ports are used inside the namespaces (each has its own port space,
 * so nothing can collide) so that a restarted relay or home node is found where it was.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Account } from '../../src/index.js'
import { collect, readyDaemon } from './process.js'
import { ADDRESS, Testbed } from './netns.js'

const DAEMON = fileURLToPath(new URL('../../cli/asmtpd.js', import.meta.url))
const NODE_TOOL = fileURLToPath(new URL('../../cli/asmtpd-cli.js', import.meta.url))
const DEVICE = fileURLToPath(new URL('./device-main.js', import.meta.url))
export const P2P_PORT = 4001
export const CLIENT_PORT = 9800
const START_MS = 60_000

export type NodeHost = 'relay1' | 'relay2' | 'home1' | 'home2'
export type User = 'alice' | 'bob'
export const HOME_OF: Record<User, 'home1' | 'home2'> = { alice: 'home1', bob: 'home2' }

export interface DeviceEvent { ev: string, text?: string, at?: number, texts?: string[], acked?: number, retries?: number, error?: string, sent?: number, connections?: number, peerId?: string }

/** A device process: commands in, events out. */
export class Device {
  readonly events: DeviceEvent[] = []
  private readonly waiters = new Set<() => void>()
  private stderr = ''

  constructor (readonly user: User, readonly child: ChildProcess) {
    let buf = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        try {
          this.events.push(JSON.parse(line) as DeviceEvent)
        } catch {
          this.stderr += `stdout: ${line}\n`
        }
        for (const w of this.waiters) w()
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (c: string) => { this.stderr = (this.stderr + c).slice(-4000) })
    child.once('exit', () => { for (const w of this.waiters) w() })
  }

  command (c: Record<string, unknown>): void {
    this.child.stdin?.write(JSON.stringify(c) + '\n')
  }

  /** Waits (bounded) until `probe` over the events so far returns a value. */
  async until<T> (what: string, probe: (events: DeviceEvent[]) => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = probe(this.events)
      if (found !== undefined) return found
      if (this.child.exitCode !== null) throw new Error(`${this.user}'s device exited (${this.child.exitCode}) while waiting for ${what}: ${this.stderr}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${this.user}'s device; last events ${JSON.stringify(this.events.slice(-3))}; stderr ${this.stderr}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, Math.min(left, 1000))
        const waiters = this.waiters
        function done (): void { clearTimeout(timer); waiters.delete(done); resolve() }
        waiters.add(done)
      })
    }
  }

  /** Starts watching for mail; resolves once the watch is connected. */
  async watch (timeoutMs = 60_000): Promise<void> {
    this.command({ op: 'watch' })
    await this.until('watching', evs => evs.find(e => e.ev === 'connected'), timeoutMs)
  }

  acks (): DeviceEvent[] { return this.events.filter(e => e.ev === 'ack') }
  received (): DeviceEvent[] { return this.events.filter(e => e.ev === 'msg') }

  /** Syncs until every expected text is in the inbox, or until timeoutMs; returns the inbox texts. */
  async inboxWith (expected: string[], timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const got = await this.inbox()
      if (tally(expected, got).missing.length === 0 || Date.now() > deadline) return got
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
  }

  /** Syncs and returns every received text, repeats included. */
  async inbox (timeoutMs = 60_000): Promise<string[]> {
    const before = this.events.length
    this.command({ op: 'inbox' })
    return await this.until('the inbox', evs => evs.slice(before).find(e => e.ev === 'inbox')?.texts, timeoutMs)
  }
}

export interface NodeInfo { publicId: string, peerId: string, dir: string, process?: ChildProcess, log: string }

export class MailNet {
  readonly bed: Testbed
  readonly root: string
  readonly nodes = new Map<NodeHost, NodeInfo>()
  private readonly devices: Device[] = []
  private readonly extraConfig: string[]
  private readonly peaks = new Map<NodeHost, number>()
  private sampler: NodeJS.Timeout | undefined

  private constructor (bed: Testbed, root: string, extraConfig: string[]) {
    this.bed = bed
    this.root = root
    this.extraConfig = extraConfig
  }

  /** Builds the testbed, writes keys, accounts and configs, and starts every node. */
  static async create (opts: { extraConfig?: string[] } = {}): Promise<MailNet> {
    const bed = Testbed.create()
    const root = await mkdtemp(join(tmpdir(), 'asmtp-nat-'))
    const net = new MailNet(bed, root, opts.extraConfig ?? [])
    try {
      await net.prepare()
      await Promise.all((['relay1', 'relay2'] as const).map(async h => { await net.start(h) }))
      await Promise.all((['home1', 'home2'] as const).map(async h => { await net.start(h) }))
      net.sampler = setInterval(() => {
        for (const h of net.nodes.keys()) void net.rss(h).then(r => { net.peaks.set(h, Math.max(net.peaks.get(h) ?? 0, r)) })
      }, 500)
    } catch (err) {
      await net.destroy()
      throw err
    }
    return net
  }

  private async prepare (): Promise<void> {
    for (const h of ['relay1', 'relay2', 'home1', 'home2'] as const) {
      const dir = join(this.root, h)
      await mkdir(dir)
      const key = await collect(spawn(process.execPath, [NODE_TOOL, 'generate-new-key', '--output', join(dir, 'node.key'), '--json'], { stdio: ['pipe', 'pipe', 'pipe'] }), 30_000)
      if (key.code !== 0) throw new Error(`generate-new-key: ${key.stderr}`)
      const ids = JSON.parse(key.stdout) as { publicId: string, peerId: string }
      this.nodes.set(h, { ...ids, dir, log: '' })
    }
    const alice = await Account.create({ dir: join(this.root, 'alice'), alias: 'alice' })
    const bob = await Account.create({ dir: join(this.root, 'bob'), alias: 'bob' })
    await alice.addContact('bob', { passport: (await bob.passport()).export() })
    await bob.addContact('alice', { passport: (await alice.passport()).export() })
    const users: Record<'home1' | 'home2', string> = { home1: (await alice.identity()).deviceKey, home2: (await bob.identity()).deviceKey }
    const relayAddr = (h: 'relay1' | 'relay2'): string => this.relayAddr(h)
    for (const h of ['relay1', 'relay2'] as const) {
      const other = h === 'relay1' ? 'relay2' : 'relay1'
      await this.writeConfig(h, [
        'users: []', 'client:', '  listen: 127.0.0.1:0', 'network:',
        `  listen: [/ip4/0.0.0.0/tcp/${P2P_PORT}]`, `  announce: [/ip4/${ADDRESS[h]}/tcp/${P2P_PORT}]`,
        `  bootstrap: ['${relayAddr(other)}']`, '  relay: true'
      ])
    }
    for (const h of ['home1', 'home2'] as const) {
      await this.writeConfig(h, [
        `users: ['${users[h]}']`, 'client:', `  listen: 127.0.0.1:${CLIENT_PORT}`, 'network:',
        '  reachable: false', `  bootstrap: ['${relayAddr('relay1')}', '${relayAddr('relay2')}']`
      ])
    }
  }

  private async writeConfig (h: NodeHost, lines: string[]): Promise<void> {
    await writeFile(join(this.info(h).dir, 'config.yaml'), ['secret: ./node.key', ...lines, 'storage:', '  path: ./data', ...this.extraConfig, 'log:', `  level: ${process.env.ASMTP_TEST_NODE_LOG === 'debug' ? 'debug' : 'info'}`].join('\n') + '\n')
  }

  info (h: NodeHost): NodeInfo {
    const n = this.nodes.get(h)
    if (n === undefined) throw new Error(`no node ${h}`)
    return n
  }

  /** Starts (or restarts) a node's asmtpd in its namespace; resolves when it is ready. */
  async start (h: NodeHost): Promise<void> {
    const n = this.info(h)
    const child = this.bed.spawn(h, process.execPath, [DAEMON, '--config', join(n.dir, 'config.yaml')], { cwd: n.dir })
    const keep = (c: string): void => { n.log = (n.log + c).slice(-200_000) }
    child.stdout?.setEncoding('utf8').on('data', keep)
    child.stderr?.setEncoding('utf8').on('data', keep)
    n.process = child
    await readyDaemon(child, START_MS)
  }

  /** Stops a node: SIGKILL (a crash) or SIGTERM (an orderly stop). */
  async stop (h: NodeHost, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.info(h).process
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill(signal)
    await exited
  }

  /** The relay's multiaddr with its peer id. */
  relayAddr (h: 'relay1' | 'relay2'): string {
    return `/ip4/${ADDRESS[h]}/tcp/${P2P_PORT}/p2p/${this.info(h).peerId}`
  }

  /** Resident memory of a node's process now (bytes), from /proc. */
  async rss (h: NodeHost): Promise<number> {
    const pid = this.info(h).process?.pid
    if (pid === undefined) return 0
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024
  }

  /** Peer ids this node logged a disconnection from. */
  disconnectedPeers (h: NodeHost): Set<string> {
    return new Set([...this.info(h).log.matchAll(/peer disconnected: (\S+)$/gm)].map(m => m[1]))
  }

  /** Peer ids this node logged a connection to since it started (log level info). */
  connectedPeers (h: NodeHost): Set<string> {
    return new Set([...this.info(h).log.matchAll(/peer connected: (\S+)$/gm)].map(m => m[1]))
  }

  /** Starts a user's device in its home namespace. */
  device (user: User): Device {
    const home = HOME_OF[user]
    const child = this.bed.spawn(home, process.execPath, [DEVICE, join(this.root, user), `127.0.0.1:${CLIENT_PORT}`, this.info(home).publicId])
    const d = new Device(user, child)
    this.devices.push(d)
    return d
  }

  /** Peak RSS of each node so far (MiB, sampled every 500 ms), as one line for a test's report. */
  peakRss (): string {
    return [...this.nodes.keys()].map(h => `${h} ${Math.round((this.peaks.get(h) ?? 0) / 1048576)}`).join(', ')
  }

  async destroy (): Promise<void> {
    clearInterval(this.sampler)
    const dump = process.env.ASMTP_TEST_NODE_LOG_DIR
    if (dump !== undefined) for (const [h, n] of this.nodes) await writeFile(join(dump, `${h}.log`), n.log)
    for (const d of this.devices) d.command({ op: 'quit' })
    await this.bed.destroy()
    await rm(this.root, { recursive: true, force: true })
  }
}

/** Counts of each text: [missing, duplicated] against the expected list. */
export function tally (expected: string[], got: string[]): { missing: string[], duplicated: string[] } {
  const counts = new Map<string, number>()
  for (const t of got) counts.set(t, (counts.get(t) ?? 0) + 1)
  return {
    missing: expected.filter(t => (counts.get(t) ?? 0) === 0),
    duplicated: [...counts].filter(([, n]) => n > 1).map(([t]) => t)
  }
}

/** For each message `receiver` got, ms from `sender`'s acknowledgement of it to its arrival. */
export function latencies (sender: Device, receiver: Device): number[] {
  const acked = new Map(sender.acks().map(a => [a.text ?? '', a.at ?? 0]))
  return receiver.received().map(m => (m.at ?? 0) - (acked.get(m.text ?? '') ?? NaN)).filter(x => Number.isFinite(x))
}

/** p50 and p99 of a list of numbers (ms). */
export function percentiles (xs: number[]): { p50: number, p99: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number => s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]
  return { p50: at(0.5), p99: at(0.99) }
}
