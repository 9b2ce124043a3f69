/**
 * Message TTL on the client (DESIGN.md "Modes from the dead-drop family"; docs/CLIENT.md "TTL
 * and burn after reading"). The sender picks one of the frame's TTL classes (`--ttl 1h|24h|7d`);
 * the class and the frame's hour are covered by the envelope's MAC, so the expiry every device
 * computes, (hour + 1) h + TTL, is the sender's and no relay can stretch it. Every node drops the
 * frame then; every device of both sides deletes its copy then and keeps a note of it.
 */
import { AsmtpError } from '../errors.js'
import { frameExpiresAt, type TtlClass } from '../frame/time.js'
import { saveContext, type Context } from './context.js'
import type { MessageMode, MessageRecord } from './mail-store.js'
import { messageKey } from './sync-state.js'
import { vanishMessages } from './vanished.js'

export type TtlName = '1h' | '24h' | '7d'

/** The TTL names a user types and the frame classes they map to (class 0 is the network's lifetime: no TTL). */
export const TTL_CLASS_OF: Readonly<Record<TtlName, TtlClass>> = Object.freeze({ '1h': 1, '24h': 2, '7d': 3 })

/** What a send may ask for besides its content. */
export interface SendMode {
  /** Deleted everywhere when this runs out. @default none (the network's frame lifetime, then the node's retention) */
  ttl?: TtlName
  /** Deleted on every device of the recipient after the first read there. @default false */
  burn?: boolean
}

/** The frame class of a TTL name; FRAME_BAD_TTL for anything else. */
export function ttlClassOf (ttl: string | undefined): TtlClass {
  if (ttl === undefined) return 0
  const c = (TTL_CLASS_OF as Record<string, TtlClass | undefined>)[ttl]
  if (c === undefined) throw new AsmtpError('FRAME_BAD_TTL', `the TTL must be one of ${Object.keys(TTL_CLASS_OF).join(', ')}, not "${ttl}"`)
  return c
}

/** When a message in a frame of `hour` and `ttlClass` expires; undefined for class 0 (no TTL). */
export function messageExpiry (hour: number, ttlClass: TtlClass): number | undefined {
  return ttlClass === 0 ? undefined : frameExpiresAt(hour, ttlClass, 0)
}

/** A received message's mode, from its (MAC'd) frame header and its sealed plaintext. */
export function receivedMode (opened: { hour: number, ttlClass: TtlClass, message: { burn?: boolean } }): MessageMode {
  const expiresAt = messageExpiry(opened.hour, opened.ttlClass)
  return { ...(expiresAt === undefined ? {} : { expiresAt }), ...(opened.message.burn === true ? { burn: true as const } : {}) }
}

/** Remembers when a stored message must go (the record carries its expiry). */
export function trackExpiry (ctx: Context, record: MessageRecord): void {
  if (record.expiresAt !== undefined) ctx.sync.expiries[messageKey(record.contact, record.id)] = record.expiresAt
}

/** Deletes the messages whose TTL has run out, and notes them; returns how many went. Cheap when none is due. */
export async function expireDue (ctx: Context): Promise<number> {
  const now = ctx.now()
  const due = Object.entries(ctx.sync.expiries).filter(([, at]) => at <= now)
  if (due.length === 0) return 0
  const n = await vanishMessages(ctx, new Map(due.map(([key, at]) => [key, { reason: 'expired' as const, at }])))
  await saveContext(ctx)
  return n
}
