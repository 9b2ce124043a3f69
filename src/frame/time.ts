/**
 * Frame time (DESIGN.md "What travels: the gossip frame"): hours since 2020-01-01T00:00Z, the
 * four TTL classes, a frame's expiry, and the window in which a node accepts a frame.
 */

export const FRAME_EPOCH_MS = Date.UTC(2020, 0, 1)
export const HOUR_MS = 3_600_000
export const DEFAULT_FRAME_LIFETIME_MS = 14 * 24 * HOUR_MS
export const MAX_FRAME_HOUR = 0xffffffff

/** 0: the network's frame lifetime, 1: 1 h, 2: 24 h, 3: 7 days. */
export type TtlClass = 0 | 1 | 2 | 3
export const TTL_CLASSES: readonly TtlClass[] = [0, 1, 2, 3]

export type FrameTimeCheck = 'ok' | 'too-old' | 'future' | 'expired'

export function isTtlClass (n: unknown): n is TtlClass {
  return n === 0 || n === 1 || n === 2 || n === 3
}

export function isFrameHour (n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 0 && (n as number) <= MAX_FRAME_HOUR
}

/** Floor of the hours since FRAME_EPOCH_MS. */
export function frameHour (ms: number): number {
  return Math.floor((ms - FRAME_EPOCH_MS) / HOUR_MS)
}

export function ttlMs (ttlClass: TtlClass, lifetimeMs: number): number {
  switch (ttlClass) {
    case 0: return lifetimeMs
    case 1: return HOUR_MS
    case 2: return 24 * HOUR_MS
    case 3: return 7 * 24 * HOUR_MS
    default: throw new RangeError(`ttl class ${String(ttlClass)} is not 0..3`)
  }
}

/** FRAME_EPOCH_MS + (hour + 1) h + the TTL. */
export function frameExpiresAt (hour: number, ttlClass: TtlClass, lifetimeMs: number): number {
  return FRAME_EPOCH_MS + (hour + 1) * HOUR_MS + ttlMs(ttlClass, lifetimeMs)
}

/**
 * 'ok' when hour is within [frameHour(now) - lifetime hours - 1, frameHour(now) + 1] and now is
 * before the frame's expiry.
 */
export function checkFrameTime (hour: number, ttlClass: TtlClass, lifetimeMs: number, now: number): FrameTimeCheck {
  const current = frameHour(now)
  if (hour > current + 1) return 'future'
  if (hour < current - Math.ceil(lifetimeMs / HOUR_MS) - 1) return 'too-old'
  if (now >= frameExpiresAt(hour, ttlClass, lifetimeMs)) return 'expired'
  return 'ok'
}
