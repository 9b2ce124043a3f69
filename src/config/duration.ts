/**
 * Durations in the config: a number of seconds (3600) or a string of whole units in the order
 * d, h, m, s, each at most once ("14d", "36h", "1d12h", "90m", "45s", "3600").
 */
import { AsmtpError } from '../errors.js'

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/
const SECONDS_RE = /^\d+$/
const HINT = 'use whole seconds or units d, h, m, s such as 14d, 36h, 1d12h'

/** Milliseconds of a duration. Throws AsmtpError CONFIG_INVALID (the caller adds the field). */
export function parseDuration (value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new AsmtpError('CONFIG_INVALID', `${value} is not a duration (${HINT})`)
    }
    return checked(value * 1000, String(value))
  }
  const text = value.trim()
  if (SECONDS_RE.test(text)) return checked(Number(text) * 1000, value)
  const m = DURATION_RE.exec(text)
  if (text === '' || m === null) {
    throw new AsmtpError('CONFIG_INVALID', `${JSON.stringify(value)} is not a duration (${HINT})`)
  }
  const [, d, h, min, s] = m
  const ms = Number(d ?? 0) * UNIT_MS.d + Number(h ?? 0) * UNIT_MS.h + Number(min ?? 0) * UNIT_MS.m + Number(s ?? 0) * UNIT_MS.s
  return checked(ms, value)
}

function checked (ms: number, shown: string): number {
  if (!Number.isSafeInteger(ms)) throw new AsmtpError('CONFIG_INVALID', `${JSON.stringify(shown)} is too long a duration`)
  return ms
}

/** The shortest string parseDuration reads back to `ms` (whole seconds; "0s" for zero). */
export function formatDuration (ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms % 1000 !== 0) {
    throw new RangeError(`formatDuration: ${ms} is not a whole number of seconds`)
  }
  if (ms === 0) return '0s'
  let rest = ms
  let out = ''
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const n = Math.floor(rest / size)
    if (n > 0) out += `${n}${unit}`
    rest -= n * size
  }
  return out
}
