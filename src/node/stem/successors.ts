/**
 * The stem successor of each bucket (DESIGN.md "Origin hiding"): for one epoch, one peer chosen
 * at random among the connections this node dialled itself (direction outbound) that are open
 * and carry the bucket. Sybils that dial in are never chosen. A successor that disconnects, or
 * leaves the bucket, is replaced at the next frame; a new epoch chooses again.
 */
import type { PeerId } from '@libp2p/interface'
import { STEM_EPOCH_MS } from './protocol.js'

/** What the successor choice reads from the libp2p host. */
export interface SuccessorView {
  /** PeerIds with an open connection this node dialled */
  outboundPeers: () => PeerId[]
  /** PeerIds subscribed to the bucket's gossipsub topic */
  bucketMembers: (bucket: number) => PeerId[]
}

export interface SuccessorsInit {
  view: SuccessorView
  now: () => number
  random: () => number
  epochMs?: number
}

interface Choice { peer: PeerId, epoch: number }

export class Successors {
  private readonly init: SuccessorsInit
  private readonly chosen = new Map<number, Choice>()
  private readonly epochMs: number

  constructor (init: SuccessorsInit) {
    this.init = init
    this.epochMs = init.epochMs ?? STEM_EPOCH_MS
  }

  /** The successor for `bucket` now, or undefined when no outbound peer carries it (fluff at once). */
  pick (bucket: number): PeerId | undefined {
    const epoch = Math.floor(this.init.now() / this.epochMs)
    const candidates = this.candidates(bucket)
    const current = this.chosen.get(bucket)
    if (current !== undefined && current.epoch === epoch && candidates.some(p => p.equals(current.peer))) return current.peer
    if (candidates.length === 0) {
      this.chosen.delete(bucket)
      return undefined
    }
    const i = Math.min(candidates.length - 1, Math.floor(this.init.random() * candidates.length))
    const peer = candidates[i]
    this.chosen.set(bucket, { peer, epoch })
    return peer
  }

  /** Forgets the choice for a bucket (its successor failed): the next frame chooses again. */
  drop (bucket: number): void {
    this.chosen.delete(bucket)
  }

  /** Outbound peers that carry the bucket, in a fixed order (so the random draw alone decides). */
  private candidates (bucket: number): PeerId[] {
    const members = new Set(this.init.view.bucketMembers(bucket).map(String))
    const seen = new Set<string>()
    const out: PeerId[] = []
    for (const p of this.init.view.outboundPeers()) {
      const id = p.toString()
      if (members.has(id) && !seen.has(id)) {
        seen.add(id)
        out.push(p)
      }
    }
    return out.sort((a, b) => a.toString() < b.toString() ? -1 : 1)
  }
}
