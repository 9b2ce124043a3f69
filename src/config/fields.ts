/**
 * Validators for the values of a parsed YAML config. Each takes the raw value and its field path
 * (`network.bootstrap[0]`) and returns the typed value or throws AsmtpError CONFIG_INVALID whose
 * message names the path, so the operator sees which line of config.yaml to fix.
 */
import { isIP } from 'node:net'
import { homedir } from 'node:os'
import { isAbsolute, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { AsmtpError } from '../errors.js'
import { fromHex, toHex } from '../bytes.js'
import { ed25519PublicToX25519 } from '../crypto/index.js'
import { parseDuration } from './duration.js'
import type { HostPort } from './schema.js'

export function configInvalid (path: string, problem: string, cause?: unknown): AsmtpError {
  return new AsmtpError('CONFIG_INVALID', path === '' ? `config: ${problem}` : `config: ${path}: ${problem}`, cause === undefined ? undefined : { cause })
}

export function describeType (value: unknown): string {
  if (value === null || value === undefined) return 'empty'
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Uint8Array) return 'binary data'
  if (value instanceof Date) return 'a timestamp'
  if (typeof value === 'object') return isPlainObject(value) ? 'a mapping' : 'an object'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '...' : value)}`
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `the ${typeof value} ${value}`
  return `a ${typeof value}`
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

function join (parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`
}

function normalizeKey (key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '')
}

function editDistance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}

function suggestion (key: string, allowed: readonly string[]): string {
  const close = allowed.find(k => normalizeKey(k) === normalizeKey(key)) ??
    allowed.find(k => key.length < 64 && editDistance(k, key) <= Math.floor(k.length / 3))
  return close === undefined ? '' : `; did you mean ${close}?`
}

/**
 * A mapping with only the `allowed` keys. Empty (null) counts as an empty mapping, so a section
 * header with nothing under it means "all defaults".
 */
export function expectSection (value: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (value === null || value === undefined) return {}
  if (!isPlainObject(value)) throw configInvalid(path === '' ? 'top level' : path, `must be a mapping of ${allowed.join(', ')}; got ${describeType(value)}`)
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw configInvalid(join(path, key), `unknown field (${path === '' ? 'top-level fields' : path + ' has'}: ${allowed.join(', ')})${suggestion(key, allowed)}`)
    }
  }
  return value
}

export function fieldOf (section: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(section, key) ? section[key] : undefined
}

export function isUnset (value: unknown): value is null | undefined {
  return value === null || value === undefined
}

export function expectString (value: unknown, path: string, what: string): string {
  if (typeof value !== 'string') throw configInvalid(path, `must be ${what}; got ${describeType(value)}`)
  if (value.trim() === '') throw configInvalid(path, `must be ${what}; got an empty string`)
  return value
}

/** A list of strings; empty (null) is the empty list. */
export function expectStringList (value: unknown, path: string, what: string): Array<{ value: string, path: string }> {
  if (isUnset(value)) return []
  if (!Array.isArray(value)) throw configInvalid(path, `must be a list, each item ${what}; got ${describeType(value)}`)
  return value.map((item: unknown, i) => {
    const itemPath = `${path}[${i}]`
    return { value: expectString(item, itemPath, what), path: itemPath }
  })
}

export function expectInteger (value: unknown, path: string, bounds: { min: number, max: number }): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw configInvalid(path, `must be a whole number from ${bounds.min} to ${bounds.max}; got ${describeType(value)}`)
  }
  if (value < bounds.min || value > bounds.max) {
    throw configInvalid(path, `must be from ${bounds.min} to ${bounds.max}; got ${value}`)
  }
  return value
}

/** A path relative to `baseDir` (the config file's folder) or to the home folder with `~/`. */
export function expectPath (value: unknown, path: string, baseDir: string): string {
  const text = expectString(value, path, 'a file or folder path')
  if (text === '~' || text.startsWith('~/')) return resolve(homedir(), text.slice(2))
  return isAbsolute(text) ? resolve(text) : resolve(baseDir, text)
}

export function expectDuration (value: unknown, path: string, bounds: { min: number, max: number }): number {
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw configInvalid(path, `must be a duration such as 14d; got ${describeType(value)}`)
  }
  let ms: number
  try {
    ms = parseDuration(value)
  } catch (err) {
    throw configInvalid(path, (err as Error).message, err)
  }
  if (ms < bounds.min || ms > bounds.max) {
    throw configInvalid(path, `must be from ${bounds.min / 1000}s to ${bounds.max / 86_400_000}d; got ${JSON.stringify(value)}`)
  }
  return ms
}

/** An Ed25519 public key in hex (64 digits), returned in lowercase. */
export function expectPublicKeyHex (value: unknown, path: string): string {
  const text = expectString(value, path, 'an Ed25519 public key in hex (64 digits, quoted if all digits)')
  let key: Uint8Array
  try {
    key = fromHex(text, 32, 'the key')
  } catch (err) {
    throw configInvalid(path, `not an Ed25519 public key: ${(err as Error).message}`, err)
  }
  try {
    ed25519PublicToX25519(key)
  } catch (err) {
    throw configInvalid(path, 'not an Ed25519 public key: not a valid curve point', err)
  }
  return toHex(key)
}

const HOSTNAME_RE = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/
const HOST_PORT_HINT = 'host:port such as 127.0.0.1:9800, or \'[::1]:9800\' (quoted) for IPv6'

/** `host:port` with an IPv4 literal, a bracketed IPv6 literal or a host name; port 0..65535. */
export function expectHostPort (value: unknown, path: string): HostPort {
  const text = expectString(value, path, HOST_PORT_HINT).trim()
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  if (m === null) throw configInvalid(path, `not ${HOST_PORT_HINT}; got ${JSON.stringify(text)}`)
  const [, v6, other, portText] = m
  const port = Number(portText)
  if (port > 65535) throw configInvalid(path, `port must be from 0 to 65535; got ${port}`)
  if (v6 !== undefined) {
    if (isIP(v6) !== 6) throw configInvalid(path, `${JSON.stringify(v6)} is not an IPv6 address`)
    return { host: v6, port }
  }
  const host = other ?? ''
  if (/^[\d.]+$/.test(host) ? isIP(host) !== 4 : !HOSTNAME_RE.test(host)) {
    throw configInvalid(path, `${JSON.stringify(host)} is not an IPv4 address or host name`)
  }
  return { host, port }
}

/** A multiaddr string in canonical form; with `requirePeerId` it must end in a valid /p2p/<PeerId>. */
export function expectMultiaddr (value: string, path: string, requirePeerId: boolean): string {
  const problem = requirePeerId ? 'not a multiaddr with /p2p/<PeerId>' : 'not a multiaddr'
  let ma
  try {
    ma = multiaddr(value.trim())
  } catch (err) {
    throw configInvalid(path, `${problem}: ${(err as Error).message}`, err)
  }
  const components = ma.getComponents()
  if (components.length === 0) throw configInvalid(path, `${problem}: ${JSON.stringify(value)} is empty`)
  if (requirePeerId) {
    const p2p = components.filter(c => c.name === 'p2p')
    if (p2p.length === 0) throw configInvalid(path, `${problem}: ${JSON.stringify(value)} has no /p2p/ part`)
    for (const c of p2p) {
      try {
        peerIdFromString(c.value ?? '')
      } catch (err) {
        throw configInvalid(path, `${problem}: ${JSON.stringify(c.value)} is not a PeerId`, err)
      }
    }
  }
  return ma.toString()
}

/** Throws when a list holds the same value twice (a duplicate listen address fails at bind time). */
export function assertNoDuplicates (items: Array<{ value: string, path: string }>): void {
  const seen = new Map<string, string>()
  for (const { value, path } of items) {
    const first = seen.get(value)
    if (first !== undefined) throw configInvalid(path, `duplicate of ${first}`)
    seen.set(value, path)
  }
}

export function expectBoolean (value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw configInvalid(path, `must be true or false; got ${describeType(value)}`)
  return value
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 }

/** A size in bytes: a whole number, or a whole number with B, KiB, MiB, GiB or TiB (16MiB). */
export function expectSize (value: unknown, path: string, bounds: { min: number, max: number }): number {
  let bytes: number | undefined
  if (typeof value === 'number') bytes = value
  else if (typeof value === 'string') {
    const m = /^\s*(\d{1,15})\s*([a-zA-Z]*)\s*$/.exec(value)
    const unit = SIZE_UNITS[(m?.[2] ?? 'x').toLowerCase()]
    if (m !== null && unit !== undefined) bytes = Number(m[1]) * unit
  }
  if (bytes === undefined || !Number.isSafeInteger(bytes)) {
    throw configInvalid(path, `must be a size such as 16MiB (units B, KiB, MiB, GiB, TiB) or a number of bytes; got ${describeType(value)}`)
  }
  if (bytes < bounds.min || bytes > bounds.max) {
    throw configInvalid(path, `must be from ${bounds.min} to ${bounds.max} bytes; got ${JSON.stringify(value)}`)
  }
  return bytes
}
