/**
 * The one LevelDB of a node (level 10 / classic-level) and its sublevels (docs/STORAGE.md).
 * Binary sublevels use the 'view' encoding (Uint8Array keys and values); names and the libp2p
 * datastore use 'utf8' keys. RAM-only mode (`storage.memory`) puts the same sublevels in a
 * memory-level database instead: the same abstract-level API, nothing on disk.
 */
import { Level, type BatchOperation } from 'level'
import { MemoryLevel } from 'memory-level'
import { SUBLEVELS } from './keys.js'

export type RootDb = Level<Uint8Array, Uint8Array>
/** One operation of an array batch on the root, usually naming the sublevel it belongs to. */
export type RootBatchOp = BatchOperation<RootDb, Uint8Array | string, Uint8Array>

function binary (root: RootDb, name: string) {
  return root.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
}

function named (root: RootDb, name: string) {
  return root.sublevel<string, Uint8Array>(name, { keyEncoding: 'utf8', valueEncoding: 'view' })
}

export type BinarySublevel = ReturnType<typeof binary>
export type NamedSublevel = ReturnType<typeof named>

export interface StoreDb {
  root: RootDb
  meta: NamedSublevel
  frames: BinarySublevel
  frameData: BinarySublevel
  inventory: BinarySublevel
  relayOrder: BinarySublevel
  matched: BinarySublevel
  unfetched: BinarySublevel
  expiry: BinarySublevel
  seen: BinarySublevel
  bucketUsage: BinarySublevel
  topicSeq: BinarySublevel
  fetched: BinarySublevel
  topics: BinarySublevel
  passports: BinarySublevel
  cursors: NamedSublevel
  outgoing: BinarySublevel
  libp2p: NamedSublevel
}

/** The node's database at `path` on disk, or in memory (`path` then only names it in messages). */
export function createStoreDb (path: string, memory = false): StoreDb {
  const options = { keyEncoding: 'view', valueEncoding: 'view' } as const
  // memory-level and classic-level share abstract-level 3: one type serves both
  const root: RootDb = memory
    ? new MemoryLevel<Uint8Array, Uint8Array>(options) as unknown as RootDb
    : new Level<Uint8Array, Uint8Array>(path, options)
  return {
    root,
    meta: named(root, SUBLEVELS.meta),
    frames: binary(root, SUBLEVELS.frames),
    frameData: binary(root, SUBLEVELS.frameData),
    inventory: binary(root, SUBLEVELS.inventory),
    relayOrder: binary(root, SUBLEVELS.relayOrder),
    matched: binary(root, SUBLEVELS.matched),
    unfetched: binary(root, SUBLEVELS.unfetched),
    expiry: binary(root, SUBLEVELS.expiry),
    seen: binary(root, SUBLEVELS.seen),
    bucketUsage: binary(root, SUBLEVELS.bucketUsage),
    topicSeq: binary(root, SUBLEVELS.topicSeq),
    fetched: binary(root, SUBLEVELS.fetched),
    topics: binary(root, SUBLEVELS.topics),
    passports: binary(root, SUBLEVELS.passports),
    cursors: named(root, SUBLEVELS.cursors),
    outgoing: binary(root, SUBLEVELS.outgoing),
    libp2p: named(root, SUBLEVELS.libp2p)
  }
}
