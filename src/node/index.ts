/** The mail node: libp2p host, buckets, checks and store-and-forward of frames, catch-up, passports in the DHT. */
export { AsmtpNode, createAsmtpNode, EXPIRY_INTERVAL_MS, PEER_UPKEEP_INTERVAL_MS, type AsmtpNodeInit, type EnvelopeEvent, type EnvelopeSource, type FrameEvent, type NodeStatus, type PublishResult } from './node.js'
export { nodeIdentity, type NodeIdentity } from './identity.js'
export { CATCHUP_PROTOCOL } from './catchup/index.js'
export { CATCHUP_INTERVAL_MS } from './catchup-runs.js'
export { relayKey, TARGET_RELAYS } from './peers.js'
export { passportDhtKey, PASSPORT_NAMESPACE } from './passport-records.js'
