/**
 * The device side of an established client channel: requests with ids, a timeout and an
 * AbortSignal each, at most maxInFlight on the wire (more wait for a slot), error replies
 * turned back into AsmtpErrors, and WATCH pushes delivered in order.
 */
import createDebug from 'debug'
import { AsmtpError } from '../errors.js'
import { decodeError, errorFromReply } from './error-codes.js'
import type { FrameSocket } from './frame-socket.js'
import type { TransportKeys } from './handshake.js'
import { KEEPALIVE_MS, REQUEST_TIMEOUT_MS, type ChannelLimits } from './limits.js'
import {
  CONNECTION_REQUEST_ID, decodePublishReply, decodeQueryReply, decodeWatchPush, encodePublish, encodeQuery,
  encodeRegisterTopic, encodeUnwatch, encodeWatch, expectEmpty, MAX_REQUEST_ID, MessageType, PASSPORT_ID_BYTES,
  replyType, type ChannelMessage, type PublishReply, type QueryReply, type WatchPush
} from './messages.js'
import { SecureChannel } from './secure-channel.js'

const log = createDebug('asmtp:client')

export interface RequestOptions {
  signal?: AbortSignal
  /** @default 30000 */
  timeoutMs?: number
}

export interface WatchOptions extends RequestOptions {
  /** Topics to watch; all topics this device registered when absent or empty. */
  topics?: Uint8Array[]
}

export type EnvelopeListener = (e: WatchPush) => void

interface Pending {
  type: number
  resolve: (body: Uint8Array) => void
  reject: (err: Error) => void
  /** The caller gave up (timeout, abort): a late reply is swallowed and frees the slot. */
  abandoned: boolean
  /** Runs synchronously on the reply, before any later frame is read. */
  onReply?: (id: number) => void
}

interface ActiveWatch {
  id: number
  listener: EnvelopeListener
  stopped: boolean
}

export interface ClientConnectionInit {
  frames: FrameSocket
  keys: TransportKeys
  limits: ChannelLimits
  /** @default 30000 */
  requestTimeoutMs?: number
  /** PING interval while watching, so that the node's idle timeout keeps the connection. @default 60000 */
  keepAliveMs?: number
}

/** A function, so that TypeScript does not keep `aborted` narrowed across an await. */
function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

function abortedError (signal: AbortSignal | undefined): AsmtpError {
  return new AsmtpError('ABORTED', 'the request was aborted', { cause: signal?.reason })
}

export class ClientConnection {
  /** Resolves once the connection is closed: null after close(), else why it ended. */
  readonly closed: Promise<Error | null>
  private readonly channel: SecureChannel
  private readonly limits: ChannelLimits
  private readonly requestTimeoutMs: number
  private readonly keepAliveMs: number
  private readonly pending = new Map<number, Pending>()
  private readonly slotWaiters: Array<() => void> = []
  private nextId = 1
  /** Requests on the wire or about to be, abandoned ones included until their reply arrives. */
  private slotsUsed = 0
  private activeWatch: ActiveWatch | null = null
  private keepAlive: NodeJS.Timeout | undefined
  private failure: Error | null = null
  private closedByUser = false
  private ended = false

  constructor (init: ClientConnectionInit) {
    this.limits = init.limits
    this.requestTimeoutMs = init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
    this.keepAliveMs = init.keepAliveMs ?? KEEPALIVE_MS
    this.channel = new SecureChannel({ frames: init.frames, keys: init.keys, limits: init.limits, onMessage: (m) => { this.receive(m) } })
    this.closed = this.channel.closed.then((reason) => {
      this.ended = true
      clearInterval(this.keepAlive)
      const err = this.closedByUser ? null : (this.failure ?? reason ?? new AsmtpError('PROTOCOL_VIOLATION', 'the node closed the connection'))
      const rejectWith = err ?? new AsmtpError('ABORTED', 'the connection was closed')
      for (const p of this.pending.values()) if (!p.abandoned) p.reject(rejectWith)
      this.pending.clear()
      this.slotsUsed = 0
      for (const wake of this.slotWaiters.splice(0)) wake()
      this.activeWatch = null
      if (err !== null) log('connection ended: %s', err.message)
      return err
    })
  }

  /** Sends PING; resolves to the body the node echoed. */
  async ping (body: Uint8Array = new Uint8Array(0), options?: RequestOptions): Promise<Uint8Array> {
    const echo = await this.request(MessageType.PING, body, options)
    if (Buffer.compare(echo, body) !== 0) throw new AsmtpError('PROTOCOL_VIOLATION', 'PONG does not echo the PING body')
    return echo
  }

  /** Sends a passport (export format); resolves to the export the node now holds. */
  async putPassport (exportBytes: Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    if (exportBytes.length === 0) throw new RangeError('passport export is empty')
    return await this.request(MessageType.PUT_PASSPORT, exportBytes, options)
  }

  async getPassport (id: Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    if (id.length !== PASSPORT_ID_BYTES) throw new RangeError(`passport id must be ${PASSPORT_ID_BYTES} bytes`)
    return await this.request(MessageType.GET_PASSPORT, id, options)
  }

  async registerTopic (topic: Uint8Array, key: Uint8Array, options?: RequestOptions): Promise<void> {
    expectEmpty(await this.request(MessageType.REGISTER_TOPIC, encodeRegisterTopic({ topic, key }), options), 'REGISTER_TOPIC reply')
  }

  async deregisterTopic (topic: Uint8Array, options?: RequestOptions): Promise<void> {
    if (topic.length !== 32) throw new RangeError('topic id must be 32 bytes')
    expectEmpty(await this.request(MessageType.DEREGISTER_TOPIC, topic, options), 'DEREGISTER_TOPIC reply')
  }

  async publish (topic: Uint8Array, envelope: Uint8Array, options?: RequestOptions): Promise<PublishReply> {
    if (envelope.length === 0) throw new RangeError('envelope is empty')
    return decodePublishReply(await this.request(MessageType.PUBLISH, encodePublish({ topic, envelope }), options))
  }

  /** Envelopes after `cursor` (0 for all), oldest first; `more` says the node holds more after the returned cursor. */
  async query (topic: Uint8Array, cursor: bigint, limit = 0, options?: RequestOptions): Promise<QueryReply> {
    if (!Number.isInteger(limit) || limit < 0 || limit > 0xffff) throw new RangeError('limit must be an integer in 0..65535 (0: as many as the node allows)')
    return decodeQueryReply(await this.request(MessageType.QUERY, encodeQuery({ topic, cursor, limit }), options))
  }

  /**
   * Watches this device's topics: `onEnvelope` gets every new envelope, in the node's order.
   * Resolves once the node confirmed, to a function that stops the watch. One watch per connection.
   */
  async watch (onEnvelope: EnvelopeListener, options: WatchOptions = {}): Promise<() => Promise<void>> {
    if (this.activeWatch !== null || [...this.pending.values()].some(p => p.type === MessageType.WATCH && !p.abandoned)) {
      throw new AsmtpError('PROTOCOL_VIOLATION', 'this connection already watches')
    }
    let active: ActiveWatch | null = null
    const body = encodeWatch(options.topics ?? [])
    expectEmpty(await this.request(MessageType.WATCH, body, options, (id) => {
      active = { id, listener: onEnvelope, stopped: false }
      this.activeWatch = active
    }), 'WATCH reply')
    this.keepAlive ??= setInterval(() => { this.ping().catch(() => {}) }, this.keepAliveMs).unref()
    return async () => {
      const w = active
      if (w === null || w.stopped) return
      w.stopped = true
      clearInterval(this.keepAlive)
      this.keepAlive = undefined
      if (this.ended) return
      await this.request(MessageType.UNWATCH, encodeUnwatch(w.id), {}, () => {
        if (this.activeWatch === w) this.activeWatch = null
      })
    }
  }

  /** Closes the connection; `closed` then resolves to null. */
  async close (): Promise<void> {
    if (!this.ended) {
      this.closedByUser = true
      this.channel.close()
    }
    await this.closed
  }

  /** Frames sent and received so far and rekeys done (one per frame per direction). */
  get transportCounters (): { sent: bigint, received: bigint, sendRekeys: number, receiveRekeys: number } {
    return {
      sent: this.channel.sender.state.nonce,
      received: this.channel.receiver.state.nonce,
      sendRekeys: this.channel.sender.state.rekeys,
      receiveRekeys: this.channel.receiver.state.rekeys
    }
  }

  private async request (type: number, body: Uint8Array, options: RequestOptions = {}, onReply?: (id: number) => void): Promise<Uint8Array> {
    const signal = options.signal
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs
    const deadline = Date.now() + timeoutMs
    if (isAborted(signal)) throw abortedError(signal)
    await this.takeSlot(signal, deadline)
    if (this.ended || isAborted(signal)) {
      this.slotsUsed--
      this.slotWaiters.shift()?.()
      throw this.ended ? this.endedError() : abortedError(signal)
    }
    try {
      await this.untilDrained(signal, deadline)
    } catch (err) {
      this.slotsUsed--
      this.slotWaiters.shift()?.()
      throw err
    }
    if (this.ended) {
      this.slotsUsed--
      throw this.endedError()
    }
    const id = this.allocateId()
    return await new Promise<Uint8Array>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
      }
      const giveUp = (err: Error): void => {
        const p = this.pending.get(id)
        if (p === undefined || p.abandoned) return
        p.abandoned = true
        cleanup()
        reject(err)
      }
      const onAbort = (): void => { giveUp(abortedError(signal)) }
      const timer = setTimeout(() => { giveUp(new AsmtpError('TIMEOUT', `the node did not answer within ${timeoutMs} ms`)) }, Math.max(0, deadline - Date.now()))
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        type,
        onReply,
        abandoned: false,
        resolve: (b) => { cleanup(); resolve(b) },
        reject: (e) => { cleanup(); reject(e) }
      })
      if (!this.channel.send(type, id, body)) {
        this.release(id)
        cleanup()
        reject(this.endedError())
      }
    })
  }

  private endedError (): Error {
    return this.failure ?? new AsmtpError('ABORTED', 'the connection is closed')
  }

  private async takeSlot (signal: AbortSignal | undefined, deadline: number): Promise<void> {
    while (this.slotsUsed >= this.limits.maxInFlight && !this.ended) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          const i = this.slotWaiters.indexOf(wake)
          if (i >= 0) this.slotWaiters.splice(i, 1)
          if (err === undefined) resolve()
          else reject(err)
        }
        const wake = (): void => { done() }
        const onAbort = (): void => { done(abortedError(signal)) }
        const timer = setTimeout(() => { done(new AsmtpError('TIMEOUT', 'no request slot became free in time')) }, Math.max(0, deadline - Date.now()))
        signal?.addEventListener('abort', onAbort, { once: true })
        this.slotWaiters.push(wake)
      })
    }
    this.slotsUsed++
  }

  /** Waits while more than maxSendQueueBytes are queued to the node (back-pressure for callers). */
  private async untilDrained (signal: AbortSignal | undefined, deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    try {
      await Promise.race([
        this.channel.drained(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new AsmtpError('TIMEOUT', 'the node did not take the request in time')) }, Math.max(0, deadline - Date.now()))
          onAbort = () => { reject(abortedError(signal)) }
          signal?.addEventListener('abort', onAbort, { once: true })
        })
      ])
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    }
  }

  private allocateId (): number {
    for (;;) {
      const id = this.nextId
      this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1
      if (id !== CONNECTION_REQUEST_ID && !this.pending.has(id) && this.activeWatch?.id !== id) return id
    }
  }

  private release (id: number): void {
    if (this.pending.delete(id)) this.slotsUsed--
    this.slotWaiters.shift()?.()
  }

  /** A WATCH the caller gave up on was accepted after all: swallow its pushes and stop it. */
  private dropWatch (id: number): void {
    const w: ActiveWatch = { id, listener: () => {}, stopped: true }
    this.activeWatch = w
    this.request(MessageType.UNWATCH, encodeUnwatch(id), {}, () => {
      if (this.activeWatch === w) this.activeWatch = null
    }).catch((err: Error) => { log('stopping an abandoned watch: %s', err.message) })
  }

  private receive (m: ChannelMessage): void {
    if (m.type === MessageType.ERROR && m.id === CONNECTION_REQUEST_ID) {
      this.failure ??= errorFromReply(decodeError(m.body))
      return
    }
    const p = this.pending.get(m.id)
    if (p === undefined) {
      const w = this.activeWatch
      if (w === null || w.id !== m.id || m.type !== replyType(MessageType.WATCH)) {
        throw new AsmtpError('PROTOCOL_VIOLATION', `frame of type 0x${m.type.toString(16)} for request id ${m.id}, which is not in flight`)
      }
      const push = decodeWatchPush(m.body)
      if (w.stopped) return
      try {
        w.listener(push)
      } catch (err) {
        log('watch listener threw: %O', err)
      }
      return
    }
    if (m.type !== MessageType.ERROR && m.type !== replyType(p.type)) {
      throw new AsmtpError('PROTOCOL_VIOLATION', `reply of type 0x${m.type.toString(16)} to a request of type 0x${p.type.toString(16)}`)
    }
    this.release(m.id)
    if (p.abandoned) {
      if (p.type === MessageType.WATCH && m.type !== MessageType.ERROR) this.dropWatch(m.id)
      return
    }
    if (m.type === MessageType.ERROR) {
      p.reject(errorFromReply(decodeError(m.body)))
      return
    }
    p.onReply?.(m.id)
    p.resolve(m.body)
  }
}
