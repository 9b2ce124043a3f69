/**
 * The responder's per-peer byte budget: a token bucket per peer (capacity one minute's worth,
 * refilled continuously), in a bounded map where the least recently seen peer goes first.
 */
export interface ByteBudgetInit {
  bytesPerMinute: number
  /** @default 4096 */
  maxPeers?: number
  now?: () => number
}

interface Bucket { tokens: number, updated: number }

export class ByteBudget {
  private readonly buckets = new Map<string, Bucket>()
  private readonly capacity: number
  private readonly maxPeers: number
  private readonly now: () => number

  constructor (init: ByteBudgetInit) {
    if (!(init.bytesPerMinute > 0)) throw new RangeError('bytesPerMinute must be positive')
    this.capacity = init.bytesPerMinute
    this.maxPeers = init.maxPeers ?? 4096
    this.now = init.now ?? Date.now
  }

  private bucket (peer: string): Bucket {
    const now = this.now()
    let b = this.buckets.get(peer)
    if (b === undefined) {
      b = { tokens: this.capacity, updated: now }
      if (this.buckets.size >= this.maxPeers) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
    } else {
      this.buckets.delete(peer)
      b.tokens = Math.min(this.capacity, b.tokens + Math.max(0, now - b.updated) * this.capacity / 60_000)
      b.updated = now
    }
    this.buckets.set(peer, b)
    return b
  }

  /** Bytes `peer` may still be sent now. */
  available (peer: string): number {
    return Math.floor(this.bucket(peer).tokens)
  }

  /** Takes `bytes` from `peer`'s budget; false (and nothing taken) when it has less. */
  take (peer: string, bytes: number): boolean {
    const b = this.bucket(peer)
    if (b.tokens < bytes) return false
    b.tokens -= bytes
    return true
  }
}
