/**
 * The operator's HTTP endpoint on `metrics.listen` (off by default; meant for a loopback
 * address): GET /metrics (Prometheus text, src/node/metrics.ts) and GET /status (JSON,
 * src/node/status.ts). Nothing else: any other path is 404, any other method 405. It never
 * reads a request body, and requests are served with a bounded time.
 */
import { createServer, type Server } from 'node:http'
import createDebug from 'debug'
import { AsmtpError } from '../errors.js'
import type { HostPort } from '../config/index.js'

const log = createDebug('asmtp:node:endpoint')

/** How long one request may take, headers included. */
export const ENDPOINT_REQUEST_TIMEOUT_MS = 10_000

export interface OperatorEndpointInit {
  listen: HostPort
  metrics: () => Promise<{ text: string, contentType: string }>
  status: () => Promise<unknown>
}

export class OperatorEndpoint {
  private server: Server | null = null
  private bound: string | null = null

  constructor (private readonly init: OperatorEndpointInit) {}

  /** host:port (or [v6]:port) while listening. */
  get address (): string | null {
    return this.bound
  }

  async start (): Promise<string> {
    if (this.bound !== null) return this.bound
    const server = createServer({ requestTimeout: ENDPOINT_REQUEST_TIMEOUT_MS, headersTimeout: ENDPOINT_REQUEST_TIMEOUT_MS }, (req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      const send = (code: number, type: string, body: string): void => {
        res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
      }
      if (path !== '/metrics' && path !== '/status') { send(404, 'text/plain', 'not found: try /metrics or /status\n'); return }
      if (req.method !== 'GET' && req.method !== 'HEAD') { send(405, 'text/plain', 'only GET\n'); return }
      const answer = path === '/metrics'
        ? this.init.metrics().then(m => { send(200, m.contentType, m.text) })
        : this.init.status().then(s => { send(200, 'application/json', JSON.stringify(s, null, 2) + '\n') })
      answer.catch((err: Error) => {
        log('%s: %s', path, err.message)
        if (!res.headersSent) send(503, 'text/plain', `unavailable: ${err.message}\n`)
      })
    })
    this.server = server
    const { host, port } = this.init.listen
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => { reject(new AsmtpError('CONFIG_INVALID', `metrics.listen ${host}:${port}: ${err.message}`, { cause: err })) })
      server.listen(port, host, () => { resolve() })
    })
    const a = server.address()
    if (a === null || typeof a === 'string') throw new AsmtpError('CONFIG_INVALID', `metrics.listen ${host}:${port}: no address`)
    this.bound = a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
    return this.bound
  }

  async stop (): Promise<void> {
    const server = this.server
    this.server = null
    this.bound = null
    if (server === null) return
    server.closeAllConnections()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }
}
