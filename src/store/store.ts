/**
 * The node store: one LevelDB at `storage.path` holding gossip frames per bucket (relayed-only
 * within a per-bucket quota, or matched under one of the node's topics), the replay filter,
 * registered topics, passports, cursors, and the libp2p datastore (peer store, DHT records),
 * each in its own sublevel (DESIGN.md "Store-and-forward per bucket"; docs/STORAGE.md).
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
import { BucketUsage } from './bucket-usage.js'
import { FramePuts, type PutFrameOptions, type PutFrameResult } from './frame-put.js'
import {
  FrameReads, type HourDigest, type InventoryOptions, type InventoryResult, type ListMatchedOptions, type ListMatchedResult
} from './frame-reads.js'
import { FrameState, type FrameRecord } from './frame-state.js'
import { FrameSweep, type SweepResult } from './frame-sweep.js'
import { MAX_BUCKET, META_FORMAT_KEY, META_LAST_ARRIVAL_KEY, SUBLEVELS, assertInteger } from './keys.js'
import { SeenFilter } from './seen-filter.js'
import { PassportTable } from './passports.js'
import { TopicTable, type RegisteredTopic } from './topics.js'
import { STORE_FORMAT, STORE_FORMAT_V1, decodeFormatValue, decodeU64Value, describeKey, encodeFormatValue } from './values.js'
import { WriteLock } from './write-lock.js'
import { OutgoingTable } from './outgoing.js'

/** How long a matched frame is kept after it arrived (DESIGN.md `storage.retention`). */
export const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000

export interface StoreInit {
  /** directory of the LevelDB (created when missing) */
  path: string
  /** how long matched frames are kept after they arrived (at least until their network expiry). @default 30 days */
  retentionMs?: number
  /** clock in milliseconds since the epoch, for tests. @default Date.now */
  now?: () => number
  /** fsync every batch of frames and every outgoing entry before the write resolves (storage.sync). @default true */
  sync?: boolean
  /** RAM only: the database (and the libp2p datastore in it) lives in memory; `path` is not touched @default false */
  memory?: boolean
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

export interface StoreStatus {
  /** frames held, relayed-only and matched */
  frames: number
  matchedFrames: number
  relayedBytes: number
  /** matched frames past their retention that no device has fetched yet (kept, never dropped) */
  unfetchedPastRetention: number
  /** relayed-only frames evicted since the store opened (relay quota or storage.max_messages) */
  evictedFrames: number
  /** relayed-only frames refused since the store opened: storage.max_messages reached by this node's users' mail */
  refusedFrames: number
}

export interface BucketUsageInfo { relayedBytes: number, relayedFrames: number, matchedFrames: number }

export class Store {
  /** libp2p's datastore (peer store, DHT records), in the `libp2p` sublevel of this database */
  readonly datastore: Datastore
  readonly retentionMs: number
  private readonly levelDatastore: LevelDatastore
  private readonly db: StoreDb
  private readonly lock: WriteLock
  private readonly frames: FrameState
  private readonly puts: FramePuts
  private readonly reads: FrameReads
  private readonly sweep: FrameSweep
  private readonly topics: TopicTable
  private readonly passports: PassportTable
  private readonly cursors: CursorTable
  /** frames acknowledged to a device and not yet stored (src/store/outgoing.ts) */
  readonly outgoing: OutgoingTable
  private closing: Promise<void> | undefined

  /** Use openStore(). */
  constructor (init: { db: StoreDb, datastore: LevelDatastore, lock: WriteLock, now: () => number, retentionMs: number, lastArrival: bigint, usage: BucketUsage, sync: boolean }) {
    this.db = init.db
    this.datastore = init.datastore
    this.levelDatastore = init.datastore
    this.lock = init.lock
    this.retentionMs = init.retentionMs
    this.frames = new FrameState({ ...init, filter: new SeenFilter(init.db, init.lock) })
    this.puts = new FramePuts(this.frames)
    this.reads = new FrameReads(this.frames)
    this.sweep = new FrameSweep(this.frames)
    this.topics = new TopicTable(init)
    this.passports = new PassportTable(init.db)
    this.cursors = new CursorTable(init.db)
    this.outgoing = new OutgoingTable(init.db, init.sync)
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

  /** Starts building the seen filter from the seen set and the frames in the background (openStore does). */
  buildHashFilter (): void {
    void this.frames.filter.rebuild()
  }

  /** Resolves once no seen filter is being built: lookups then skip LevelDB for new hashes. */
  async hashFilterIdle (): Promise<void> {
    await this.frames.filter.idle()
  }

  /**
   * Stores a frame relayed-only (within the bucket's quota, evicting that bucket's oldest
   * relayed-only frames) or, with `topic`, matched under it with the topic's next seq; a held
   * frame put with a new topic is promoted to matched. A hash already seen is not stored again.
   */
  async putFrame (rec: FrameRecord, opts: PutFrameOptions): Promise<PutFrameResult> {
    return await this.run('putFrame', async () => await this.puts.put(rec, opts))
  }

  /** The hash was put and its network expiry is still ahead (even when its bytes are gone). */
  async hasSeen (hash: Uint8Array): Promise<boolean> {
    return await this.run('hasSeen', async () => await this.reads.hasSeen(hash))
  }

  /** The frame is held: matched (until swept), or relayed-only before its network expiry. */
  async hasFrame (hash: Uint8Array): Promise<boolean> {
    return await this.run('hasFrame', async () => await this.reads.hasFrame(hash))
  }

  /** The held frames of `hashes`, in the same order (undefined where not held). */
  async getFrames (hashes: Uint8Array[]): Promise<Array<FrameRecord | undefined>> {
    return await this.run('getFrames', async () => await this.reads.getFrames(hashes))
  }

  /** A bucket's live frames in hours fromHour..toHour, by (hour, hash), after `after` (exclusive). */
  async inventory (bucket: number, o: InventoryOptions): Promise<InventoryResult> {
    return await this.run('inventory', async () => await this.reads.inventory(bucket, o))
  }

  /** Per non-empty hour of the bucket: count and SHA-256 over the sorted hashes of its live frames. */
  async hourDigests (bucket: number, fromHour: number, toHour: number, now?: number): Promise<HourDigest[]> {
    return await this.run('hourDigests', async () => await this.reads.hourDigests(bucket, fromHour, toHour, now))
  }

  /** One topic's matched frames with seq > after, in seq order. */
  async listMatched (topic: Uint8Array, o?: ListMatchedOptions): Promise<ListMatchedResult> {
    return await this.run('listMatched', async () => await this.reads.listMatched(topic, o))
  }

  /** Matched frames held, under one topic or under all. */
  async countMatched (topic?: Uint8Array): Promise<number> {
    return await this.run('countMatched', async () => await this.reads.countMatched(topic))
  }

  /** Devices have every frame of `topic` with seq <= upToSeq (monotonic). */
  async markFetched (topic: Uint8Array, upToSeq: bigint): Promise<void> {
    await this.run('markFetched', async () => { await this.sweep.markFetched(topic, upToSeq) })
  }

  /** Sweeps what is due at `now` (default: the store's clock): frames and seen entries. */
  async deleteExpired (now?: number): Promise<SweepResult> {
    return await this.run('deleteExpired', async () => await this.sweep.deleteExpired(now))
  }

  async bucketUsage (bucket: number): Promise<BucketUsageInfo> {
    return await this.run('bucketUsage', async () => {
      assertInteger(bucket, MAX_BUCKET, 'bucket')
      return await Promise.resolve(this.frames.usage.get(bucket))
    })
  }

  async status (): Promise<StoreStatus> {
    return await this.run('status', async () => {
      const t = this.frames.usage.totals()
      return {
        frames: t.relayedFrames + t.matchedFrames,
        matchedFrames: t.matchedFrames,
        relayedBytes: t.relayedBytes,
        unfetchedPastRetention: await this.sweep.countUnfetched(),
        evictedFrames: this.puts.evictedTotal,
        refusedFrames: this.puts.refusedTotal
      }
    })
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

/** Checks (or, in a new database, writes) the store format; returns the arrival counter. */
async function readMeta (db: StoreDb, path: string): Promise<bigint> {
  const format = await db.meta.get(META_FORMAT_KEY)
  if (format === undefined) {
    await db.meta.put(META_FORMAT_KEY, encodeFormatValue())
  } else {
    const version = decodeFormatValue(describeKey(SUBLEVELS.meta, META_FORMAT_KEY), format)
    if (version === STORE_FORMAT_V1) {
      throw new AsmtpError('STORE_ERROR', `the store at ${path} is from asmtp version 1 (store format 1, envelopes per topic); this version reads format ${STORE_FORMAT}: move the folder away or delete it`)
    }
    if (version !== STORE_FORMAT) {
      throw new AsmtpError('STORE_ERROR', `the store at ${path}: store format ${version} is not supported (this version reads format ${STORE_FORMAT})`)
    }
  }
  const raw = await db.meta.get(META_LAST_ARRIVAL_KEY)
  return raw === undefined ? 0n : decodeU64Value(describeKey(SUBLEVELS.meta, META_LAST_ARRIVAL_KEY), raw)
}

/** Opens (creating when missing) the store at init.path, including its libp2p datastore. */
export async function openStore (init: StoreInit): Promise<Store> {
  if (typeof init.path !== 'string' || init.path === '') throw new TypeError('path must be a non-empty string')
  const retentionMs = init.retentionMs ?? DEFAULT_RETENTION_MS
  if (!Number.isSafeInteger(retentionMs) || retentionMs <= 0) throw new RangeError('retentionMs must be a positive integer')
  const now = init.now ?? Date.now
  if (typeof now !== 'function') throw new TypeError('now must be a function')

  const db = createStoreDb(init.path, init.memory === true)
  try {
    await db.root.open()
  } catch (err) {
    throw storeError(`cannot open the store at ${init.path}`, err)
  }
  try {
    const lastArrival = await readMeta(db, init.path)
    const usage = await BucketUsage.load(db)
    // datastore-level 13 drives only get/put/del/batch/iterator of its Level: a sublevel behaves
    // the same (test/store.test.ts checks it through the interface-datastore API).
    const datastore = new CachedLevelDatastore(db.libp2p as unknown as Level<string, Uint8Array>)
    await datastore.open()
    const store = new Store({ db, datastore, lock: new WriteLock(), now, retentionMs, lastArrival, usage, sync: init.sync ?? true })
    store.buildHashFilter()
    return store
  } catch (err) {
    await db.root.close().catch(() => {})
    throw asStoreError(`cannot open the store at ${init.path}`, err)
  }
}
