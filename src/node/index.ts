/** The mail node: libp2p host, topics, store-and-forward, passports in the DHT. */
export { AsmtpNode, createAsmtpNode, RENDEZVOUS_INTERVAL_MS, EXPIRY_INTERVAL_MS, type AsmtpNodeInit, type EnvelopeEvent, type EnvelopeSource, type PublishResult } from './node.js'
export { nodeIdentity, type NodeIdentity } from './identity.js'
export { CATCHUP_PROTOCOL } from './catchup.js'
export { gossipTopic, parseGossipTopic, topicCid } from './topic-names.js'
export { passportDhtKey, PASSPORT_NAMESPACE } from './passport-records.js'
