/**
 * Frames a node holds on the stem, each under an embargo timer (DESIGN.md "Origin hiding"):
 * exponential with a mean of a few seconds, cut at a few means. A frame leaves the table when it
 * comes back through the mesh (settled), when it is fluffed, or when its timer fires (the holder
 * then fluffs it). The table is bounded in frames and bytes; one timer per frame held.
 */
import { toHex } from '../../bytes.js'
import { EMBARGO_MAX_MEANS, EMBARGO_MEAN_MS, MAX_HELD_BYTES, MAX_HELD_FRAMES, type StemClock } from './protocol.js'

export interface HeldFrame {
  hash: Uint8Array
  bucket: number
  data: Uint8Array
  /** this node's own frame (a device handed it here) */
  own: boolean
}

export interface EmbargoInit {
  clock: StemClock
  random: () => number
  /** called when a frame's timer fires; the frame has left the table */
  onExpire: (frame: HeldFrame) => void
  meanMs?: number
  maxFrames?: number
  maxBytes?: number
}

interface Entry { frame: HeldFrame, timer: unknown }

export class Embargo {
  private readonly init: EmbargoInit
  private readonly held = new Map<string, Entry>()
  private heldBytes = 0
  private readonly meanMs: number

  constructor (init: EmbargoInit) {
    this.init = init
    this.meanMs = init.meanMs ?? EMBARGO_MEAN_MS
  }

  get size (): number { return this.held.size }
  get bytes (): number { return this.heldBytes }

  has (hash: Uint8Array): boolean {
    return this.held.has(toHex(hash))
  }

  /** Whether one more frame of `length` bytes fits. */
  fits (length: number): boolean {
    return this.held.size < (this.init.maxFrames ?? MAX_HELD_FRAMES) && this.heldBytes + length <= (this.init.maxBytes ?? MAX_HELD_BYTES)
  }

  /** A draw of the exponential embargo, in ms. */
  delayMs (): number {
    const u = Math.min(Math.max(this.init.random(), 0), 1 - Number.EPSILON)
    return Math.min(-this.meanMs * Math.log(1 - u), EMBARGO_MAX_MEANS * this.meanMs)
  }

  /** Holds a frame under a new timer; false when it is held already or the table is full. */
  hold (frame: HeldFrame): boolean {
    const key = toHex(frame.hash)
    if (this.held.has(key) || !this.fits(frame.data.length)) return false
    const timer = this.init.clock.setTimeout(() => {
      if (this.take(frame.hash) !== undefined) this.init.onExpire(frame)
    }, this.delayMs())
    this.held.set(key, { frame, timer })
    this.heldBytes += frame.data.length
    return true
  }

  /** Removes a frame and cancels its timer: it came back, or is being fluffed. */
  take (hash: Uint8Array): HeldFrame | undefined {
    const key = toHex(hash)
    const e = this.held.get(key)
    if (e === undefined) return undefined
    this.init.clock.clearTimeout(e.timer)
    this.held.delete(key)
    this.heldBytes -= e.frame.data.length
    return e.frame
  }

  /** Cancels every timer and returns what was held (the node stops). */
  clear (): HeldFrame[] {
    const frames = [...this.held.values()].map(e => e.frame)
    for (const f of frames) this.take(f.hash)
    return frames
  }
}
