/**
 * The asking side of catch-up v2 on one outbound stream: SUMMARY of the hours, INVENTORY pages of
 * the hours whose digest differs from ours, FETCH of the hashes we lack, each frame handed to
 * `accept` (the node's gossip checks). Every read has a timeout, the run a byte bound. What the
 * peer does wrong ends the run with `complete: false` and a `stopped` reason; only the caller's
 * own failures (a throwing callback) and its abort signal (ABORTED) reject.
 */
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import debug from 'debug'
import { AsmtpError } from '../../errors.js'
import { decodeFetchReply, decodeInventoryReply, decodeSummaryReply, encodeRequest } from './codec.js'
import {
  HASH_BYTES, MAX_BUCKET, MAX_HOUR, MAX_PAGE_HASHES, MAX_REPLY_BYTES, MAX_SUMMARY_HOURS,
  type CatchupRequest, type CatchupSource, type FetchReply, type HourDigest, type InventoryReply, type Refusal,
  type RefusalStatus, type SummaryReply
} from './protocol.js'

const log = debug('asmtp:catchup')

export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
export const DEFAULT_REQUESTER_TIMEOUT_MS = 10_000
/** Frames of one FETCH reply checked and stored at once. */
export const ACCEPT_WINDOW = 64

export type AcceptResult = 'stored' | 'duplicate' | 'invalid'

/** Why a run ended before it was complete. */
export type CatchupStop = RefusalStatus | 'max-bytes' | 'invalid-frame' | 'protocol' | 'timeout' | 'closed'

export interface CatchUpBucketInit {
  /** an open `/asmtp/catchup/2.0.0` stream; the run owns it and closes it */
  stream: Stream
  bucket: number
  fromHour: number
  toHour: number
  local: Pick<CatchupSource, 'hourDigests'> & { has: (hashes: Uint8Array[]) => Promise<boolean[]> }
  accept: (frame: Uint8Array) => Promise<AcceptResult>
  /** reply bytes after which no further request is sent (one reply may pass it). @default 64 MiB */
  maxBytes?: number
  /** bound on each request's write and its reply's read. @default 10000 */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface CatchUpResult {
  hoursDiffering: number
  /** hashes the peer listed in the differing hours */
  offered: number
  fetched: number
  stored: number
  invalid: number
  /** reply bytes received */
  bytes: number
  complete: boolean
  requests: number
  stopped?: CatchupStop
}

class Stop extends Error {
  constructor (readonly reason: CatchupStop, message: string, readonly graceful = false) {
    super(message)
  }
}

function checkInit (init: CatchUpBucketInit): void {
  const int = (v: number, max: number, what: string): void => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} must be an integer in [0, ${max}], got ${v}`)
  }
  int(init.bucket, MAX_BUCKET, 'bucket')
  int(init.fromHour, MAX_HOUR, 'fromHour')
  int(init.toHour, MAX_HOUR, 'toHour')
  if (init.toHour < init.fromHour) throw new RangeError('toHour before fromHour')
}

function sameDigest (a: HourDigest | undefined, b: HourDigest): boolean {
  return a !== undefined && a.count === b.count && Buffer.compare(a.digest, b.digest) === 0
}

export async function catchUpBucket (init: CatchUpBucketInit): Promise<CatchUpResult> {
  checkInit(init)
  const { stream, bucket, local, accept, signal } = init
  const maxBytes = init.maxBytes ?? DEFAULT_MAX_BYTES
  const timeoutMs = init.timeoutMs ?? DEFAULT_REQUESTER_TIMEOUT_MS
  const lp = lpStream(stream, { maxDataLength: MAX_REPLY_BYTES, maxBufferSize: MAX_REPLY_BYTES + 16 })
  const result: CatchUpResult = { hoursDiffering: 0, offered: 0, fetched: 0, stored: 0, invalid: 0, bytes: 0, complete: false, requests: 0 }

  async function exchange (req: CatchupRequest): Promise<Uint8Array> {
    if (result.requests > 0 && result.bytes >= maxBytes) throw new Stop('max-bytes', `${result.bytes} bytes received, the run's bound is ${maxBytes}`, true)
    const timeout = AbortSignal.timeout(timeoutMs)
    const s = signal === undefined ? timeout : AbortSignal.any([timeout, signal])
    result.requests++
    try {
      await lp.write(encodeRequest(req), { signal: s })
      const reply = (await lp.read({ signal: s })).subarray()
      result.bytes += reply.length
      return reply
    } catch (err) {
      if (signal?.aborted === true) throw err
      if (timeout.aborted) throw new Stop('timeout', `no ${req.type.toUpperCase()} reply within ${timeoutMs} ms`)
      throw new Stop('closed', `catch-up stream failed: ${(err as Error).message}`)
    }
  }

  function decoded<T> (decode: () => T | Refusal): T {
    let reply: T | Refusal
    try {
      reply = decode()
    } catch (err) {
      if (!(err instanceof AsmtpError)) throw err
      if (err.code === 'CATCHUP_UNASKED_FRAME') result.invalid++
      throw new Stop('protocol', `${err.code}: ${err.message}`)
    }
    const status = (reply as { status: string }).status
    if (status !== 'ok') throw new Stop(status as RefusalStatus, `peer refused: ${status}`, true)
    return reply as T
  }

  /** Hands `frames` to `accept`, at most ACCEPT_WINDOW at a time (so the store commits them in groups). */
  async function acceptAll (frames: FetchReply['frames']): Promise<void> {
    let next = 0
    let bad = false
    const worker = async (): Promise<void> => {
      while (next < frames.length && !bad) {
        const f = frames[next++]
        signal?.throwIfAborted()
        result.fetched++
        const verdict = await accept(f.frame)
        if (verdict === 'stored') result.stored++
        else if (verdict === 'invalid') {
          result.invalid++
          bad = true
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(ACCEPT_WINDOW, frames.length) }, worker))
    if (bad) throw new Stop('invalid-frame', 'peer sent a frame that fails the gossip checks')
  }

  /** FETCHes `hashes` in as many replies as the peer needs; the next request is in flight while a reply's frames are checked. */
  async function fetchAll (hashes: Uint8Array[]): Promise<void> {
    const ask = (pending: Uint8Array[]): { req: CatchupRequest & { type: 'fetch' }, raw: Promise<Uint8Array> } => {
      const req = { type: 'fetch' as const, hashes: pending }
      return { req, raw: exchange(req) }
    }
    let current = ask(hashes)
    for (;;) {
      const raw = await current.raw
      const reply = decoded<FetchReply>(() => decodeFetchReply(raw, current.req))
      const rest = current.req.hashes.slice(reply.served)
      let following: ReturnType<typeof ask> | undefined
      if (rest.length > 0) {
        following = ask(rest)
        // a failure of the next exchange surfaces when it is awaited; never unhandled meanwhile
        following.raw.catch(() => {})
      }
      await acceptAll(reply.frames)
      if (following === undefined) return
      current = following
    }
  }

  async function hour (h: number): Promise<void> {
    let after: Uint8Array = new Uint8Array(HASH_BYTES)
    for (;;) {
      const req = { type: 'inventory' as const, bucket, hour: h, after, limit: MAX_PAGE_HASHES }
      const raw = await exchange(req)
      const page = decoded<InventoryReply>(() => decodeInventoryReply(raw, req))
      result.offered += page.hashes.length
      if (page.hashes.length > 0) {
        const held = await local.has(page.hashes)
        const missing = page.hashes.filter((_h, i) => held[i] !== true)
        if (missing.length > 0) await fetchAll(missing)
        after = page.hashes[page.hashes.length - 1]
      }
      if (!page.more) return
    }
  }

  try {
    for (let from = init.fromHour; from <= init.toHour; from += MAX_SUMMARY_HOURS) {
      const to = Math.min(init.toHour, from + MAX_SUMMARY_HOURS - 1)
      const req = { type: 'summary' as const, bucket, fromHour: from, toHour: to }
      const raw = await exchange(req)
      const summary = decoded<SummaryReply>(() => decodeSummaryReply(raw, req))
      const mine = new Map((await local.hourDigests(bucket, from, to)).map(h => [h.hour, h]))
      const differing = summary.hours.filter(h => !sameDigest(mine.get(h.hour), h))
      result.hoursDiffering += differing.length
      for (const h of differing) await hour(h.hour)
    }
    result.complete = true
    await stream.close({ signal: AbortSignal.timeout(timeoutMs) }).catch((err: unknown) => { stream.abort(err as Error) })
    return result
  } catch (err) {
    if (signal?.aborted === true) {
      stream.abort(new Error('catch-up aborted'))
      throw new AsmtpError('ABORTED', 'catch-up aborted', { cause: err })
    }
    if (!(err instanceof Stop)) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
    log('catch-up of bucket %d stopped: %s', bucket, err.message)
    result.stopped = err.reason
    if (err.graceful) await stream.close({ signal: AbortSignal.timeout(timeoutMs) }).catch((e: unknown) => { stream.abort(e as Error) })
    else stream.abort(err)
    return result
  }
}
