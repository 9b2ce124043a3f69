/**
 * The transport phase of the client channel, shared by node and client: frames are
 * u16 BE length ‖ ChaCha20-Poly1305 ciphertext, each direction rekeyed after every frame
 * (transport-cipher.ts); plaintexts are u8 type ‖ u32 BE request id ‖ body, larger messages are
 * fragmented with MORE frames (reassembly.ts). Any bad frame ends this connection only, after
 * an error frame under request id 0 (the sending direction still works when receiving failed).
 */
import { AsmtpError, isAsmtpError } from '../errors.js'
import { encodeError, ErrorCode, errorCodeFor, type ErrorBody } from './error-codes.js'
import type { FrameSocket } from './frame-socket.js'
import type { TransportKeys } from './handshake.js'
import { AEAD_TAG_BYTES } from '../crypto/aead.js'
import { MIN_FRAME_BYTES, type ChannelLimits } from './limits.js'
import { CONNECTION_REQUEST_ID, decodeFramePlaintext, encodeFramePlaintext, MessageType, type ChannelMessage } from './messages.js'
import { fragment, Reassembler } from './reassembly.js'
import { FrameCipher } from './transport-cipher.js'

export interface SecureChannelInit {
  frames: FrameSocket
  keys: TransportKeys
  limits: ChannelLimits
  /** A whole (reassembled) message. Throwing an AsmtpError here ends the connection as a violation. */
  onMessage: (message: ChannelMessage) => void
  /** No frame received for this long ends the connection (node side). */
  idleTimeoutMs?: number
}

export class SecureChannel {
  readonly sender: FrameCipher
  readonly receiver: FrameCipher
  /** Resolves when the socket has closed: with the reason, or null for a clean close by this side. */
  readonly closed: Promise<Error | null>
  private readonly frames: FrameSocket
  private readonly limits: ChannelLimits
  private readonly reassembler: Reassembler
  private readonly onMessage: (message: ChannelMessage) => void
  private idleTimer: NodeJS.Timeout | undefined
  private readingPaused = false
  private draining: Promise<void> | null = null

  constructor (init: SecureChannelInit) {
    this.frames = init.frames
    this.limits = init.limits
    this.onMessage = init.onMessage
    this.sender = new FrameCipher(init.keys.tx)
    this.receiver = new FrameCipher(init.keys.rx)
    this.reassembler = new Reassembler({ maxMessageBytes: init.limits.maxMessageBytes, maxPartialMessages: init.limits.maxInFlight })
    this.closed = this.frames.closed.then(err => {
      if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
      this.sender.state.destroy()
      this.receiver.state.destroy()
      this.reassembler.clear()
      return err
    })
    if (init.idleTimeoutMs !== undefined) {
      const ms = init.idleTimeoutMs
      this.idleTimer = setTimeout(() => {
        this.close({ code: ErrorCode.TIMEOUT, message: `TIMEOUT: no frame for ${ms} ms` }, new AsmtpError('TIMEOUT', `idle for ${ms} ms`))
      }, ms).unref()
    }
    this.frames.setBounds({ min: MIN_FRAME_BYTES, max: init.limits.maxFrameBytes })
    this.frames.onFrames(frame => { this.receive(frame) }, err => { this.violation(err) })
  }

  get isOpen (): boolean {
    return this.frames.isOpen
  }

  /** Bytes written and not yet taken by the kernel. */
  get queuedBytes (): number {
    return this.frames.queuedBytes
  }

  /**
   * Sends one message (fragmented when larger than a frame). Returns false when the channel is
   * closed. When more than maxSendQueueBytes are then queued, `whenFull` decides: 'disconnect'
   * (unsolicited pushes: a peer that does not read them is dropped), 'pause' (replies: stop
   * reading requests until the queue drains, so the peer cannot make it grow) or 'none'.
   */
  send (type: number, id: number, body: Uint8Array, whenFull: 'disconnect' | 'pause' | 'none' = 'none'): boolean {
    if (!this.frames.isOpen) return false
    const plaintexts = fragment(type, id, body, this.limits.maxFrameBytes - AEAD_TAG_BYTES)
    const socket = this.frames.socket
    socket.cork()
    for (const p of plaintexts) this.frames.write(this.sender.seal(p))
    socket.uncork()
    if (this.frames.queuedBytes > this.limits.maxSendQueueBytes) {
      if (whenFull === 'disconnect') {
        this.frames.destroy(new AsmtpError('QUEUE_FULL', `the peer is not reading: more than ${this.limits.maxSendQueueBytes} bytes queued`))
        return false
      }
      if (whenFull === 'pause') this.pauseReading()
    }
    return true
  }

  /** Resolves once the send queue is back under maxSendQueueBytes (or the channel closed). */
  async drained (): Promise<void> {
    while (this.frames.isOpen && this.frames.queuedBytes > this.limits.maxSendQueueBytes) {
      this.draining ??= new Promise<void>(resolve => {
        const socket = this.frames.socket
        const done = (): void => {
          socket.off('drain', done)
          socket.off('close', done)
          this.draining = null
          resolve()
        }
        socket.once('drain', done)
        socket.once('close', done)
      })
      await this.draining
    }
  }

  private pauseReading (): void {
    if (this.readingPaused) return
    this.readingPaused = true
    const socket = this.frames.socket
    socket.pause()
    socket.once('drain', () => {
      this.readingPaused = false
      socket.resume()
    })
  }

  /** Ends the connection, after an error frame (request id 0) when `error` is given. */
  close (error?: ErrorBody, reason: Error | null = null): void {
    if (!this.frames.isOpen) return
    const last = error === undefined ? [] : [this.sender.seal(encodeErrorFrame(error))]
    this.frames.end(last, reason)
  }

  /** A frame this side cannot accept: tell the peer why, then close. */
  violation (err: Error): void {
    const code = isAsmtpError(err) ? errorCodeFor(err) : ErrorCode.PROTOCOL_VIOLATION
    const text = isAsmtpError(err) ? `${err.code}: ${err.message}` : err.message
    this.close({ code: code === ErrorCode.INTERNAL ? ErrorCode.PROTOCOL_VIOLATION : code, message: text }, err)
  }

  private receive (ciphertext: Uint8Array): void {
    try {
      const frame = decodeFramePlaintext(this.receiver.open(ciphertext))
      this.idleTimer?.refresh()
      const message = this.reassembler.push(frame)
      if (message !== null) this.onMessage(message)
    } catch (err) {
      this.violation(err instanceof Error ? err : new AsmtpError('PROTOCOL_VIOLATION', String(err)))
    }
  }
}

function encodeErrorFrame (error: ErrorBody): Uint8Array {
  return encodeFramePlaintext(MessageType.ERROR, CONNECTION_REQUEST_ID, encodeError(error))
}
