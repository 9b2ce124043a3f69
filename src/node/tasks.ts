/**
 * Background work of a node: every task gets the node's AbortSignal, is tracked until it
 * settles, and never rejects into the void (failures are logged). `stop()` aborts them all and
 * waits, bounded, for them to finish.
 */
import { setMaxListeners } from 'node:events'
import createDebug from 'debug'

const log = createDebug('asmtp:node:tasks')

export const TASK_STOP_TIMEOUT_MS = 5_000

/** A signal that aborts after `ms` or when `parent` aborts. */
export function withTimeout (ms: number, parent?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  const signal = parent === undefined ? timeout : AbortSignal.any([timeout, parent])
  // libp2p's DHT queries and dials each listen on the signal they are given (and remove the
  // listener when done); many run at once, which is not a leak
  setMaxListeners(Infinity, signal)
  return signal
}

function newController (): AbortController {
  const c = new AbortController()
  setMaxListeners(Infinity, c.signal)
  return c
}

export class TaskSet {
  private controller = newController()
  private readonly running = new Set<Promise<void>>()

  get signal (): AbortSignal {
    return this.controller.signal
  }

  get size (): number {
    return this.running.size
  }

  /** Runs `fn` in the background; the returned promise always resolves. */
  run (name: string, fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const signal = this.controller.signal
    if (signal.aborted) return Promise.resolve()
    const p: Promise<void> = fn(signal)
      .catch((err: unknown) => {
        if (!signal.aborted) log('%s failed: %s', name, err instanceof Error ? err.message : String(err))
      })
      .finally(() => { this.running.delete(p) })
    this.running.add(p)
    return p
  }

  async stop (): Promise<void> {
    this.controller.abort()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise<void>(resolve => { timer = setTimeout(resolve, TASK_STOP_TIMEOUT_MS) })
    ])
    clearTimeout(timer)
    this.controller = newController()
  }
}
