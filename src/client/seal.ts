/**
 * The one place where the mail client seals and opens what it publishes (DESIGN.md
 * "Envelopes"): every message, passport update, receipt and device-sync record goes through
 * `sealOnTopic` and comes back through `openOnTopic`. When the wire format changes (frames,
 * MAC v2), this module is the only one that changes.
 */
import { toHex } from '../bytes.js'
import type { X25519KeyPair } from '../crypto/x25519.js'
import { sha256 } from '../crypto/hash.js'
import { envelopeHash } from '../envelope/envelope.js'
import type { EnvelopeMessage } from '../envelope/plaintext.js'
import { AsmtpError, isAsmtpError } from '../errors.js'
import { decodeFrame, openFrame, sealFrame } from '../frame/frame.js'
import type { TtlClass } from '../frame/time.js'
import type { TopicKeys } from '../topic/index.js'

/** A topic as one side sees it: the keys, our key pair on it, and the only sender accepted on it. */
export interface SealTopic {
  topic: TopicKeys
  mine: X25519KeyPair
  /** The other side's key for this topic (our own public key on the self topic). */
  theirs: Uint8Array
}

export interface SealInit {
  contentType: string
  body: Uint8Array
  id?: Uint8Array
  /** The send time (ms); it also fixes the frame's hour, so it must be now. */
  time?: number
  /** The frame's TTL class (covered by the MAC). @default 0, the network's frame lifetime */
  ttlClass?: TtlClass
  /** Burn after reading, inside the sealed plaintext. @default false */
  burn?: boolean
}

export interface Sealed<T extends SealTopic = SealTopic> {
  topic: T
  /** The frame published to the node (unstamped, nonce 0: the node stamps it). */
  envelope: Uint8Array
  /** SHA-256 of the frame's envelope part: what identifies it as ours whatever nonce the node gives it. */
  hash: Uint8Array
}

export type OpenResult =
  /** `hour` and `ttlClass`: the frame's, authenticated by the envelope's MAC. */
  | { kind: 'message', message: EnvelopeMessage, hash: Uint8Array, hour: number, ttlClass: TtlClass }
  /** Bytes this device published itself (their hash is in the sent set). */
  | { kind: 'own', hash: Uint8Array }
  /**
   * Not accepted. ENVELOPE_WRONG_SENDER: sealed by a key that is not the expected one; an
   * ENVELOPE_DECRYPT_FAILED envelope may be one sent by another device of this user.
   */
  | { kind: 'rejected', error: AsmtpError, hash: Uint8Array }

/** Seals a message on `topic`, from our key to theirs, in a gossip frame of the current hour. */
export function sealOnTopic<T extends SealTopic> (topic: T, init: SealInit): Sealed<T> {
  const envelope = sealFrame({
    sender: topic.mine,
    recipientPublic: topic.theirs,
    topic: topic.topic,
    contentType: init.contentType,
    body: init.body,
    ...(init.id === undefined ? {} : { id: init.id }),
    ...(init.time === undefined ? {} : { time: init.time }),
    ...(init.ttlClass === undefined ? {} : { ttlClass: init.ttlClass }),
    ...(init.burn === true ? { burn: true } : {})
  })
  return { topic, envelope, hash: envelopeHash(decodeFrame(envelope).envelope) }
}

/** Classifies bytes read on `topic`. Never throws for bad bytes: a rejection carries the AsmtpError. */
export function openOnTopic (topic: SealTopic, data: Uint8Array, sentHashes: ReadonlySet<string> = new Set()): OpenResult {
  let hash: Uint8Array
  try {
    hash = envelopeHash(decodeFrame(data).envelope)
  } catch {
    hash = sha256(data)
  }
  if (sentHashes.has(toHex(hash))) return { kind: 'own', hash }
  try {
    const { frame, opened } = openFrame(data, { recipient: topic.mine, topic: topic.topic, expectedSender: topic.theirs })
    return { kind: 'message', message: opened.message, hash, hour: frame.hour, ttlClass: frame.ttlClass }
  } catch (err) {
    if (isAsmtpError(err)) return { kind: 'rejected', error: err, hash }
    return { kind: 'rejected', error: new AsmtpError('DECODE_INVALID', `envelope could not be opened: ${(err as Error).message}`, { cause: err }), hash }
  }
}
