/**
 * The in-memory Bloom filter in front of the seen set and the frame headers (docs/STORAGE.md,
 * "Replay filter"): every hash with a `seen` entry or a held frame is in it, so "certainly not
 * there" answers let puts and hasSeen/hasFrame skip a LevelDB read for a new hash. It is built
 * from both sublevels in the background at open; until then every hash is looked up.
 */
import type { StoreDb } from './db.js'
import type { WriteLock } from './write-lock.js'
import { HASH_FILTER_MIN_CAPACITY, HashFilter } from './hash-filter.js'

export class SeenFilter {
  /** every seen or held hash is in it (once built) */
  private filter: HashFilter | undefined
  /** the next filter while it is built; puts meanwhile go into both */
  private building: HashFilter | undefined
  private rebuilding: Promise<void> | undefined

  constructor (private readonly db: StoreDb, private readonly lock: WriteLock) {}

  /** false: certainly neither seen nor held. */
  mayHave (hash: Uint8Array): boolean {
    return this.filter === undefined || this.filter.mayHave(hash)
  }

  add (hash: Uint8Array): void {
    this.filter?.add(hash)
    this.building?.add(hash)
    if (this.filter?.full === true) void this.rebuild(2 * this.filter.added)
  }

  /**
   * Builds a new filter from `seen` and `frames` and switches to it when done. The iterators
   * are created under the write lock, so their snapshots hold every committed put, and every
   * later put also goes into the filter being built: no hash is ever missing from the one in use.
   */
  rebuild (capacity = HASH_FILTER_MIN_CAPACITY): Promise<void> {
    this.rebuilding ??= (async () => {
      try {
        let size = capacity
        // a filter sized too small is used at once (it is complete, only less selective) and
        // built again at twice what it holds
        for (let attempt = 0; attempt < 4; attempt++) {
          const next = new HashFilter(size)
          const iterators = await this.lock.run(() => {
            this.building = next
            return [this.db.seen.keys(), this.db.frames.keys()]
          })
          try {
            for (const keys of iterators) {
              for await (const key of keys) next.add(key)
            }
          } finally {
            for (const keys of iterators) await keys.close()
          }
          this.filter = next
          this.building = undefined
          if (!next.full) return
          size = 2 * next.added
        }
      } catch {
        // the store closed meanwhile; every hash is looked up as before
      } finally {
        this.building = undefined
        this.rebuilding = undefined
      }
    })()
    return this.rebuilding
  }

  /** Resolves once no filter is being built. */
  async idle (): Promise<void> {
    await this.rebuilding
  }
}
