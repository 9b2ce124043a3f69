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
import { equalBytes, toHex } from '../bytes.js'
import type { X25519KeyPair } from '../crypto/x25519.js'
import { envelopeHash } from '../envelope/envelope.js'
import type { EnvelopeMessage } from '../envelope/plaintext.js'
import { AsmtpError, isAsmtpError } from '../errors.js'
import { decodeFrame, openFrame, sealFrame } from '../frame/frame.js'
import { sha256 } from '../crypto/hash.js'
import type { Passport } from '../passport/index.js'
import { TopicCache, type TopicKeys } from '../topic/index.js'
import { encodePassportUpdate, PASSPORT_UPDATE_CONTENT_TYPE } from './passport-update.js'

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

export interface SealedForContact {
  topic: ContactTopic
  /** The frame to publish (unstamped, nonce 0). */
  envelope: Uint8Array
  /** SHA-256 of the frame's envelope part (the node may replace the nonce). */
  hash: Uint8Array
}

export type OpenResult =
  | { kind: 'message', message: EnvelopeMessage, hash: Uint8Array }
  /** An envelope this user sent (its hash is in the sent set). */
  | { kind: 'own', hash: Uint8Array }
  /**
   * Not accepted. ENVELOPE_WRONG_SENDER: sealed by a key that is not the contact's; an
   * ENVELOPE_DECRYPT_FAILED envelope may be one sent by another device of this user.
   */
  | { kind: 'rejected', error: AsmtpError, hash: Uint8Array }

export interface MailboxInit {
  ownKeys: readonly OwnSharedKey[]
  /** @default OLD_KEY_RETENTION_MS */
  retentionMs?: number
  cache?: TopicCache
}

export interface SealMessageInit {
  contentType: string
  body: Uint8Array
  id?: Uint8Array
  time?: number
}

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

  /**
   * Classifies an envelope read on `topic`: our own (by hash), a message from the contact, or
   * rejected with the AsmtpError that says why. Never throws for bad envelope bytes.
   */
  open (topic: ContactTopic, data: Uint8Array, sentHashes: ReadonlySet<string> = new Set()): OpenResult {
    let hash: Uint8Array
    try {
      hash = envelopeHash(decodeFrame(data).envelope)
    } catch {
      hash = sha256(data)
    }
    if (sentHashes.has(toHex(hash))) return { kind: 'own', hash }
    try {
      const { opened } = openFrame(data, { recipient: topic.mine, topic: topic.topic, expectedSender: topic.theirs })
      return { kind: 'message', message: opened.message, hash }
    } catch (err) {
      if (isAsmtpError(err)) return { kind: 'rejected', error: err, hash }
      return { kind: 'rejected', error: new AsmtpError('DECODE_INVALID', `envelope could not be opened: ${(err as Error).message}`, { cause: err }), hash }
    }
  }

  private sealOn (topic: ContactTopic, init: SealMessageInit): SealedForContact {
    const envelope = sealFrame({
      sender: topic.mine,
      recipientPublic: topic.theirs,
      topic: topic.topic,
      contentType: init.contentType,
      body: init.body,
      ...(init.id === undefined ? {} : { id: init.id }),
      ...(init.time === undefined ? {} : { time: init.time })
    })
    return { topic, envelope, hash: envelopeHash(decodeFrame(envelope).envelope) }
  }
}
