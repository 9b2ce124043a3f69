/**
 * Catch-up v2 by inventory, `/asmtp/catchup/2.0.0`: protocol id, limits, status codes, message
 * shapes, and the store interface the responder reads (byte layouts in docs/PROTOCOL.md 4.3).
 */

export const CATCHUP_PROTOCOL = '/asmtp/catchup/2.0.0'
export const CATCHUP_VERSION = 2

/** A gossip frame: at most a 64 KiB envelope plus the 14-byte header (DESIGN.md "What travels"). */
export const MAX_FRAME_BYTES = 65536 + 14
export const HASH_BYTES = 32
/** Hours one SUMMARY may span (15 days: the frame lifetime and its slack). */
export const MAX_SUMMARY_HOURS = 24 * 15
/** Hashes per INVENTORY page and per FETCH request. */
export const MAX_PAGE_HASHES = 1024
/** Largest FETCH reply: the responder stops adding frames before it would pass this. */
export const MAX_FETCH_REPLY_BYTES = 4 * 1024 * 1024
/** Largest request: a FETCH of MAX_PAGE_HASHES hashes. */
export const MAX_REQUEST_BYTES = 2 + 2 + MAX_PAGE_HASHES * HASH_BYTES
export const MAX_REPLY_BYTES = MAX_FETCH_REPLY_BYTES
export const MAX_HOUR = 0xffffffff
export const MAX_BUCKET = 0xffff

export const REQUEST_SUMMARY = 1
export const REQUEST_INVENTORY = 2
export const REQUEST_FETCH = 3

export const STATUS_OK = 0
export const STATUS_UNKNOWN_BUCKET = 1
export const STATUS_BUSY = 2
export const STATUS_BUDGET = 3
export const STATUS_BAD_REQUEST = 4

export type CatchupStatus = 'ok' | 'unknown-bucket' | 'busy' | 'budget' | 'bad-request'
/** Every status but OK: the reply is that one byte and the responder then closes the stream. */
export type RefusalStatus = Exclude<CatchupStatus, 'ok'>

export const STATUS_CODES: Record<CatchupStatus, number> = {
  ok: STATUS_OK,
  'unknown-bucket': STATUS_UNKNOWN_BUCKET,
  busy: STATUS_BUSY,
  budget: STATUS_BUDGET,
  'bad-request': STATUS_BAD_REQUEST
}

export interface SummaryRequest { type: 'summary', bucket: number, fromHour: number, toHour: number }
/** `after` all zero = from the start of the hour's hashes. */
export interface InventoryRequest { type: 'inventory', bucket: number, hour: number, after: Uint8Array, limit: number }
/** `hashes` strictly ascending. */
export interface FetchRequest { type: 'fetch', hashes: Uint8Array[] }
export type CatchupRequest = SummaryRequest | InventoryRequest | FetchRequest

export interface HourDigest { hour: number, count: number, digest: Uint8Array }
export interface SummaryReply { status: 'ok', hours: HourDigest[] }
export interface InventoryReply { status: 'ok', hashes: Uint8Array[], more: boolean }
export interface FetchedFrame { hash: Uint8Array, frame: Uint8Array }
/** `served`: how many of the asked hashes, from the first, the responder dealt with. */
export interface FetchReply { status: 'ok', served: number, frames: FetchedFrame[] }
export interface Refusal { status: RefusalStatus }

/** The node's store, as the responder reads it (the real store has exactly these methods). */
export interface CatchupSource {
  carries: (bucket: number) => boolean
  /** per non-empty hour in [fromHour, toHour]: its frame count and SHA-256 of its sorted hashes */
  hourDigests: (bucket: number, fromHour: number, toHour: number) => Promise<HourDigest[]>
  /** hashes ordered by (hour, hash), those after `after` only, at most `limit` */
  inventory: (bucket: number, o: { fromHour: number, toHour: number, after?: { hour: number, hash: Uint8Array }, limit: number }) => Promise<{ items: Array<{ hour: number, hash: Uint8Array }>, more: boolean }>
  /** aligned with `hashes`; undefined where the frame is not held */
  getFrames: (hashes: Uint8Array[]) => Promise<Array<{ frame: Uint8Array, expiresAt?: number } | undefined>>
}
