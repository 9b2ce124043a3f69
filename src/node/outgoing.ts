/**
 * Mail a device handed this node, between the acknowledgement and the store (docs/STORAGE.md
 * "What survives"): the publisher journals the stamped frame before it answers the device, the
 * journal entry goes when the frame is stored (fluffed, or back through the mesh), and at start
 * the node sends down the stem again whatever the journal still holds. A node killed at any
 * moment after an acknowledgement therefore still delivers the message, once: receivers dedupe
 * by the frame's hash.
 */
import createDebug from 'debug'
import { toHex } from '../bytes.js'
import { MAX_OUTGOING, type Store } from '../store/index.js'

const log = createDebug('asmtp:node:outgoing')

export interface OutgoingInit {
  store: () => Store
  /** sends a journalled frame again (the stem: held, then stemmed or fluffed) */
  resend: (bucket: number, frame: Uint8Array, hash: Uint8Array) => Promise<unknown>
}

export class Outgoing {
  private readonly init: OutgoingInit
  /** hashes (hex) journalled and not yet stored */
  private readonly pending = new Set<string>()
  private settled: Uint8Array[] = []
  private flushing: Promise<void> | undefined

  constructor (init: OutgoingInit) {
    this.init = init
  }

  get size (): number { return this.pending.size }

  /**
   * Journals a frame before the device is told it was accepted: 'held' when it is journalled
   * already, 'stored' when the node holds it already (nothing to send).
   */
  async record (hash: Uint8Array, bucket: number, frame: Uint8Array): Promise<'new' | 'held' | 'stored' | 'full'> {
    const key = toHex(hash)
    if (this.pending.has(key)) return 'held'
    if (await this.init.store().hasSeen(hash)) return 'stored'
    if (this.pending.size >= MAX_OUTGOING) return 'full'
    await this.init.store().outgoing.put(hash, bucket, frame)
    this.pending.add(key)
    return 'new'
  }

  /** The frame is stored now: its journal entry goes (batched). */
  settle (hash: Uint8Array): void {
    // called for every frame the node stores (a relay's hot path): nothing to do most of the time
    if (this.pending.size === 0 || !this.pending.delete(toHex(hash))) return
    this.settled.push(hash)
    this.flushing ??= Promise.resolve().then(async () => {
      const batch = this.settled
      this.settled = []
      try {
        await this.init.store().outgoing.delete(batch)
      } catch (err) {
        log('journal delete: %s', (err as Error).message)
      } finally {
        this.flushing = undefined
      }
    })
  }

  /** At start: frames journalled by an earlier run that never got stored go out again. */
  async resend (signal: AbortSignal): Promise<number> {
    const store = this.init.store()
    const entries = await store.outgoing.list()
    let sent = 0
    const done: Uint8Array[] = []
    for (const e of entries) {
      if (signal.aborted) break
      if (await store.hasSeen(e.hash)) {
        done.push(e.hash)
        continue
      }
      this.pending.add(toHex(e.hash))
      try {
        await this.init.resend(e.bucket, e.frame, e.hash)
        sent++
      } catch (err) {
        log('resend %s: %s', toHex(e.hash), (err as Error).message)
      }
    }
    await store.outgoing.delete(done)
    if (sent > 0) log('sent %d journalled frames again', sent)
    return sent
  }
}
