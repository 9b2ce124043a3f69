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
  /** Absolute path of the node key file (Ed25519). */
  secret: string
  /** Device keys allowed on the client channel: lowercase hex, 32 bytes each. */
  users: string[]
  client: { listen: HostPort }
  network: { listen: string[], announce: string[], bootstrap: string[] }
  storage: { path: string, retentionMs: number }
  limits: { maxEnvelopeSize: number, maxPeerMessagesPerSecond: number, maxPublishQueue: number }
  log: { level: LogLevel }
}

export const DAY_MS = 24 * 60 * 60 * 1000

/** Defaults of every optional field; DEFAULT_CONFIG_YAML must state the same values (tested). */
export const CONFIG_DEFAULTS = {
  clientListen: { host: '127.0.0.1', port: 9800 },
  networkListen: ['/ip4/0.0.0.0/tcp/9801', '/ip6/::/tcp/9801'],
  storagePath: './data',
  retentionMs: 14 * DAY_MS,
  maxEnvelopeSize: 65536,
  maxPeerMessagesPerSecond: 500,
  maxPublishQueue: 1024,
  logLevel: 'info'
} as const

/** Inclusive bounds of the numeric fields. */
export const CONFIG_BOUNDS = {
  retentionMs: { min: 1000, max: 3650 * DAY_MS },
  maxEnvelopeSize: { min: 1, max: 65536 },
  maxPeerMessagesPerSecond: { min: 1, max: 1_000_000 },
  maxPublishQueue: { min: 1, max: 1_000_000 }
} as const

/** A config file larger than this is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 1024 * 1024
