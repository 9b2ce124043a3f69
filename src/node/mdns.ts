/**
 * LAN discovery (DESIGN.md "Modes from the dead-drop family", `network.mdns`): nodes announce
 * their listen addresses by multicast DNS (@libp2p/mdns) under the project's own service name,
 * so they neither answer nor flood other libp2p software on the LAN, and dial the nodes they
 * hear of. libp2p v3 does not dial discovered peers by itself. On a private network the dial
 * of a node without the key fails at once (src/node/pnet.ts), so discovery gives it nothing.
 */
import createDebug from 'debug'
import { mdns } from '@libp2p/mdns'
import type { PeerInfo } from '@libp2p/interface'
import type { AsmtpLibp2p } from './libp2p.js'
import { withTimeout, type TaskSet } from './tasks.js'
import { DIAL_TIMEOUT_MS } from './peers.js'

const log = createDebug('asmtp:node:mdns')

/** The mDNS service name of asmtp nodes. */
export const MDNS_SERVICE_TAG = '_asmtp._udp.local'
/** How often a node asks the LAN who is there. */
export const MDNS_INTERVAL_MS = 5_000
/** Dials of discovered peers in flight at once (a LAN full of nodes costs a bounded effort). */
export const MAX_LAN_DIALS = 8

export function lanDiscovery (): ReturnType<typeof mdns> {
  return mdns({ serviceTag: MDNS_SERVICE_TAG, interval: MDNS_INTERVAL_MS })
}

/** Dials every peer that mDNS finds and that is not connected yet; returns the function that stops it. */
export function dialLanPeers (host: AsmtpLibp2p, tasks: TaskSet): () => void {
  const dialling = new Set<string>()
  const onPeer = (evt: CustomEvent<PeerInfo>): void => {
    const id = evt.detail.id
    const key = id.toString()
    if (dialling.has(key) || dialling.size >= MAX_LAN_DIALS || key === host.peerId.toString()) return
    if (host.getConnections(id).length > 0) return
    dialling.add(key)
    void tasks.run('LAN dial', async (signal) => {
      try {
        await host.dial(id, { signal: withTimeout(DIAL_TIMEOUT_MS, signal) })
        log('connected to LAN peer %s', key)
      } catch (err) {
        log('LAN peer %s: %s', key, (err as Error).message)
      } finally {
        dialling.delete(key)
      }
    })
  }
  host.addEventListener('peer:discovery', onPeer)
  return () => { host.removeEventListener('peer:discovery', onPeer) }
}
