/**
 * A testbed of network namespaces (root only; ../shared/STACK.md "Network namespaces"):
 *
 *   inet:    a bridge, the "internet" 10.77.0.0/24
 *   relay1:  10.77.0.11, relay2: 10.77.0.12         (public relays, on the bridge)
 *   inet itself: 10.77.0.99 (a host on the internet: the flood test's hostile peer)
 *   router1: wan 10.77.0.21, lan 192.168.1.1         (MASQUERADE; inbound only ESTABLISHED/RELATED)
 *   router2: wan 10.77.0.22, lan 192.168.2.1
 *   home1:   192.168.1.2 behind router1, home2: 192.168.2.2 behind router2
 *
 * A home node and its users' devices run in the home namespace. Names carry this process's id,
 * so parallel runs never meet, and a later run removes the namespaces of a run that died
 * without cleaning up. Everything is removed by destroy(), and on exit, SIGINT and SIGTERM.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'

export type Host = 'relay1' | 'relay2' | 'router1' | 'router2' | 'home1' | 'home2'
export const HOSTS: readonly Host[] = ['relay1', 'relay2', 'router1', 'router2', 'home1', 'home2']
const ALL = ['inet', ...HOSTS] as const
type Space = typeof ALL[number]

const PREFIX = 'asmtp'
export const INET_PREFIX = '10.77.0'
/** The address of the `inet` namespace itself, on the bridge. */
export const INET_HOST = '10.77.0.99'
export const ADDRESS: Record<Host, string> = {
  relay1: '10.77.0.11',
  relay2: '10.77.0.12',
  router1: '10.77.0.21',
  router2: '10.77.0.22',
  home1: '192.168.1.2',
  home2: '192.168.2.2'
}
/** The router in front of each home. */
export const ROUTER_OF = { home1: 'router1', home2: 'router2' } as const

function run (args: string[]): string {
  return execFileSync(args[0], args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function tryRun (args: string[]): void {
  try { run(args) } catch { /* already gone */ }
}

/** Namespaces of earlier runs whose process is gone (a crash, a kill -9 of the test runner). */
function sweepStale (): void {
  let names: string[]
  try {
    names = run(['ip', 'netns', 'list']).split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(PREFIX))
  } catch {
    return
  }
  for (const name of names) {
    const pid = Number(/^asmtp(\d+)-/.exec(name)?.[1])
    if (!Number.isInteger(pid)) continue
    try {
      process.kill(pid, 0)
    } catch {
      tryRun(['ip', 'netns', 'del', name])
    }
  }
}

let counter = 0
const live = new Set<Testbed>()
let hooked = false

function hookExit (): void {
  if (hooked) return
  hooked = true
  process.on('exit', () => { for (const t of live) t.destroySync() })
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const t of live) t.destroySync()
      process.exit(130)
    })
  }
}

export class Testbed {
  readonly id: string
  private readonly children = new Set<ChildProcess>()
  private destroyed = false
  private links = 0

  private constructor (id: string) {
    this.id = id
  }

  /** The namespace name of a host. */
  ns (space: Space): string {
    return `${PREFIX}${process.pid}-${this.id}-${space}`
  }

  /** Builds the whole testbed; on any failure, removes what it built and throws. */
  static create (): Testbed {
    sweepStale()
    hookExit()
    const t = new Testbed(String(counter++))
    live.add(t)
    try {
      t.build()
    } catch (err) {
      t.destroySync()
      throw err
    }
    return t
  }

  private veth (a: Space, aName: string, b: Space, bName: string): void {
    // temporary names in the root namespace, unique to this testbed (at most 15 characters)
    const k = this.links++
    const tmpA = `v${process.pid % 100000}x${this.id}x${k}a`
    const tmpB = `v${process.pid % 100000}x${this.id}x${k}b`
    run(['ip', 'link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB])
    run(['ip', 'link', 'set', tmpA, 'netns', this.ns(a)])
    run(['ip', 'link', 'set', tmpB, 'netns', this.ns(b)])
    this.exec(a, ['ip', 'link', 'set', tmpA, 'name', aName])
    this.exec(b, ['ip', 'link', 'set', tmpB, 'name', bName])
    this.exec(a, ['ip', 'link', 'set', aName, 'up'])
    this.exec(b, ['ip', 'link', 'set', bName, 'up'])
  }

  private build (): void {
    for (const s of ALL) {
      run(['ip', 'netns', 'add', this.ns(s)])
      this.exec(s, ['ip', 'link', 'set', 'lo', 'up'])
    }
    this.exec('inet', ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
    this.exec('inet', ['ip', 'link', 'set', 'br0', 'up'])
    // a host on the internet itself (the bridge's own address): where a hostile peer runs
    this.exec('inet', ['ip', 'addr', 'add', `${INET_HOST}/24`, 'dev', 'br0'])
    for (const h of ['relay1', 'relay2', 'router1', 'router2'] as const) {
      const port = `p-${h}`
      this.veth(h, 'eth0', 'inet', port)
      this.exec('inet', ['ip', 'link', 'set', port, 'master', 'br0'])
      this.exec(h, ['ip', 'addr', 'add', `${ADDRESS[h]}/24`, 'dev', 'eth0'])
    }
    for (const [home, router, net] of [['home1', 'router1', '192.168.1'], ['home2', 'router2', '192.168.2']] as const) {
      this.veth(router, 'lan0', home, 'eth0')
      this.exec(router, ['ip', 'addr', 'add', `${net}.1/24`, 'dev', 'lan0'])
      this.exec(home, ['ip', 'addr', 'add', `${ADDRESS[home]}/24`, 'dev', 'eth0'])
      this.exec(home, ['ip', 'route', 'add', 'default', 'via', `${net}.1`])
      this.exec(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
      this.exec(router, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth0', '-j', 'MASQUERADE'])
      this.exec(router, ['iptables', '-P', 'FORWARD', 'DROP'])
      this.exec(router, ['iptables', '-A', 'FORWARD', '-i', 'lan0', '-o', 'eth0', '-j', 'ACCEPT'])
      this.exec(router, ['iptables', '-A', 'FORWARD', '-i', 'eth0', '-o', 'lan0', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])
      // counts what the home router refuses from the internet (new connections towards the home)
      this.exec(router, ['iptables', '-A', 'FORWARD', '-i', 'eth0', '-o', 'lan0', '-j', 'DROP'])
      // the router itself answers nothing from the internet either
      this.exec(router, ['iptables', '-A', 'INPUT', '-i', 'eth0', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'DROP'])
    }
  }

  /** Runs a command inside a namespace; throws with its stderr when it fails. */
  exec (space: Space, args: string[]): string {
    try {
      return run(['ip', 'netns', 'exec', this.ns(space), ...args])
    } catch (err) {
      const e = err as { stderr?: string, message: string }
      throw new Error(`in ${space}: ${args.join(' ')}: ${e.stderr ?? e.message}`, { cause: err })
    }
  }

  /** Starts a process inside a namespace; it is killed by destroy(). */
  spawn (space: Space, command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns(space), command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...options })
    this.children.add(child)
    child.once('exit', () => { this.children.delete(child) })
    return child
  }

  /** Cuts (or heals) every packet a home router forwards, both ways: the home is off the internet. */
  partition (router: 'router1' | 'router2', cut: boolean): void {
    if (cut) this.exec(router, ['iptables', '-I', 'FORWARD', '1', '-j', 'DROP'])
    else this.exec(router, ['iptables', '-D', 'FORWARD', '-j', 'DROP'])
  }

  /** Random loss on every link: each host drops that share of the packets it receives. */
  loss (probability: number): void {
    for (const h of HOSTS) {
      this.exec(h, ['iptables', '-I', 'INPUT', '1', '!', '-i', 'lo', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'])
      if (h.startsWith('router')) this.exec(h, ['iptables', '-I', 'FORWARD', '1', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP'])
    }
  }

  /** Packets a home router refused from the internet: towards its home, or new connections to itself. */
  refusedInbound (router: 'router1' | 'router2'): number {
    const count = (chain: string, match: RegExp): number => {
      const out = this.exec(router, ['iptables', '-L', chain, '-v', '-x', '-n'])
      const line = out.split('\n').find(l => /\bDROP\b/.test(l) && match.test(l))
      return Number(line?.trim().split(/\s+/)[0] ?? 0)
    }
    return count('FORWARD', /eth0\s+lan0/) + count('INPUT', /eth0\s+\*/)
  }

  /** Remote addresses of the established TCP connections in a namespace. */
  peersOf (space: Space): string[] {
    const out = this.exec(space, ['ss', '-tnH', 'state', 'established'])
    return out.split('\n').filter(l => l.trim() !== '').map(l => l.trim().split(/\s+/).at(-1) ?? '').map(a => a.replace(/:\d+$/, ''))
  }

  /** Kills every process it started and removes every namespace (and with them the links). */
  destroySync (): void {
    if (this.destroyed) return
    this.destroyed = true
    for (const c of this.children) c.kill('SIGKILL')
    for (const s of ALL) {
      // processes still inside (a grandchild) go first, or the namespace outlives its name
      try {
        for (const pid of run(['ip', 'netns', 'pids', this.ns(s)]).split('\n').filter(p => p !== '')) tryRun(['kill', '-9', pid])
      } catch { /* no such namespace */ }
      tryRun(['ip', 'netns', 'del', this.ns(s)])
    }
    live.delete(this)
  }

  async destroy (): Promise<void> {
    const exits = [...this.children].map(async c => await new Promise<void>(resolve => {
      if (c.exitCode !== null || c.signalCode !== null) resolve()
      else c.once('exit', () => { resolve() })
    }))
    for (const c of this.children) c.kill('SIGKILL')
    await Promise.race([Promise.all(exits), new Promise(resolve => setTimeout(resolve, 5000))])
    this.destroySync()
  }
}
