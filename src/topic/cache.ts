/**
 * A bounded cache of pairwise topics, so a topic is derived once per pair and shared-key
 * version (a rotated shared key is a new public key, hence a new entry), never per message.
 * Least recently used entries are evicted first; the newest entry is never the one evicted.
 */
import { toHex } from '../bytes.js'
import { x25519PublicKey } from '../crypto/x25519.js'
import { deriveTopic, deriveTopicAsync, type TopicKeys } from './derive.js'

export const TOPIC_CACHE_DEFAULT_SIZE = 4096

export interface TopicCacheInit {
  /** @default 4096 */
  maxEntries?: number
}

export class TopicCache {
  private readonly entries = new Map<string, TopicKeys>()
  private readonly pending = new Map<string, Promise<TopicKeys>>()
  private readonly publics = new Map<string, Uint8Array>()
  private readonly maxEntries: number
  /** Number of derivations performed (for tests and stats). */
  derivations = 0

  constructor (init: TopicCacheInit = {}) {
    this.maxEntries = Math.max(1, init.maxEntries ?? TOPIC_CACHE_DEFAULT_SIZE)
  }

  get size (): number {
    return this.entries.size
  }

  private myPublic (secret: Uint8Array): Uint8Array {
    const k = toHex(secret)
    let pub = this.publics.get(k)
    if (pub === undefined) {
      pub = x25519PublicKey(secret)
      if (this.publics.size >= 64) this.publics.clear()
      this.publics.set(k, pub)
    }
    return pub
  }

  private cacheKey (mySharedSecret: Uint8Array, theirSharedPublic: Uint8Array): string {
    return `${toHex(this.myPublic(mySharedSecret))}:${toHex(theirSharedPublic)}`
  }

  private remember (key: string, value: TopicKeys): TopicKeys {
    this.entries.delete(key)
    this.entries.set(key, value)
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
    return value
  }

  private lookup (key: string): TopicKeys | undefined {
    const hit = this.entries.get(key)
    if (hit !== undefined) this.remember(key, hit)
    return hit
  }

  get (mySharedSecret: Uint8Array, theirSharedPublic: Uint8Array): TopicKeys {
    const key = this.cacheKey(mySharedSecret, theirSharedPublic)
    const hit = this.lookup(key)
    if (hit !== undefined) return hit
    this.derivations++
    return this.remember(key, deriveTopic(mySharedSecret, theirSharedPublic))
  }

  async getAsync (mySharedSecret: Uint8Array, theirSharedPublic: Uint8Array): Promise<TopicKeys> {
    const key = this.cacheKey(mySharedSecret, theirSharedPublic)
    const hit = this.lookup(key)
    if (hit !== undefined) return hit
    let p = this.pending.get(key)
    if (p === undefined) {
      this.derivations++
      p = deriveTopicAsync(mySharedSecret, theirSharedPublic, this.myPublic(mySharedSecret))
        .then(v => this.remember(key, v))
        .finally(() => this.pending.delete(key))
      this.pending.set(key, p)
    }
    return await p
  }
}
