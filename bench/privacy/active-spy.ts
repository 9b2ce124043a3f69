/**
 * The active spy of the privacy experiment: several sybil hosts in the benchmark process, each
 * a Spy of its own (its own libp2p host, PeerId and port) that dials every node, serves the
 * DHT, joins every bucket and grafts everywhere (mesh degrees far above any bucket's size, so
 * it asks every bucket peer for a mesh link). Each sybil also answers the stem protocol: it
 * reads every stem frame sent to it and drops it, so that a node which picked it as stem
 * successor has to fluff its own frame when its embargo timer fires, and so reveal itself as
 * the origin. The sybils neither dial nor accept one another.
 *
 * Gossip is recorded as by the passive spy and forwarded normally; the guessers read the union
 * of the sybils' observations (unionObservations: first arrival over all of them). The stem
 * frames each sybil received are counted per sender; an honest node picks stem successors only
 * among connections it dialled itself, and no honest node dials a sybil that is already
 * connected to it, so with stems the count should stay at 0. The protocol id, the bound on a
 * message and its decoder are the stem module's own (src/node/stem, docs/PROTOCOL.md 4.4).
 */
import { createHash } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { MAX_STEM_MESSAGE_BYTES, STEM_PROTOCOL, decodeStemMessage } from '../../src/node/stem/index.js'
import { Spy, type Observations, type SpyHost, type SpyInit } from './spy.js'
import { unionObservations } from './guess.js'

export { STEM_PROTOCOL }
export const DEFAULT_SYBILS = 4
/** far above any bucket of the experiment: a sybil grafts every peer of every bucket */
const GRAFT_EVERYWHERE = { D: 64, Dlo: 48, Dhi: 128, Dout: 2 }
const STEM_MAX_STREAMS = 64
/** a stem stream that stays silent this long is closed; the sender opens another */
const STEM_IDLE_MS = 60_000
const MAX_STEM_SIGHTINGS = 100_000

/** One stem frame a sybil received and dropped. */
export interface StemSighting {
  sybil: string
  from: string
  t: number
  /** the bucket the message names */
  bucket: number
  /** SHA-256 of the stamped frame it carries: the frame's gossipsub message id */
  frameId: string
  bytes: number
}

/**
 * Per sybil: its PeerId, stem streams opened to it, stem messages dropped (`frames`), and from
 * whom; `undecodable` of them were no stem message (docs/PROTOCOL.md 4.4).
 */
export interface StemCount { sybil: string, streams: number, frames: number, undecodable: number, from: Record<string, number> }

/** One sybil: a Spy that grafts everywhere and drops whatever arrives on the stem. */
class Sybil extends Spy {
  readonly stem: StemCount = { sybil: '', streams: 0, frames: 0, undecodable: 0, from: {} }

  constructor (init: SpyInit, private readonly stemProtocol: string, private readonly sightings: StemSighting[]) {
    super(init)
  }

  protected override async onStart (host: SpyHost): Promise<void> {
    this.stem.sybil = host.peerId.toString()
    await host.handle(this.stemProtocol, (stream, connection) => {
      void this.drain(stream, connection.remotePeer.toString())
    }, { maxInboundStreams: STEM_MAX_STREAMS })
  }

  private async drain (stream: Stream, from: string): Promise<void> {
    this.stem.streams++
    const lp = lpStream(stream, { maxDataLength: MAX_STEM_MESSAGE_BYTES })
    try {
      for (;;) {
        const msg = (await lp.read({ signal: AbortSignal.timeout(STEM_IDLE_MS) })).subarray()
        this.stem.frames++
        this.stem.from[from] = (this.stem.from[from] ?? 0) + 1
        let m: ReturnType<typeof decodeStemMessage>
        try {
          m = decodeStemMessage(msg)
        } catch {
          this.stem.undecodable++
          continue
        }
        if (this.sightings.length < MAX_STEM_SIGHTINGS) {
          this.sightings.push({
            sybil: this.stem.sybil,
            from,
            t: performance.now(),
            bucket: m.bucket,
            frameId: createHash('sha256').update(m.frame).digest('hex'),
            bytes: msg.length
          })
        }
      }
    } catch {
      // the sender closed the stream, went silent, or sent more than a frame
    }
    stream.abort(new Error('stem frames are dropped here'))
  }
}

export interface ActiveSpyInit {
  /** @default DEFAULT_SYBILS */
  sybils?: number
  /** @default STEM_PROTOCOL */
  stemProtocol?: string
  /** as the passive spy's @default 'at-once' */
  join?: SpyInit['join']
}

/** The sybils as one adversary: the methods the experiment uses of a Spy. */
export class ActiveSpy {
  readonly role = 'active'
  private readonly sybils: Sybil[]
  private readonly ids = new Set<string>()
  private readonly sightings: StemSighting[] = []

  constructor (init: ActiveSpyInit = {}) {
    const count = init.sybils ?? DEFAULT_SYBILS
    if (!Number.isInteger(count) || count < 1) throw new RangeError('an active spy needs at least one sybil')
    const spyInit: SpyInit = { role: 'active', join: init.join, mesh: GRAFT_EVERYWHERE, denyPeer: (peer) => this.ids.has(peer) }
    this.sybils = Array.from({ length: count }, () => new Sybil(spyInit, init.stemProtocol ?? STEM_PROTOCOL, this.sightings))
  }

  get hosts (): Spy[] { return [...this.sybils] }

  async start (): Promise<void> {
    await Promise.all(this.sybils.map(async s => { await s.start() }))
    for (const s of this.sybils) this.ids.add(s.peerId)
  }

  joinAll (): number {
    return this.sybils.reduce((n, s) => n + s.joinAll(), 0)
  }

  /** Topics any sybil has joined. */
  topics (): string[] {
    return [...new Set(this.sybils.flatMap(s => s.topics()))]
  }

  /** Topic joins summed over the sybils (what settles once every sybil joined what it heard of). */
  joins (): number {
    return this.sybils.reduce((n, s) => n + s.topics().length, 0)
  }

  /** The union of the sybils' observations. */
  observations (): Observations {
    return unionObservations(this.sybils.map(s => s.observations()), this.role)
  }

  /** Stem traffic per sybil (copies). */
  stemCounts (): StemCount[] {
    return this.sybils.map(s => ({ ...s.stem, from: { ...s.stem.from } }))
  }

  /** Every stem frame the sybils dropped (a copy, at most MAX_STEM_SIGHTINGS). */
  stemSightings (): StemSighting[] {
    return [...this.sightings]
  }

  async stop (): Promise<void> {
    await Promise.all(this.sybils.map(async s => { await s.stop() }))
  }
}
