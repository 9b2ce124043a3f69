/**
 * Liveness of connections (docs/NODE.md "Faults"): every LIVENESS_INTERVAL_MS each open
 * connection is pinged (/ipfs/ping/1.0.0, one ping at a time per connection); a connection
 * whose pings fail LIVENESS_MAX_MISSES times in a row is closed, so a peer that stopped
 * answering (a cut cable, a router that lost its mapping, a machine that froze) is noticed
 * within about LIVENESS_MAX_MISSES × (interval + timeout) instead of after TCP's retransmission
 * backoff, and the peer finder dials again. One late ping on a busy node closes nothing.
 */
import createDebug from 'debug'
import type { Connection } from '@libp2p/interface'
import { byteStream } from '@libp2p/utils'
import type { AsmtpLibp2p } from './libp2p.js'
import { withTimeout } from './tasks.js'

const log = createDebug('asmtp:node:liveness')

export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
export const LIVENESS_INTERVAL_MS = 5_000
export const LIVENESS_PING_TIMEOUT_MS = 5_000
export const LIVENESS_MAX_MISSES = 3
const PING_BYTES = 32

export interface LivenessInit {
  host: () => AsmtpLibp2p
  /** @default LIVENESS_PING_TIMEOUT_MS */
  timeoutMs?: number
  /** @default LIVENESS_MAX_MISSES */
  maxMisses?: number
}

export interface LivenessStats { pings: number, misses: number, closed: number }

export class Liveness {
  readonly stats: LivenessStats = { pings: 0, misses: 0, closed: 0 }
  private readonly init: LivenessInit
  /** misses in a row per connection id */
  private readonly misses = new Map<string, number>()
  private readonly inFlight = new Set<string>()

  constructor (init: LivenessInit) {
    this.init = init
  }

  /** One round: pings every open connection without a ping in flight; resolves when they settle. */
  async check (signal: AbortSignal): Promise<void> {
    const connections = this.init.host().getConnections().filter(c => c.status === 'open')
    const live = new Set(connections.map(c => c.id))
    for (const id of this.misses.keys()) if (!live.has(id)) this.misses.delete(id)
    await Promise.all(connections.filter(c => !this.inFlight.has(c.id)).map(async c => { await this.probe(c, signal) }))
  }

  private async probe (conn: Connection, parent: AbortSignal): Promise<void> {
    this.inFlight.add(conn.id)
    this.stats.pings++
    try {
      await ping(conn, withTimeout(this.init.timeoutMs ?? LIVENESS_PING_TIMEOUT_MS, parent))
      this.misses.delete(conn.id)
    } catch (err) {
      if (parent.aborted || conn.status !== 'open') return
      const misses = (this.misses.get(conn.id) ?? 0) + 1
      this.stats.misses++
      this.misses.set(conn.id, misses)
      log('ping %s (%s) failed %d times: %s', conn.remotePeer, conn.remoteAddr, misses, (err as Error).message)
      if (misses >= (this.init.maxMisses ?? LIVENESS_MAX_MISSES)) {
        this.misses.delete(conn.id)
        this.stats.closed++
        log('closing the silent connection to %s', conn.remotePeer)
        conn.abort(new Error(`no answer to ${misses} pings`))
      }
    } finally {
      this.inFlight.delete(conn.id)
    }
  }
}

/** One ping over this connection; throws when it fails or the signal fires. */
async function ping (conn: Connection, signal: AbortSignal): Promise<void> {
  const stream = await conn.newStream(PING_PROTOCOL, { signal, runOnLimitedConnection: true })
  try {
    const bytes = byteStream(stream)
    await Promise.all([
      bytes.write(crypto.getRandomValues(new Uint8Array(PING_BYTES)), { signal }),
      bytes.read({ bytes: PING_BYTES, signal })
    ])
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}
