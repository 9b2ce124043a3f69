/**
 * Byte codec of a stem message (docs/PROTOCOL.md 4.4, vectors in test/vectors/stem.json):
 *
 *   version u8 (1) ‖ bucket u16 ‖ frame (1 .. 65,550 bytes, the stamped gossip frame)
 *
 * No hop counter, nothing about the sender. The encoder throws RangeError on arguments out of
 * range; the decoder throws only AsmtpError. The frame itself is checked by the node's intake.
 */
import { ByteReader, concatBytes, u16be } from '../../bytes.js'
import { AsmtpError } from '../../errors.js'
import { MAX_GOSSIP_FRAME_BYTES } from '../../frame/index.js'
import { MAX_BUCKET, MAX_STEM_MESSAGE_BYTES, STEM_VERSION, type StemMessage } from './protocol.js'

export function encodeStemMessage (m: StemMessage): Uint8Array {
  if (!Number.isInteger(m.bucket) || m.bucket < 0 || m.bucket > MAX_BUCKET) throw new RangeError(`bucket must be an integer in [0, ${MAX_BUCKET}], got ${m.bucket}`)
  if (!(m.frame instanceof Uint8Array) || m.frame.length === 0 || m.frame.length > MAX_GOSSIP_FRAME_BYTES) {
    throw new RangeError(`frame must be 1 to ${MAX_GOSSIP_FRAME_BYTES} bytes`)
  }
  return concatBytes(Uint8Array.of(STEM_VERSION), u16be(m.bucket), m.frame)
}

export function decodeStemMessage (bytes: Uint8Array): StemMessage {
  if (bytes.length > MAX_STEM_MESSAGE_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `stem message of ${bytes.length} bytes exceeds ${MAX_STEM_MESSAGE_BYTES}`)
  const r = new ByteReader(bytes, 'stem message')
  const version = r.u8()
  if (version !== STEM_VERSION) throw new AsmtpError('STEM_BAD_VERSION', `stem version ${version} not supported`)
  const bucket = r.u16()
  const frame = r.rest()
  if (frame.length === 0) throw new AsmtpError('STEM_EMPTY_FRAME', 'stem message carries no frame')
  return { bucket, frame }
}
