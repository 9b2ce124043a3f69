/**
 * The buckets a node carries (DESIGN.md "Buckets"): a home node carries the buckets of its
 * registered topics, a relay every bucket. Joining a bucket subscribes to its gossipsub topic
 * (the subscription is what connected peers see: the anonymity set), leaving unsubscribes, at
 * once. The map from bucket to registered topics is what a home node tries MACs against.
 */
import { toHex } from '../bytes.js'
import { bucketOf, bucketTopic, parseBucketTopic } from '../frame/index.js'
import type { RegisteredTopic } from '../store/index.js'

export interface BucketsInit {
  bits: number
  /** carry every bucket */
  relay: boolean
  /** the node subscribes to the bucket's gossipsub topic */
  join: (bucket: number, topic: string) => void
  /** the node unsubscribes */
  leave: (bucket: number, topic: string) => void
}

export class Buckets {
  readonly bits: number
  readonly relay: boolean
  /** registered topics by bucket, each by topic id (hex) */
  private readonly topics = new Map<number, Map<string, RegisteredTopic>>()
  private readonly bucketOfTopic = new Map<string, number>()
  private readonly joined = new Set<number>()
  private readonly init: BucketsInit

  constructor (init: BucketsInit) {
    this.init = init
    this.bits = init.bits
    this.relay = init.relay
  }

  /** Joins every bucket a relay carries (none for a home node until a topic is added). */
  start (): void {
    if (!this.relay) return
    for (let b = 0; b < 2 ** this.bits; b++) this.joinBucket(b)
  }

  /** The gossipsub topic of a bucket. */
  topicName (bucket: number): string {
    return bucketTopic(this.bits, bucket)
  }

  /** The bucket of a gossipsub topic name of this network, or undefined. */
  parse (name: string): number | undefined {
    const parsed = parseBucketTopic(name)
    return parsed === undefined || parsed.bits !== this.bits ? undefined : parsed.bucket
  }

  bucketOf (topic: Uint8Array): number {
    return bucketOf(topic, this.bits)
  }

  carries (bucket: number): boolean {
    return this.joined.has(bucket)
  }

  /** How many buckets the node carries (without building the list: read per frame). */
  get size (): number {
    return this.joined.size
  }

  list (): number[] {
    return [...this.joined].sort((a, b) => a - b)
  }

  /** The registered topics of a bucket: the keys a home node tries a frame's MAC with. */
  topicsIn (bucket: number): Iterable<RegisteredTopic> {
    return this.topics.get(bucket)?.values() ?? []
  }

  topic (topic: Uint8Array): RegisteredTopic | undefined {
    const hex = toHex(topic)
    const bucket = this.bucketOfTopic.get(hex)
    return bucket === undefined ? undefined : this.topics.get(bucket)?.get(hex)
  }

  allTopics (): RegisteredTopic[] {
    return [...this.topics.values()].flatMap(m => [...m.values()])
  }

  /** Adds (or updates) a registered topic; returns the bucket when this joined it. */
  add (t: RegisteredTopic): number | undefined {
    const hex = toHex(t.topic)
    const bucket = this.bucketOf(t.topic)
    let inBucket = this.topics.get(bucket)
    if (inBucket === undefined) {
      inBucket = new Map()
      this.topics.set(bucket, inBucket)
    }
    inBucket.set(hex, t)
    this.bucketOfTopic.set(hex, bucket)
    return this.joinBucket(bucket) ? bucket : undefined
  }

  /** Removes a topic; a home node leaves its bucket when no topic is left in it. */
  remove (topic: Uint8Array): void {
    const hex = toHex(topic)
    const bucket = this.bucketOfTopic.get(hex)
    if (bucket === undefined) return
    this.bucketOfTopic.delete(hex)
    const inBucket = this.topics.get(bucket)
    inBucket?.delete(hex)
    if (inBucket !== undefined && inBucket.size === 0) {
      this.topics.delete(bucket)
      if (!this.relay && this.joined.delete(bucket)) this.init.leave(bucket, this.topicName(bucket))
    }
  }

  private joinBucket (bucket: number): boolean {
    if (this.joined.has(bucket)) return false
    this.joined.add(bucket)
    this.init.join(bucket, this.topicName(bucket))
    return true
  }
}
