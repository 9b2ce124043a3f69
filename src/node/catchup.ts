/**
 * Store-and-forward catch-up, `/asmtp/catchup/1.0.0` (byte layout in docs/PROTOCOL.md).
 * A node that (re)joins a topic asks a topic peer for the envelopes it holds since a cursor.
 * Both sides prove knowledge of the topic key with an HMAC over fresh nonces and both PeerIds
 * (so a proof can be neither replayed nor relayed); a peer that cannot prove it gets nothing.
 *
 *   requester -> HELLO     version u8 (1) ‖ topic id (32) ‖ nonce_i (32)
 *   responder -> CHALLENGE status u8 ‖ [status 0: nonce_r (32) ‖ proof_r (32)]
 *   requester -> REQUEST   proof_i (32) ‖ cursor u64 ‖ max items u16
 *   responder -> ITEM*     0x01 ‖ seq u64 ‖ envelope      then END 0x02 ‖ cursor u64 ‖ more u8
 *                          or DENIED 0x03
 * Every message is prefixed by an unsigned varint length (libp2p length-prefixed framing).
 */
import { randomBytes } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { ByteReader, concatBytes, equalBytes, u16be, u64be } from '../bytes.js'
import { hmacSha256 } from '../crypto/hash.js'
import { AsmtpError } from '../errors.js'

export const CATCHUP_PROTOCOL = '/asmtp/catchup/1.0.0'
export const CATCHUP_VERSION = 1
export const CATCHUP_MAX_ITEMS = 256
export const CATCHUP_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
export const CATCHUP_TIMEOUT_MS = 10_000
const MAX_MESSAGE_BYTES = 65536 + 64

const STATUS_OK = 0
const STATUS_UNKNOWN_TOPIC = 1
const STATUS_BUSY = 2
const ITEM = 1
const END = 2
const DENIED = 3

const REQUESTER_LABEL = new TextEncoder().encode('asmtp/catchup/v1/requester')
const RESPONDER_LABEL = new TextEncoder().encode('asmtp/catchup/v1/responder')

export interface CatchupItem { seq: bigint, data: Uint8Array }
export interface CatchupResult { items: CatchupItem[], cursor: bigint, more: boolean }

/** What the responder side needs from the node. */
export interface CatchupSource {
  topicKey: (topic: Uint8Array) => Uint8Array | undefined | Promise<Uint8Array | undefined>
  list: (topic: Uint8Array, after: bigint, limit: number) => Promise<{ items: CatchupItem[], cursor: bigint, more: boolean }>
  /** called once the requester has proved it holds the topic key */
  proven?: (topic: Uint8Array, peer: PeerId) => void
}

function proof (key: Uint8Array, label: Uint8Array, topic: Uint8Array, ni: Uint8Array, nr: Uint8Array, first: PeerId, second: PeerId): Uint8Array {
  return hmacSha256(key, label, topic, ni, nr, first.toMultihash().bytes, second.toMultihash().bytes)
}

/** Serves one inbound catch-up stream. Never throws: a bad peer only loses its own stream. */
export async function handleCatchup (stream: Stream, connection: Connection, localPeer: PeerId, source: CatchupSource, busy: boolean): Promise<void> {
  const signal = AbortSignal.timeout(CATCHUP_TIMEOUT_MS)
  const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
  try {
    const hello = new ByteReader((await lp.read({ signal })).subarray(), 'catch-up hello')
    const version = hello.u8()
    const topic = hello.bytesN(32)
    const ni = hello.bytesN(32)
    hello.end()
    if (version !== CATCHUP_VERSION) throw new AsmtpError('PROTOCOL_VIOLATION', `catch-up version ${version} not supported`)
    if (busy) {
      await lp.write(Uint8Array.of(STATUS_BUSY), { signal })
      await stream.close({ signal })
      return
    }
    const key = await source.topicKey(topic)
    if (key === undefined) {
      await lp.write(Uint8Array.of(STATUS_UNKNOWN_TOPIC), { signal })
      await stream.close({ signal })
      return
    }
    const remote = connection.remotePeer
    const nr = new Uint8Array(randomBytes(32))
    await lp.write(concatBytes(Uint8Array.of(STATUS_OK), nr, proof(key, RESPONDER_LABEL, topic, ni, nr, localPeer, remote)), { signal })
    const req = new ByteReader((await lp.read({ signal })).subarray(), 'catch-up request')
    const proofI = req.bytesN(32)
    const cursor = req.u64()
    const max = Math.min(req.u16(), CATCHUP_MAX_ITEMS)
    req.end()
    if (!equalBytes(proofI, proof(key, REQUESTER_LABEL, topic, ni, nr, remote, localPeer))) {
      await lp.write(Uint8Array.of(DENIED), { signal })
      await stream.close({ signal })
      return
    }
    source.proven?.(topic, remote)
    const page = await source.list(topic, cursor, Math.max(1, max))
    let bytes = 0
    let last = cursor
    let more = page.more
    for (const item of page.items) {
      if (bytes + item.data.length > CATCHUP_MAX_RESPONSE_BYTES) {
        more = true
        break
      }
      await lp.write(concatBytes(Uint8Array.of(ITEM), u64be(item.seq), item.data), { signal })
      bytes += item.data.length
      last = item.seq
    }
    await lp.write(concatBytes(Uint8Array.of(END), u64be(last), Uint8Array.of(more ? 1 : 0)), { signal })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}

export interface CatchupRequest {
  stream: Stream
  localPeer: PeerId
  remotePeer: PeerId
  topic: Uint8Array
  key: Uint8Array
  cursor: bigint
  maxItems?: number
  signal?: AbortSignal
}

/**
 * Runs the requester side on an open stream. Returns what the peer holds after `cursor`
 * (`items` unvalidated: the caller checks each envelope). Throws AsmtpError on a protocol
 * violation, a peer that cannot prove the topic key, a denial or a timeout.
 */
export async function requestCatchup (req: CatchupRequest): Promise<CatchupResult> {
  const signal = AbortSignal.any([AbortSignal.timeout(CATCHUP_TIMEOUT_MS), ...(req.signal !== undefined ? [req.signal] : [])])
  const lp = lpStream(req.stream, { maxDataLength: MAX_MESSAGE_BYTES })
  try {
    const ni = new Uint8Array(randomBytes(32))
    await lp.write(concatBytes(Uint8Array.of(CATCHUP_VERSION), req.topic, ni), { signal })
    const ch = new ByteReader((await lp.read({ signal })).subarray(), 'catch-up challenge')
    const status = ch.u8()
    if (status === STATUS_UNKNOWN_TOPIC) throw new AsmtpError('NOT_FOUND', 'peer does not hold this topic')
    if (status === STATUS_BUSY) throw new AsmtpError('RATE_LIMITED', 'peer is busy serving catch-up')
    if (status !== STATUS_OK) throw new AsmtpError('PROTOCOL_VIOLATION', `unknown catch-up status ${status}`)
    const nr = ch.bytesN(32)
    const proofR = ch.bytesN(32)
    ch.end()
    if (!equalBytes(proofR, proof(req.key, RESPONDER_LABEL, req.topic, ni, nr, req.remotePeer, req.localPeer))) {
      throw new AsmtpError('UNAUTHORIZED_DEVICE', 'catch-up peer cannot prove it knows the topic key')
    }
    const max = Math.min(req.maxItems ?? CATCHUP_MAX_ITEMS, CATCHUP_MAX_ITEMS)
    await lp.write(concatBytes(proof(req.key, REQUESTER_LABEL, req.topic, ni, nr, req.localPeer, req.remotePeer), u64be(req.cursor), u16be(max)), { signal })
    const items: CatchupItem[] = []
    for (;;) {
      const msg = new ByteReader((await lp.read({ signal })).subarray(), 'catch-up response')
      const type = msg.u8()
      if (type === ITEM) {
        if (items.length >= max) throw new AsmtpError('PROTOCOL_VIOLATION', 'catch-up peer sent more items than asked')
        items.push({ seq: msg.u64(), data: msg.rest() })
      } else if (type === END) {
        const cursor = msg.u64()
        const more = msg.u8() === 1
        msg.end()
        await req.stream.close({ signal }).catch(() => {})
        return { items, cursor, more }
      } else if (type === DENIED) {
        throw new AsmtpError('UNAUTHORIZED_DEVICE', 'catch-up denied: proof of the topic key refused')
      } else {
        throw new AsmtpError('PROTOCOL_VIOLATION', `unknown catch-up message type ${type}`)
      }
    }
  } catch (err) {
    req.stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (err instanceof AsmtpError) throw err
    if (signal.aborted) throw new AsmtpError('TIMEOUT', 'catch-up timed out', { cause: err })
    throw new AsmtpError('PROTOCOL_VIOLATION', `catch-up failed: ${(err as Error).message}`, { cause: err })
  }
}
