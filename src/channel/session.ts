/**
 * One authenticated device connection on the node: dispatches requests to the ClientBackend,
 * bounds the requests in flight, times out slow ones, and pushes new envelopes to a WATCH.
 * QUERY and WATCH are answered only for topics this device registered.
 */
import createDebug from 'debug'
import { toHex } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import type { BackendEnvelope, ClientBackend } from './backend.js'
import { encodeError, ErrorCode, errorCodeName, errorReplyFor, type ErrorBody } from './error-codes.js'
import type { FrameSocket } from './frame-socket.js'
import type { TransportKeys } from './handshake.js'
import type { ChannelLimits } from './limits.js'
import {
  CONNECTION_REQUEST_ID, decodeId32, decodePublish, decodeQuery, decodeRegisterTopic, decodeUnwatch, decodeWatch,
  encodePublishReply, encodeQueryReply, encodeWatchPush, isRequestType, MessageType, QUERY_ITEM_HEAD_BYTES,
  QUERY_REPLY_HEAD_BYTES, REPLY_BIT, replyType, type ChannelMessage, type StoredItem
} from './messages.js'
import { SecureChannel } from './secure-channel.js'

const log = createDebug('asmtp:channel')
const EMPTY = new Uint8Array(0)

/** A failure with a ready wire error (authorization, request shape). */
class ReplyError extends Error {
  constructor (readonly body: ErrorBody) {
    super(body.message)
  }
}

function unauthorized (topic: Uint8Array): ReplyError {
  return new ReplyError({ code: ErrorCode.UNAUTHORIZED, message: `topic ${toHex(topic)} is not registered by this device` })
}

export interface ClientSessionInit {
  frames: FrameSocket
  keys: TransportKeys
  limits: ChannelLimits
  backend: ClientBackend
  /** The device key, lowercase hex Ed25519. */
  owner: string
  onWatch: (session: ClientSession, watching: boolean) => void
}

interface Watch {
  id: number
  /** null: every topic this device registered. */
  topics: Set<string> | null
}

export class ClientSession {
  readonly owner: string
  readonly channel: SecureChannel
  private readonly backend: ClientBackend
  private readonly limits: ChannelLimits
  private readonly inFlight = new Map<number, AbortController>()
  private readonly onWatch: ClientSessionInit['onWatch']
  private watch: Watch | null = null

  constructor (init: ClientSessionInit) {
    this.owner = init.owner
    this.backend = init.backend
    this.limits = init.limits
    this.onWatch = init.onWatch
    this.channel = new SecureChannel({
      frames: init.frames,
      keys: init.keys,
      limits: init.limits,
      idleTimeoutMs: init.limits.idleTimeoutMs,
      onMessage: (m) => { this.receive(m) }
    })
    void this.channel.closed.then((reason) => {
      for (const c of this.inFlight.values()) c.abort(new AsmtpError('ABORTED', 'the connection closed'))
      this.inFlight.clear()
      if (this.watch !== null) this.onWatch(this, false)
      this.watch = null
      log('device %s disconnected%s', this.owner.slice(0, 8), reason === null ? '' : `: ${reason.message}`)
    })
  }

  /** Called by the server for every new envelope; sends it when this connection watches its topic. */
  push (e: BackendEnvelope): void {
    const w = this.watch
    if (w === null) return
    if (w.topics !== null && !w.topics.has(toHex(e.topic))) return
    if (!this.backend.isTopicOwner(e.topic, this.owner)) return
    this.channel.send(replyType(MessageType.WATCH), w.id, encodeWatchPush(e), 'disconnect')
  }

  private receive (m: ChannelMessage): void {
    if (m.id === CONNECTION_REQUEST_ID) throw new AsmtpError('PROTOCOL_VIOLATION', 'request id 0 is reserved')
    if (this.inFlight.has(m.id) || this.watch?.id === m.id) throw new AsmtpError('PROTOCOL_VIOLATION', `request id ${m.id} is already in flight`)
    if (!isRequestType(m.type)) {
      if ((m.type & REPLY_BIT) !== 0 || m.type === MessageType.ERROR) throw new AsmtpError('PROTOCOL_VIOLATION', `a client may not send type 0x${m.type.toString(16)}`)
      this.replyError(m.id, { code: ErrorCode.UNKNOWN_TYPE, message: `unknown request type 0x${m.type.toString(16)}` })
      return
    }
    if (m.type === MessageType.PING) {
      this.channel.send(replyType(MessageType.PING), m.id, m.body, 'pause')
      return
    }
    if (this.inFlight.size >= this.limits.maxInFlight) {
      this.replyError(m.id, { code: ErrorCode.TOO_MANY_REQUESTS, message: `too many requests: at most ${this.limits.maxInFlight} in flight` })
      return
    }
    if (m.type === MessageType.WATCH || m.type === MessageType.UNWATCH) {
      try {
        if (m.type === MessageType.WATCH) this.startWatch(m)
        else this.stopWatch(m)
      } catch (err) {
        this.replyFailure(m.id, err)
      }
      return
    }
    this.run(m)
  }

  private run (m: ChannelMessage): void {
    const controller = new AbortController()
    this.inFlight.set(m.id, controller)
    const ms = this.limits.requestTimeoutMs
    const timer = setTimeout(() => { controller.abort(new AsmtpError('TIMEOUT', `the node did not answer within ${ms} ms`)) }, ms)
    const aborted = new Promise<never>((_resolve, reject) => {
      controller.signal.addEventListener('abort', () => {
        const reason: unknown = controller.signal.reason
        reject(reason instanceof Error ? reason : new AsmtpError('ABORTED', 'request aborted'))
      }, { once: true })
    })
    Promise.race([this.handle(m, controller.signal), aborted]).then(
      (body) => {
        if (!this.finish(m.id, controller, timer)) return
        this.channel.send(replyType(m.type), m.id, body, 'pause')
      },
      (err: unknown) => {
        if (!this.finish(m.id, controller, timer)) return
        this.replyFailure(m.id, err)
      }
    )
  }

  /** Forgets a finished request; false when the connection closed meanwhile. */
  private finish (id: number, controller: AbortController, timer: NodeJS.Timeout): boolean {
    clearTimeout(timer)
    if (this.inFlight.get(id) !== controller) return false
    this.inFlight.delete(id)
    return this.channel.isOpen
  }

  private async handle (m: ChannelMessage, signal: AbortSignal): Promise<Uint8Array> {
    const b = this.backend
    switch (m.type) {
      case MessageType.PUT_PASSPORT: {
        if (m.body.length === 0) throw new AsmtpError('DECODE_TRUNCATED', 'PUT_PASSPORT body is empty')
        return (await b.putPassport(m.body, { signal })).export()
      }
      case MessageType.GET_PASSPORT:
        return (await b.getPassport(decodeId32(m.body, 'GET_PASSPORT body'), { signal })).export()
      case MessageType.REGISTER_TOPIC: {
        const { topic, key } = decodeRegisterTopic(m.body)
        await b.registerTopic(topic, key, this.owner)
        return EMPTY
      }
      case MessageType.DEREGISTER_TOPIC:
        await b.deregisterTopic(decodeId32(m.body, 'DEREGISTER_TOPIC body'), this.owner)
        return EMPTY
      case MessageType.PUBLISH: {
        const { topic, envelope } = decodePublish(m.body)
        return encodePublishReply(await b.publish(topic, envelope))
      }
      case MessageType.QUERY:
        return await this.query(m.body)
      default:
        throw new ReplyError({ code: ErrorCode.UNKNOWN_TYPE, message: `unknown request type 0x${m.type.toString(16)}` })
    }
  }

  /** QUERY, cut to fit maxMessageBytes: `more` then says that the node holds more after `cursor`. */
  private async query (body: Uint8Array): Promise<Uint8Array> {
    const q = decodeQuery(body)
    if (!this.backend.isTopicOwner(q.topic, this.owner)) throw unauthorized(q.topic)
    const max = this.limits.maxQueryItems
    const limit = q.limit === 0 ? max : Math.min(q.limit, max)
    const r = await this.backend.query(q.topic, q.cursor, limit)
    const envelopes: StoredItem[] = []
    let size = QUERY_REPLY_HEAD_BYTES
    for (const e of r.envelopes.slice(0, Math.min(limit, 0xffff))) {
      size += QUERY_ITEM_HEAD_BYTES + e.data.length
      if (size > this.limits.maxMessageBytes) break
      envelopes.push({ seq: e.seq, data: e.data })
    }
    if (envelopes.length === r.envelopes.length) return encodeQueryReply({ cursor: r.cursor, more: r.more, envelopes })
    const last = envelopes.at(-1)
    if (last === undefined) throw new AsmtpError('DECODE_TOO_LARGE', 'the next envelope does not fit in one message')
    return encodeQueryReply({ cursor: last.seq, more: true, envelopes })
  }

  private startWatch (m: ChannelMessage): void {
    if (this.watch !== null) throw new ReplyError({ code: ErrorCode.BAD_REQUEST, message: `this connection already watches (request id ${this.watch.id})` })
    const topics = decodeWatch(m.body, this.limits.maxWatchTopics)
    for (const t of topics) if (!this.backend.isTopicOwner(t, this.owner)) throw unauthorized(t)
    this.watch = { id: m.id, topics: topics.length === 0 ? null : new Set(topics.map(toHex)) }
    this.channel.send(replyType(MessageType.WATCH), m.id, EMPTY, 'pause')
    this.onWatch(this, true)
  }

  private stopWatch (m: ChannelMessage): void {
    const id = decodeUnwatch(m.body)
    if (this.watch === null || this.watch.id !== id) throw new ReplyError({ code: ErrorCode.NOT_FOUND, message: `no WATCH with request id ${id}` })
    this.watch = null
    this.onWatch(this, false)
    this.channel.send(replyType(MessageType.UNWATCH), m.id, EMPTY, 'pause')
  }

  private replyFailure (id: number, err: unknown): void {
    if (err instanceof ReplyError) {
      this.replyError(id, err.body)
      return
    }
    const body = errorReplyFor(err)
    if (body.code === ErrorCode.INTERNAL) log.extend('error')('request %d of %s failed: %O', id, this.owner.slice(0, 8), err)
    this.replyError(id, body)
  }

  private replyError (id: number, body: ErrorBody): void {
    log('request %d of %s: %s %s', id, this.owner.slice(0, 8), errorCodeName(body.code), body.message)
    this.channel.send(MessageType.ERROR, id, encodeError(body), 'pause')
  }
}
