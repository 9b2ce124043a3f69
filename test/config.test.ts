import '../src/polyfill.js'
import { readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { stringify } from 'yaml'
import { AsmtpError } from '../src/errors.js'
import { Ed25519KeyPair, writeKeyFile } from '../src/crypto/index.js'
import {
  CONFIG_DEFAULTS, DEFAULT_CONFIG_YAML, MAX_CONFIG_BYTES, formatDuration, loadConfig, loadNodeKey,
  loopbackConfig, loopbackConfigYaml, parseConfig, parseDuration, type NodeConfig
} from '../src/config/index.js'

interface ValidCase { note: string, yaml: string, expect: Record<string, unknown> }
interface InvalidCase { note: string, yaml: string, code: string, field: string }
const vectors = readVectors<{ valid: ValidCase[], invalid: InvalidCase[] }>('config.json')

const BASE = { baseDir: '/srv/asmtp' }

function isConfigInvalid (err: unknown): err is AsmtpError {
  return err instanceof AsmtpError && err.code === 'CONFIG_INVALID' && err.message.startsWith('config')
}

test('loopbackConfigYaml is the config.yaml of loopbackConfig\'s node', () => {
  const dir = '/srv/asmtp'
  const users = [Ed25519KeyPair.generate(), Ed25519KeyPair.generate()].map(k => Buffer.from(k.publicKey).toString('hex'))
  const bootstrap = ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh8ZqeUfP2zBR1oAZrTbYCNKf9YjfDwLvaHWGFyrv']
  const parsed = parseConfig(loopbackConfigYaml({ comment: 'a node', users, bootstrap }), { baseDir: dir, configPath: join(dir, 'config.yaml') })
  assert.deepEqual(parsed, { ...loopbackConfig({ dir, users, bootstrap }), configPath: join(dir, 'config.yaml'), log: { level: 'warn' } })
  assert.deepEqual(parseConfig(loopbackConfigYaml(), { baseDir: dir }).users, [])
  // a quote inside an item stays one YAML string
  const quoted = `/dns4/o'brien/tcp/1/p2p/${bootstrap[0].split('/p2p/')[1]}`
  assert.deepEqual(parseConfig(loopbackConfigYaml({ bootstrap: [quoted] }), { baseDir: dir }).network.bootstrap, [quoted])
})

test('the default config parses to the built-in defaults', () => {
  const fromDefault = parseConfig(DEFAULT_CONFIG_YAML, BASE)
  const minimal = parseConfig('secret: ./node.key\n', BASE)
  assert.deepEqual(fromDefault, minimal)
  assert.equal(fromDefault.secret, '/srv/asmtp/node.key')
  assert.equal(fromDefault.storage.path, '/srv/asmtp/data')
  assert.equal(fromDefault.storage.retentionMs, CONFIG_DEFAULTS.retentionMs)
  assert.deepEqual(fromDefault.client.listen, CONFIG_DEFAULTS.clientListen)
  assert.deepEqual(fromDefault.network.listen, CONFIG_DEFAULTS.networkListen)
  assert.equal(fromDefault.limits.maxEnvelopeSize, 65536)
  assert.equal(fromDefault.configPath, null)
  assert.equal(fromDefault.configDir, '/srv/asmtp')
})

test('every field of the default config is set explicitly (it documents all of them)', () => {
  for (const name of ['secret:', 'users:', 'client:', 'network:', 'storage:', 'limits:', 'log:', '  listen:', '  announce:',
    '  bootstrap:', '  bucket_bits:', '  relay:', '  reachable:', '  frame_lifetime:', '  stamp_bits:', '  max_file_bytes:',
    '  path:', '  retention:', '  relay_quota:', '  max_envelope_size:', '  max_peer_messages_per_second:', '  max_publish_queue:', '  level:']) {
    assert.match(DEFAULT_CONFIG_YAML, new RegExp(`^${name}`, 'm'), name)
  }
})

test('config.yaml.example is byte-identical to DEFAULT_CONFIG_YAML', () => {
  const example = readFileSync(new URL('../../config.yaml.example', import.meta.url), 'utf8')
  assert.equal(example, DEFAULT_CONFIG_YAML)
})

test('valid config vectors', () => {
  assert.ok(vectors.valid.length > 10)
  for (const c of vectors.valid) {
    const config = parseConfig(c.yaml, BASE) as unknown as Record<string, unknown>
    for (const [key, value] of Object.entries(c.expect)) {
      assert.deepEqual(config[key], value, `${c.note}: ${key}`)
    }
  }
})

test('invalid config vectors: CONFIG_INVALID naming the field', () => {
  assert.ok(vectors.invalid.length > 40)
  for (const c of vectors.invalid) {
    assert.throws(() => parseConfig(c.yaml, BASE), (err: unknown) => {
      assert.ok(err instanceof AsmtpError, `${c.note}: ${String(err)}`)
      assert.equal(err.code, c.code, c.note)
      const prefix = c.field === '' ? 'config: ' : `config: ${c.field}: `
      assert.ok(err.message.startsWith(prefix), `${c.note}: expected "${prefix}...", got "${err.message}"`)
      assert.ok(!err.message.includes('\n'), `${c.note}: one line`)
      return true
    }, c.note)
  }
})

test('unknown fields suggest the intended name', () => {
  assert.throws(() => parseConfig('secret: x\nnetwork:\n  bootstrp: []\n', BASE), /did you mean bootstrap\?/)
  assert.throws(() => parseConfig('secret: x\nlimits:\n  maxEnvelopeSize: 1\n', BASE), /did you mean max_envelope_size\?/)
  assert.throws(() => parseConfig('secret: x\nfoo: 1\n', BASE), (err: unknown) => isConfigInvalid(err) && !err.message.includes('did you mean'))
})

test('prototype keys are unknown fields, not prototype pollution', () => {
  assert.throws(() => parseConfig('secret: x\n__proto__: { secret: y }\n', BASE), /config: __proto__: unknown field/)
  assert.throws(() => parseConfig('secret: x\nlimits:\n  constructor: 1\n', BASE), /config: limits.constructor: unknown field/)
  assert.equal(({} as Record<string, unknown>).secret, undefined)
})

test('relative paths resolve against the config file folder, not the working directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-config-'))
  try {
    await mkdir(join(dir, 'etc'))
    const path = join(dir, 'etc', 'config.yaml')
    await writeFile(path, 'secret: ../keys/node.key\nstorage:\n  path: data\n')
    const config = await loadConfig(path)
    assert.equal(config.configPath, path)
    assert.equal(config.configDir, join(dir, 'etc'))
    assert.equal(config.secret, join(dir, 'keys', 'node.key'))
    assert.equal(config.storage.path, join(dir, 'etc', 'data'))
    const viaRelative = await loadConfig(join(dir, 'etc', '..', 'etc', 'config.yaml'))
    assert.equal(viaRelative.secret, config.secret)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('~/ paths resolve against the home folder', () => {
  const config = parseConfig('secret: ~/asmtp/node.key\nstorage:\n  path: ~/asmtp/data\n', BASE)
  assert.equal(config.secret, join(homedir(), 'asmtp', 'node.key'))
  assert.equal(config.storage.path, join(homedir(), 'asmtp', 'data'))
})

test('loadConfig: a missing, non-regular or oversized file is CONFIG_INVALID naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-config-'))
  try {
    const missing = join(dir, 'missing.yaml')
    await assert.rejects(loadConfig(missing), (err: unknown) => isConfigInvalid(err) && err.message.includes(missing) && err.message.includes('ENOENT'))
    await assert.rejects(loadConfig(dir), (err: unknown) => isConfigInvalid(err) && err.message.includes('not a regular file'))
    const big = join(dir, 'big.yaml')
    await writeFile(big, '#'.repeat(MAX_CONFIG_BYTES + 1))
    await assert.rejects(loadConfig(big), (err: unknown) => isConfigInvalid(err) && err.message.includes('larger than'))
    assert.throws(() => parseConfig('#'.repeat(MAX_CONFIG_BYTES + 1), BASE), isConfigInvalid)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('durations: units, seconds, and what is refused', () => {
  assert.equal(parseDuration('14d'), 14 * 86_400_000)
  assert.equal(parseDuration('36h'), 36 * 3_600_000)
  assert.equal(parseDuration('90m'), 90 * 60_000)
  assert.equal(parseDuration('45s'), 45_000)
  assert.equal(parseDuration('1d12h'), 36 * 3_600_000)
  assert.equal(parseDuration('2d3h4m5s'), ((2 * 24 + 3) * 60 * 60 + 4 * 60 + 5) * 1000)
  assert.equal(parseDuration('3600'), 3_600_000)
  assert.equal(parseDuration(3600), 3_600_000)
  assert.equal(parseDuration(' 7d '), 7 * 86_400_000)
  for (const bad of ['', 'd', '1w', '1.5h', '-1s', '1 d', '1D', '5s1m', '1d1d', '1e3', 'P1D', '0x10']) {
    assert.throws(() => parseDuration(bad), isConfigInvalidDuration, JSON.stringify(bad))
  }
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER]) {
    assert.throws(() => parseDuration(bad), isConfigInvalidDuration, String(bad))
  }
  assert.throws(() => parseDuration('9'.repeat(30) + 'd'), isConfigInvalidDuration)
  assert.equal(formatDuration(14 * 86_400_000), '14d')
  assert.equal(formatDuration(36 * 3_600_000), '1d12h')
  assert.equal(formatDuration(61_000), '1m1s')
  assert.equal(formatDuration(0), '0s')
})

function isConfigInvalidDuration (err: unknown): boolean {
  return err instanceof AsmtpError && err.code === 'CONFIG_INVALID' && /duration/.test(err.message)
}

test('durations: formatDuration and parseDuration round-trip', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 3650 * 86_400 }), seconds => {
    assert.equal(parseDuration(formatDuration(seconds * 1000)), seconds * 1000)
    assert.equal(parseDuration(seconds), seconds * 1000)
  }))
})

test('loadNodeKey reads the key named by secret, plain or with a password', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-config-'))
  try {
    const key = Ed25519KeyPair.generate()
    await writeKeyFile(join(dir, 'node.key'), 'ed25519', key.secretKey)
    await writeKeyFile(join(dir, 'locked.key'), 'ed25519', key.secretKey, { password: 'pw' })
    await writeFile(join(dir, 'config.yaml'), 'secret: node.key\n')
    const config = await loadConfig(join(dir, 'config.yaml'))
    assert.deepEqual((await loadNodeKey(config.secret ?? '')).publicKey, key.publicKey)
    assert.deepEqual((await loadNodeKey(join(dir, 'locked.key'), 'pw')).publicKey, key.publicKey)
    await assert.rejects(loadNodeKey(join(dir, 'locked.key')), (err: unknown) => err instanceof AsmtpError && err.code === 'KEY_FILE_PASSWORD')
    await assert.rejects(loadNodeKey(join(dir, 'nope.key')), (err: unknown) => err instanceof AsmtpError && err.code === 'KEY_FILE_INVALID' && err.message.includes('nope.key'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

function parsesOrConfigInvalid (text: string): NodeConfig | null {
  try {
    return parseConfig(text, BASE)
  } catch (err) {
    if (isConfigInvalid(err)) return null
    throw err
  }
}

const FRAGMENTS = ['secret', 'users', 'client', 'network', 'storage', 'limits', 'log', 'listen', 'announce', 'bootstrap',
  'path', 'retention', 'max_envelope_size', 'level', ': ', ':', '\n', '\n  ', '- ', '[', ']', '{', '}', ',', '"', "'", '&a', '*a',
  '!!binary', '!x', '#', '---', '|', '>', '?', '~', '0', '65536', '14d', '/ip4/127.0.0.1/tcp/0', '127.0.0.1:0', '<<', '__proto__',
  'null', 'true', '.inf', '%YAML 1.2', '\t', ' ', 'node.key', 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a']

test('fast-check: random YAML-ish text only ever gives a config or CONFIG_INVALID', () => {
  fc.assert(fc.property(fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }), parts => {
    parsesOrConfigInvalid(parts.join(''))
  }), { numRuns: 2000 })
  fc.assert(fc.property(fc.string({ maxLength: 200 }), text => {
    parsesOrConfigInvalid(text)
    parsesOrConfigInvalid('secret: k\n' + text)
  }), { numRuns: 1000 })
})

test('fast-check: random values in every field only ever give a config or CONFIG_INVALID', () => {
  const leaf = fc.oneof(
    fc.anything({ maxDepth: 2 }), fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }), fc.constantFrom('14d', '0', '127.0.0.1:0', '/ip4/127.0.0.1/tcp/0', 'debug', './x')
  )
  const section = (keys: string[]): fc.Arbitrary<unknown> => fc.oneof(leaf, fc.dictionary(fc.constantFrom(...keys, 'other'), leaf, { maxKeys: 4 }))
  const doc = fc.record({
    secret: fc.oneof(fc.constant('./node.key'), leaf),
    users: leaf,
    client: section(['listen']),
    network: section(['listen', 'announce', 'bootstrap', 'bucket_bits', 'relay', 'reachable', 'frame_lifetime', 'stamp_bits', 'max_file_bytes']),
    storage: section(['path', 'retention', 'relay_quota']),
    limits: section(['max_envelope_size', 'max_peer_messages_per_second', 'max_publish_queue']),
    log: section(['level'])
  }, { requiredKeys: [] })
  fc.assert(fc.property(doc, value => {
    let text: string
    try {
      text = stringify(value)
    } catch {
      return
    }
    const config = parsesOrConfigInvalid(text)
    if (config !== null) {
      assert.equal(typeof config.secret, 'string')
      assert.ok(Number.isSafeInteger(config.storage.retentionMs) && config.storage.retentionMs >= 1000)
      assert.ok(config.client.listen.port >= 0 && config.client.listen.port <= 65535)
    }
  }), { numRuns: 1000 })
})
