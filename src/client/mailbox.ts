/**
 * The client's view of its pairwise topics (DESIGN.md "Pairwise topics", "Envelopes"): which
 * topics to register and read for a contact, sealing to a contact, and opening what arrives with
 * the contact's key as the only accepted sender.
 *
 * Both sides keep every shared key version that was current less than `retentionMs` ago: their
 * own secrets (a passport only opens the current one) and the contact's public keys. A topic is
 * one pair (own version, contact version); every pair of live versions is registered, so mail
 * sent on either side's old or new key during a rotation still arrives. An envelope on the
 * topic of (mine, theirs) must be sealed by `theirs`: any other sender is rejected.
 */
import { equalBytes } from '../bytes.js'
import type { X25519KeyPair } from '../crypto/x25519.js'
import { AsmtpError } from '../errors.js'
import type { Passport } from '../passport/index.js'
import { TopicCache, type TopicKeys } from '../topic/index.js'
import { encodePassportUpdate, PASSPORT_UPDATE_CONTENT_TYPE } from './passport-update.js'
import { openOnTopic, sealOnTopic, type OpenResult, type Sealed, type SealInit } from './seal.js'

export type { OpenResult } from './seal.js'

/** How long old shared keys (and the topics made with them) are kept: the default node retention. */
export const OLD_KEY_RETENTION_MS = 14 * 24 * 3600_000

export interface OwnSharedKey {
  publicKey: Uint8Array
  secretKey: Uint8Array
  /** ms since the epoch when it stopped being current; null while current. */
  retiredAt: number | null
}

export interface ContactSharedKey {
  publicKey: Uint8Array
  /** ms since the epoch when we learned it was replaced; null while current. */
  retiredAt: number | null
}

export interface MailboxContact {
  alias: string
  passportId: Uint8Array
  /** Oldest first; exactly one has retiredAt null, the current one. */
  keys: readonly ContactSharedKey[]
}

export interface ContactTopic {
  topic: TopicKeys
  mine: X25519KeyPair
  /** The contact's key for this topic: the only sender accepted on it. */
  theirs: Uint8Array
  /** Both keys are the current ones: new mail goes here. */
  current: boolean
}

export type SealedForContact = Sealed<ContactTopic>

export interface MailboxInit {
  ownKeys: readonly OwnSharedKey[]
  /** @default OLD_KEY_RETENTION_MS */
  retentionMs?: number
  cache?: TopicCache
}

export type SealMessageInit = SealInit

function isLive (key: { retiredAt: number | null }, now: number, retentionMs: number): boolean {
  return key.retiredAt === null || now - key.retiredAt < retentionMs
}

function currentOf<K extends { retiredAt: number | null }> (keys: readonly K[], what: string): K {
  const current = keys.filter(k => k.retiredAt === null)
  const only = current[0]
  if (current.length !== 1 || only === undefined) throw new AsmtpError('KEY_INVALID', `${what} must have exactly one current shared key, has ${current.length}`)
  return only
}

/**
 * The key list after `publicKey` became current at `now`: the previous current one is retired,
 * a key seen before becomes current again, and keys retired longer than `retentionMs` are dropped.
 */
export function withCurrentKey<K extends { publicKey: Uint8Array, retiredAt: number | null }> (
  keys: readonly K[], next: K, now: number, retentionMs = OLD_KEY_RETENTION_MS
): K[] {
  const out: K[] = []
  for (const k of keys) {
    if (equalBytes(k.publicKey, next.publicKey)) continue
    const retired = k.retiredAt ?? now
    if (now - retired < retentionMs) out.push({ ...k, retiredAt: retired })
  }
  out.push({ ...next, retiredAt: null })
  return out
}

/** Keys still in use at `now` (current, or retired less than `retentionMs` ago). */
export function liveKeys<K extends { retiredAt: number | null }> (keys: readonly K[], now: number, retentionMs = OLD_KEY_RETENTION_MS): K[] {
  return keys.filter(k => isLive(k, now, retentionMs))
}

export class Mailbox {
  readonly ownKeys: readonly OwnSharedKey[]
  readonly retentionMs: number
  private readonly cache: TopicCache

  constructor (init: MailboxInit) {
    this.ownKeys = init.ownKeys
    this.retentionMs = init.retentionMs ?? OLD_KEY_RETENTION_MS
    this.cache = init.cache ?? new TopicCache()
    currentOf(this.ownKeys, 'this device')
  }

  get currentOwnKey (): X25519KeyPair {
    const k = currentOf(this.ownKeys, 'this device')
    return { publicKey: k.publicKey, secretKey: k.secretKey }
  }

  /** Every topic with this contact to register and read at `now`, the current one first. */
  topicsFor (contact: MailboxContact, now: number = Date.now()): ContactTopic[] {
    const theirCurrent = currentOf(contact.keys, `contact ${contact.alias}`)
    const mineCurrent = currentOf(this.ownKeys, 'this device')
    const out: ContactTopic[] = []
    for (const mine of liveKeys(this.ownKeys, now, this.retentionMs)) {
      for (const theirs of liveKeys(contact.keys, now, this.retentionMs)) {
        const current = mine === mineCurrent && theirs === theirCurrent
        const entry: ContactTopic = {
          topic: this.cache.get(mine.secretKey, theirs.publicKey),
          mine: { publicKey: mine.publicKey, secretKey: mine.secretKey },
          theirs: theirs.publicKey,
          current
        }
        if (current) out.unshift(entry)
        else out.push(entry)
      }
    }
    return out
  }

  currentTopic (contact: MailboxContact): ContactTopic {
    const mine = this.currentOwnKey
    const theirs = currentOf(contact.keys, `contact ${contact.alias}`).publicKey
    return { topic: this.cache.get(mine.secretKey, theirs), mine, theirs, current: true }
  }

  /** Seals a message on the current topic, from the current own key to the contact's current key. */
  sealMessage (contact: MailboxContact, init: SealMessageInit): SealedForContact {
    return this.sealOn(this.currentTopic(contact), init)
  }

  /**
   * The passport update for a contact: one envelope per live own key, each sealed by that key
   * on its topic with the contact's current key, so the contact opens it whichever of our keys
   * it holds.
   */
  sealPassportUpdates (contact: MailboxContact, passport: Passport, now: number = Date.now()): SealedForContact[] {
    const body = encodePassportUpdate(passport)
    const theirs = currentOf(contact.keys, `contact ${contact.alias}`).publicKey
    return liveKeys(this.ownKeys, now, this.retentionMs).map(k => {
      const mine = { publicKey: k.publicKey, secretKey: k.secretKey }
      const topic: ContactTopic = { topic: this.cache.get(mine.secretKey, theirs), mine, theirs, current: k.retiredAt === null }
      return this.sealOn(topic, { contentType: PASSPORT_UPDATE_CONTENT_TYPE, body, time: now })
    })
  }

  /** Classifies an envelope read on `topic` (see openOnTopic). Never throws for bad envelope bytes. */
  open (topic: ContactTopic, data: Uint8Array, sentHashes: ReadonlySet<string> = new Set()): OpenResult {
    return openOnTopic(topic, data, sentHashes)
  }

  private sealOn (topic: ContactTopic, init: SealMessageInit): SealedForContact {
    return sealOnTopic(topic, init)
  }
}
