/**
 * `watch` (docs/CLIENT.md "watch"): a full sync, then one connection that the node pushes new
 * envelopes on, as an async iterator that ends when the caller's signal aborts. Each push is
 * handled under the folder's lock, so other operations on the folder run in between; a full
 * sync runs every `fullSyncMs`, due records and receipts go out on time, and a lost connection
 * is made again with a growing delay.
 */
import { toHex } from '../bytes.js'
import type { ClientConnection } from '../channel/index.js'
import { AsmtpError } from '../errors.js'
import type { Account } from './account.js'
import { saveContext } from './context.js'
import type { MessageRecord } from './mail-store.js'
import { MailSession, type SyncReport } from './session.js'

export const WATCH_FULL_SYNC_MS = 60_000
const FLUSH_CHECK_MS = 1000
const RECONNECT_MIN_MS = 1000
const RECONNECT_MAX_MS = 30_000
const MAX_QUEUED_EVENTS = 10_000

export interface AccountWatchOptions {
  signal: AbortSignal
  /** @default 60000 */
  fullSyncMs?: number
  /** Longest wait between two reconnection attempts (ms). @default 30000 */
  reconnectMaxMs?: number
}

export type WatchEvent =
  /** Watching: after the first sync, and again after each reconnection. */
  | { type: 'connected' }
  | { type: 'message', message: MessageRecord }
  /** What one step (a full sync, or a push) did, messages included. */
  | { type: 'report', report: SyncReport }
  /** A step failed; watching goes on. */
  | { type: 'error', error: Error }
  | { type: 'disconnected', error: Error | null, retryInMs: number }

async function pause (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

export async function * watchAccount (account: Account, opts: AccountWatchOptions): AsyncGenerator<WatchEvent> {
  const { signal } = opts
  const queue: WatchEvent[] = []
  let wake: (() => void) | null = null
  const emit = (e: WatchEvent): void => {
    if (queue.length < MAX_QUEUED_EVENTS) queue.push(e)
    wake?.()
  }
  const onAbort = (): void => { wake?.() }
  signal.addEventListener('abort', onAbort)
  let first = true
  let backoff = RECONNECT_MIN_MS
  const maxBackoff = opts.reconnectMaxMs ?? RECONNECT_MAX_MS
  try {
    while (!signal.aborted) {
      let conn: ClientConnection
      const unit = async (work: (s: MailSession) => Promise<void>): Promise<void> => {
        await account.locked(async (ctx) => {
          const session = new MailSession(ctx, conn, account.sessionOptions(account.remoteFor(ctx), { signal }))
          await session.load()
          await work(session)
          await saveContext(ctx)
          for (const message of session.report.received) emit({ type: 'message', message })
          emit({ type: 'report', report: session.report })
        })
      }
      try {
        conn = await account.locked(async ctx => await account.connect(ctx, signal))
        try {
          await unit(async (s) => { await s.run() })
          await conn.watch((push) => { enqueue(async (s) => { s.mapTopics(); await s.fetchTopic(toHex(push.topic)); await s.out.flushDue() }) })
        } catch (err) {
          await conn.close()
          throw err
        }
      } catch (err) {
        if (first || signal.aborted) throw err
        emit({ type: 'disconnected', error: err as Error, retryInMs: backoff })
        yield * queue.splice(0)
        await pause(backoff, signal)
        backoff = Math.min(backoff * 2, maxBackoff)
        continue
      }
      let chain = Promise.resolve()
      function enqueue (work: (s: MailSession) => Promise<void>): void {
        chain = chain.then(async () => { await unit(work) }).catch((err: unknown) => {
          if (!signal.aborted) emit({ type: 'error', error: err instanceof Error ? err : new AsmtpError('INTERNAL', String(err)) })
        })
      }
      first = false
      backoff = RECONNECT_MIN_MS
      emit({ type: 'connected' })
      const full = setInterval(() => { enqueue(async (s) => { await s.run() }) }, opts.fullSyncMs ?? WATCH_FULL_SYNC_MS)
      const flush = setInterval(() => { enqueue(async (s) => { await s.out.flushDue() }) }, FLUSH_CHECK_MS)
      let lost: Error | null | undefined
      void conn.closed.then((reason) => { lost = reason; wake?.() })
      try {
        while (!signal.aborted && lost === undefined) {
          if (queue.length > 0) {
            yield * queue.splice(0)
            continue
          }
          await new Promise<void>(resolve => { wake = resolve })
          wake = null
        }
      } finally {
        clearInterval(full)
        clearInterval(flush)
        if (signal.aborted || lost === undefined) await conn.close()
        await chain
      }
      yield * queue.splice(0)
      if (signal.aborted) break
      emit({ type: 'disconnected', error: lost ?? null, retryInMs: 0 })
      yield * queue.splice(0)
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
