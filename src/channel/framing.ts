/**
 * The outer framing of the client channel: every message on the socket, handshake or
 * transport, is u16 BE length ‖ bytes (docs/PROTOCOL.md section 5 "Framing"). The decoder takes
 * TCP chunks of any size and hands out one whole message at a time, so that the caller can
 * change the accepted sizes between the handshake and the transport phase.
 */
import { AsmtpError } from '../errors.js'
import { MAX_FRAME_BYTES } from './limits.js'

export const LENGTH_PREFIX_BYTES = 2

export function encodeLengthPrefixed (bytes: Uint8Array): Uint8Array {
  if (bytes.length > MAX_FRAME_BYTES) throw new AsmtpError('FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`)
  const out = new Uint8Array(LENGTH_PREFIX_BYTES + bytes.length)
  out[0] = bytes.length >>> 8
  out[1] = bytes.length & 0xff
  out.set(bytes, LENGTH_PREFIX_BYTES)
  return out
}

/** Bounds for one phase: a length outside [min, max] is refused as soon as its prefix is read. */
export interface FrameBounds { min: number, max: number }

export class LengthPrefixedDecoder {
  private chunks: Uint8Array[] = []
  private buffered = 0
  private bounds: FrameBounds

  constructor (bounds: FrameBounds) {
    this.bounds = bounds
  }

  setBounds (bounds: FrameBounds): void {
    this.bounds = bounds
  }

  /** Bytes received and not yet handed out. */
  get pending (): number {
    return this.buffered
  }

  push (chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /**
   * The next whole message, or null when more bytes are needed. Throws AsmtpError
   * FRAME_TOO_LARGE / FRAME_INVALID for a length outside the current bounds, before its bytes arrive.
   */
  next (): Uint8Array | null {
    if (this.buffered < LENGTH_PREFIX_BYTES) return null
    const head = this.peek(LENGTH_PREFIX_BYTES)
    const length = ((head[0] ?? 0) << 8) | (head[1] ?? 0)
    if (length > this.bounds.max) throw new AsmtpError('FRAME_TOO_LARGE', `frame length ${length} exceeds ${this.bounds.max}`)
    if (length < this.bounds.min) throw new AsmtpError('FRAME_INVALID', `frame length ${length} is below ${this.bounds.min}`)
    if (this.buffered < LENGTH_PREFIX_BYTES + length) return null
    return this.take(LENGTH_PREFIX_BYTES + length).subarray(LENGTH_PREFIX_BYTES)
  }

  /** Throws DECODE_TRUNCATED when the stream ended inside a message. */
  end (): void {
    if (this.buffered !== 0) throw new AsmtpError('DECODE_TRUNCATED', `stream ended inside a frame (${this.buffered} bytes pending)`)
  }

  private peek (n: number): Uint8Array {
    const first = this.chunks[0]
    if (first !== undefined && first.length >= n) return first.subarray(0, n)
    return this.copy(n, false)
  }

  private take (n: number): Uint8Array {
    const first = this.chunks[0]
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return first.subarray(0, n)
    }
    return this.copy(n, true)
  }

  private copy (n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n)
    let filled = 0
    let index = 0
    while (filled < n) {
      const chunk = this.chunks[index]
      const part = Math.min(chunk.length, n - filled)
      out.set(chunk.subarray(0, part), filled)
      filled += part
      if (consume) {
        if (part === chunk.length) this.chunks.shift()
        else this.chunks[0] = chunk.subarray(part)
      } else {
        index++
      }
    }
    if (consume) this.buffered -= n
    return out
  }
}
