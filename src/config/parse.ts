/**
 * config.yaml -> NodeConfig: YAML is parsed once (any syntax error, duplicate key, unknown tag or
 * second document is refused with its line), every field is validated, defaults are filled in,
 * and relative paths are resolved against the config file's folder.
 */
import { readFile, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import { AsmtpError } from '../errors.js'
import {
  assertNoDuplicates, configInvalid, expectDuration, expectHostPort, expectInteger, expectMultiaddr,
  expectBoolean, expectPath, expectPublicKeyHex, expectSection, expectSize, expectStringList, fieldOf, isUnset
} from './fields.js'
import { parseMdns, parseMetricsListen, parseNetworkKey, parseStorageModes } from './modes.js'
import { CONFIG_BOUNDS, CONFIG_DEFAULTS, LOG_LEVELS, MAX_CONFIG_BYTES, type LogLevel, type NetworkConfig, type NodeConfig } from './schema.js'

const TOP_FIELDS = ['secret', 'users', 'client', 'network', 'storage', 'limits', 'log', 'metrics'] as const

export interface ParseConfigOptions {
  /** The file the text came from, for NodeConfig.configPath. */
  configPath?: string
  /** Folder that relative paths resolve against (the config file's folder). */
  baseDir: string
}

const YAML_MESSAGES: Partial<Record<YAMLError['code'], string>> = {
  DUPLICATE_KEY: 'the same key twice',
  MULTIPLE_DOCS: 'more than one YAML document (a second ---)'
}
const QUOTE_HINT = '; quote a value that starts with [, {, !, &, * or @'

function yamlProblem (err: YAMLError, lines: LineCounter): AsmtpError {
  const { line, col } = lines.linePos(err.pos[0])
  const what = YAML_MESSAGES[err.code] ?? err.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? err.code
  const hint = err.code === 'UNEXPECTED_TOKEN' || err.code === 'BAD_SCALAR_START' ? QUOTE_HINT : ''
  return configInvalid(`line ${line}, column ${col}`, `YAML syntax error: ${what}${hint}`, err)
}

function readYaml (yamlText: string): unknown {
  if (Buffer.byteLength(yamlText, 'utf8') > MAX_CONFIG_BYTES) {
    throw configInvalid('', `larger than ${MAX_CONFIG_BYTES} bytes`)
  }
  const lineCounter = new LineCounter()
  let doc
  try {
    doc = parseDocument(yamlText, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true })
  } catch (err) {
    throw configInvalid('', `not readable as YAML: ${(err as Error).message}`, err)
  }
  const first = doc.errors[0] ?? doc.warnings[0]
  if (first !== undefined) throw yamlProblem(first, lineCounter)
  try {
    return doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw configInvalid('', `not readable as YAML: ${(err as Error).message}`, err)
  }
}

function multiaddrList (value: unknown, path: string, requirePeerId: boolean): string[] {
  const items = expectStringList(value, path, requirePeerId ? 'a multiaddr with /p2p/<PeerId>' : 'a multiaddr')
    .map(item => ({ value: expectMultiaddr(item.value, item.path, requirePeerId), path: item.path }))
  assertNoDuplicates(items)
  return items.map(item => item.value)
}

function integerOr (value: unknown, path: string, fallback: number, bounds: { min: number, max: number }): number {
  return isUnset(value) ? fallback : expectInteger(value, path, bounds)
}

const NETWORK_FIELDS = ['listen', 'announce', 'bootstrap', 'bucket_bits', 'relay', 'reachable', 'frame_lifetime', 'stamp_bits', 'max_file_bytes', 'private_key', 'passphrase', 'mdns'] as const

function parseNetwork (network: Record<string, unknown>, networkListen: unknown): NetworkConfig {
  const relayValue = fieldOf(network, 'relay')
  const relay = isUnset(relayValue) ? CONFIG_DEFAULTS.relay : expectBoolean(relayValue, 'network.relay')
  const reachableValue = fieldOf(network, 'reachable')
  const reachable = isUnset(reachableValue) ? CONFIG_DEFAULTS.reachable : expectBoolean(reachableValue, 'network.reachable')
  const bucketBits = integerOr(fieldOf(network, 'bucket_bits'), 'network.bucket_bits', CONFIG_DEFAULTS.bucketBits, CONFIG_BOUNDS.bucketBits)
  if (relay && bucketBits > CONFIG_BOUNDS.relayBucketBits.max) {
    throw configInvalid('network.bucket_bits', `a relay (network.relay: true) stores every bucket, so bucket_bits must be at most ${CONFIG_BOUNDS.relayBucketBits.max} (${2 ** CONFIG_BOUNDS.relayBucketBits.max} buckets); got ${bucketBits}`)
  }
  if (relay && !reachable) throw configInvalid('network.reachable', 'a relay must be reachable: home nodes dial it')
  const lifetime = fieldOf(network, 'frame_lifetime')
  const maxFile = fieldOf(network, 'max_file_bytes')
  return {
    listen: isUnset(networkListen) ? [...CONFIG_DEFAULTS.networkListen] : multiaddrList(networkListen, 'network.listen', false),
    announce: multiaddrList(fieldOf(network, 'announce'), 'network.announce', false),
    bootstrap: multiaddrList(fieldOf(network, 'bootstrap'), 'network.bootstrap', true),
    bucketBits,
    relay,
    reachable,
    frameLifetimeMs: isUnset(lifetime) ? CONFIG_DEFAULTS.frameLifetimeMs : expectDuration(lifetime, 'network.frame_lifetime', CONFIG_BOUNDS.frameLifetimeMs),
    stampBits: integerOr(fieldOf(network, 'stamp_bits'), 'network.stamp_bits', CONFIG_DEFAULTS.stampBits, CONFIG_BOUNDS.stampBits),
    maxFileBytes: isUnset(maxFile) ? CONFIG_DEFAULTS.maxFileBytes : expectSize(maxFile, 'network.max_file_bytes', CONFIG_BOUNDS.maxFileBytes),
    privateKey: parseNetworkKey(network),
    mdns: parseMdns(network)
  }
}

/** Validates a config text into a NodeConfig. Throws AsmtpError CONFIG_INVALID naming the field. */
export function parseConfig (yamlText: string, options: ParseConfigOptions): NodeConfig {
  const baseDir = resolve(options.baseDir)
  const top = expectSection(readYaml(yamlText), '', TOP_FIELDS)

  const storage = expectSection(fieldOf(top, 'storage'), 'storage', ['path', 'retention', 'relay_quota', 'sync', 'memory', 'max_messages'])
  const storageModes = parseStorageModes(storage)
  const secretValue = fieldOf(top, 'secret')
  // RAM only may run without a key file: a new node key at each start
  if (isUnset(secretValue) && !storageModes.memory) throw configInvalid('secret', 'required: the path of the node key file (asmtpd-cli generate-new-key --output <file> makes one)')
  const secret = isUnset(secretValue) ? null : expectPath(secretValue, 'secret', baseDir)

  const userItems = expectStringList(fieldOf(top, 'users'), 'users', 'an Ed25519 public key in hex (64 digits)')
    .map(item => ({ value: expectPublicKeyHex(item.value, item.path), path: item.path }))
  assertNoDuplicates(userItems)

  const client = expectSection(fieldOf(top, 'client'), 'client', ['listen'])
  const clientListen = fieldOf(client, 'listen')

  const network = expectSection(fieldOf(top, 'network'), 'network', NETWORK_FIELDS)
  const networkListen = fieldOf(network, 'listen')

  const storagePath = fieldOf(storage, 'path')
  const storageSync = fieldOf(storage, 'sync')
  const retention = fieldOf(storage, 'retention')
  const relayQuota = fieldOf(storage, 'relay_quota')

  const limits = expectSection(fieldOf(top, 'limits'), 'limits', ['max_envelope_size', 'max_peer_messages_per_second', 'max_publish_queue'])
  const log = expectSection(fieldOf(top, 'log'), 'log', ['level'])
  const level = fieldOf(log, 'level')
  if (!isUnset(level) && !(LOG_LEVELS as readonly unknown[]).includes(level)) {
    throw configInvalid('log.level', `must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(level)}`)
  }

  return {
    configPath: options.configPath === undefined ? null : resolve(options.configPath),
    configDir: baseDir,
    secret,
    users: userItems.map(item => item.value),
    client: {
      listen: isUnset(clientListen) ? { ...CONFIG_DEFAULTS.clientListen } : expectHostPort(clientListen, 'client.listen')
    },
    network: parseNetwork(network, networkListen),
    storage: {
      path: expectPath(isUnset(storagePath) ? CONFIG_DEFAULTS.storagePath : storagePath, 'storage.path', baseDir),
      retentionMs: isUnset(retention) ? CONFIG_DEFAULTS.retentionMs : expectDuration(retention, 'storage.retention', CONFIG_BOUNDS.retentionMs),
      relayQuotaBytes: isUnset(relayQuota) ? CONFIG_DEFAULTS.relayQuotaBytes : expectSize(relayQuota, 'storage.relay_quota', CONFIG_BOUNDS.relayQuotaBytes),
      sync: isUnset(storageSync) ? CONFIG_DEFAULTS.storageSync : expectBoolean(storageSync, 'storage.sync'),
      ...storageModes
    },
    limits: {
      maxEnvelopeSize: integerOr(fieldOf(limits, 'max_envelope_size'), 'limits.max_envelope_size', CONFIG_DEFAULTS.maxEnvelopeSize, CONFIG_BOUNDS.maxEnvelopeSize),
      maxPeerMessagesPerSecond: integerOr(fieldOf(limits, 'max_peer_messages_per_second'), 'limits.max_peer_messages_per_second', CONFIG_DEFAULTS.maxPeerMessagesPerSecond, CONFIG_BOUNDS.maxPeerMessagesPerSecond),
      maxPublishQueue: integerOr(fieldOf(limits, 'max_publish_queue'), 'limits.max_publish_queue', CONFIG_DEFAULTS.maxPublishQueue, CONFIG_BOUNDS.maxPublishQueue)
    },
    log: { level: isUnset(level) ? CONFIG_DEFAULTS.logLevel : level as LogLevel },
    metrics: { listen: parseMetricsListen(expectSection(fieldOf(top, 'metrics'), 'metrics', ['listen'])) }
  }
}

/** Reads and validates a config file. Throws AsmtpError CONFIG_INVALID (also when unreadable). */
export async function loadConfig (path: string): Promise<NodeConfig> {
  const configPath = resolve(path)
  let text: string
  try {
    const info = await stat(configPath)
    if (!info.isFile()) throw new AsmtpError('CONFIG_INVALID', `config file ${configPath} is not a regular file`)
    if (info.size > MAX_CONFIG_BYTES) throw new AsmtpError('CONFIG_INVALID', `config file ${configPath} is larger than ${MAX_CONFIG_BYTES} bytes`)
    text = await readFile(configPath, 'utf8')
  } catch (err) {
    if (err instanceof AsmtpError) throw err
    throw new AsmtpError('CONFIG_INVALID', `config file ${configPath} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  return parseConfig(text, { configPath, baseDir: dirname(configPath) })
}
