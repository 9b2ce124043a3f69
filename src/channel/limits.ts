/**
 * Constants and limits of the client channel (docs/PROTOCOL.md section 5): the Noise parameters,
 * the frame and message sizes, and the per-connection bounds a node enforces.
 */
import { AEAD_TAG_BYTES } from '../crypto/aead.js'

export const CHANNEL_PROTOCOL_NAME = 'Noise_IK_25519_ChaChaPoly_BLAKE2b'
/** Noise prologue: the ASCII bytes `asmtp/client/1`. */
export const CHANNEL_PROLOGUE = new TextEncoder().encode('asmtp/client/1')
/** The protocol version this implementation speaks (handshake payloads). */
export const CHANNEL_VERSION = 1
/** Handshake message 2 payload meaning "your device key is not in this node's users". */
export const VERSION_REFUSED = 0

/** Noise spec 3: a Noise message is at most 65535 bytes. */
export const MAX_FRAME_BYTES = 65535
export const MAX_FRAME_PLAINTEXT_BYTES = MAX_FRAME_BYTES - AEAD_TAG_BYTES
/** u8 type ‖ u32 BE request id. */
export const FRAME_HEADER_BYTES = 5
export const MIN_FRAME_BYTES = FRAME_HEADER_BYTES + AEAD_TAG_BYTES
/** IK message 1 with a one-byte payload is 32 + 48 + 17 = 97 bytes; anything longer is refused. */
export const MAX_HANDSHAKE_BYTES = 256
/** Largest reassembled message body. */
export const MAX_MESSAGE_BYTES = 1024 * 1024
export const MAX_IN_FLIGHT = 32
export const HANDSHAKE_TIMEOUT_MS = 10_000
export const IDLE_TIMEOUT_MS = 5 * 60_000
export const REQUEST_TIMEOUT_MS = 30_000
export const MAX_SEND_QUEUE_BYTES = 4 * 1024 * 1024
export const MAX_CONNECTIONS = 1024
export const MAX_QUERY_ITEMS = 1000
export const MAX_WATCH_TOPICS = 4096
/** A watching client pings at this interval so that the node's idle timeout does not close it. */
export const KEEPALIVE_MS = 60_000

export interface ChannelLimits {
  /** @default 10000 */
  handshakeTimeoutMs: number
  /** No frame received for this long closes the connection. @default 300000 */
  idleTimeoutMs: number
  /** Requests a connection may have in flight; more get a TOO_MANY_REQUESTS error reply. @default 32 */
  maxInFlight: number
  /** Largest frame accepted (length prefix). @default 65535 */
  maxFrameBytes: number
  /** Largest reassembled message body. @default 1048576 */
  maxMessageBytes: number
  /** Bytes queued on a socket before the peer counts as not reading and is disconnected. @default 4194304 */
  maxSendQueueBytes: number
  /** Node side: a request the backend has not answered by then gets a TIMEOUT error reply. @default 30000 */
  requestTimeoutMs: number
  /** Node side: connections beyond this are closed on accept. @default 1024 */
  maxConnections: number
  /** Node side: most envelopes in one QUERY reply (0 in the request means this). @default 1000 */
  maxQueryItems: number
  /** Node side: most topics named in one WATCH. @default 4096 */
  maxWatchTopics: number
}

export const DEFAULT_CHANNEL_LIMITS: Readonly<ChannelLimits> = Object.freeze({
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  maxInFlight: MAX_IN_FLIGHT,
  maxFrameBytes: MAX_FRAME_BYTES,
  maxMessageBytes: MAX_MESSAGE_BYTES,
  maxSendQueueBytes: MAX_SEND_QUEUE_BYTES,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  maxConnections: MAX_CONNECTIONS,
  maxQueryItems: MAX_QUERY_ITEMS,
  maxWatchTopics: MAX_WATCH_TOPICS
})

/** Fills in defaults and rejects values no connection could work with (RangeError: a programmer error). */
export function resolveLimits (limits: Partial<ChannelLimits> = {}): ChannelLimits {
  const out: ChannelLimits = { ...DEFAULT_CHANNEL_LIMITS }
  for (const [name, value] of Object.entries(limits) as Array<[keyof ChannelLimits, number | undefined]>) {
    if (value === undefined) continue
    if (!(name in DEFAULT_CHANNEL_LIMITS)) throw new RangeError(`unknown channel limit ${name}`)
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`channel limit ${name} must be a positive integer, got ${value}`)
    out[name] = value
  }
  if (out.maxFrameBytes < MIN_FRAME_BYTES + 1 || out.maxFrameBytes > MAX_FRAME_BYTES) {
    throw new RangeError(`maxFrameBytes must be between ${MIN_FRAME_BYTES + 1} and ${MAX_FRAME_BYTES}`)
  }
  if (out.maxSendQueueBytes < out.maxMessageBytes) throw new RangeError('maxSendQueueBytes must be at least maxMessageBytes')
  return out
}
