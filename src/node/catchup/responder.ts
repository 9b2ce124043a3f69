/**
 * The serving side of catch-up v2: answers SUMMARY, INVENTORY and FETCH requests on one inbound
 * stream from the node's store, within a per-peer byte budget and a bound on concurrent streams.
 * Replies are sorted by hour and hash, whatever order the store returns, and carry nothing about
 * when or in which order the frames arrived. A refusal (any status but OK) ends the stream; a
 * request that does not decode gets BAD_REQUEST and its stream closed.
 */
import { lpStream } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'
import debug from 'debug'
import { compareBytes, equalBytes } from '../../bytes.js'
import { sha256 } from '../../crypto/hash.js'
import { AsmtpError } from '../../errors.js'
import { ByteBudget } from './budget.js'
import { decodeRequest, encodeFetchReply, encodeInventoryReply, encodeRefusal, encodeSummaryReply, fetchReplySize } from './codec.js'
import {
  HASH_BYTES, MAX_FETCH_REPLY_BYTES, MAX_FRAME_BYTES, MAX_REQUEST_BYTES,
  type CatchupRequest, type CatchupSource, type FetchRequest, type HourDigest, type InventoryRequest, type RefusalStatus, type SummaryRequest
} from './protocol.js'

const log = debug('asmtp:catchup')

export const DEFAULT_BUDGET_BYTES_PER_MINUTE = 64 * 1024 * 1024
export const DEFAULT_MAX_CONCURRENT = 8
export const DEFAULT_RESPONDER_TIMEOUT_MS = 30_000
/** Frames read from the store at a time while a FETCH reply fills (bounds memory to ~4 MiB). */
const GET_FRAMES_CHUNK = 64

export interface CatchupResponderInit {
  source: CatchupSource
  /** @default 64 MiB */
  budgetBytesPerMinute?: number
  /** inbound catch-up streams served at once, over all peers; others get BUSY. @default 8 */
  maxConcurrent?: number
  /** bound on each wait for a request and on each reply write. @default 30000 */
  timeoutMs?: number
  now?: () => number
}

export interface CatchupResponderStats {
  requests: { summary: number, inventory: number, fetch: number }
  refused: Record<RefusalStatus, number>
  bytesServed: number
  framesServed: number
  largestReplyBytes: number
  active: number
}

export interface CatchupResponder {
  handle: (stream: Stream, connection: Connection) => Promise<void>
  stats: () => CatchupResponderStats
}

type Answer = { reply: Uint8Array, frames: number } | { refusal: RefusalStatus }

function isEndOfStream (err: unknown): boolean {
  return err instanceof Error && err.name === 'UnexpectedEOFError'
}

export function createCatchupResponder (init: CatchupResponderInit): CatchupResponder {
  const source = init.source
  const now = init.now ?? Date.now
  const budget = new ByteBudget({ bytesPerMinute: init.budgetBytesPerMinute ?? DEFAULT_BUDGET_BYTES_PER_MINUTE, now: init.now })
  const maxConcurrent = init.maxConcurrent ?? DEFAULT_MAX_CONCURRENT
  const timeoutMs = init.timeoutMs ?? DEFAULT_RESPONDER_TIMEOUT_MS
  const stats: CatchupResponderStats = {
    requests: { summary: 0, inventory: 0, fetch: 0 },
    refused: { 'unknown-bucket': 0, busy: 0, budget: 0, 'bad-request': 0 },
    bytesServed: 0,
    framesServed: 0,
    largestReplyBytes: 0,
    active: 0
  }

  function charge (peer: string, reply: Uint8Array, frames = 0): Answer {
    return budget.take(peer, reply.length) ? { reply, frames } : { refusal: 'budget' }
  }

  async function summary (peer: string, req: SummaryRequest): Promise<Answer> {
    if (!source.carries(req.bucket)) return { refusal: 'unknown-bucket' }
    const byHour = new Map<number, HourDigest>()
    for (const h of await source.hourDigests(req.bucket, req.fromHour, req.toHour)) {
      if (h.hour >= req.fromHour && h.hour <= req.toHour && h.count > 0 && h.digest.length === HASH_BYTES) byHour.set(h.hour, h)
    }
    return charge(peer, encodeSummaryReply([...byHour.values()].sort((a, b) => a.hour - b.hour)))
  }

  async function inventory (peer: string, req: InventoryRequest): Promise<Answer> {
    if (!source.carries(req.bucket)) return { refusal: 'unknown-bucket' }
    const fromStart = req.after.every(b => b === 0)
    const page = await source.inventory(req.bucket, {
      fromHour: req.hour,
      toHour: req.hour,
      ...(fromStart ? {} : { after: { hour: req.hour, hash: req.after } }),
      limit: req.limit
    })
    const hashes = page.items
      .filter(i => i.hour === req.hour && i.hash.length === HASH_BYTES && compareBytes(i.hash, req.after) > 0)
      .map(i => i.hash)
      .sort(compareBytes)
      .filter((h, i, all) => i === 0 || compareBytes(all[i - 1], h) !== 0)
    const truncated = hashes.length > req.limit
    if (truncated) hashes.length = req.limit
    return charge(peer, encodeInventoryReply(hashes, hashes.length > 0 && (page.more || truncated)))
  }

  async function fetch (peer: string, req: FetchRequest): Promise<Answer> {
    const cap = Math.min(MAX_FETCH_REPLY_BYTES, budget.available(peer))
    const frames: Uint8Array[] = []
    let size = fetchReplySize([])
    let served = 0
    fill: for (let start = 0; start < req.hashes.length; start += GET_FRAMES_CHUNK) {
      const asked = req.hashes.slice(start, start + GET_FRAMES_CHUNK)
      const held = await source.getFrames(asked)
      for (let i = 0; i < asked.length; i++) {
        const rec = held[i]
        // a matched frame stays held past its network expiry; nobody else may have it after that
        const frame = rec !== undefined && (rec.expiresAt === undefined || rec.expiresAt > now()) ? rec.frame : undefined
        if (frame !== undefined && frame.length > 0 && frame.length <= MAX_FRAME_BYTES && equalBytes(sha256(frame), asked[i])) {
          if (size + 4 + frame.length > cap) break fill
          frames.push(frame)
          size += 4 + frame.length
        }
        served++
      }
    }
    if (served === 0) return { refusal: 'budget' }
    return charge(peer, encodeFetchReply(served, frames), frames.length)
  }

  async function answer (peer: string, req: CatchupRequest): Promise<Answer> {
    stats.requests[req.type]++
    switch (req.type) {
      case 'summary': return await summary(peer, req)
      case 'inventory': return await inventory(peer, req)
      case 'fetch': return await fetch(peer, req)
    }
  }

  async function refuse (stream: Stream, lp: ReturnType<typeof lpStream>, status: RefusalStatus): Promise<void> {
    stats.refused[status]++
    const signal = AbortSignal.timeout(timeoutMs)
    await lp.write(encodeRefusal(status), { signal })
    await stream.close({ signal })
  }

  async function handle (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES, maxBufferSize: 4 * MAX_REQUEST_BYTES })
    if (stats.active >= maxConcurrent) {
      await refuse(stream, lp, 'busy').catch((err: unknown) => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
      return
    }
    stats.active++
    try {
      for (;;) {
        let raw: Uint8Array
        try {
          raw = (await lp.read({ signal: AbortSignal.timeout(timeoutMs) })).subarray()
        } catch (err) {
          if (isEndOfStream(err)) break
          throw err
        }
        let req: CatchupRequest
        try {
          req = decodeRequest(raw)
        } catch (err) {
          if (!(err instanceof AsmtpError)) throw err
          log('bad catch-up request from %s: %s', peer, err.message)
          await refuse(stream, lp, 'bad-request')
          return
        }
        const a = await answer(peer, req)
        if ('refusal' in a) {
          await refuse(stream, lp, a.refusal)
          return
        }
        await lp.write(a.reply, { signal: AbortSignal.timeout(timeoutMs) })
        stats.bytesServed += a.reply.length
        stats.framesServed += a.frames
        stats.largestReplyBytes = Math.max(stats.largestReplyBytes, a.reply.length)
      }
      await stream.close({ signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      log('catch-up stream from %s ended: %s', peer, (err as Error).message)
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      stats.active--
    }
  }

  return { handle, stats: () => structuredClone(stats) }
}
