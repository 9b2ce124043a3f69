/**
 * Per-peer token buckets for inbound gossip (gossipsub has no flow control of its own,
 * STACK.md). The map of buckets is bounded: the least recently seen peer is dropped first.
 */
export interface RateLimiterInit {
  /** tokens added per second (sustained rate) */
  ratePerSecond: number
  /** bucket size (burst); @default 2 × ratePerSecond */
  burst?: number
  /** @default 4096 */
  maxPeers?: number
  now?: () => number
}

interface Bucket { tokens: number, updated: number }

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly rate: number
  private readonly burst: number
  private readonly maxPeers: number
  private readonly now: () => number

  constructor (init: RateLimiterInit) {
    this.rate = init.ratePerSecond
    this.burst = init.burst ?? Math.max(1, init.ratePerSecond * 2)
    this.maxPeers = init.maxPeers ?? 4096
    this.now = init.now ?? Date.now
  }

  /** Takes one token for `peer`; false when the peer is over its rate. */
  take (peer: string): boolean {
    const now = this.now()
    let b = this.buckets.get(peer)
    if (b === undefined) {
      b = { tokens: this.burst, updated: now }
      if (this.buckets.size >= this.maxPeers) {
        const oldest = this.buckets.keys().next().value
        if (oldest !== undefined) this.buckets.delete(oldest)
      }
    } else {
      this.buckets.delete(peer)
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.updated) / 1000) * this.rate)
      b.updated = now
    }
    this.buckets.set(peer, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }
}
