/**
 * The HTTP API of the bridge (docs/API.md, docs/openapi.yaml) on 127.0.0.1, every request with
 * `Authorization: Bearer <token>`: send, list/poll since a cursor, server-sent events, stats,
 * delete, status, identity and contacts. Errors are JSON with the AsmtpError code.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { z } from 'zod'
import debug from 'debug'
import { AsmtpError } from '../errors.js'
import type { SendContent } from '../client/index.js'
import { NETWORK_MAX_FILE_BYTES } from '../client/send.js'
import { addressOf } from './address.js'
import type { MailBridge } from './bridge.js'
import { queryInt, readJson, sendError, sendJson } from './http-io.js'
import { tokenMatches } from './secrets.js'
import { EventStreams, MAX_EVENT_STREAMS, resumeFrom } from './sse.js'

const log = debug('asmtp:bridge:http')

/** A file's base64 and the JSON around it. */
export const MAX_SEND_BODY_BYTES = Math.ceil(NETWORK_MAX_FILE_BYTES / 3) * 4 + 64 * 1024
export const MAX_LIST_LIMIT = 1000
const MAX_SEQ = Number.MAX_SAFE_INTEGER
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const MESSAGE_PATH_RE = /^\/v1\/messages\/([0-9a-fA-F]{32})$/

interface SendBody { to: string, text?: string | undefined, file?: { name: string, data: string } | undefined }

/** The body of POST /v1/messages (zod is loaded when the API starts, not with the package root). */
async function sendRequestSchema (): Promise<z.ZodType<SendBody>> {
  const { z } = await import('zod')
  return z.object({
    to: z.string().min(1).max(320),
    text: z.string().max(1 << 20).optional(),
    file: z.object({
      name: z.string().min(1).max(255),
      data: z.string().max(MAX_SEND_BODY_BYTES).regex(BASE64_RE, 'must be base64')
    }).strict().optional()
  }).strict().refine(r => (r.text === undefined) !== (r.file === undefined), 'give exactly one of text and file')
}

export interface HttpApiInit {
  bridge: MailBridge
  token: string
  host?: string
  /** 0 picks a free port. */
  port: number
}

export interface HttpApi { address: string, close: () => Promise<void> }

type Handler = (req: IncomingMessage, res: ServerResponse, params: URLSearchParams) => Promise<void>

export async function startHttpApi (init: HttpApiInit): Promise<HttpApi> {
  const { bridge } = init
  const streams = new EventStreams(bridge)
  const SendRequest = await sendRequestSchema()
  const stopping = new AbortController()

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    '/v1/messages': {
      GET: async (_req, res, params) => {
        const since = queryInt(params, 'since', 0, 0, MAX_SEQ)
        const limit = queryInt(params, 'limit', 100, 1, MAX_LIST_LIMIT)
        const direction = params.get('direction')
        if (direction !== null && direction !== 'received' && direction !== 'sent') throw new AsmtpError('DECODE_INVALID', 'direction must be received or sent')
        const unread = params.get('unread')
        if (unread !== null && unread !== 'true' && unread !== 'false') throw new AsmtpError('DECODE_INVALID', 'unread must be true or false')
        const messages = await bridge.list({ since, limit, ...(direction === null ? {} : { direction: direction === 'received' ? 'in' : 'out' }), unread: unread === 'true' })
        sendJson(res, 200, { messages, cursor: messages.at(-1)?.seq ?? since })
      },
      POST: async (req, res) => {
        const r = await readJson(req, MAX_SEND_BODY_BYTES, SendRequest)
        const content: SendContent = r.file === undefined ? { text: r.text ?? '' } : { file: { name: r.file.name, data: new Uint8Array(Buffer.from(r.file.data, 'base64')) } }
        sendJson(res, 201, await bridge.send(r.to, content, { signal: stopping.signal }))
      }
    },
    '/v1/events': {
      GET: async (req, res, params) => {
        const from = resumeFrom(req, params)
        if (from !== null && (!/^\d{1,15}$/.test(from))) throw new AsmtpError('DECODE_INVALID', 'Last-Event-ID (or since) must be a cursor: a whole number')
        if (streams.count >= MAX_EVENT_STREAMS) throw new AsmtpError('QUEUE_FULL', `at most ${MAX_EVENT_STREAMS} event streams at once`)
        await streams.serve(req, res, from === null ? 0 : Number(from), stopping.signal)
      }
    },
    '/v1/stats': { GET: async (_req, res) => { sendJson(res, 200, await bridge.stats()) } },
    '/v1/status': { GET: async (_req, res) => { await Promise.resolve(); sendJson(res, 200, bridge.status()) } },
    '/v1/identity': {
      GET: async (_req, res) => {
        const id = await bridge.account.identity()
        const passport = id.registrationRequest === null ? Buffer.from((await bridge.account.passport()).export()).toString('base64') : null
        sendJson(res, 200, { alias: id.alias, address: addressOf(id.alias), passportId: id.passportId, deviceKey: id.deviceKey, passport })
      }
    },
    '/v1/identity/export': {
      GET: async (_req, res) => {
        const bytes = (await bridge.account.passport()).export()
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length, 'content-disposition': 'attachment; filename="passport.bin"' })
        res.end(bytes)
      }
    },
    '/v1/contacts': {
      GET: async (_req, res) => {
        sendJson(res, 200, { contacts: (await bridge.contacts()).map(c => ({ alias: c.alias, address: addressOf(c.alias), passportId: c.passportId })) })
      }
    }
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = req.headers.authorization ?? ''
    const presented = /^Bearer ([\x21-\x7e]{1,256})$/.exec(auth)?.[1]
    if (presented === undefined || !tokenMatches(presented, init.token)) {
      res.setHeader('www-authenticate', 'Bearer realm="asmtp-bridge"')
      throw new AsmtpError('UNAUTHORIZED', 'a valid bearer token is needed: Authorization: Bearer <the token in <account>/bridge/http-token>')
    }
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://bridge.invalid')
    } catch {
      throw new AsmtpError('DECODE_INVALID', 'the request target is not a valid URL')
    }
    const method = req.method ?? 'GET'
    const one = MESSAGE_PATH_RE.exec(url.pathname)
    if (one !== null) {
      if (method !== 'DELETE') {
        res.setHeader('allow', 'DELETE')
        throw Object.assign(new AsmtpError('NOT_FOUND', `${method} is not served on ${url.pathname}`), { status: 405 })
      }
      sendJson(res, 200, { deleted: await bridge.delete(one[1] ?? '') })
      return
    }
    const route = routes[url.pathname]
    if (route === undefined) throw new AsmtpError('NOT_FOUND', `no endpoint ${url.pathname} (docs/API.md lists them)`)
    const handler = route[method]
    if (handler === undefined) {
      res.setHeader('allow', Object.keys(route).join(', '))
      throw Object.assign(new AsmtpError('NOT_FOUND', `${method} is not served on ${url.pathname}`), { status: 405 })
    }
    await handler(req, res, url.searchParams)
  }

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 300_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!(err instanceof AsmtpError)) log('request failed: %s', (err as Error).message)
      const status = (err as { status?: number }).status
      sendError(res, err, status)
      // the rest of an oversized or refused body is not read: close rather than drain it
      if (!req.complete) res.once('finish', () => { req.destroy() })
    })
  })
  server.on('clientError', (_err, socket) => { socket.destroy() })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port, init.host ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const a = server.address() as AddressInfo
  return {
    address: `${a.address}:${a.port}`,
    close: async () => {
      stopping.abort()
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}
