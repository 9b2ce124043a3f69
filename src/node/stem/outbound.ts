/**
 * Outbound stem streams: one open `/asmtp/stem/1.0.0` stream per successor, reused for the next
 * messages (opening a stream and negotiating its protocol for every frame cost each stem hop
 * several milliseconds). Sends to one peer go one at a time; a stream is closed after
 * MAX_MESSAGES_PER_STREAM messages (the receiver's bound) or when idle for STEM_IDLE_CLOSE_MS
 * (before the receiver's read timeout ends it). A stream the receiver has begun to close is not
 * reused, and a write on a reused stream that fails is tried once more on a fresh stream. (A
 * frame lost in the rare race left is still held under the origin's embargo.)
 */
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import { MAX_MESSAGES_PER_STREAM, MAX_STEM_MESSAGE_BYTES, STEM_IDLE_CLOSE_MS, STEM_SEND_TIMEOUT_MS } from './protocol.js'
import { withTimeout } from '../tasks.js'

type Lp = ReturnType<typeof lpStream>

interface Open { stream: Stream, lp: Lp, sent: number, idle?: NodeJS.Timeout }

export interface OutboundInit {
  dial: (peer: PeerId, signal: AbortSignal) => Promise<Stream>
  /** aborts sends when the node stops */
  signal: () => AbortSignal
}

function usable (s: Stream): boolean {
  return s.status === 'open' && s.writeStatus === 'writable' && s.remoteWriteStatus === 'writable' && (s.remoteReadStatus === 'readable' || s.remoteReadStatus === 'paused')
}

export class OutboundStreams {
  private readonly open = new Map<string, Open>()
  private readonly chains = new Map<string, Promise<void>>()

  constructor (private readonly init: OutboundInit) {}

  /** Writes one message to `peer`, after the sends to it that are under way. */
  async send (peer: PeerId, message: Uint8Array): Promise<void> {
    const key = peer.toString()
    const previous = this.chains.get(key) ?? Promise.resolve()
    const mine = previous.catch(() => {}).then(async () => { await this.write(key, peer, message) })
    this.chains.set(key, mine)
    try {
      await mine
    } finally {
      if (this.chains.get(key) === mine) this.chains.delete(key)
    }
  }

  /** Closes every stream (the node stops). */
  closeAll (): void {
    for (const key of [...this.open.keys()]) this.retire(key, false)
  }

  private async write (key: string, peer: PeerId, message: Uint8Array): Promise<void> {
    const signal = withTimeout(STEM_SEND_TIMEOUT_MS, this.init.signal())
    let reused = this.open.get(key)
    // a stream the successor has begun to close (its bound, its timeout) would take our bytes and drop them
    if (reused !== undefined && !usable(reused.stream)) {
      this.retire(key, false)
      reused = undefined
    }
    if (reused !== undefined) {
      try {
        await this.writeOn(key, reused, message, signal)
        return
      } catch {
        // the receiver may have ended it (its bound or its timeout): one more try on a fresh one
        this.retire(key, true)
      }
    }
    const stream = await this.init.dial(peer, signal)
    const fresh: Open = { stream, lp: lpStream(stream, { maxDataLength: MAX_STEM_MESSAGE_BYTES }), sent: 0 }
    this.open.set(key, fresh)
    try {
      await this.writeOn(key, fresh, message, signal)
    } catch (err) {
      this.retire(key, true)
      throw err
    }
  }

  private async writeOn (key: string, o: Open, message: Uint8Array, signal: AbortSignal): Promise<void> {
    if (o.idle !== undefined) clearTimeout(o.idle)
    await o.lp.write(message, { signal })
    o.sent++
    if (o.sent >= MAX_MESSAGES_PER_STREAM) {
      this.retire(key, false)
      return
    }
    o.idle = setTimeout(() => { if (this.open.get(key) === o) this.retire(key, false) }, STEM_IDLE_CLOSE_MS)
    o.idle.unref()
  }

  /** Forgets the peer's stream and closes it (aborts it when it failed). */
  private retire (key: string, failed: boolean): void {
    const o = this.open.get(key)
    if (o === undefined) return
    this.open.delete(key)
    if (o.idle !== undefined) clearTimeout(o.idle)
    if (failed) {
      o.stream.abort(new Error('stem stream failed'))
      return
    }
    o.stream.close({ signal: AbortSignal.timeout(STEM_SEND_TIMEOUT_MS) }).catch((err: unknown) => {
      o.stream.abort(err instanceof Error ? err : new Error(String(err)))
    })
  }
}
