/**
 * `/asmtp/stem/1.0.0`, the stem of Dandelion++ (DESIGN.md "Origin hiding"): protocol id, the
 * constants of the stem (epoch, fluff coin, embargo) and its bounds (docs/PROTOCOL.md 4.4).
 */
import { MAX_GOSSIP_FRAME_BYTES } from '../../frame/index.js'

export const STEM_PROTOCOL = '/asmtp/stem/1.0.0'
export const STEM_VERSION = 1
/** version u8 ‖ bucket u16 */
export const STEM_HEADER_BYTES = 3
export const MAX_STEM_MESSAGE_BYTES = STEM_HEADER_BYTES + MAX_GOSSIP_FRAME_BYTES
export const MAX_BUCKET = 0xffff

/** A stem successor per bucket holds for one epoch (unless it disconnects). */
export const STEM_EPOCH_MS = 10 * 60_000
/** The coin a node flips on every stem frame it receives: fluff instead of forwarding. */
export const FLUFF_PROBABILITY = 0.1
/** Mean of the exponential embargo timer every holder keeps. */
export const EMBARGO_MEAN_MS = 4_000
/** No embargo runs longer than this many means (the exponential's tail, cut). */
export const EMBARGO_MAX_MEANS = 8

/** Frames held under embargo at once, and their bytes (own and received). */
export const MAX_HELD_FRAMES = 1_024
export const MAX_HELD_BYTES = 16 * 1024 * 1024
/** Inbound stem streams served at once over all peers, and per connection. */
export const MAX_INBOUND_STREAMS = 64
export const MAX_INBOUND_STREAMS_PER_CONNECTION = 4
export const MAX_OUTBOUND_STREAMS_PER_CONNECTION = 8
/** Messages read from one inbound stream before it is closed. */
export const MAX_MESSAGES_PER_STREAM = 16
/** Stem messages accepted per second from one peer (burst twice that). */
export const STEM_MESSAGES_PER_SECOND_PER_PEER = 50
/** Bound on each read of a message, and on opening a stream, writing to it and closing it. */
export const STEM_READ_TIMEOUT_MS = 10_000
export const STEM_SEND_TIMEOUT_MS = 5_000

/** The timers of the stem: the node's clock by default, a manual one in tests. */
export interface StemClock {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

export const systemClock: StemClock = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) }
}

export interface StemMessage { bucket: number, frame: Uint8Array }
