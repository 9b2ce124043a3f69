/**
 * Applying device-sync records to an account, and queueing its own (docs/CLIENT.md "Device
 * sync", "Conflicts"). Each contact carries a conflict clock (time of the change, device key);
 * of two changes to one passport, the one with the greater clock wins, so every device that has
 * seen the same records holds the same contacts whatever order they came in. Two passports that
 * ask for the same alias: the one added first (by clock) keeps it, the other is shown as
 * `alias~<first 8 hex digits of its passport id>`.
 */
import { randomInt } from 'node:crypto'
import { toHex } from '../bytes.js'
import { isAsmtpError } from '../errors.js'
import { mergePassport, Passport } from '../passport/index.js'
import {
  contactKeysToRecord, loadContactPassport, saveContactPassport, toMailboxContact, type ContactRecord
} from './account-files.js'
import type { Context } from './context.js'
import type { DeviceRecord } from './device-sync.js'
import { withCurrentKey } from './mailbox.js'
import type { MessageRecord } from './mail-store.js'
import { messageKey } from './sync-state.js'

export interface Clock { at: number, by: string }

export function newer (a: Clock, b: Clock): boolean {
  return a.at > b.at || (a.at === b.at && a.by > b.by)
}

export function clockOf (c: ContactRecord): Clock {
  return { at: c.at ?? c.addedAt, by: c.by ?? '' }
}

/** Queues a record to go out at a random time within `maxDelayMs` (never at the moment of what it describes). */
export function queueRecord (ctx: Context, record: DeviceRecord, maxDelayMs: number): void {
  ctx.sync.pendingRecords.push({ due: ctx.now() + (maxDelayMs > 0 ? randomInt(0, maxDelayMs + 1) : 0), record })
}

export function queueReceipt (ctx: Context, contact: string, id: string, maxDelayMs: number): void {
  let entry = ctx.sync.pendingReceipts.find(p => p.contact === contact)
  if (entry === undefined) {
    entry = { due: ctx.now() + (maxDelayMs > 0 ? randomInt(0, maxDelayMs + 1) : 0), contact, ids: [] }
    ctx.sync.pendingReceipts.push(entry)
  }
  if (!entry.ids.includes(id)) entry.ids.push(id)
}

/** Gives every contact its alias: the first (by clock) to ask for an alias gets it. */
export function resolveAliases (contacts: ContactRecord[]): void {
  const taken = new Set<string>()
  const order = [...contacts].sort((a, b) => {
    const x = clockOf(a)
    const y = clockOf(b)
    return x.at - y.at || (x.by < y.by ? -1 : x.by > y.by ? 1 : 0) || (a.passportId < b.passportId ? -1 : 1)
  })
  for (const c of order) {
    const wanted = c.wanted ?? c.alias
    const alias = taken.has(wanted) ? `${wanted}~${c.passportId.slice(0, 8)}` : wanted
    taken.add(alias)
    c.alias = alias
    if (alias === wanted) delete c.wanted
    else c.wanted = wanted
  }
}

/** Keeps the longer of the held and the given passport of a contact; a new shared key becomes current. Returns whether the key changed. */
export async function adoptContactPassport (ctx: Context, contact: ContactRecord, candidate: Passport): Promise<boolean> {
  let held: Passport | null = null
  try {
    held = await loadContactPassport(ctx.paths, contact)
  } catch (err) {
    if (!isAsmtpError(err)) throw err
  }
  let next: Passport
  try {
    next = mergePassport(held, candidate)
  } catch (err) {
    if (!isAsmtpError(err, 'LEDGER_FORK') || held === null) throw err
    return false
  }
  if (held !== null && next.blocks.length <= held.blocks.length) return false
  await saveContactPassport(ctx.paths, next)
  const now = ctx.now()
  contact.updatedAt = now
  const before = contact.keys.find(k => k.retiredAt === null)?.publicKey
  const after = toHex(next.sharedPublicKey)
  if (before === after) return false
  contact.keys = contactKeysToRecord(withCurrentKey(toMailboxContact(contact).keys, { publicKey: next.sharedPublicKey, retiredAt: null }, now))
  return true
}

export interface AppliedRecords {
  contactsChanged: boolean
  /** Sent copies from other devices, to store. */
  sent: MessageRecord[]
  /** `${contact}:${id}` marked deleted. */
  deleted: string[]
  /** Of those, the burn-after-reading messages read on another device. */
  burnt: string[]
}

function decodePassport (b64: string, ownId: string): Passport | null {
  try {
    const p = Passport.import(new Uint8Array(Buffer.from(b64, 'base64')))
    return toHex(p.id) === ownId ? null : p
  } catch (err) {
    if (isAsmtpError(err)) return null
    throw err
  }
}

async function applyAdd (ctx: Context, alias: string, passport: Passport, clock: Clock): Promise<boolean> {
  const id = toHex(passport.id)
  const existing = ctx.state.contacts.find(c => c.passportId === id)
  const current = existing === undefined ? ctx.sync.removed[id] : clockOf(existing)
  if (current !== undefined && !newer(clock, current)) {
    if (existing !== undefined) await adoptContactPassport(ctx, existing, passport)
    return false
  }
  delete ctx.sync.removed[id]
  if (existing !== undefined) {
    existing.wanted = alias
    existing.at = clock.at
    existing.by = clock.by
    await adoptContactPassport(ctx, existing, passport)
  } else {
    const now = ctx.now()
    const record: ContactRecord = {
      alias, passportId: id, addedAt: now, updatedAt: now, keys: [{ publicKey: toHex(passport.sharedPublicKey), retiredAt: null }], announcedTip: null, at: clock.at, by: clock.by
    }
    await saveContactPassport(ctx.paths, passport)
    ctx.state.contacts.push(record)
  }
  return true
}

function applyRemove (ctx: Context, passportId: string, clock: Clock): boolean {
  const existing = ctx.state.contacts.find(c => c.passportId === passportId)
  const current = existing === undefined ? ctx.sync.removed[passportId] : clockOf(existing)
  if (current !== undefined && !newer(clock, current)) return false
  ctx.state.contacts = ctx.state.contacts.filter(c => c !== existing)
  ctx.sync.removed[passportId] = clock
  return existing !== undefined
}

/** Applies the records of one verified batch written by device `by`. */
export async function applyRecords (ctx: Context, records: ReadonlyArray<DeviceRecord | { type: 'unknown', raw: unknown }>, by: string): Promise<AppliedRecords> {
  const out: AppliedRecords = { contactsChanged: false, sent: [], deleted: [], burnt: [] }
  const own = ctx.state.passportId
  // contacts first, so that a sent copy in the same batch finds its contact
  const isContactRecord = (r: { type: string }): boolean => r.type === 'contacts' || r.type === 'contact-added' || r.type === 'contact-removed'
  for (const r of [...records.filter(isContactRecord), ...records.filter(r => !isContactRecord(r))]) {
    switch (r.type) {
      case 'unknown':
        ctx.sync.unknown.push(r.raw)
        break
      case 'contact-added': {
        const p = decodePassport(r.passport, own)
        if (p !== null && await applyAdd(ctx, r.alias, p, { at: r.at, by })) out.contactsChanged = true
        break
      }
      case 'contact-removed':
        if (applyRemove(ctx, r.passportId, { at: r.at, by })) out.contactsChanged = true
        break
      case 'contacts':
        for (const e of r.contacts) {
          const p = decodePassport(e.passport, own)
          if (p !== null && await applyAdd(ctx, e.alias, p, { at: e.at, by: e.by ?? by })) out.contactsChanged = true
        }
        for (const e of r.removed) if (applyRemove(ctx, e.passportId, { at: e.at, by: e.by ?? by })) out.contactsChanged = true
        break
      case 'sent': {
        const contact = ctx.state.contacts.find(c => c.passportId === r.contact)
        const record: MessageRecord = {
          v: 1, direction: 'out', alias: contact?.alias ?? r.contact.slice(0, 8), contact: r.contact, id: r.id, time: r.time, at: ctx.now(), contentType: r.contentType
        }
        if (r.text !== undefined) record.text = r.text
        if (r.body !== undefined) record.body = r.body
        if (r.file !== undefined) record.file = { ...r.file, path: '' }
        if (r.expiresAt !== undefined) record.expiresAt = r.expiresAt
        if (r.burn === true) record.burn = true
        out.sent.push(record)
        ctx.sync.delivery[messageKey(r.contact, r.id)] ??= { sentAt: r.time, delivered: null, resentAt: null, failedAt: null, mine: false }
        break
      }
      case 'mark': {
        const key = messageKey(r.contact, r.id)
        const m = (ctx.sync.marks[key] ??= {})
        if (r.read === true) m.read ??= r.at
        if (r.deleted === true && m.deleted === undefined) {
          m.deleted = r.at
          out.deleted.push(key)
          if (r.burnt === true) {
            m.burnt = r.at
            out.burnt.push(key)
          }
        }
        break
      }
    }
  }
  if (out.contactsChanged) resolveAliases(ctx.state.contacts)
  return out
}

/** The snapshot a device posts when it adds a new device: every contact and every removal, with their clocks. */
export async function contactsSnapshot (ctx: Context): Promise<DeviceRecord> {
  const contacts = []
  for (const c of ctx.state.contacts) {
    const p = await loadContactPassport(ctx.paths, c)
    const clock = clockOf(c)
    contacts.push({ alias: c.wanted ?? c.alias, passport: Buffer.from(p.export()).toString('base64'), at: clock.at, ...(clock.by === '' ? {} : { by: clock.by }) })
  }
  const removed = Object.entries(ctx.sync.removed).map(([passportId, c]) => ({ passportId, at: c.at, ...(c.by === '' ? {} : { by: c.by }) }))
  return { type: 'contacts', at: ctx.now(), contacts, removed }
}
