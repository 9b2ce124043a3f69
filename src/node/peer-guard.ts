/**
 * Peers that send junk are cut off (docs/NODE.md "Faults"): a frame with a bad stamp or shape is
 * a gossipsub reject, which lowers the sender's score. Gossipsub alone only ignores a peer below
 * its graylist threshold while the connection (and the peer's flood of bytes) goes on; here a
 * peer whose score falls below GUARD_SCORE_THRESHOLD is disconnected and refused, inbound and
 * outbound, for BAN_MS.
 */
import createDebug from 'debug'
import { peerIdFromString } from '@libp2p/peer-id'
import type { AsmtpLibp2p } from './libp2p.js'
import { peerScore } from './libp2p.js'

const log = createDebug('asmtp:node:guard')

/** Gossipsub's default graylist threshold. */
export const GUARD_SCORE_THRESHOLD = -80
export const BAN_MS = 10 * 60_000
const MAX_BANNED = 4096

export interface PeerGuardInit {
  host: () => AsmtpLibp2p
  /** @default Date.now */
  now?: () => number
}

export class PeerGuard {
  readonly stats = { banned: 0 }
  private readonly init: PeerGuardInit
  private readonly bans = new Map<string, number>()
  private readonly now: () => number

  constructor (init: PeerGuardInit) {
    this.init = init
    this.now = init.now ?? Date.now
  }

  /** True while a peer is refused (the connection gater asks). */
  banned (peer: string): boolean {
    const until = this.bans.get(peer)
    if (until === undefined) return false
    if (until > this.now()) return true
    this.bans.delete(peer)
    return false
  }

  /** One round: every connected peer scored below the threshold is banned and disconnected. */
  async check (): Promise<void> {
    const host = this.init.host()
    const pubsub = host.services.pubsub
    const peers = new Set(host.getConnections().map(c => c.remotePeer.toString()))
    for (const peer of peers) {
      const score = peerScore(pubsub, peer)
      if (score >= GUARD_SCORE_THRESHOLD) continue
      if (this.bans.size >= MAX_BANNED) this.bans.delete(this.bans.keys().next().value as string)
      this.bans.set(peer, this.now() + BAN_MS)
      this.stats.banned++
      log('peer %s scored %d: disconnected and refused for %d s', peer, score, BAN_MS / 1000)
      await host.hangUp(peerIdFromString(peer)).catch(() => {})
    }
  }
}
