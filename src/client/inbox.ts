/**
 * The inbox listing (docs/CLIENT.md "inbox"): received and sent mail of the local mailbox, oldest
 * first, with read marks and the delivery state of sent mail; and the notes of mail that expired
 * or was burnt.
 */
import { findContact } from './account-files.js'
import type { Context } from './context.js'
import { readMessages, type MessageRecord } from './mail-store.js'
import { messageKey, type VanishedNote } from './sync-state.js'
import { vanishedNotes } from './vanished.js'

export type DeliveryStatus = 'delivered' | 'waiting' | 'undeliverable'

export interface InboxMessage extends MessageRecord {
  /** Sent mail: whether a receipt came back. */
  status?: DeliveryStatus
  read: boolean
}

export interface InboxFilter {
  /** Only mail with this contact (alias). */
  contact?: string
  direction?: 'in' | 'out'
  /** Only mail sent at or after this time (ms). */
  since?: number
  unread?: boolean
}

export async function listInbox (ctx: Context, filter: InboxFilter): Promise<InboxMessage[]> {
  const contact = filter.contact === undefined ? undefined : findContact(ctx.state, filter.contact)
  const records = (await readMessages(ctx.paths))
    .filter(r => contact === undefined || r.contact === contact.passportId)
    .filter(r => filter.direction === undefined || r.direction === filter.direction)
    .filter(r => filter.since === undefined || r.time >= filter.since)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.time - b.r.time || a.i - b.i)
    .map(({ r }): InboxMessage => {
      const key = messageKey(r.contact, r.id)
      const alias = ctx.state.contacts.find(c => c.passportId === r.contact)?.alias ?? r.alias
      const m: InboxMessage = { ...r, alias, read: r.direction === 'out' || ctx.sync.marks[key]?.read !== undefined }
      if (r.direction === 'out') {
        const d = ctx.sync.delivery[key]
        m.status = d === undefined ? 'waiting' : d.delivered !== null ? 'delivered' : d.failedAt !== null ? 'undeliverable' : 'waiting'
      }
      return m
    })
  return filter.unread === true ? records.filter(m => !m.read) : records
}

/** Notes of mail that expired or was burnt, oldest first, with the same contact and direction filters. */
export function listVanished (ctx: Context, filter: InboxFilter): VanishedNote[] {
  const contact = filter.contact === undefined ? undefined : findContact(ctx.state, filter.contact)
  return vanishedNotes(ctx, contact?.passportId).filter(n => filter.direction === undefined || n.direction === filter.direction)
}
