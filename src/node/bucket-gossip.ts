/**
 * A node's side of its buckets on gossipsub (DESIGN.md "Buckets", "Store-and-forward per
 * bucket"): joining a bucket installs its score parameters and validator and subscribes;
 * the validator applies the per-peer rate, then the intake's checks; a peer that joins one of
 * our buckets, and every member we meet when we join, gets a catch-up; and every few minutes a
 * random member of each bucket does.
 */
import createDebug from 'debug'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Buckets } from './buckets.js'
import type { CatchupRuns } from './catchup-runs.js'
import type { Intake } from './intake.js'
import { scoreBucketTopic, type AsmtpLibp2p } from './libp2p.js'
import type { RateLimiter } from './rate-limit.js'

const log = createDebug('asmtp:node:gossip')

export interface BucketGossipInit {
  host: () => AsmtpLibp2p
  buckets: () => Buckets
  intake: Intake
  catchups: CatchupRuns
  limiter: RateLimiter
  /** a frame could not be stored (disk): for the node's status */
  onError: (message: string) => void
}

export class BucketGossip {
  private readonly init: BucketGossipInit

  constructor (init: BucketGossipInit) {
    this.init = init
  }

  /** Listens for peers joining our buckets (call once the host exists). */
  attach (): void {
    this.init.host().services.pubsub.addEventListener('subscription-change', (evt) => {
      const buckets = this.init.buckets()
      for (const sub of evt.detail.subscriptions) {
        const bucket = buckets.parse(sub.topic)
        if (bucket !== undefined && sub.subscribe && buckets.carries(bucket)) void this.init.catchups.schedule(evt.detail.peerId, bucket, true)
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

  /** Gossipsub topic validator: rate, then the checks every node makes, then store and match. */
  private async validate (peer: string, data: Uint8Array, bucket: number): Promise<TopicValidatorResult> {
    if (!this.init.limiter.take(peer)) {
      this.init.intake.stats.rejected++
      return TopicValidatorResult.Reject
    }
    try {
      const v = await this.init.intake.take(data, bucket, 'gossip')
      if (v.result === 'accept') return TopicValidatorResult.Accept
      return v.result === 'reject' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
    } catch (err) {
      const message = `storing a frame: ${(err as Error).message}`
      log.extend('error')(message)
      this.init.onError(message)
      return TopicValidatorResult.Ignore
    }
  }
}
