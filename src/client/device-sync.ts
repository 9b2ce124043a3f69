/**
 * Device-sync records (DESIGN.md "Devices of one passport"; docs/CLIENT.md "Device sync"): what
 * one device of a passport tells the others, in batches sealed to the passport's own shared key
 * on the self topic. A batch is signed by the sending device's master key and bound to the
 * shared key it is sealed with, so a receiver checks that an active device of the passport wrote
 * it for this very key. The body (all integers big endian):
 *
 *   version u8 (0x01) ‖ signer (32, Ed25519) ‖ signature (64) ‖ signed part
 *   signed part = shared public key (32) ‖ batch id (16) ‖ time u64 (ms) ‖ payload (UTF-8 JSON array)
 *   signature = Ed25519(signer, "asmtp/device-sync/v1" ‖ passport id ‖ signed part)
 *
 * Every element of the payload is an object with a string `type`; types this version does not
 * know are kept and ignored, never fatal.
 */
import { randomBytes } from 'node:crypto'
import { ByteReader, concatBytes, equalBytes, toHex, u64be } from '../bytes.js'
import { verifyEd25519, type Ed25519KeyPair } from '../crypto/ed25519.js'
import { maxBodyBytes } from '../envelope/plaintext.js'
import { AsmtpError } from '../errors.js'
import type { Passport } from '../passport/index.js'

export const DEVICE_SYNC_CONTENT_TYPE = 'application/x-asmtp-device-sync'
export const DEVICE_SYNC_VERSION = 0x01
export const DEVICE_SYNC_LABEL = new TextEncoder().encode('asmtp/device-sync/v1')
export const BATCH_ID_BYTES = 16
const HEAD_BYTES = 1 + 32 + 64
const SIGNED_HEAD_BYTES = 32 + BATCH_ID_BYTES + 8
/** A batch sealed under a retired shared key is accepted only if written before that, within this skew. */
export const STALE_KEY_SKEW_MS = 10 * 60_000
/** Largest payload of one batch: what fits one envelope. */
export const MAX_DEVICE_SYNC_PAYLOAD_BYTES = maxBodyBytes(DEVICE_SYNC_CONTENT_TYPE) - HEAD_BYTES - SIGNED_HEAD_BYTES

export interface ContactEntry { alias: string, passport: string, at: number, by?: string }
export interface RemovedEntry { passportId: string, at: number, by?: string }

/** What one record says; `at` is when the writing device made the change (ms). */
export type DeviceRecord =
  | { type: 'contact-added', at: number, alias: string, passport: string }
  | { type: 'contact-removed', at: number, passportId: string }
  | { type: 'contacts', at: number, contacts: ContactEntry[], removed: RemovedEntry[] }
  | { type: 'sent', at: number, contact: string, id: string, time: number, contentType: string, text?: string, body?: string, file?: { id: string, name: string, size: number, sha256: string }, expiresAt?: number, burn?: true }
  /** burnt: a burn-after-reading message read on the writing device (deleted with it) */
  | { type: 'mark', at: number, contact: string, id: string, read?: boolean, deleted?: boolean, burnt?: true }

export interface UnknownRecord { type: 'unknown', raw: unknown }

export interface DeviceSyncBatch {
  signer: Uint8Array
  sharedKey: Uint8Array
  batchId: Uint8Array
  time: number
  records: Array<DeviceRecord | UnknownRecord>
  /** The bytes the signature covers, and the signature. */
  signed: Uint8Array
  signature: Uint8Array
}

function invalid (message: string): AsmtpError {
  return new AsmtpError('DECODE_INVALID', `device-sync batch: ${message}`)
}

const isStr = (v: unknown, max = 1 << 16): v is string => typeof v === 'string' && v.length <= max
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isHexN = (v: unknown, n: number): v is string => typeof v === 'string' && v.length === 2 * n && /^[0-9a-f]+$/.test(v)
const isB64 = (v: unknown): v is string => typeof v === 'string' && v.length <= 100_000 && /^[A-Za-z0-9+/]*={0,2}$/.test(v)

function isContactEntry (e: unknown): e is ContactEntry {
  const c = e as Partial<ContactEntry> | null
  return typeof c === 'object' && c !== null && isStr(c.alias, 256) && isB64(c.passport) && isTime(c.at) && (c.by === undefined || isHexN(c.by, 32))
}

function isRemovedEntry (e: unknown): e is RemovedEntry {
  const c = e as Partial<RemovedEntry> | null
  return typeof c === 'object' && c !== null && isHexN(c.passportId, 32) && isTime(c.at) && (c.by === undefined || isHexN(c.by, 32))
}

/** Checks one payload element; anything that is not a well-formed known record is kept as unknown. */
export function parseRecord (raw: unknown): DeviceRecord | UnknownRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { type: 'unknown', raw }
  const r = raw as Record<string, unknown>
  if (!isTime(r.at)) return { type: 'unknown', raw }
  switch (r.type) {
    case 'contact-added':
      if (isStr(r.alias, 256) && isB64(r.passport)) return { type: r.type, at: r.at, alias: r.alias, passport: r.passport }
      break
    case 'contact-removed':
      if (isHexN(r.passportId, 32)) return { type: r.type, at: r.at, passportId: r.passportId }
      break
    case 'contacts': {
      const removed = r.removed
      if (Array.isArray(r.contacts) && r.contacts.every(isContactEntry) && Array.isArray(removed) && removed.every(isRemovedEntry)) {
        return { type: r.type, at: r.at, contacts: r.contacts, removed }
      }
      break
    }
    case 'sent': {
      const f = r.file as Record<string, unknown> | undefined
      const fileOk = f === undefined || (typeof f === 'object' && f !== null && isHexN(f.id, 16) && isStr(f.name, 1024) && isTime(f.size) && isHexN(f.sha256, 32))
      if (isHexN(r.contact, 32) && isHexN(r.id, 16) && typeof r.time === 'number' && Number.isFinite(r.time) && isStr(r.contentType, 255) &&
          (r.text === undefined || isStr(r.text)) && (r.body === undefined || isB64(r.body)) && fileOk) {
        const out: DeviceRecord = { type: 'sent', at: r.at, contact: r.contact, id: r.id, time: r.time, contentType: r.contentType }
        if (typeof r.text === 'string') out.text = r.text
        if (typeof r.body === 'string') out.body = r.body
        if (f !== undefined) out.file = { id: f.id as string, name: f.name as string, size: f.size as number, sha256: f.sha256 as string }
        if (isTime(r.expiresAt)) out.expiresAt = r.expiresAt
        if (r.burn === true) out.burn = true
        return out
      }
      break
    }
    case 'mark':
      if (isHexN(r.contact, 32) && isHexN(r.id, 16) && (r.read === undefined || typeof r.read === 'boolean') && (r.deleted === undefined || typeof r.deleted === 'boolean')) {
        return {
          type: r.type, at: r.at, contact: r.contact, id: r.id, ...(r.read === true ? { read: true } : {}), ...(r.deleted === true ? { deleted: true } : {}),
          ...(r.burnt === true && r.deleted === true ? { burnt: true } : {})
        }
      }
      break
  }
  return { type: 'unknown', raw }
}

function signedMessage (passportId: Uint8Array, signed: Uint8Array): Uint8Array {
  return concatBytes(DEVICE_SYNC_LABEL, passportId, signed)
}

export interface EncodeBatchInit {
  device: Ed25519KeyPair
  passportId: Uint8Array
  /** The shared public key the batch is sealed with. */
  sharedKey: Uint8Array
  time: number
  batchId?: Uint8Array
}

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/** One signed batch body. Throws ENVELOPE_BODY_TOO_LARGE when the records do not fit one envelope. */
export function encodeDeviceSyncBatch (records: readonly unknown[], init: EncodeBatchInit): Uint8Array {
  const payload = utf8.encode(JSON.stringify(records))
  if (payload.length > MAX_DEVICE_SYNC_PAYLOAD_BYTES) {
    throw new AsmtpError('ENVELOPE_BODY_TOO_LARGE', `device-sync payload of ${payload.length} bytes exceeds ${MAX_DEVICE_SYNC_PAYLOAD_BYTES}`)
  }
  const batchId = init.batchId ?? new Uint8Array(randomBytes(BATCH_ID_BYTES))
  if (batchId.length !== BATCH_ID_BYTES || init.sharedKey.length !== 32 || init.passportId.length !== 32) throw new RangeError('batch id 16 bytes, shared key and passport id 32 bytes')
  const signed = concatBytes(init.sharedKey, batchId, u64be(init.time), payload)
  const signature = init.device.sign(signedMessage(init.passportId, signed))
  return concatBytes(new Uint8Array([DEVICE_SYNC_VERSION]), init.device.publicKey, signature, signed)
}

/** The record, or for a sent copy too large for one batch, the copy without its text or body. */
export function fitRecord (record: DeviceRecord): DeviceRecord {
  if (record.type !== 'sent' || utf8.encode(JSON.stringify(record)).length + 4 <= MAX_DEVICE_SYNC_PAYLOAD_BYTES) return record
  const rest = { ...record }
  delete rest.text
  delete rest.body
  return rest
}

/** Splits records into as few batches as fit, in order. A single record too large for one batch is ENVELOPE_BODY_TOO_LARGE. */
export function packDeviceRecords (records: readonly unknown[]): unknown[][] {
  const out: unknown[][] = []
  let batch: unknown[] = []
  let size = 2
  for (const r of records) {
    const n = utf8.encode(JSON.stringify(r)).length + 1
    if (n + 2 > MAX_DEVICE_SYNC_PAYLOAD_BYTES) throw new AsmtpError('ENVELOPE_BODY_TOO_LARGE', `a device-sync record of ${n} bytes does not fit one batch`)
    if (size + n > MAX_DEVICE_SYNC_PAYLOAD_BYTES) {
      out.push(batch)
      batch = []
      size = 2
    }
    batch.push(r)
    size += n
  }
  if (batch.length > 0) out.push(batch)
  return out
}

/** Decodes a batch body (no signature check). Throws AsmtpError DECODE_*, nothing else. */
export function decodeDeviceSyncBatch (body: Uint8Array): DeviceSyncBatch {
  const r = new ByteReader(body, 'device-sync batch')
  const version = r.u8()
  if (version !== DEVICE_SYNC_VERSION) throw invalid(`version ${version} is not ${DEVICE_SYNC_VERSION}`)
  const signer = r.bytesN(32)
  const signature = r.bytesN(64)
  const signed = body.subarray(r.offset)
  const sharedKey = r.bytesN(32)
  const batchId = r.bytesN(BATCH_ID_BYTES)
  const time = r.u64()
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('time out of range')
  const payloadBytes = r.rest()
  let payload: unknown
  try {
    payload = JSON.parse(utf8Strict.decode(payloadBytes))
  } catch (err) {
    throw new AsmtpError('DECODE_INVALID', 'device-sync batch: payload is not UTF-8 JSON', { cause: err })
  }
  if (!Array.isArray(payload)) throw invalid('payload is not a JSON array')
  return { signer, signature, signed: signed.slice(), sharedKey, batchId, time: Number(time), records: payload.map(parseRecord) }
}

export interface VerifyBatchInit {
  /** The own passport as this device holds it now. */
  passport: Passport
  /** The shared public key the envelope was sealed with (its Noise X sender). */
  sealedWith: Uint8Array
  /** When that key stopped being current (ms), null while current. */
  retiredAt: number | null
}

/**
 * Checks that an active device of the passport signed the batch for the key it was sealed
 * with, and that a batch under a retired key was written before the key was retired. Throws
 * DEVICE_SYNC_STALE_KEY, DEVICE_SYNC_UNKNOWN_SIGNER or DEVICE_SYNC_BAD_SIGNATURE.
 */
export function verifyDeviceSyncBatch (batch: DeviceSyncBatch, init: VerifyBatchInit): void {
  if (!equalBytes(batch.sharedKey, init.sealedWith)) throw new AsmtpError('DEVICE_SYNC_STALE_KEY', 'device-sync batch signed for another shared key than the one it is sealed with')
  if (!init.passport.isActiveMasterKey(batch.signer)) {
    throw new AsmtpError('DEVICE_SYNC_UNKNOWN_SIGNER', `device-sync batch signed by ${toHex(batch.signer)}, which is not an active device of this passport`)
  }
  if (!verifyEd25519(batch.signer, signedMessage(init.passport.id, batch.signed), batch.signature)) {
    throw new AsmtpError('DEVICE_SYNC_BAD_SIGNATURE', 'device-sync batch signature does not verify')
  }
  if (init.retiredAt !== null && batch.time > init.retiredAt + STALE_KEY_SKEW_MS) {
    throw new AsmtpError('DEVICE_SYNC_STALE_KEY', 'device-sync batch sealed under a retired shared key, written after it was retired')
  }
}
