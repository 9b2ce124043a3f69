/**
 * Finding peers without naming any topic (DESIGN.md "Buckets", "Relays and NAT"): a relay
 * announces itself under the network's one relay key in the DHT; a home node dials its
 * bootstrap list, then relays from the DHT, until it holds a few relay connections. Bucket
 * peers come through those connections: gossipsub tells the node every connected peer's
 * subscriptions, and relays hand out peers when they prune a mesh. Nothing here ever dials a
 * peer because of a topic, and home nodes publish no provider records.
 */
import createDebug from 'debug'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from '../crypto/hash.js'
import type { AsmtpLibp2p } from './libp2p.js'
import { withTimeout } from './tasks.js'

const log = createDebug('asmtp:node:peers')

export const DHT_TIMEOUT_MS = 10_000
export const DIAL_TIMEOUT_MS = 5_000
/** How often a node checks that its bootstrap peers are connected, and dials those that are not. */
export const RECONNECT_INTERVAL_MS = 2_000
/** Relays a home node keeps connections to (DESIGN.md: at least 3, of different operators). */
export const TARGET_RELAYS = 3
/** Provider records live 48 h in kad-dht; a relay renews its own well before. */
export const RELAY_PROVIDE_INTERVAL_MS = 10 * 60_000
const MAX_STARTUP_DIALS = 32
const SHA256_CODE = 0x12

/** The network's one relay key: the CID under which relays provide themselves. */
export function relayKey (): CID {
  return CID.createV1(raw.code, createDigest(SHA256_CODE, sha256(new TextEncoder().encode('asmtp/relay/v1'))))
}

export interface PeerFinderInit {
  host: () => AsmtpLibp2p
  bootstrap: string[]
  relay: boolean
}

export class PeerFinder {
  /** peers known to be relays: found under the relay key, or in the bootstrap list */
  readonly relays = new Set<string>()
  private readonly init: PeerFinderInit
  private providedAt = 0
  private reconnecting = false

  constructor (init: PeerFinderInit) {
    this.init = init
    for (const addr of init.bootstrap) {
      const id = multiaddr(addr).getComponents().find(c => c.name === 'p2p')?.value
      if (id !== undefined) this.relays.add(id)
    }
  }

  /** Relays connected now. */
  connectedRelays (): number {
    const host = this.init.host()
    let n = 0
    for (const id of this.relays) if (host.getConnections().some(c => c.remotePeer.toString() === id)) n++
    return n
  }

  /** One round of upkeep: a relay renews its provider record; a home node tops up its relays. */
  async upkeep (signal: AbortSignal): Promise<void> {
    const host = this.init.host()
    if (host.getConnections().length === 0) await this.dialBootstrap(signal)
    if (this.init.relay) {
      if (Date.now() - this.providedAt >= RELAY_PROVIDE_INTERVAL_MS) await this.provide(signal)
      return
    }
    if (this.connectedRelays() >= TARGET_RELAYS) return
    await this.dialBootstrap(signal)
    if (this.connectedRelays() >= TARGET_RELAYS) return
    await this.findRelays(signal)
  }

  /**
   * Between upkeep rounds (every RECONNECT_INTERVAL_MS): a bootstrap peer that is not connected
   * (it restarted, a cut was healed, our public address changed) is dialled again, so mail
   * resumes within seconds of the network coming back. One round at a time.
   */
  async reconnect (signal: AbortSignal): Promise<void> {
    if (this.reconnecting) return
    const host = this.init.host()
    const missing = this.init.bootstrap.some(addr => {
      const id = multiaddr(addr).getComponents().find(c => c.name === 'p2p')?.value
      return id !== undefined && !host.getConnections().some(c => c.remotePeer.toString() === id && c.status === 'open')
    })
    if (!missing) return
    this.reconnecting = true
    try {
      await this.dialBootstrap(signal)
    } finally {
      this.reconnecting = false
    }
  }

  private async provide (signal: AbortSignal): Promise<void> {
    try {
      await this.init.host().contentRouting.provide(relayKey(), { signal: withTimeout(DHT_TIMEOUT_MS, signal) })
      this.providedAt = Date.now()
    } catch (err) {
      log('provide the relay key: %s', (err as Error).message)
    }
  }

  private async findRelays (signal: AbortSignal): Promise<void> {
    const host = this.init.host()
    try {
      for await (const provider of host.contentRouting.findProviders(relayKey(), { signal: withTimeout(DHT_TIMEOUT_MS, signal) })) {
        if (provider.id.equals(host.peerId)) continue
        this.relays.add(provider.id.toString())
        if (host.getConnections(provider.id).length > 0) continue
        try {
          await host.dial(provider.id, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
        } catch (err) {
          log('dial relay %s: %s', provider.id, (err as Error).message)
        }
        if (this.connectedRelays() >= TARGET_RELAYS) return
      }
    } catch (err) {
      log('find relays: %s', (err as Error).message)
    }
  }

  async dialBootstrap (signal: AbortSignal): Promise<void> {
    const host = this.init.host()
    await Promise.all(this.init.bootstrap.map(async addr => {
      const ma = multiaddr(addr)
      const id = ma.getComponents().find(c => c.name === 'p2p')?.value
      if (id !== undefined && host.getConnections().some(c => c.remotePeer.toString() === id)) return
      try {
        await host.dial(ma, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
      } catch (err) {
        log('bootstrap %s: %s', addr, (err as Error).message)
      }
    }))
  }

  /** At start: the peers of the peer store (a restarted node finds its neighbours again). */
  async dialKnownPeers (signal: AbortSignal): Promise<void> {
    const host = this.init.host()
    const peers = await host.peerStore.all({ signal })
    let dialed = 0
    await Promise.all(peers.filter(p => !p.id.equals(host.peerId) && p.addresses.length > 0).slice(0, MAX_STARTUP_DIALS).map(async p => {
      try {
        await host.dial(p.id, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
        dialed++
      } catch {
        // a peer that moved or left; bootstrap and the DHT find the others
      }
    }))
    if (dialed > 0) log('re-dialed %d known peers', dialed)
  }
}
