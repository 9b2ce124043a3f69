/**
 * Messages larger than one frame (docs/PROTOCOL.md section 5 "Fragmentation"): every frame but the
 * last has type 0x7e MORE with the request id of the message and a non-empty part of its body;
 * the last has the real type and the last part. The receiver joins the parts per request id,
 * bounded in message size and in the number of messages open at once.
 */
import { AsmtpError } from '../errors.js'
import { FRAME_HEADER_BYTES, MAX_FRAME_PLAINTEXT_BYTES } from './limits.js'
import { encodeFramePlaintext, MessageType, type ChannelMessage } from './messages.js'

/** The frame plaintexts of one message; `maxPlaintextBytes` bounds each (header included). */
export function fragment (type: number, id: number, body: Uint8Array, maxPlaintextBytes = MAX_FRAME_PLAINTEXT_BYTES): Uint8Array[] {
  const part = maxPlaintextBytes - FRAME_HEADER_BYTES
  if (part <= 0) throw new RangeError(`maxPlaintextBytes must exceed ${FRAME_HEADER_BYTES}`)
  if (body.length <= part) return [encodeFramePlaintext(type, id, body)]
  const out: Uint8Array[] = []
  let offset = 0
  while (body.length - offset > part) {
    out.push(encodeFramePlaintext(MessageType.MORE, id, body.subarray(offset, offset + part)))
    offset += part
  }
  out.push(encodeFramePlaintext(type, id, body.subarray(offset)))
  return out
}

export interface ReassemblerInit {
  maxMessageBytes: number
  maxPartialMessages: number
}

interface Partial {
  parts: Uint8Array[]
  size: number
}

export class Reassembler {
  private readonly partials = new Map<number, Partial>()
  private readonly maxMessageBytes: number
  private readonly maxPartialMessages: number

  constructor (init: ReassemblerInit) {
    this.maxMessageBytes = init.maxMessageBytes
    this.maxPartialMessages = init.maxPartialMessages
  }

  /** Messages begun and not finished. */
  get open (): number {
    return this.partials.size
  }

  isOpen (id: number): boolean {
    return this.partials.has(id)
  }

  /**
   * Takes one decoded frame; returns the whole message when this frame ends one, else null.
   * Throws AsmtpError PROTOCOL_VIOLATION (empty MORE part, too many open messages) or
   * FRAME_TOO_LARGE (a message over maxMessageBytes).
   */
  push (frame: ChannelMessage): ChannelMessage | null {
    const partial = this.partials.get(frame.id)
    if (frame.type === MessageType.MORE) {
      if (frame.body.length === 0) throw new AsmtpError('PROTOCOL_VIOLATION', `empty MORE part for request ${frame.id}`)
      if (partial === undefined) {
        if (this.partials.size >= this.maxPartialMessages) {
          throw new AsmtpError('PROTOCOL_VIOLATION', `more than ${this.maxPartialMessages} fragmented messages open at once`)
        }
        this.checkSize(frame.id, frame.body.length)
        this.partials.set(frame.id, { parts: [frame.body], size: frame.body.length })
      } else {
        this.checkSize(frame.id, partial.size + frame.body.length)
        partial.parts.push(frame.body)
        partial.size += frame.body.length
      }
      return null
    }
    if (partial === undefined) {
      this.checkSize(frame.id, frame.body.length)
      return frame
    }
    this.partials.delete(frame.id)
    const size = partial.size + frame.body.length
    this.checkSize(frame.id, size)
    const body = new Uint8Array(size)
    let offset = 0
    for (const p of [...partial.parts, frame.body]) {
      body.set(p, offset)
      offset += p.length
    }
    return { type: frame.type, id: frame.id, body }
  }

  clear (): void {
    this.partials.clear()
  }

  private checkSize (id: number, size: number): void {
    if (size > this.maxMessageBytes) {
      throw new AsmtpError('FRAME_TOO_LARGE', `message ${id} exceeds ${this.maxMessageBytes} bytes`)
    }
  }
}
