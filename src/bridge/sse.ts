/**
 * Server-sent events of new mail (docs/API.md "GET /v1/events"): each message is an event
 * `message` whose id is its cursor (seq), so a client that reconnects with `Last-Event-ID` (or
 * `?since=`) gets exactly what it missed, then new mail as it arrives. A comment every 15 s
 * keeps proxies from closing an idle stream; a client that reads too slowly is cut off (it
 * resumes from its last id) instead of growing the bridge's memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { MailBridge } from './bridge.js'
import type { MailJson } from './mail-json.js'

const HEARTBEAT_MS = 15_000
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
const BACKLOG_PAGE = 500
export const MAX_EVENT_STREAMS = 64

export class EventStreams {
  private open = 0

  constructor (private readonly bridge: MailBridge) {}

  get count (): number { return this.open }

  /** Streams mail after `since` to `res` until the client goes away or `signal` aborts. */
  async serve (req: IncomingMessage, res: ServerResponse, since: number, signal: AbortSignal): Promise<void> {
    this.open++
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write('retry: 2000\n\n')
    let last = since
    let replaying = true
    const pending: MailJson[] = []
    const write = (m: MailJson): void => {
      if (m.seq <= last || res.destroyed) return
      last = m.seq
      res.write(`id: ${m.seq}\nevent: message\ndata: ${JSON.stringify(m)}\n\n`)
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy()
    }
    const unsubscribe = this.bridge.onMail((m) => { if (replaying) pending.push(m); else write(m) })
    const heartbeat = setInterval(() => { res.write(': ping\n\n') }, HEARTBEAT_MS)
    const closed = new Promise<void>(resolve => {
      const done = (): void => { resolve() }
      req.once('close', done)
      res.once('close', done)
      signal.addEventListener('abort', done, { once: true })
    })
    try {
      for (;;) {
        const page = await this.bridge.list({ since: last, limit: BACKLOG_PAGE })
        for (const m of page) write(m)
        if (page.length < BACKLOG_PAGE || res.destroyed) break
      }
      replaying = false
      for (const m of pending.splice(0)) write(m)
      await closed
    } finally {
      clearInterval(heartbeat)
      unsubscribe()
      this.open--
      if (!res.writableEnded) res.end()
    }
  }
}

/** The cursor a stream starts after: `Last-Event-ID`, else `?since=`, else 0 (everything). */
export function resumeFrom (req: IncomingMessage, params: URLSearchParams): string | null {
  const header = req.headers['last-event-id']
  if (typeof header === 'string' && header !== '') return header
  return params.get('since')
}
