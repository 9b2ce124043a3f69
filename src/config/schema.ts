/**
 * The typed node configuration that config.yaml is validated into, once, with its defaults and
 * bounds. The node is written against NodeConfig; nothing downstream re-reads the YAML.
 */

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface HostPort {
  /** An IPv4 or IPv6 literal (IPv6 without brackets) or a host name. */
  host: string
  port: number
}

export interface NodeConfig {
  /** Absolute path of the config file, or null when parsed from text. */
  configPath: string | null
  /** Absolute folder that relative paths were resolved against. */
  configDir: string
  /** Absolute path of the node key file (Ed25519); null in RAM-only mode without one (a new key each start). */
  secret: string | null
  /** Device keys allowed on the client channel: lowercase hex, 32 bytes each. */
  users: string[]
  client: { listen: HostPort }
  network: NetworkConfig
  storage: StorageConfig
  limits: { maxEnvelopeSize: number, maxPeerMessagesPerSecond: number, maxPublishQueue: number }
  log: { level: LogLevel }
  /** host:port of the /metrics and /status endpoint; null: off */
  metrics: { listen: HostPort | null }
}

export interface StorageConfig {
  path: string
  retentionMs: number
  relayQuotaBytes: number
  /** RAM only: the store and the libp2p datastore in memory (memory-level); a restart forgets everything */
  memory: boolean
  /** most frames stored (relayed-only and matched); 0: no cap */
  maxMessages: number
  /** fsync frames and acknowledged sends before acknowledging them (docs/STORAGE.md) */
  sync: boolean
}

export interface NetworkConfig {
  listen: string[]
  announce: string[]
  bootstrap: string[]
  /** b: a topic's bucket is the first b bits of its hash; one value for the whole network (0..16) */
  bucketBits: number
  /** a relay subscribes to and stores every bucket (b <= 8) and announces itself in the DHT */
  relay: boolean
  /** false: behind NAT, no open port: the DHT runs in client mode and the node only dials out */
  reachable: boolean
  /** how long frames live on the network (ttl_class 0), network-wide */
  frameLifetimeMs: number
  /** leading zero bits a 1 KiB frame's stamp needs; one more per size class */
  stampBits: number
  /** largest file a user can send (every bucket member carries every byte) */
  maxFileBytes: number
  /** the 32-byte pre-shared key of a private network (@libp2p/pnet), from private_key or passphrase; null: the open network */
  privateKey: Uint8Array | null
  /** find nodes on the local network by multicast DNS */
  mdns: boolean
}

export const DAY_MS = 24 * 60 * 60 * 1000
export const MIB = 1024 * 1024

/** Defaults of every optional field; DEFAULT_CONFIG_YAML must state the same values (tested). */
export const CONFIG_DEFAULTS = {
  clientListen: { host: '127.0.0.1', port: 9800 },
  networkListen: ['/ip4/0.0.0.0/tcp/9801', '/ip6/::/tcp/9801'],
  storagePath: './data',
  retentionMs: 30 * DAY_MS,
  relayQuotaBytes: 1024 * MIB,
  storageSync: true,
  bucketBits: 4,
  relay: false,
  reachable: true,
  frameLifetimeMs: 14 * DAY_MS,
  stampBits: 4,
  maxFileBytes: 16 * MIB,
  maxEnvelopeSize: 65536,
  maxPeerMessagesPerSecond: 500,
  maxPublishQueue: 1024,
  logLevel: 'info',
  mdns: false,
  memory: false,
  maxMessages: 0
} as const

/** Inclusive bounds of the numeric fields. */
export const CONFIG_BOUNDS = {
  retentionMs: { min: 1000, max: 3650 * DAY_MS },
  relayQuotaBytes: { min: MIB, max: 1024 * 1024 * MIB },
  bucketBits: { min: 0, max: 16 },
  /** a relay carries every bucket: at most 2^8 of them */
  relayBucketBits: { min: 0, max: 8 },
  frameLifetimeMs: { min: 60 * 60 * 1000, max: 90 * DAY_MS },
  stampBits: { min: 0, max: 24 },
  maxFileBytes: { min: 1, max: 1024 * MIB },
  maxEnvelopeSize: { min: 1, max: 65536 },
  maxPeerMessagesPerSecond: { min: 1, max: 1_000_000 },
  maxPublishQueue: { min: 1, max: 1_000_000 },
  maxMessages: { min: 0, max: 1_000_000_000 }
} as const

/** A config file larger than this is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024
