/**
 * A TCP socket carrying u16 BE length-prefixed messages: reads one message at a time (for the
 * handshake) or hands every message to a handler (transport), writes prefixed messages, and
 * reports the end of the connection exactly once.
 */
import type { Socket } from 'node:net'
import { AsmtpError } from '../errors.js'
import { encodeLengthPrefixed, LengthPrefixedDecoder, type FrameBounds } from './framing.js'

/** How long a half-closed connection may take to finish closing before it is destroyed. */
export const CLOSE_GRACE_MS = 2000

type Handler = (frame: Uint8Array) => void

export class FrameSocket {
  readonly decoder: LengthPrefixedDecoder
  /** Resolves once, when the socket has closed: with the error that ended it, or null. */
  readonly closed: Promise<Error | null>
  private handler: Handler | null = null
  private onFailure: ((err: Error) => void) | null = null
  private ending = false
  private isClosed = false
  private endError: Error | null = null
  private resolveClosed!: (err: Error | null) => void

  constructor (readonly socket: Socket, bounds: FrameBounds) {
    this.decoder = new LengthPrefixedDecoder(bounds)
    this.closed = new Promise(resolve => { this.resolveClosed = resolve })
    socket.on('data', (chunk: Buffer) => {
      if (this.ending) return
      this.decoder.push(chunk)
      this.pump()
    })
    socket.on('end', () => {
      if (this.ending) return
      try {
        this.decoder.end()
        this.fail(new AsmtpError('PROTOCOL_VIOLATION', 'the peer closed the connection'), null)
      } catch (err) {
        this.fail(err as Error)
      }
    })
    socket.on('error', (err) => { this.fail(err) })
    socket.on('close', () => {
      this.isClosed = true
      this.ending = true
      this.handler = null
      const notify = this.onFailure
      this.onFailure = null
      notify?.(this.endError ?? new AsmtpError('PROTOCOL_VIOLATION', 'connection closed'))
      this.resolveClosed(this.endError)
    })
  }

  get isOpen (): boolean {
    return !this.ending && !this.isClosed
  }

  /** The next message (handshake phase). Rejects when the connection ends or sends a bad length. */
  async readOne (): Promise<Uint8Array> {
    return await new Promise<Uint8Array>((resolve, reject) => {
      if (!this.isOpen) {
        reject(this.endError ?? new AsmtpError('PROTOCOL_VIOLATION', 'connection closed'))
        return
      }
      this.onFailure = (err) => {
        this.destroy(err)
        reject(err)
      }
      this.handler = (frame) => {
        this.handler = null
        this.onFailure = null
        resolve(frame)
      }
      this.pump()
    })
  }

  /**
   * Every further message goes to `handler`. `onFailure` hears a bad length prefix (the socket is
   * left open so that the owner can still send an error frame) or the end of the connection.
   */
  onFrames (handler: Handler, onFailure: (err: Error) => void): void {
    this.handler = handler
    this.onFailure = onFailure
    this.pump()
  }

  setBounds (bounds: FrameBounds): void {
    this.decoder.setBounds(bounds)
  }

  /** Bytes written and not yet handed to the kernel. */
  get queuedBytes (): number {
    return this.socket.writableLength
  }

  write (message: Uint8Array): void {
    if (this.ending) return
    this.socket.write(encodeLengthPrefixed(message))
  }

  /** Writes the last messages, then closes; the peer gets CLOSE_GRACE_MS to close its side. */
  end (last: Uint8Array[] = [], reason: Error | null = null): void {
    if (this.ending) return
    this.ending = true
    this.endError = reason
    this.handler = null
    this.socket.cork()
    for (const m of last) this.socket.write(encodeLengthPrefixed(m))
    this.socket.end()
    this.socket.uncork()
    setTimeout(() => { this.socket.destroy() }, CLOSE_GRACE_MS).unref()
  }

  /** Drops the connection at once. */
  destroy (reason: Error | null = null): void {
    if (!this.ending) this.endError = reason
    this.ending = true
    this.handler = null
    this.socket.destroy()
  }

  /** Ends the connection and tells the owner; `reason` is what `closed` reports (null: a clean close by the peer). */
  private fail (err: Error, reason: Error | null = err): void {
    if (this.isClosed) return
    const notify = this.onFailure
    this.onFailure = null
    this.destroy(reason)
    notify?.(err)
  }

  private pump (): void {
    try {
      while (this.handler !== null && !this.ending) {
        const frame = this.decoder.next()
        if (frame === null) return
        this.handler(frame)
      }
    } catch (err) {
      const notify = this.onFailure
      this.onFailure = null
      this.handler = null
      if (notify === null) this.destroy(err as Error)
      else notify(err as Error)
    }
  }
}
