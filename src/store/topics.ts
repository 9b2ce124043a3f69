/**
 * Topics registered by the node's users (DESIGN.md "Pairwise topics"): topic id -> topic key,
 * the users (hex device keys) who registered it, and when it was first registered. Two users of
 * the same node who talk to each other register the same topic; it stays until the last owner
 * deregisters it.
 */
import { AsmtpError } from '../errors.js'
import { equalBytes, toHex } from '../bytes.js'
import type { StoreDb } from './db.js'
import type { WriteLock } from './write-lock.js'
import { SUBLEVELS, TOPIC_ID_BYTES, TOPIC_KEY_BYTES, assertLength, assertTime, checkStoredKey } from './keys.js'
import { MAX_OWNERS, MAX_OWNER_BYTES, decodeTopicValue, describeKey, encodeTopicValue, type TopicValue } from './values.js'

export interface RegisteredTopic {
  topic: Uint8Array
  key: Uint8Array
  /** hex device keys of the users who registered it */
  owners: string[]
  registeredAt: number
}

export interface TopicTableInit {
  db: StoreDb
  lock: WriteLock
  now: () => number
}

function assertOwner (owner: string): void {
  if (typeof owner !== 'string') throw new TypeError('owner must be a string')
  const length = Buffer.byteLength(owner, 'utf8')
  if (length === 0 || length > MAX_OWNER_BYTES) throw new RangeError(`owner must be 1..${MAX_OWNER_BYTES} bytes of UTF-8`)
}

export class TopicTable {
  private readonly db: StoreDb
  private readonly lock: WriteLock
  private readonly now: () => number

  constructor (init: TopicTableInit) {
    this.db = init.db
    this.lock = init.lock
    this.now = init.now
  }

  private async read (topic: Uint8Array): Promise<TopicValue | undefined> {
    const raw = await this.db.topics.get(topic)
    if (raw === undefined) return undefined
    return decodeTopicValue(describeKey(SUBLEVELS.topics, topic), raw)
  }

  async register (topic: Uint8Array, key: Uint8Array, owner: string): Promise<RegisteredTopic> {
    assertLength(topic, TOPIC_ID_BYTES, 'topic')
    assertLength(key, TOPIC_KEY_BYTES, 'topic key')
    assertOwner(owner)
    return await this.lock.run(async () => {
      const existing = await this.read(topic)
      if (existing !== undefined && !equalBytes(existing.key, key)) {
        throw new AsmtpError('PROTOCOL_VIOLATION', `topic ${toHex(topic)} is already registered with a different key`)
      }
      if (existing?.owners.includes(owner) === true) return { topic: topic.slice(), ...existing }
      if (existing !== undefined && existing.owners.length >= MAX_OWNERS) {
        throw new AsmtpError('STORE_ERROR', `topic ${toHex(topic)} already has the maximum of ${MAX_OWNERS} owners`)
      }
      const value: TopicValue = existing === undefined
        ? { key: key.slice(), registeredAt: assertTime(this.now(), 'now()'), owners: [owner] }
        : { ...existing, owners: [...existing.owners, owner] }
      await this.db.topics.put(topic, encodeTopicValue(value))
      return { topic: topic.slice(), ...value }
    })
  }

  /** Removes `owner`; deletes the topic when no owner is left. Returns whether the topic is gone. */
  async deregister (topic: Uint8Array, owner: string): Promise<boolean> {
    assertLength(topic, TOPIC_ID_BYTES, 'topic')
    assertOwner(owner)
    return await this.lock.run(async () => {
      const existing = await this.read(topic)
      if (existing === undefined) return true
      const owners = existing.owners.filter((o) => o !== owner)
      if (owners.length === existing.owners.length) return false
      if (owners.length === 0) {
        await this.db.topics.del(topic)
        return true
      }
      await this.db.topics.put(topic, encodeTopicValue({ ...existing, owners }))
      return false
    })
  }

  async get (topic: Uint8Array): Promise<RegisteredTopic | undefined> {
    assertLength(topic, TOPIC_ID_BYTES, 'topic')
    const value = await this.read(topic)
    return value === undefined ? undefined : { topic: topic.slice(), ...value }
  }

  async list (): Promise<RegisteredTopic[]> {
    const out: RegisteredTopic[] = []
    for await (const [key, raw] of this.db.topics.iterator()) {
      const topic = checkStoredKey(key, TOPIC_ID_BYTES, SUBLEVELS.topics)
      out.push({ topic, ...decodeTopicValue(describeKey(SUBLEVELS.topics, key), raw) })
    }
    return out
  }
}
