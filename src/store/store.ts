/**
 * The node store: one LevelDB at `storage.path` holding envelopes with their hash and expiry
 * indexes, registered topics, passports, cursors, and the libp2p datastore (peer store, DHT
 * records), each in its own sublevel (DESIGN.md "Node network", Persistence; docs/STORAGE.md).
 * Every failure surfaces as an AsmtpError (STORE_ERROR for disk, corruption and a closed
 * store); wrong argument types or sizes stay TypeError/RangeError.
 */
import type { LevelDatastore } from 'datastore-level'
import { CachedLevelDatastore } from './cached-datastore.js'
import type { Datastore } from 'interface-datastore'
import type { Level } from 'level'
import { AsmtpError } from '../errors.js'
import { createStoreDb, type StoreDb } from './db.js'
import { CursorTable } from './cursors.js'
import {
  EnvelopeTable, type ListEnvelopesOptions, type ListEnvelopesResult, type PutEnvelopeResult, type StoredEnvelope
} from './envelopes.js'
import { META_FORMAT_KEY, META_LAST_SEQ_KEY, SUBLEVELS } from './keys.js'
import { PassportTable } from './passports.js'
import { TopicTable, type RegisteredTopic } from './topics.js'
import { STORE_FORMAT, decodeFormatValue, decodeU64Value, describeKey, encodeFormatValue } from './values.js'
import { WriteLock } from './write-lock.js'

export const DEFAULT_RETENTION_MS = 14 * 24 * 60 * 60 * 1000

export interface StoreInit {
  /** directory of the LevelDB (created when missing) */
  path: string
  /** how long envelopes are kept. @default 14 days */
  retentionMs?: number
  /** clock in milliseconds since the epoch, for tests. @default Date.now */
  now?: () => number
}

function storeError (what: string, err: unknown): AsmtpError {
  const reason = err instanceof Error ? err.message : String(err)
  return new AsmtpError('STORE_ERROR', `${what}: ${reason}`, { cause: err })
}

/** AsmtpError and programmer errors pass through; anything else (LevelDB, I/O) is STORE_ERROR. */
function asStoreError (what: string, err: unknown): unknown {
  if (err instanceof AsmtpError || err instanceof TypeError || err instanceof RangeError) return err
  return storeError(what, err)
}

export class Store {
  /** libp2p's datastore (peer store, DHT records), in the `libp2p` sublevel of this database */
  readonly datastore: Datastore
  readonly retentionMs: number
  private readonly levelDatastore: LevelDatastore
  private readonly db: StoreDb
  private readonly lock: WriteLock
  private readonly envelopes: EnvelopeTable
  private readonly topics: TopicTable
  private readonly passports: PassportTable
  private readonly cursors: CursorTable
  private closing: Promise<void> | undefined

  /** Use openStore(). */
  constructor (init: { db: StoreDb, datastore: LevelDatastore, lock: WriteLock, now: () => number, retentionMs: number, lastSeq: bigint }) {
    this.db = init.db
    this.datastore = init.datastore
    this.levelDatastore = init.datastore
    this.lock = init.lock
    this.retentionMs = init.retentionMs
    this.envelopes = new EnvelopeTable(init)
    this.topics = new TopicTable(init)
    this.passports = new PassportTable(init.db)
    this.cursors = new CursorTable(init.db)
  }

  private async run<T> (what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closing !== undefined) throw new AsmtpError('STORE_ERROR', `${what}: the store is closed`)
    try {
      return await fn()
    } catch (err) {
      throw asStoreError(what, err)
    }
  }

  /** Idempotent: waits for queued writes, then closes the datastore and the database. */
  async close (): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.lock.run(async () => {})
        await this.levelDatastore.close()
        await this.db.root.close()
      } catch (err) {
        throw storeError('closing the store', err)
      }
    })()
    await this.closing
  }

  /** Starts building the hash filter from the hash index in the background (openStore does). */
  buildHashFilter (): void {
    void this.envelopes.rebuildFilter()
  }

  /** Resolves once no hash filter is being built: puts then skip the index for new hashes. */
  async hashFilterIdle (): Promise<void> {
    await this.envelopes.filterIdle()
  }

  async putEnvelope (topic: Uint8Array, data: Uint8Array, hash: Uint8Array): Promise<PutEnvelopeResult> {
    return await this.run('putEnvelope', async () => await this.envelopes.put(topic, data, hash))
  }

  async hasEnvelope (hash: Uint8Array): Promise<boolean> {
    return await this.run('hasEnvelope', async () => await this.envelopes.has(hash))
  }

  async getEnvelope (hash: Uint8Array): Promise<StoredEnvelope | undefined> {
    return await this.run('getEnvelope', async () => await this.envelopes.get(hash))
  }

  /** One topic's live envelopes with seq > after, in seq order. */
  async listEnvelopes (topic: Uint8Array, options?: ListEnvelopesOptions): Promise<ListEnvelopesResult> {
    return await this.run('listEnvelopes', async () => await this.envelopes.list(topic, options))
  }

  /** Removes the envelopes whose expiresAt <= now (default: the store's clock); returns how many. */
  async deleteExpired (now?: number): Promise<number> {
    return await this.run('deleteExpired', async () => await this.envelopes.deleteExpired(now))
  }

  /** Live envelopes held, on one topic or on all. */
  async countEnvelopes (topic?: Uint8Array): Promise<number> {
    return await this.run('countEnvelopes', async () => await this.envelopes.count(topic))
  }

  /** Adds `owner` (same key) or registers the topic; another key for the same id is PROTOCOL_VIOLATION. */
  async registerTopic (topic: Uint8Array, key: Uint8Array, owner: string): Promise<RegisteredTopic> {
    return await this.run('registerTopic', async () => await this.topics.register(topic, key, owner))
  }

  async deregisterTopic (topic: Uint8Array, owner: string): Promise<boolean> {
    return await this.run('deregisterTopic', async () => await this.topics.deregister(topic, owner))
  }

  async getTopic (topic: Uint8Array): Promise<RegisteredTopic | undefined> {
    return await this.run('getTopic', async () => await this.topics.get(topic))
  }

  async listTopics (): Promise<RegisteredTopic[]> {
    return await this.run('listTopics', async () => await this.topics.list())
  }

  async putPassport (id: Uint8Array, exportBytes: Uint8Array): Promise<void> {
    await this.run('putPassport', async () => { await this.passports.put(id, exportBytes) })
  }

  async getPassport (id: Uint8Array): Promise<Uint8Array | undefined> {
    return await this.run('getPassport', async () => await this.passports.get(id))
  }

  async listPassportIds (): Promise<Uint8Array[]> {
    return await this.run('listPassportIds', async () => await this.passports.listIds())
  }

  /** 0n when unset. */
  async getCursor (name: string): Promise<bigint> {
    return await this.run('getCursor', async () => await this.cursors.get(name))
  }

  async setCursor (name: string, value: bigint): Promise<void> {
    await this.run('setCursor', async () => { await this.cursors.set(name, value) })
  }
}

async function readLastSeq (db: StoreDb): Promise<bigint> {
  const format = await db.meta.get(META_FORMAT_KEY)
  if (format === undefined) {
    await db.meta.put(META_FORMAT_KEY, encodeFormatValue())
  } else {
    const version = decodeFormatValue(describeKey(SUBLEVELS.meta, META_FORMAT_KEY), format)
    if (version !== STORE_FORMAT) {
      throw new AsmtpError('STORE_ERROR', `store format ${version} is not supported (this version reads format ${STORE_FORMAT})`)
    }
  }
  const raw = await db.meta.get(META_LAST_SEQ_KEY)
  return raw === undefined ? 0n : decodeU64Value(describeKey(SUBLEVELS.meta, META_LAST_SEQ_KEY), raw)
}

/** Opens (creating when missing) the store at init.path, including its libp2p datastore. */
export async function openStore (init: StoreInit): Promise<Store> {
  if (typeof init.path !== 'string' || init.path === '') throw new TypeError('path must be a non-empty string')
  const retentionMs = init.retentionMs ?? DEFAULT_RETENTION_MS
  if (!Number.isSafeInteger(retentionMs) || retentionMs <= 0) throw new RangeError('retentionMs must be a positive integer')
  const now = init.now ?? Date.now
  if (typeof now !== 'function') throw new TypeError('now must be a function')

  const db = createStoreDb(init.path)
  try {
    await db.root.open()
  } catch (err) {
    throw storeError(`cannot open the store at ${init.path}`, err)
  }
  try {
    const lastSeq = await readLastSeq(db)
    // datastore-level 13 drives only get/put/del/batch/iterator of its Level: a sublevel behaves
    // the same (test/store.test.ts checks it through the interface-datastore API).
    const datastore = new CachedLevelDatastore(db.libp2p as unknown as Level<string, Uint8Array>)
    await datastore.open()
    const store = new Store({ db, datastore, lock: new WriteLock(), now, retentionMs, lastSeq })
    store.buildHashFilter()
    return store
  } catch (err) {
    await db.root.close().catch(() => {})
    throw asStoreError(`cannot open the store at ${init.path}`, err)
  }
}
