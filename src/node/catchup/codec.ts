/**
 * Byte codec of catch-up v2 (docs/PROTOCOL.md 4.3, vectors in test/vectors/catchup.json).
 *
 *   request  version u8 (2) ‖ type u8 ‖ body
 *     SUMMARY   1: bucket u16 ‖ fromHour u32 ‖ toHour u32
 *     INVENTORY 2: bucket u16 ‖ hour u32 ‖ after (32) ‖ limit u16
 *     FETCH     3: count u16 ‖ count × hash (32), strictly ascending
 *   reply    status u8, and with status OK only:
 *     SUMMARY   n u16 ‖ n × (hour u32 ‖ count u32 ‖ digest (32)), hours ascending
 *     INVENTORY n u16 ‖ n × hash (32), ascending and > after ‖ more u8
 *     FETCH     served u16 ‖ n u16 ‖ n × (length u32 ‖ frame)
 *
 * Encoders throw RangeError on arguments out of range (programmer errors); decoders throw only
 * AsmtpError, and a reply decoder checks the reply against the request it answers.
 */
import { ByteReader, compareBytes, concatBytes, toHex, u16be, u32be } from '../../bytes.js'
import { sha256 } from '../../crypto/hash.js'
import { AsmtpError } from '../../errors.js'
import {
  CATCHUP_VERSION, HASH_BYTES, MAX_BUCKET, MAX_FETCH_REPLY_BYTES, MAX_FRAME_BYTES, MAX_HOUR, MAX_PAGE_HASHES,
  MAX_REQUEST_BYTES, MAX_SUMMARY_HOURS, REQUEST_FETCH, REQUEST_INVENTORY, REQUEST_SUMMARY, STATUS_CODES, STATUS_OK,
  type CatchupRequest, type CatchupStatus, type FetchReply, type FetchRequest, type HourDigest, type InventoryReply,
  type InventoryRequest, type Refusal, type RefusalStatus, type SummaryReply, type SummaryRequest
} from './protocol.js'

const STATUS_BY_CODE = new Map<number, CatchupStatus>(Object.entries(STATUS_CODES).map(([name, code]) => [code, name as CatchupStatus]))

function checkInt (value: number, max: number, what: string, min = 0): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${value}`)
}

function checkHash (hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_BYTES) throw new RangeError(`${what} must be ${HASH_BYTES} bytes`)
}

function checkAscending (hashes: Uint8Array[], what: string, after?: Uint8Array): void {
  let previous = after
  for (const h of hashes) {
    checkHash(h, what)
    if (previous !== undefined && compareBytes(previous, h) >= 0) throw new RangeError(`${what} must be strictly ascending${after !== undefined ? ' and after `after`' : ''}`)
    previous = h
  }
}

function invalid (what: string): AsmtpError {
  return new AsmtpError('DECODE_INVALID', what)
}

export function encodeRequest (req: CatchupRequest): Uint8Array {
  const head = Uint8Array.of(CATCHUP_VERSION)
  switch (req.type) {
    case 'summary':
      checkInt(req.bucket, MAX_BUCKET, 'bucket')
      checkInt(req.fromHour, MAX_HOUR, 'fromHour')
      checkInt(req.toHour, Math.min(MAX_HOUR, req.fromHour + MAX_SUMMARY_HOURS - 1), 'toHour', req.fromHour)
      return concatBytes(head, Uint8Array.of(REQUEST_SUMMARY), u16be(req.bucket), u32be(req.fromHour), u32be(req.toHour))
    case 'inventory':
      checkInt(req.bucket, MAX_BUCKET, 'bucket')
      checkInt(req.hour, MAX_HOUR, 'hour')
      checkHash(req.after, 'after')
      checkInt(req.limit, MAX_PAGE_HASHES, 'limit', 1)
      return concatBytes(head, Uint8Array.of(REQUEST_INVENTORY), u16be(req.bucket), u32be(req.hour), req.after, u16be(req.limit))
    case 'fetch':
      checkInt(req.hashes.length, MAX_PAGE_HASHES, 'number of hashes', 1)
      checkAscending(req.hashes, 'FETCH hashes')
      return concatBytes(head, Uint8Array.of(REQUEST_FETCH), u16be(req.hashes.length), ...req.hashes)
  }
}

export function decodeRequest (bytes: Uint8Array): CatchupRequest {
  if (bytes.length > MAX_REQUEST_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `catch-up request of ${bytes.length} bytes exceeds ${MAX_REQUEST_BYTES}`)
  const r = new ByteReader(bytes, 'catch-up request')
  const version = r.u8()
  if (version !== CATCHUP_VERSION) throw new AsmtpError('CATCHUP_BAD_VERSION', `catch-up version ${version} not supported`)
  const type = r.u8()
  let req: CatchupRequest
  if (type === REQUEST_SUMMARY) {
    const bucket = r.u16()
    const fromHour = r.u32()
    const toHour = r.u32()
    if (toHour < fromHour) throw invalid(`SUMMARY toHour ${toHour} before fromHour ${fromHour}`)
    if (toHour - fromHour + 1 > MAX_SUMMARY_HOURS) throw new AsmtpError('DECODE_TOO_LARGE', `SUMMARY spans ${toHour - fromHour + 1} hours, at most ${MAX_SUMMARY_HOURS}`)
    req = { type: 'summary', bucket, fromHour, toHour }
  } else if (type === REQUEST_INVENTORY) {
    const bucket = r.u16()
    const hour = r.u32()
    const after = r.bytesN(HASH_BYTES)
    const limit = r.u16()
    if (limit === 0) throw invalid('INVENTORY limit 0')
    if (limit > MAX_PAGE_HASHES) throw new AsmtpError('DECODE_TOO_LARGE', `INVENTORY limit ${limit}, at most ${MAX_PAGE_HASHES}`)
    req = { type: 'inventory', bucket, hour, after, limit }
  } else if (type === REQUEST_FETCH) {
    const count = r.u16()
    if (count === 0) throw invalid('FETCH of no hashes')
    if (count > MAX_PAGE_HASHES) throw new AsmtpError('DECODE_TOO_LARGE', `FETCH of ${count} hashes, at most ${MAX_PAGE_HASHES}`)
    const hashes: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      const h = r.bytesN(HASH_BYTES)
      if (i > 0 && compareBytes(hashes[i - 1], h) >= 0) throw new AsmtpError('CATCHUP_BAD_ORDER', 'FETCH hashes are not strictly ascending')
      hashes.push(h)
    }
    req = { type: 'fetch', hashes }
  } else {
    throw invalid(`unknown catch-up request type ${type}`)
  }
  r.end()
  return req
}

export function encodeRefusal (status: RefusalStatus): Uint8Array {
  const code = STATUS_CODES[status]
  if (code === undefined || code === STATUS_OK) throw new RangeError(`not a refusal status: ${String(status)}`)
  return Uint8Array.of(code)
}

export function encodeSummaryReply (hours: HourDigest[]): Uint8Array {
  checkInt(hours.length, MAX_SUMMARY_HOURS, 'number of hours')
  const parts: Uint8Array[] = [Uint8Array.of(STATUS_OK), u16be(hours.length)]
  let previous = -1
  for (const h of hours) {
    checkInt(h.hour, MAX_HOUR, 'hour', previous + 1)
    checkInt(h.count, 0xffffffff, 'count', 1)
    checkHash(h.digest, 'digest')
    parts.push(u32be(h.hour), u32be(h.count), h.digest)
    previous = h.hour
  }
  return concatBytes(...parts)
}

export function encodeInventoryReply (hashes: Uint8Array[], more: boolean): Uint8Array {
  checkInt(hashes.length, MAX_PAGE_HASHES, 'number of hashes', more ? 1 : 0)
  checkAscending(hashes, 'INVENTORY hashes')
  return concatBytes(Uint8Array.of(STATUS_OK), u16be(hashes.length), ...hashes, Uint8Array.of(more ? 1 : 0))
}

/** Size of a FETCH reply holding frames of these lengths. */
export function fetchReplySize (frameLengths: number[]): number {
  let size = 5
  for (const n of frameLengths) size += 4 + n
  return size
}

export function encodeFetchReply (served: number, frames: Uint8Array[]): Uint8Array {
  checkInt(served, MAX_PAGE_HASHES, 'served', 1)
  checkInt(frames.length, served, 'number of frames')
  const parts: Uint8Array[] = [Uint8Array.of(STATUS_OK), u16be(served), u16be(frames.length)]
  for (const f of frames) {
    checkInt(f.length, MAX_FRAME_BYTES, 'frame length', 1)
    parts.push(u32be(f.length), f)
  }
  const out = concatBytes(...parts)
  if (out.length > MAX_FETCH_REPLY_BYTES) throw new RangeError(`FETCH reply of ${out.length} bytes exceeds ${MAX_FETCH_REPLY_BYTES}`)
  return out
}

/** Reads the status byte; a refusal is that byte alone. */
function readStatus (r: ByteReader): Refusal | undefined {
  const code = r.u8()
  const status = STATUS_BY_CODE.get(code)
  if (status === undefined) throw invalid(`unknown catch-up status ${code}`)
  if (status === 'ok') return undefined
  r.end()
  return { status }
}

export function decodeSummaryReply (bytes: Uint8Array, req: SummaryRequest): SummaryReply | Refusal {
  const span = req.toHour - req.fromHour + 1
  if (bytes.length > 3 + span * 40) throw new AsmtpError('DECODE_TOO_LARGE', `SUMMARY reply of ${bytes.length} bytes for ${span} hours`)
  const r = new ByteReader(bytes, 'SUMMARY reply')
  const refusal = readStatus(r)
  if (refusal !== undefined) return refusal
  const n = r.u16()
  if (n > span) throw new AsmtpError('DECODE_TOO_LARGE', `SUMMARY reply lists ${n} hours of a ${span}-hour range`)
  const hours: HourDigest[] = []
  for (let i = 0; i < n; i++) {
    const hour = r.u32()
    const count = r.u32()
    const digest = r.bytesN(HASH_BYTES)
    if (hour < req.fromHour || hour > req.toHour) throw invalid(`SUMMARY reply hour ${hour} outside [${req.fromHour}, ${req.toHour}]`)
    if (i > 0 && hours[i - 1].hour >= hour) throw new AsmtpError('CATCHUP_BAD_ORDER', 'SUMMARY reply hours are not strictly ascending')
    if (count === 0) throw invalid(`SUMMARY reply lists hour ${hour} with no frames`)
    hours.push({ hour, count, digest })
  }
  r.end()
  return { status: 'ok', hours }
}

export function decodeInventoryReply (bytes: Uint8Array, req: InventoryRequest): InventoryReply | Refusal {
  if (bytes.length > 4 + req.limit * HASH_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `INVENTORY reply of ${bytes.length} bytes for a limit of ${req.limit}`)
  const r = new ByteReader(bytes, 'INVENTORY reply')
  const refusal = readStatus(r)
  if (refusal !== undefined) return refusal
  const n = r.u16()
  if (n > req.limit) throw new AsmtpError('DECODE_TOO_LARGE', `INVENTORY reply of ${n} hashes for a limit of ${req.limit}`)
  const hashes: Uint8Array[] = []
  let previous = req.after
  for (let i = 0; i < n; i++) {
    const h = r.bytesN(HASH_BYTES)
    if (compareBytes(previous, h) >= 0) throw new AsmtpError('CATCHUP_BAD_ORDER', 'INVENTORY reply hashes are not strictly ascending after `after`')
    hashes.push(h)
    previous = h
  }
  const more = r.u8()
  if (more > 1) throw invalid(`INVENTORY reply more = ${more}`)
  if (more === 1 && n === 0) throw invalid('INVENTORY reply says more but lists nothing')
  r.end()
  return { status: 'ok', hashes, more: more === 1 }
}

/** Checks every frame against the hashes asked: each one asked, within the served prefix, in order. */
export function decodeFetchReply (bytes: Uint8Array, req: FetchRequest): FetchReply | Refusal {
  if (bytes.length > MAX_FETCH_REPLY_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `FETCH reply of ${bytes.length} bytes exceeds ${MAX_FETCH_REPLY_BYTES}`)
  const r = new ByteReader(bytes, 'FETCH reply')
  const refusal = readStatus(r)
  if (refusal !== undefined) return refusal
  const served = r.u16()
  if (served === 0 || served > req.hashes.length) throw invalid(`FETCH reply served ${served} of ${req.hashes.length} hashes`)
  const n = r.u16()
  if (n > served) throw invalid(`FETCH reply holds ${n} frames for ${served} hashes served`)
  const position = new Map<string, number>()
  for (let i = 0; i < served; i++) position.set(toHex(req.hashes[i]), i)
  const frames: FetchReply['frames'] = []
  let last = -1
  for (let i = 0; i < n; i++) {
    const length = r.u32()
    if (length === 0) throw invalid('FETCH reply holds an empty frame')
    if (length > MAX_FRAME_BYTES) throw new AsmtpError('DECODE_TOO_LARGE', `FETCH reply frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
    const frame = r.bytesN(length)
    const hash = sha256(frame)
    const at = position.get(toHex(hash))
    if (at === undefined) throw new AsmtpError('CATCHUP_UNASKED_FRAME', 'FETCH reply holds a frame that was not asked for')
    if (at <= last) throw new AsmtpError('CATCHUP_BAD_ORDER', 'FETCH reply frames are not in the order asked')
    last = at
    frames.push({ hash, frame })
  }
  r.end()
  return { status: 'ok', served, frames }
}
