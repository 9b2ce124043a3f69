/**
 * A NodeConfig for a node on 127.0.0.1 with ports chosen by the system and its files in one
 * folder: what tests, benchmarks and the demo start. Defaults are those of config.yaml.
 */
import { join } from 'node:path'
import { CONFIG_DEFAULTS, type NodeConfig } from './schema.js'

export interface LoopbackConfigInit {
  /** folder of the node: key file `node.key`, LevelDB `data/` */
  dir: string
  bootstrap?: string[]
  /** device keys (hex) allowed on the client channel */
  users?: string[]
  retentionMs?: number
  limits?: Partial<NodeConfig['limits']>
  /** overrides of the network section (bucket_bits, relay, stamp_bits, ...) */
  network?: Partial<Omit<NodeConfig['network'], 'listen' | 'bootstrap'>>
  relayQuotaBytes?: number
  /** storage.sync @default true */
  sync?: boolean
  /** overrides of the storage section (memory, max_messages) */
  storage?: Partial<Pick<NodeConfig['storage'], 'memory' | 'maxMessages'>>
}

export function loopbackConfig (init: LoopbackConfigInit): NodeConfig {
  return {
    configPath: null,
    configDir: init.dir,
    secret: join(init.dir, 'node.key'),
    users: init.users ?? [],
    client: { listen: { host: '127.0.0.1', port: 0 } },
    network: {
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: [],
      bootstrap: init.bootstrap ?? [],
      bucketBits: CONFIG_DEFAULTS.bucketBits,
      relay: CONFIG_DEFAULTS.relay,
      reachable: CONFIG_DEFAULTS.reachable,
      frameLifetimeMs: CONFIG_DEFAULTS.frameLifetimeMs,
      stampBits: CONFIG_DEFAULTS.stampBits,
      maxFileBytes: CONFIG_DEFAULTS.maxFileBytes,
      privateKey: null,
      mdns: CONFIG_DEFAULTS.mdns,
      ...init.network
    },
    storage: {
      path: join(init.dir, 'data'),
      retentionMs: init.retentionMs ?? CONFIG_DEFAULTS.retentionMs,
      relayQuotaBytes: init.relayQuotaBytes ?? CONFIG_DEFAULTS.relayQuotaBytes,
      sync: init.sync ?? CONFIG_DEFAULTS.storageSync,
      memory: CONFIG_DEFAULTS.memory,
      maxMessages: CONFIG_DEFAULTS.maxMessages,
      ...init.storage
    },
    limits: {
      maxEnvelopeSize: CONFIG_DEFAULTS.maxEnvelopeSize,
      maxPeerMessagesPerSecond: CONFIG_DEFAULTS.maxPeerMessagesPerSecond,
      maxPublishQueue: CONFIG_DEFAULTS.maxPublishQueue,
      ...init.limits
    },
    log: { level: 'error' },
    metrics: { listen: null }
  }
}

export interface LoopbackConfigYamlInit {
  /** device keys (hex) allowed on the client channel */
  users?: string[]
  bootstrap?: string[]
  /** `network.relay: true` */
  relay?: boolean
  /** `network.reachable: false`: listens nowhere, only dials out (a home node behind NAT) */
  reachable?: boolean
  /** a first comment line, without the '#' */
  comment?: string
}

/**
 * The same node as loopbackConfig, as the config.yaml a person would write for it (key file
 * `./node.key`, LevelDB `./data`, relative to the file's folder; log level warn): what the demo
 * shows and the CLI tests hand to a real asmtpd process.
 */
export function loopbackConfigYaml (init: LoopbackConfigYamlInit = {}): string {
  const list = (items: string[] = []): string => `[${items.map(i => `'${i.replaceAll("'", "''")}'`).join(', ')}]`
  return [
    ...(init.comment === undefined ? [] : [`# ${init.comment}`]),
    'secret: ./node.key',
    `users: ${list(init.users)}`,
    'client:',
    '  listen: 127.0.0.1:0',
    'network:',
    '  listen: [/ip4/127.0.0.1/tcp/0]',
    `  bootstrap: ${list(init.bootstrap)}`,
    ...(init.relay === true ? ['  relay: true'] : []),
    ...(init.reachable === false ? ['  reachable: false'] : []),
    'storage:',
    '  path: ./data',
    'log:',
    '  level: warn'
  ].join('\n') + '\n'
}
