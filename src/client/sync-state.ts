/**
 * What an account keeps about device sync and delivery (docs/CLIENT.md "Local files",
 * `sync-state.json`): device-sync records and receipts waiting for their random send time, the
 * conflict clocks of removed contacts, the batch ids already applied, unknown records kept
 * aside, delivery of sent mail, and read and deleted marks. A folder made before this file
 * existed starts with an empty one.
 */
import { AsmtpError } from '../errors.js'
import type { Paths } from './account-files.js'
import type { DeviceRecord } from './device-sync.js'
import { readIfExists, writeFileAtomic } from './folder.js'

export const SYNC_STATE_VERSION = 1
/** Applied batch ids remembered (replays older than that are still harmless: every record is idempotent). */
export const MAX_REMEMBERED_BATCHES = 10_000
export const MAX_UNKNOWN_RECORDS = 1000
/** Notes kept of messages that expired or were burnt (inbox shows them); the oldest go first. */
export const MAX_VANISHED_NOTES = 1000

/** What inbox says about a message that is gone: it expired (its TTL), or it was burnt after its first read. */
export interface VanishedNote {
  contact: string
  id: string
  alias: string
  direction: 'in' | 'out'
  /** The message's send time, when this device held it. */
  time: number | null
  reason: 'expired' | 'burnt'
  /** When it expired, or when it was read (ms). */
  at: number
}

export interface Delivery {
  /** When it was first sent (ms, account clock). */
  sentAt: number
  delivered: number | null
  resentAt: number | null
  failedAt: number | null
  /** This device sent it (only the sending device resends: it holds the body). */
  mine: boolean
}

export interface SyncStateFile {
  version: number
  pendingRecords: Array<{ due: number, record: DeviceRecord }>
  pendingReceipts: Array<{ due: number, contact: string, ids: string[] }>
  /** passport id -> conflict clock of its removal. */
  removed: Record<string, { at: number, by: string }>
  batches: string[]
  unknown: unknown[]
  /** `${contact}:${message id}` -> delivery of a message this passport sent. */
  delivery: Record<string, Delivery>
  /** `${contact}:${message id}` -> marks. */
  marks: Record<string, { read?: number, deleted?: number, burnt?: number }>
  /** `${contact}:${message id}` -> when the message's TTL ends (ms): the messages expiry.ts deletes. */
  expiries: Record<string, number>
  vanished: VanishedNote[]
}

export function emptySyncState (): SyncStateFile {
  return { version: SYNC_STATE_VERSION, pendingRecords: [], pendingReceipts: [], removed: {}, batches: [], unknown: [], delivery: {}, marks: {}, expiries: {}, vanished: [] }
}

export async function loadSyncState (paths: Paths): Promise<SyncStateFile> {
  const raw = await readIfExists(paths.syncState)
  if (raw === undefined) return emptySyncState()
  let doc: Partial<SyncStateFile>
  try {
    doc = JSON.parse(raw.toString('utf8')) as Partial<SyncStateFile>
  } catch (err) {
    throw new AsmtpError('STORE_ERROR', `${paths.syncState} is not valid JSON`, { cause: err })
  }
  if (typeof doc !== 'object' || doc === null || doc.version !== SYNC_STATE_VERSION) throw new AsmtpError('STORE_ERROR', `${paths.syncState} is corrupt or of an unknown version`)
  return { ...emptySyncState(), ...doc }
}

export async function saveSyncState (paths: Paths, s: SyncStateFile): Promise<void> {
  if (s.batches.length > MAX_REMEMBERED_BATCHES) s.batches = s.batches.slice(-MAX_REMEMBERED_BATCHES)
  if (s.unknown.length > MAX_UNKNOWN_RECORDS) s.unknown = s.unknown.slice(-MAX_UNKNOWN_RECORDS)
  if (s.vanished.length > MAX_VANISHED_NOTES) s.vanished = s.vanished.slice(-MAX_VANISHED_NOTES)
  await writeFileAtomic(paths.syncState, JSON.stringify(s) + '\n')
}

export const messageKey = (contact: string, id: string): string => `${contact}:${id}`
