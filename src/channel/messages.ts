/**
 * What travels inside a channel frame (docs/PROTOCOL.md section 5 "Messages"):
 * plaintext = u8 type ‖ u32 BE request id ‖ body. Replies to request type t have type t | 0x80;
 * 0x7e MORE carries a non-final part of a larger message, 0x7f is an error reply.
 * Every decoder here throws AsmtpError (DECODE_* or FRAME_INVALID) and nothing else.
 */
import { ByteReader, concatBytes, u16be, u32be, u64be } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import { FRAME_HEADER_BYTES } from './limits.js'

export const MessageType = Object.freeze({
  PING: 0x00,
  PUT_PASSPORT: 0x01,
  GET_PASSPORT: 0x02,
  REGISTER_TOPIC: 0x03,
  DEREGISTER_TOPIC: 0x04,
  PUBLISH: 0x05,
  QUERY: 0x06,
  WATCH: 0x07,
  UNWATCH: 0x08,
  MORE: 0x7e,
  ERROR: 0x7f
})

export const REPLY_BIT = 0x80
export const TOPIC_BYTES = 32
export const TOPIC_KEY_BYTES = 32
export const PASSPORT_ID_BYTES = 32
/** Request id 0 is never used by a client: the node sends connection-level errors under it. */
export const CONNECTION_REQUEST_ID = 0
export const MAX_REQUEST_ID = 0xffffffff

export function isRequestType (type: number): boolean {
  return type >= MessageType.PING && type <= MessageType.UNWATCH
}

export function replyType (requestType: number): number {
  return requestType | REPLY_BIT
}

export interface ChannelMessage {
  type: number
  id: number
  body: Uint8Array
}

export function encodeFramePlaintext (type: number, id: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length)
  const view = new DataView(out.buffer)
  view.setUint8(0, type)
  view.setUint32(1, id)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

export function decodeFramePlaintext (bytes: Uint8Array): ChannelMessage {
  if (bytes.length < FRAME_HEADER_BYTES) throw new AsmtpError('FRAME_INVALID', `frame plaintext of ${bytes.length} bytes is shorter than its ${FRAME_HEADER_BYTES}-byte header`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { type: view.getUint8(0), id: view.getUint32(1), body: bytes.subarray(FRAME_HEADER_BYTES) }
}

// ---- request and reply bodies ------------------------------------------------------------

function exactly (body: Uint8Array, n: number, what: string): Uint8Array {
  const r = new ByteReader(body, what)
  const out = r.bytesN(n)
  r.end()
  return out
}

function sized (bytes: Uint8Array, n: number, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) throw new RangeError(`${what} must be ${n} bytes`)
  return bytes
}

/** GET_PASSPORT (passport id), DEREGISTER_TOPIC (topic). */
export function decodeId32 (body: Uint8Array, what: string): Uint8Array {
  return exactly(body, 32, what)
}

export interface RegisterTopicBody { topic: Uint8Array, key: Uint8Array }

export function encodeRegisterTopic (b: RegisterTopicBody): Uint8Array {
  return concatBytes(sized(b.topic, TOPIC_BYTES, 'topic id'), sized(b.key, TOPIC_KEY_BYTES, 'topic key'))
}

export function decodeRegisterTopic (body: Uint8Array): RegisterTopicBody {
  const r = new ByteReader(body, 'REGISTER_TOPIC body')
  const topic = r.bytesN(TOPIC_BYTES)
  const key = r.bytesN(TOPIC_KEY_BYTES)
  r.end()
  return { topic, key }
}

export interface PublishBody { topic: Uint8Array, envelope: Uint8Array }

export function encodePublish (b: PublishBody): Uint8Array {
  return concatBytes(sized(b.topic, TOPIC_BYTES, 'topic id'), b.envelope)
}

export function decodePublish (body: Uint8Array): PublishBody {
  const r = new ByteReader(body, 'PUBLISH body')
  const topic = r.bytesN(TOPIC_BYTES)
  const envelope = r.rest()
  if (envelope.length === 0) throw new AsmtpError('DECODE_TRUNCATED', 'PUBLISH body has no envelope')
  return { topic, envelope }
}

export interface PublishReply { stored: boolean, seq: bigint }

export function encodePublishReply (b: PublishReply): Uint8Array {
  return concatBytes(Uint8Array.of(b.stored ? 1 : 0), u64be(b.seq))
}

function decodeFlag (r: ByteReader, what: string): boolean {
  const v = r.u8()
  if (v > 1) throw new AsmtpError('DECODE_INVALID', `${what} must be 0 or 1, got ${v}`)
  return v === 1
}

export function decodePublishReply (body: Uint8Array): PublishReply {
  const r = new ByteReader(body, 'PUBLISH reply')
  const stored = decodeFlag(r, 'stored flag')
  const seq = r.u64()
  r.end()
  return { stored, seq }
}

export interface QueryBody { topic: Uint8Array, cursor: bigint, limit: number }

export function encodeQuery (b: QueryBody): Uint8Array {
  return concatBytes(sized(b.topic, TOPIC_BYTES, 'topic id'), u64be(b.cursor), u16be(b.limit))
}

export function decodeQuery (body: Uint8Array): QueryBody {
  const r = new ByteReader(body, 'QUERY body')
  const topic = r.bytesN(TOPIC_BYTES)
  const cursor = r.u64()
  const limit = r.u16()
  r.end()
  return { topic, cursor, limit }
}

export interface StoredItem { seq: bigint, data: Uint8Array }
export interface QueryReply { cursor: bigint, more: boolean, envelopes: StoredItem[] }

/** Bytes of a QUERY reply before its items, and per item before its envelope. */
export const QUERY_REPLY_HEAD_BYTES = 8 + 1 + 2
export const QUERY_ITEM_HEAD_BYTES = 8 + 4

export function encodeQueryReply (b: QueryReply): Uint8Array {
  if (b.envelopes.length > 0xffff) throw new RangeError('a QUERY reply holds at most 65535 envelopes')
  const parts: Uint8Array[] = [u64be(b.cursor), Uint8Array.of(b.more ? 1 : 0), u16be(b.envelopes.length)]
  for (const e of b.envelopes) parts.push(u64be(e.seq), u32be(e.data.length), e.data)
  return concatBytes(...parts)
}

export function decodeQueryReply (body: Uint8Array): QueryReply {
  const r = new ByteReader(body, 'QUERY reply')
  const cursor = r.u64()
  const more = decodeFlag(r, 'more flag')
  const count = r.u16()
  const envelopes: StoredItem[] = []
  for (let i = 0; i < count; i++) {
    const seq = r.u64()
    const length = r.u32()
    envelopes.push({ seq, data: r.bytesN(length) })
  }
  r.end()
  return { cursor, more, envelopes }
}

/** WATCH: empty = every topic this device registered; otherwise n × topic id. */
export function encodeWatch (topics: Uint8Array[]): Uint8Array {
  return concatBytes(...topics.map(t => sized(t, TOPIC_BYTES, 'topic id')))
}

export function decodeWatch (body: Uint8Array, maxTopics: number): Uint8Array[] {
  if (body.length % TOPIC_BYTES !== 0) throw new AsmtpError('DECODE_INVALID', `WATCH body of ${body.length} bytes is not a list of 32-byte topic ids`)
  const count = body.length / TOPIC_BYTES
  if (count > maxTopics) throw new AsmtpError('DECODE_TOO_LARGE', `WATCH names ${count} topics, at most ${maxTopics}`)
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) out.push(body.slice(i * TOPIC_BYTES, (i + 1) * TOPIC_BYTES))
  return out
}

export interface WatchPush { topic: Uint8Array, seq: bigint, data: Uint8Array }

export function encodeWatchPush (p: WatchPush): Uint8Array {
  return concatBytes(sized(p.topic, TOPIC_BYTES, 'topic id'), u64be(p.seq), p.data)
}

export function decodeWatchPush (body: Uint8Array): WatchPush {
  const r = new ByteReader(body, 'WATCH push')
  const topic = r.bytesN(TOPIC_BYTES)
  const seq = r.u64()
  const data = r.rest()
  if (data.length === 0) throw new AsmtpError('DECODE_TRUNCATED', 'WATCH push has no envelope')
  return { topic, seq, data }
}

/** UNWATCH: the request id of the WATCH to stop. */
export function encodeUnwatch (watchId: number): Uint8Array {
  return u32be(watchId)
}

export function decodeUnwatch (body: Uint8Array): number {
  const r = new ByteReader(body, 'UNWATCH body')
  const id = r.u32()
  r.end()
  return id
}

export function expectEmpty (body: Uint8Array, what: string): void {
  new ByteReader(body, what).end()
}
