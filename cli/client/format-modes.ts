/**
 * How asmtp-cli shows the TTL and burn-after-reading modes: a tag on a message that has one, and
 * the note left by a message that expired or was burnt (docs/CLIENT.md "TTL and burn after reading").
 */
import type { MessageRecord, VanishedNote } from '../../src/index.js'
import { formatTime, isoTime, safeText } from './format.js'

/** "  [burn after reading]", "  [expires 2026-12-02 05:00:00]", both, or "". */
export function modeTag (r: MessageRecord): string {
  const tags: string[] = []
  if (r.burn === true) tags.push(r.direction === 'in' ? 'burn after reading: deleted on all your devices once shown' : 'burn after reading')
  if (r.expiresAt !== undefined) tags.push(`expires ${formatTime(r.expiresAt)}`)
  return tags.map(t => `  [${t}]`).join('')
}

export function modeJson (r: MessageRecord): { expiresAt?: string | null, burn?: true } {
  return { ...(r.expiresAt === undefined ? {} : { expiresAt: isoTime(r.expiresAt) }), ...(r.burn === true ? { burn: true as const } : {}) }
}

/** One line for a message that is gone. */
export function formatVanished (n: VanishedNote): string {
  const who = n.direction === 'in' ? `from ${safeText(n.alias)}` : `to ${safeText(n.alias)}`
  const sent = n.time === null ? '' : ` of ${formatTime(n.time)}`
  return n.reason === 'expired'
    ? `${formatTime(n.at)}  message ${who}${sent} expired (its TTL ran out) and was deleted`
    : `${formatTime(n.at)}  burnt message ${who}${sent} was read and deleted on all your devices`
}

export function vanishedJson (n: VanishedNote): Record<string, unknown> {
  return {
    vanished: n.reason, direction: n.direction === 'in' ? 'received' : 'sent', alias: n.alias, passportId: n.contact, messageId: n.id,
    time: n.time === null ? null : isoTime(n.time), at: isoTime(n.at)
  }
}
