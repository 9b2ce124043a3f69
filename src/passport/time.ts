/**
 * Passport time: every time inside a passport is a u32 count of seconds since
 * 2020-01-01T00:00:00Z (docs/PROTOCOL.md section 1, "Times"). APIs take and give ms since the Unix
 * epoch; these helpers convert between the two.
 */

export const PASSPORT_EPOCH_MS = Date.UTC(2020, 0, 1)

const MAX_U32 = 0xffff_ffff

/** ms since the Unix epoch -> seconds since the passport epoch (floored). RangeError outside u32. */
export function toPassportTime (ms: number): number {
  if (!Number.isFinite(ms)) throw new RangeError(`time must be a finite number of ms, got ${ms}`)
  const seconds = Math.floor((ms - PASSPORT_EPOCH_MS) / 1000)
  if (seconds < 0 || seconds > MAX_U32) {
    throw new RangeError(`time ${new Date(ms).toISOString()} is outside the passport range (2020-01-01 to 2156-02-07)`)
  }
  return seconds
}

/** Seconds since the passport epoch -> ms since the Unix epoch. */
export function fromPassportTime (seconds: number): number {
  return PASSPORT_EPOCH_MS + seconds * 1000
}
