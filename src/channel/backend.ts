/**
 * What the client channel needs from a node. The node implements it; tests use an in-memory
 * fake. `owner` is the device key (lowercase hex Ed25519) the request came from.
 */

export interface ExportablePassport {
  export: () => Uint8Array
}

export interface BackendEnvelope {
  topic: Uint8Array
  seq: bigint
  data: Uint8Array
}

export interface ClientBackend {
  /** Validates and stores a passport (export format); resolves to the passport the node now holds. */
  putPassport: (exportBytes: Uint8Array, options?: { signal?: AbortSignal }) => Promise<ExportablePassport>
  /** AsmtpError NOT_FOUND when the passport is nowhere to be found. */
  getPassport: (id: Uint8Array, options?: { signal?: AbortSignal }) => Promise<ExportablePassport>
  registerTopic: (topic: Uint8Array, key: Uint8Array, owner: string) => Promise<void>
  deregisterTopic: (topic: Uint8Array, owner: string) => Promise<void>
  isTopicOwner: (topic: Uint8Array, owner: string) => boolean
  publish: (topic: Uint8Array, envelope: Uint8Array) => Promise<{ stored: boolean, seq: bigint }>
  /** Envelopes with seq > after, oldest first; `cursor` is the seq of the last one returned. */
  query: (topic: Uint8Array, after: bigint, limit?: number) => Promise<{ envelopes: Array<{ seq: bigint, data: Uint8Array }>, cursor: bigint, more: boolean }>
  /** Every envelope newly stored on any topic; returns the unsubscribe function. */
  onEnvelope: (listener: (e: BackendEnvelope) => void) => () => void
}
