/**
 * For the catch-up tests: an in-memory CatchupSource (and requester-side local store) that keeps
 * frames in insertion order and counts its calls, test frames that carry their hour as a gossip
 * frame does (0x02 ‖ hour u32 ‖ ...), and two libp2p hosts on 127.0.0.1.
 */
import '../../src/polyfill.js'
import { randomBytes } from 'node:crypto'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { compareBytes, toHex } from '../../src/bytes.js'
import { sha256 } from '../../src/crypto/hash.js'
import { hourDigest, type AcceptResult, type CatchupSource, type HourDigest } from '../../src/node/catchup/index.js'

export const HOUR0 = 52_000

/** A frame of `size` bytes (at least 6) for `hour`; `junk` frames fail the test's gossip checks. */
export function testFrame (hour: number, size: number, junk = false): Uint8Array {
  const f = new Uint8Array(randomBytes(Math.max(6, size)))
  f[0] = junk ? 0xff : 0x02
  new DataView(f.buffer).setUint32(1, hour)
  return f
}

interface Held { hour: number, hash: Uint8Array, frame: Uint8Array }

function shuffled<T> (items: T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

export class MemorySource implements CatchupSource {
  readonly calls = { hourDigests: 0, inventory: 0, getFrames: 0, has: 0 }
  private readonly held = new Map<string, Held & { bucket: number }>()
  /** every hash ever accepted, in order (to see that nothing is fetched twice) */
  readonly accepted: string[] = []

  /** @param shuffle return pages and digests in random order (the responder must sort them) */
  constructor (readonly buckets: number[], private readonly shuffle = false) {}

  add (bucket: number, frame: Uint8Array): Uint8Array {
    const hash = sha256(frame)
    this.held.set(toHex(hash), { bucket, hour: new DataView(frame.buffer, frame.byteOffset).getUint32(1), hash, frame })
    return hash
  }

  get size (): number {
    return this.held.size
  }

  private of (bucket: number, fromHour: number, toHour: number): Held[] {
    return [...this.held.values()].filter(h => h.bucket === bucket && h.hour >= fromHour && h.hour <= toHour)
  }

  carries = (bucket: number): boolean => this.buckets.includes(bucket)

  hourDigests = async (bucket: number, fromHour: number, toHour: number): Promise<HourDigest[]> => {
    this.calls.hourDigests++
    const byHour = new Map<number, Uint8Array[]>()
    for (const h of this.of(bucket, fromHour, toHour)) byHour.set(h.hour, [...(byHour.get(h.hour) ?? []), h.hash])
    const out = [...byHour].map(([hour, hashes]) => ({ hour, count: hashes.length, digest: hourDigest(hashes) }))
    return await Promise.resolve(this.shuffle ? shuffled(out) : out.sort((a, b) => a.hour - b.hour))
  }

  inventory: CatchupSource['inventory'] = async (bucket, o) => {
    this.calls.inventory++
    const all = this.of(bucket, o.fromHour, o.toHour)
      .sort((a, b) => a.hour - b.hour || compareBytes(a.hash, b.hash))
      .filter(h => o.after === undefined || h.hour > o.after.hour || (h.hour === o.after.hour && compareBytes(h.hash, o.after.hash) > 0))
    const page = all.slice(0, o.limit).map(h => ({ hour: h.hour, hash: h.hash }))
    return await Promise.resolve({ items: this.shuffle ? shuffled(page) : page, more: all.length > o.limit })
  }

  getFrames = async (hashes: Uint8Array[]): Promise<Array<{ frame: Uint8Array } | undefined>> => {
    this.calls.getFrames++
    return await Promise.resolve(hashes.map(h => {
      const held = this.held.get(toHex(h))
      return held === undefined ? undefined : { frame: held.frame }
    }))
  }

  has = async (hashes: Uint8Array[]): Promise<boolean[]> => {
    this.calls.has++
    return await Promise.resolve(hashes.map(h => this.held.has(toHex(h))))
  }

  /** The requester's accept for bucket `bucket`: the test's gossip check is the first byte. */
  acceptInto (bucket: number): (frame: Uint8Array) => Promise<AcceptResult> {
    return async (frame) => {
      if (frame[0] !== 0x02) return 'invalid'
      const key = toHex(sha256(frame))
      this.accepted.push(key)
      if (this.held.has(key)) return 'duplicate'
      this.add(bucket, frame)
      return await Promise.resolve('stored')
    }
  }
}

export async function host (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false }
  })
}
