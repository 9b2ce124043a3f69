/**
 * libp2p's datastore (peer store, DHT records) in LevelDB, with a cache in memory in front of
 * it. The peer store and the DHT read and rewrite the same few hundred records over and over:
 * every DHT request a node answers reads the 20 peers closest to the key, and every answer it
 * gets merges 20 peers into its peer store, which rewrites each record (its addresses carry the
 * time they were last seen). Straight to LevelDB that was the largest single cost of a node
 * during rendezvous (docs/PERFORMANCE.md).
 *
 * So reads are answered from memory when they can be (misses too), and writes land in memory at
 * once and reach LevelDB in one batch at most FLUSH_DELAY_MS later, many rewrites of one record
 * becoming one. This is libp2p's own state: a crash loses at most the last second of peer
 * addresses and DHT records, which the network gives back; mail and the node's own data are not
 * kept here. A query (rare: listing the peer store at start) flushes first.
 */
import { LevelDatastore } from 'datastore-level'
import { Key, type Batch, type Pair, type Query, type KeyQuery } from 'interface-datastore'
import { NotFoundError } from 'interface-store'
import createDebug from 'debug'

const log = createDebug('asmtp:store:datastore')

interface AbortOptions { signal?: AbortSignal }

/** Clean entries kept in memory (values and misses); the oldest go first. */
export const DATASTORE_CACHE_ENTRIES = 20_000
/** The longest a write waits in memory before it reaches LevelDB. */
export const FLUSH_DELAY_MS = 1_000

const MISSING = null
type Entry = Uint8Array | typeof MISSING

export class CachedLevelDatastore extends LevelDatastore {
  /** values as on disk (or known missing) */
  private readonly clean = new Map<string, Entry>()
  /** writes not yet on disk, newest value per key */
  private dirty = new Map<string, Entry>()
  private flushTimer?: NodeJS.Timeout
  private flushing: Promise<void> = Promise.resolve()

  /** Reads answered from memory, and batches written (for tests). */
  readonly counters = { hits: 0, flushes: 0 }

  private remember (key: string, value: Entry): void {
    if (this.clean.size >= DATASTORE_CACHE_ENTRIES && !this.clean.has(key)) {
      const oldest = this.clean.keys().next()
      if (oldest.done !== true) this.clean.delete(oldest.value)
    }
    this.clean.set(key, value)
  }

  private cached (key: string): Entry | undefined {
    const d = this.dirty.get(key)
    if (d !== undefined) return d
    return this.clean.get(key)
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    const hit = this.cached(k)
    if (hit !== undefined) {
      this.counters.hits++
      if (hit === MISSING) throw new NotFoundError()
      return hit
    }
    options?.signal?.throwIfAborted()
    try {
      const value = await super.get(key, options)
      // a write may have come while LevelDB answered: memory keeps the newer value
      if (this.cached(k) === undefined) this.remember(k, value)
      return value
    } catch (err) {
      if ((err as Error).name === 'NotFoundError' && this.cached(k) === undefined) this.remember(k, MISSING)
      throw err
    }
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    try {
      await this.get(key, options)
      return true
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return false
      throw err
    }
  }

  private write (key: string, value: Entry): void {
    this.clean.delete(key)
    this.dirty.set(key, value)
    if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined
        void this.flush().catch((err: Error) => { log.extend('error')('writing the libp2p datastore failed: %s', err.message) })
      }, FLUSH_DELAY_MS)
    }
  }

  /** A write to memory, as a promise (rejected when the signal has already aborted). */
  private writeNow<T> (options: AbortOptions | undefined, ops: Array<[string, Entry]>, result: T): Promise<T> {
    try {
      options?.signal?.throwIfAborted()
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    for (const [k, v] of ops) this.write(k, v)
    return Promise.resolve(result)
  }

  override put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    return this.writeNow(options, [[key.toString(), value]], key)
  }

  override delete (key: Key, options?: AbortOptions): Promise<void> {
    return this.writeNow(options, [[key.toString(), MISSING]], undefined)
  }

  override batch (): Batch {
    const ops: Array<[string, Entry]> = []
    return {
      put: (key: Key, value: Uint8Array) => { ops.push([key.toString(), value]) },
      delete: (key: Key) => { ops.push([key.toString(), MISSING]) },
      commit: async (options?: AbortOptions) => { await this.writeNow(options, ops, undefined) }
    }
  }

  /** Writes every pending write to LevelDB in one batch; resolves when it is there. */
  async flush (): Promise<void> {
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const run = async (): Promise<void> => {
      if (this.dirty.size === 0) return
      const pending = this.dirty
      this.dirty = new Map()
      const b = super.batch()
      for (const [k, v] of pending) {
        if (v === MISSING) b.delete(new Key(k))
        else b.put(new Key(k), v)
      }
      try {
        await b.commit()
      } catch (err) {
        // keep what was not overwritten since, for the next flush
        for (const [k, v] of pending) if (!this.dirty.has(k)) this.dirty.set(k, v)
        throw err
      }
      this.counters.flushes++
      for (const [k, v] of pending) if (!this.dirty.has(k)) this.remember(k, v)
    }
    this.flushing = this.flushing.catch(() => {}).then(run)
    await this.flushing
  }

  override async * query (q: Query, options?: AbortOptions): AsyncGenerator<Pair> {
    await this.flush()
    yield * super.query(q, options)
  }

  override async * queryKeys (q: KeyQuery, options?: AbortOptions): AsyncGenerator<Key> {
    await this.flush()
    yield * super.queryKeys(q, options)
  }

  override async close (): Promise<void> {
    await this.flush()
    this.clean.clear()
    await super.close()
  }
}
