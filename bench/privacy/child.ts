/**
 * The parent's side of a node process of the spy experiment: a forked child answering
 * requests over IPC, with a bound on every request, and its `received` events (frame id and
 * monotonic time) kept for waiting on delivery. Children are killed when the benchmark exits.
 */
import { fork, type ChildProcess } from 'node:child_process'

const REQUEST_TIMEOUT_MS = 120_000
const START_TIMEOUT_MS = 120_000
const live = new Set<ChildProcess>()

process.on('exit', () => { for (const c of live) c.kill('SIGKILL') })

interface Reply { id?: number, ok?: boolean, result?: unknown, error?: string, event?: string, frameId?: string, t?: number }

export class NodeProcess {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()
  /** frame id -> monotonic ms it arrived at this node */
  readonly received = new Map<string, number>()
  private waiters = new Set<() => void>()

  private constructor (private readonly child: ChildProcess) {
    child.on('message', (msg: Reply) => {
      if (msg.event === 'received' && msg.frameId !== undefined && msg.t !== undefined) {
        if (!this.received.has(msg.frameId)) this.received.set(msg.frameId, msg.t)
        for (const w of this.waiters) w()
        return
      }
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id!)
      clearTimeout(p.timer)
      if (msg.ok === true) p.resolve(msg.result)
      else p.reject(new Error(msg.error ?? 'node process error'))
    })
    child.on('exit', (code) => {
      live.delete(child)
      for (const p of this.pending.values()) p.reject(new Error(`node process exited with ${code}`))
      this.pending.clear()
    })
  }

  static async spawn (script: string, args: string[] = []): Promise<NodeProcess> {
    const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    live.add(child)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('node process did not start')) }, START_TIMEOUT_MS)
      child.once('message', () => { clearTimeout(timer); resolve() })
      child.once('error', (err) => { clearTimeout(timer); reject(err) })
    })
    return new NodeProcess(child)
  }

  async call<T> (cmd: string, args: Record<string, unknown> = {}, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new Error(`node process: ${cmd} timed out`)) }, timeoutMs)
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
      this.child.send({ id, cmd, ...args })
    })
  }

  /** Resolves with the arrival time of the frame, or undefined after `timeoutMs`. */
  async waitReceived (frameId: string, timeoutMs: number, signal?: AbortSignal): Promise<number | undefined> {
    const at = this.received.get(frameId)
    if (at !== undefined) return at
    return await new Promise<number | undefined>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        this.waiters.delete(check)
        resolve(this.received.get(frameId))
      }
      const check = (): void => { if (this.received.has(frameId)) done() }
      const timer = setTimeout(done, timeoutMs)
      signal?.addEventListener('abort', done, { once: true })
      this.waiters.add(check)
    })
  }

  async stop (): Promise<void> {
    await this.call('stop', {}, 30_000).catch(() => {})
    if (this.child.connected) this.child.disconnect()
    live.delete(this.child)
  }
}
