/** The node's LevelDB store (docs/STORAGE.md). */
export {
  openStore, Store, DEFAULT_RETENTION_MS, type StoreInit, type StoreStatus, type BucketUsageInfo
} from './store.js'
export type { FrameRecord } from './frame-state.js'
export { PUT_GROUP_MAX, type PutFrameOptions, type PutFrameResult } from './frame-put.js'
export {
  LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, INVENTORY_MAX_LIMIT,
  type StoredEnvelope, type ListMatchedOptions, type ListMatchedResult, type InventoryOptions, type InventoryItem,
  type InventoryResult, type HourDigest
} from './frame-reads.js'
export { EXPIRY_SWEEP_BATCH, type SweepResult } from './frame-sweep.js'
export { MAX_STORED_FRAME_BYTES } from './frame-values.js'
export type { RegisteredTopic } from './topics.js'
export { SUBLEVELS } from './keys.js'
export { MAX_OUTGOING, OutgoingTable, decodeOutgoing, encodeOutgoing, type OutgoingFrame } from './outgoing.js'
