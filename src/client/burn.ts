/**
 * Burn after reading (docs/CLIENT.md "TTL and burn after reading"). The sender's flag travels
 * inside the sealed plaintext, so no relay can strip it. The first read of a burn message on any
 * device of the recipient deletes it there and queues one device-sync mark (read, deleted,
 * burnt) that deletes it on every other device at their next sync; a device that gets the
 * message after the mark never stores it (the mark makes it a message already seen).
 */
import type { Context } from './context.js'
import { queueRecord } from './device-records.js'
import { readMessages } from './mail-store.js'
import { messageKey } from './sync-state.js'
import { vanishMessages } from './vanished.js'

/** Marks received messages read here and on the other devices; those sent with burn go at once, everywhere. */
export async function markReadOrBurn (ctx: Context, messages: ReadonlyArray<{ contact: string, id: string }>, recordDelayMs: number): Promise<void> {
  const now = ctx.now()
  const burn = new Set((await readMessages(ctx.paths)).filter(r => r.direction === 'in' && r.burn === true).map(r => messageKey(r.contact, r.id)))
  const burnt = new Map<string, { reason: 'burnt', at: number }>()
  for (const { contact, id } of messages) {
    const key = messageKey(contact, id)
    const m = (ctx.sync.marks[key] ??= {})
    if (m.read !== undefined) continue
    m.read = now
    if (!burn.has(key)) {
      queueRecord(ctx, { type: 'mark', at: now, contact, id, read: true }, recordDelayMs)
      continue
    }
    m.deleted = now
    m.burnt = now
    burnt.set(key, { reason: 'burnt', at: now })
    queueRecord(ctx, { type: 'mark', at: now, contact, id, read: true, deleted: true, burnt: true }, recordDelayMs)
  }
  await vanishMessages(ctx, burnt)
}
