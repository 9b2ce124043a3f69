/** The node's LevelDB store (docs/STORAGE.md). */
export { openStore, Store, DEFAULT_RETENTION_MS, type StoreInit } from './store.js'
export {
  LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, MAX_STORED_ENVELOPE_BYTES,
  type StoredEnvelope, type PutEnvelopeResult, type ListEnvelopesOptions, type ListEnvelopesResult
} from './envelopes.js'
export type { RegisteredTopic } from './topics.js'
export { SUBLEVELS } from './keys.js'
