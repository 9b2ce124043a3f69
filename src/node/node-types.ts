/** The options, events and status of a mail node (src/node/node.ts). */
import type { Ed25519KeyPair } from '../crypto/index.js'
import type { NodeConfig } from '../config/index.js'
import type { CatchupRuns } from './catchup-runs.js'
import type { Intake, IntakeSource } from './intake.js'
import type { StemOptions, StemStats } from './stem/index.js'

export interface AsmtpNodeInit {
  config: NodeConfig
  nodeKey: Ed25519KeyPair
  /** ms between deletions of expired frames @default 60000 */
  expiryIntervalMs?: number
  /** ms between periodic catch-ups with a random member of each bucket @default 180000 */
  catchupIntervalMs?: number
  /** ms between peer upkeep rounds @default 30000 */
  peerUpkeepIntervalMs?: number
  /** stamp worker threads @default cores - 1 */
  stampThreads?: number
  /** the clock, for tests @default Date.now */
  now?: () => number
  /** the stem's clock, random draws and embargo mean, for tests */
  stem?: StemOptions
}

export type EnvelopeSource = IntakeSource

export interface EnvelopeEvent {
  topic: Uint8Array
  seq: bigint
  hash: Uint8Array
  data: Uint8Array
  source: EnvelopeSource
}

export interface NodeStatus {
  publicId: string
  peerId: string
  relay: boolean
  bucketBits: number
  buckets: number[]
  peers: number
  relaysConnected: number
  frames: number
  matchedFrames: number
  relayedBytes: number
  /** matched mail past its retention that no device has fetched yet: kept, not dropped */
  unfetchedPastRetention: number
  /** relayed-only frames evicted since start (relay quota, storage.max_messages) */
  evictedFrames: number
  /** relayed-only frames refused since start: storage.max_messages reached by our users' mail */
  refusedFrames: number
  gossip: Intake['stats']
  catchup: CatchupRuns['stats']
  stem: StemStats
  lastError: string | null
}

/** A frame this node stored (relayed-only or matched), from any source. */
export interface FrameEvent {
  bucket: number
  hash: Uint8Array
  data: Uint8Array
  source: EnvelopeSource
}
