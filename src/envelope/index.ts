/** Sealed envelopes: Noise X, padded plaintext, topic MAC (docs/PROTOCOL.md section 3). */
export {
  sealEnvelope, openEnvelope, assertEnvelopeShape, envelopeHash, envelopePrologue,
  ENVELOPE_VERSION, ENVELOPE_PROLOGUE_LABEL,
  type SealEnvelopeInit, type OpenEnvelopeInit, type OpenedEnvelope
} from './envelope.js'
export { verifyEnvelopeMac, envelopeMac, ENVELOPE_MAC_LABEL, type EnvelopeMacHeader } from './mac.js'
export {
  bucketFor, maxBodyBytes, ENVELOPE_BUCKETS, MAX_ENVELOPE_BYTES, ENVELOPE_OVERHEAD_BYTES, ENVELOPE_MAC_BYTES,
  MESSAGE_ID_BYTES, MAX_CONTENT_TYPE_BYTES, PLAINTEXT_VERSION, PLAINTEXT_VERSION_FLAGS, PLAINTEXT_FLAG_BURN,
  encodePlaintext, decodePlaintext, type EnvelopeMessage
} from './plaintext.js'
export {
  sealNoiseX, openNoiseX, NOISE_X_PROTOCOL_NAME, NOISE_MAX_MESSAGE_BYTES, NOISE_X_OVERHEAD_BYTES, NOISE_X_MAX_PAYLOAD_BYTES,
  type SealNoiseXInit, type OpenNoiseXInit, type OpenedNoiseX
} from './noise-x.js'
