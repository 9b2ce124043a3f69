/**
 * Messages that are gone by the sender's choice (docs/CLIENT.md "TTL and burn after reading"):
 * they leave the local mailbox, and a short note (who, when sent, why) stays, so `inbox` can say
 * that a message expired or that a burnt message was read, without keeping any of its content.
 */
import type { Context } from './context.js'
import { deleteMessages, readMessages } from './mail-store.js'
import type { VanishedNote } from './sync-state.js'

export type VanishReason = VanishedNote['reason']

/**
 * Deletes the messages `${contact}:${id}` in `gone` from the mailbox and notes each once with
 * its reason and time. A message this device never held is noted too (another device burnt it).
 * The caller saves the context.
 */
export async function vanishMessages (ctx: Context, gone: ReadonlyMap<string, { reason: VanishReason, at: number }>): Promise<number> {
  if (gone.size === 0) return 0
  const held = new Map((await readMessages(ctx.paths)).map(r => [`${r.contact}:${r.id}`, r]))
  const noted = new Set(ctx.sync.vanished.map(n => `${n.contact}:${n.id}`))
  for (const [key, why] of gone) {
    delete ctx.sync.expiries[key]
    if (noted.has(key)) continue
    const r = held.get(key)
    const [contact = '', id = ''] = key.split(':')
    const alias = ctx.state.contacts.find(c => c.passportId === contact)?.alias ?? r?.alias ?? contact.slice(0, 8)
    ctx.sync.vanished.push({ contact, id, alias, direction: r?.direction ?? 'in', time: r?.time ?? null, reason: why.reason, at: why.at })
    noted.add(key)
  }
  return await deleteMessages(ctx.paths, new Set(gone.keys()))
}

/** The notes, oldest first, optionally of one contact (passport id). */
export function vanishedNotes (ctx: Context, contact?: string): VanishedNote[] {
  return ctx.sync.vanished
    .filter(n => contact === undefined || n.contact === contact)
    .map(n => ({ ...n, alias: ctx.state.contacts.find(c => c.passportId === n.contact)?.alias ?? n.alias }))
}
