/**
 * A node's side of its buckets on gossipsub (DESIGN.md "Buckets", "Store-and-forward per
 * bucket"): joining a bucket installs its score parameters and validator and subscribes;
 * the validator applies the per-peer rate, then the intake's checks; a peer that joins one of
 * our buckets, and every member we meet when we join, gets a catch-up; and every few minutes a
 * random member of each bucket does.
 */
import createDebug from 'debug'
import { toHex } from '../bytes.js'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Buckets } from './buckets.js'
import type { CatchupRuns } from './catchup-runs.js'
import type { Intake } from './intake.js'
import { scoreBucketTopic, type AsmtpLibp2p } from './libp2p.js'
import type { RateLimiter } from './rate-limit.js'

const log = createDebug('asmtp:node:gossip')

/** Caught-up frames remembered while they are forwarded, and for how long. */
const MAX_FORWARDING = 4096
const FORWARDING_MS = 60_000

export interface BucketGossipInit {
  host: () => AsmtpLibp2p
  buckets: () => Buckets
  intake: Intake
  catchups: CatchupRuns
  limiter: RateLimiter
  /** a frame could not be stored (disk): for the node's status */
  onError: (message: string) => void
  /** a peer joined a bucket we carry */
  onMember?: (bucket: number) => void
}

export class BucketGossip {
  private readonly init: BucketGossipInit
  /** caught-up frames (hex hash) being forwarded, until when */
  private readonly forwarding = new Map<string, number>()

  constructor (init: BucketGossipInit) {
    this.init = init
  }

  /** Listens for peers joining our buckets (call once the host exists). */
  attach (): void {
    this.init.host().services.pubsub.addEventListener('subscription-change', (evt) => {
      const buckets = this.init.buckets()
      for (const sub of evt.detail.subscriptions) {
        const bucket = buckets.parse(sub.topic)
        if (bucket !== undefined && sub.subscribe && buckets.carries(bucket)) {
          void this.init.catchups.schedule(evt.detail.peerId, bucket, true)
          this.init.onMember?.(bucket)
        }
      }
    })
  }

  join (bucket: number, name: string): void {
    const pubsub = this.init.host().services.pubsub
    scoreBucketTopic(pubsub, name)
    pubsub.topicValidators.set(name, async (peer, msg) => await this.validate(peer.toString(), msg.data, bucket))
    pubsub.subscribe(name)
    // the members we are connected to already: catch up with them now
    for (const peer of pubsub.getSubscribers(name)) void this.init.catchups.schedule(peer, bucket, true)
    log('joined bucket %d', bucket)
  }

  leave (name: string): void {
    const pubsub = this.init.host().services.pubsub
    pubsub.unsubscribe(name)
    pubsub.topicValidators.delete(name)
  }

  /** A catch-up with a random member of each bucket carried; resolves when they are done. */
  async periodicCatchup (): Promise<void> {
    const pubsub = this.init.host().services.pubsub
    const buckets = this.init.buckets()
    const runs: Array<Promise<void>> = []
    for (const bucket of buckets.list()) {
      const members = pubsub.getSubscribers(buckets.topicName(bucket))
      const peer = members[Math.floor(Math.random() * members.length)]
      if (peer !== undefined) runs.push(this.init.catchups.schedule(peer, bucket))
    }
    await Promise.all(runs)
  }

  /** A caught-up frame is being forwarded (see validate). */
  willForward (hash: Uint8Array): void {
    const now = Date.now()
    if (this.forwarding.size >= MAX_FORWARDING) {
      for (const [k, until] of this.forwarding) if (until <= now) this.forwarding.delete(k)
      if (this.forwarding.size >= MAX_FORWARDING) this.forwarding.delete(this.forwarding.keys().next().value as string)
    }
    this.forwarding.set(toHex(hash), now + FORWARDING_MS)
  }

  private takeForward (hash: Uint8Array): boolean {
    // asked for every duplicate a peer gossips (a relay's hot path): usually nothing is forwarded
    if (this.forwarding.size === 0) return false
    const key = toHex(hash)
    const until = this.forwarding.get(key)
    if (until === undefined) return false
    this.forwarding.delete(key)
    return until > Date.now()
  }

  /** Gossipsub topic validator: rate, then the checks every node makes, then store and match. */
  private async validate (peer: string, data: Uint8Array, bucket: number): Promise<TopicValidatorResult> {
    if (!this.init.limiter.take(peer)) {
      this.init.intake.stats.rejected++
      return TopicValidatorResult.Reject
    }
    try {
      const v = await this.init.intake.take(data, bucket, 'gossip')
      if (v.result === 'accept') return TopicValidatorResult.Accept
      // stored by a catch-up a moment ago and about to be forwarded: gossipsub has now seen it
      // and would drop our own forward as a duplicate, so this copy is the one that goes on
      if (v.result === 'duplicate' && this.takeForward(v.hash)) return TopicValidatorResult.Accept
      return v.result === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    } catch (err) {
      const message = `storing a frame: ${(err as Error).message}`
      log.extend('error')(message)
      this.init.onError(message)
      return TopicValidatorResult.Ignore
    }
  }
}
