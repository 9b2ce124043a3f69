/**
 * The parent's side of the benchmark node processes (bench/node-worker.ts): spawn, request over
 * IPC with a timeout, arrival events, and stop. Every child is killed when this process exits.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** asmtp: an AsmtpNode; bare: gossipsub alone; bare-store: gossipsub + one stamp check and one LevelDB write per message */
export type Mode = 'asmtp' | 'bare' | 'bare-store'
const WORKER = fileURLToPath(new URL('./node-worker.js', import.meta.url))
export const REQUEST_TIMEOUT_MS = 120_000
const live = new Set<ChildProcess>()

function killAll (): void {
  for (const c of live) c.kill('SIGKILL')
}
process.on('exit', killAll)
process.on('SIGINT', () => { killAll(); process.exit(130) })
process.on('SIGTERM', () => { killAll(); process.exit(143) })

export interface StartOptions {
  bootstrap?: string[]
  users?: string[]
  relay?: boolean
  /** storage.memory: RAM only */
  memory?: boolean
  stampBits?: number
  /** own frames fluffed at once (part 1's delivery), the stem's same-run baseline */
  stemOff?: boolean
}

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export class NodeProcess {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  readonly received = new Map<string, number>()
  private waiters: Array<() => void> = []
  peerId = ''
  addrs: string[] = []
  publicId = ''
  clientAddress: string | null = null

  private constructor (private readonly child: ChildProcess, readonly mode: Mode) {
    child.on('message', (msg: { id?: number, ok?: boolean, result?: unknown, error?: string, event?: string, hash?: string, t?: number }) => {
      if (msg.event === 'received' && msg.hash !== undefined && msg.t !== undefined) {
        this.received.set(msg.hash, msg.t)
        const w = this.waiters
        this.waiters = []
        for (const f of w) f()
        return
      }
      if (msg.id === undefined) return
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      clearTimeout(p.timer)
      if (msg.ok === true) p.resolve(msg.result)
      else p.reject(new Error(msg.error ?? 'worker error'))
    })
    child.on('exit', (code) => {
      live.delete(child)
      for (const p of this.pending.values()) p.reject(new Error(`worker exited with ${code}`))
      this.pending.clear()
    })
  }

  static async spawn (mode: Mode): Promise<NodeProcess> {
    // ASMTP_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every node process (docs/PERFORMANCE.md)
    const profDir = process.env.ASMTP_BENCH_CPU_PROF
    // --expose-gc: memory figures are taken after a full GC (command live-memory)
    const execArgv = ['--expose-gc', ...(profDir !== undefined && profDir !== '' ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])]
    const child = fork(WORKER, [mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv })
    live.add(child)
    await new Promise<void>((resolve, reject) => {
      // generous: 50 processes starting on a shared 2-core machine take their time
      const timer = setTimeout(() => { reject(new Error('worker did not start within 120 s')) }, 120_000)
      child.once('message', () => { clearTimeout(timer); resolve() })
      child.once('error', reject)
    })
    return new NodeProcess(child, mode)
  }

  async call<T> (cmd: string, args: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`worker ${cmd} timed out`)) }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ id, cmd, ...args })
    })
  }

  /** The monotonic time at which this node received the frame whose envelope hash is `hash`. */
  async waitReceived (hash: string, timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const t = this.received.get(hash)
      if (t !== undefined) return t
      if (Date.now() > deadline) throw new Error('message lost: not received within the timeout')
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, 100)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  async start (o: StartOptions = {}): Promise<void> {
    const r = await this.call<{ peerId: string, addrs: string[], publicId?: string, clientAddress?: string | null }>('start', { ...o })
    this.peerId = r.peerId
    this.addrs = r.addrs
    this.publicId = r.publicId ?? ''
    this.clientAddress = r.clientAddress ?? null
  }

  async stop (): Promise<void> {
    await this.call('stop', {}, 30_000).catch(() => {})
    if (this.child.connected) this.child.disconnect()
    live.delete(this.child)
    // a child killed by a signal has no exit code but has exited
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise(resolve => this.child.once('exit', resolve))
      const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

export async function stopAll (nodes: Iterable<NodeProcess | undefined>): Promise<void> {
  await Promise.all([...nodes].map(async n => { await n?.stop() }))
}

/** Polls `probe` every `everyMs` until it returns true; throws `what` after `timeoutMs`. */
export async function waitFor (probe: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await probe()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`)
    await sleep(everyMs)
  }
}

/** Until the node counted `n` arrivals, or the count stood still for 5 s, or `timeoutMs`. */
export async function waitCount (node: NodeProcess, n: number, timeoutMs: number): Promise<void> {
  let last = -1
  let still = Date.now()
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = await node.call<{ receivedCount: number }>('stats')
    if (s.receivedCount >= n) return
    if (s.receivedCount !== last) {
      last = s.receivedCount
      still = Date.now()
    } else if (Date.now() - still > 5_000) {
      return
    }
    await sleep(200)
  }
}

/** Until `a` sees `peerId` subscribed to the bucket of `topic` (hex). */
export async function waitBucketPeer (a: NodeProcess, peerId: string, topic: string, timeoutMs = 60_000): Promise<number> {
  const start = Date.now()
  await waitFor(async () => (await a.call<string[]>('bucket-peers', { topic })).includes(peerId), timeoutMs, 'bucket peer not seen')
  return Date.now() - start
}
