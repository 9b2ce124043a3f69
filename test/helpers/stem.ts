/** For the stem tests: a manual clock for the stem's timers, and peers whose stem drops or counts what it gets. */
import { lpStream } from '@libp2p/utils'
import { decodeStemMessage, MAX_STEM_MESSAGE_BYTES, STEM_PROTOCOL, type StemClock, type StemMessage } from '../../src/node/stem/index.js'
import type { AsmtpNode } from '../../src/node/index.js'

/** A clock that moves only when the test says so; timers fire in order of their deadline. */
export class ManualClock implements StemClock {
  private t: number
  private nextId = 1
  private readonly timers = new Map<number, { at: number, fn: () => void }>()

  constructor (start = Date.now()) {
    this.t = start
  }

  readonly now = (): number => this.t

  readonly setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.nextId++
    this.timers.set(id, { at: this.t + ms, fn })
    return id
  }

  readonly clearTimeout = (handle: unknown): void => {
    this.timers.delete(handle as number)
  }

  /** Timers not fired nor cleared. */
  get pending (): number {
    return this.timers.size
  }

  /** Moves the clock on by `ms`, firing every timer that falls due, earliest first. */
  advance (ms: number): void {
    this.t += ms
    for (;;) {
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= this.t).sort((a, b) => a[1].at - b[1].at)[0]
      if (due === undefined) return
      this.timers.delete(due[0])
      due[1].fn()
    }
  }
}

/** Replaces a node's stem handler by one that reads every stem message and drops it; returns what it got. */
export async function dropStems (node: AsmtpNode): Promise<StemMessage[]> {
  const got: StemMessage[] = []
  await node.host.unhandle(STEM_PROTOCOL)
  await node.host.handle(STEM_PROTOCOL, (stream) => {
    const lp = lpStream(stream, { maxDataLength: MAX_STEM_MESSAGE_BYTES })
    void (async () => {
      try {
        for (;;) got.push(decodeStemMessage((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()))
      } catch {
        // end of the stream
      }
      await stream.close().catch(() => {})
    })()
  })
  return got
}

/** A random draw that cycles through `values` (deterministic choices, coins and embargoes). */
export function cycle (values: number[]): () => number {
  let i = 0
  return () => values[i++ % values.length]
}
