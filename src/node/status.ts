/**
 * The operator's status of a node (`asmtpd-cli status`, the endpoint's /status): peers,
 * buckets with their mesh sizes, stored frames and bytes, the storage mode and cap (and
 * whether relayed frames are being refused for it), the last errors, and versions. Built from
 * the node's public methods only; the text form is what `asmtpd-cli status` prints.
 */
import { createRequire } from 'node:module'
import { version as libp2pVersion } from 'libp2p/version'
import { bucketTopic } from '../frame/index.js'
import { meshPeers, type AsmtpLibp2p } from './libp2p.js'
import type { NodeConfig } from '../config/index.js'
import type { NodeStatus } from './node-types.js'

/** Errors kept for the status, newest last. */
export const MAX_STATUS_ERRORS = 10

/** The last few errors of a node, with their time. */
export class ErrorLog {
  private readonly items: Array<{ at: string, message: string }> = []

  add (message: string): void {
    this.items.push({ at: new Date().toISOString(), message })
    if (this.items.length > MAX_STATUS_ERRORS) this.items.shift()
  }

  list (): Array<{ at: string, message: string }> {
    return [...this.items]
  }
}

export interface OperatorStatus extends Omit<NodeStatus, 'peers' | 'buckets'> {
  versions: { asmtp: string, libp2p: string, node: string }
  /** the daemon's process id (for signals: kill -HUP) */
  pid: number
  uptimeSeconds: number
  peers: Array<{ peerId: string, addresses: string[] }>
  buckets: Array<{ bucket: number, meshPeers: number, subscribers: number }>
  storage: {
    memory: boolean
    maxMessages: number
    /** relayed frames are refused now: the cap is reached by this node's users' mail */
    refusingRelayed: boolean
    evictedFrames: number
    refusedFrames: number
  }
  privateNetwork: boolean
  mdns: boolean
  errors: Array<{ at: string, message: string }>
}

export interface StatusSource {
  config: NodeConfig
  host: AsmtpLibp2p
  status: () => Promise<NodeStatus>
  errors: ErrorLog
}

const require = createRequire(import.meta.url)
const startedAt = Date.now()

/** The version of this package (from its package.json, one folder above dist/). */
function ownVersion (): string {
  for (const path of ['../../../package.json', '../../package.json']) {
    try {
      const p = require(path) as { name?: string, version?: string }
      if (p.name === 'asmtp' && typeof p.version === 'string') return p.version
    } catch {
      // next candidate
    }
  }
  return 'unknown'
}

export async function collectStatus (node: StatusSource): Promise<OperatorStatus> {
  const s = await node.status()
  const pubsub = node.host.services.pubsub
  const bits = node.config.network.bucketBits
  const max = node.config.storage.maxMessages
  return {
    ...s,
    versions: { asmtp: ownVersion(), libp2p: libp2pVersion, node: process.version },
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    peers: node.host.getConnections().map(c => ({ peerId: c.remotePeer.toString(), addresses: [c.remoteAddr.toString()] })),
    buckets: s.buckets.map(bucket => {
      const name = bucketTopic(bits, bucket)
      return { bucket, meshPeers: meshPeers(pubsub, name).length, subscribers: pubsub.getSubscribers(name).length }
    }),
    storage: {
      memory: node.config.storage.memory,
      maxMessages: max,
      refusingRelayed: max > 0 && s.matchedFrames >= max,
      evictedFrames: s.evictedFrames,
      refusedFrames: s.refusedFrames
    },
    privateNetwork: node.config.network.privateKey !== null,
    mdns: node.config.network.mdns,
    errors: node.errors.list()
  }
}

/** The text `asmtpd-cli status` prints, one line each. */
export function formatStatus (s: OperatorStatus): string[] {
  const lines = [
    `node: ${s.publicId}`,
    `peer id: ${s.peerId}`,
    `versions: asmtp ${s.versions.asmtp}, libp2p ${s.versions.libp2p}, node ${s.versions.node}; pid ${s.pid}, up ${s.uptimeSeconds} s`,
    `network: ${s.privateNetwork ? 'private (network key)' : 'open'}${s.mdns ? ', LAN discovery on' : ''}${s.relay ? ', relay' : ''}; bucket bits ${s.bucketBits}`,
    `peers: ${s.peers.length} (relays connected: ${s.relaysConnected})`,
    ...s.peers.map(p => `  ${p.peerId} ${p.addresses.join(' ')}`),
    `buckets: ${s.buckets.length}`,
    ...s.buckets.map(b => `  bucket ${b.bucket}: mesh ${b.meshPeers}, subscribers ${b.subscribers}`),
    `stored: ${s.frames} frames (${s.matchedFrames} for this node's users, ${s.frames - s.matchedFrames} relayed-only, ${s.relayedBytes} relayed bytes)`,
    `storage: ${s.storage.memory ? 'RAM only (a restart forgets everything)' : 'LevelDB'}, cap ${s.storage.maxMessages === 0 ? 'none' : `${s.storage.maxMessages} frames`}; evicted ${s.storage.evictedFrames}, refused ${s.storage.refusedFrames}`,
    `frames: accepted ${s.gossip.accepted}, matched ${s.gossip.matched}, duplicates ${s.gossip.duplicates}, ignored ${s.gossip.ignored}, rejected ${s.gossip.rejected}`
  ]
  if (s.storage.refusingRelayed) lines.push('WARNING: storage.max_messages is reached by this node\'s users\' mail: relayed frames are refused until devices fetch it or it expires')
  if (s.unfetchedPastRetention > 0) lines.push(`note: ${s.unfetchedPastRetention} frames past retention are kept: no device has fetched them yet`)
  lines.push(`errors: ${s.errors.length === 0 ? 'none' : ''}`, ...s.errors.map(e => `  ${e.at} ${e.message}`))
  return lines
}
