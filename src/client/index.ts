/** The mail client library (docs/CLIENT.md "The library"): accounts, and the codecs and topic logic under them. */
export * from './file-chunks.js'
export * from './passport-update.js'
export * from './mailbox.js'
export * from './seal.js'
export * from './self-topic.js'
export * from './device-sync.js'
export * from './receipts.js'
export { TEXT_CONTENT_TYPE, type SyncReport, type Rejection } from './session.js'
export { FRAME_LIFETIME_MS, type Progress } from './session-out.js'
export type { MessageRecord, FileRecord } from './mail-store.js'
export type { SendContent } from './send.js'
export { parseHostPort, type RemoteOptions } from './remote.js'
export { LOCK_WAIT_MS, writeFileAtomic } from './folder.js'
export { WATCH_FULL_SYNC_MS, type WatchEvent, type AccountWatchOptions } from './watch.js'
export {
  Account, DEFAULT_RECORD_DELAY_MS, DEFAULT_SETTLE_MS,
  type AccountInit, type CreateAccountInit, type ContactInfo, type DeliveryStatus, type Identity, type InboxFilter, type InboxMessage,
  type OperationOptions, type ProgressOptions, type SendOptions
} from './account.js'
export { TTL_CLASS_OF, ttlClassOf, messageExpiry, type TtlName, type SendMode } from './expiry.js'
export type { VanishedNote } from './sync-state.js'
export { Spool, runSpool, spoolPaths, isSpoolable, SPOOL_POLL_MS, type SpoolInit, type SpoolEvent, type SpoolPaths } from './spool.js'
