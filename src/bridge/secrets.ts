/**
 * The bridge's two secrets, in `<account>/bridge/` with mode 0600 (docs/BRIDGE.md "Secrets"):
 * the SMTP password the user sets (kept as an scrypt hash, never in clear) and the HTTP API's
 * bearer token (made at the first start). Neither is ever logged.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AsmtpError } from '../errors.js'
import { readIfExists, writeFileAtomic } from '../client/folder.js'

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number, r: number, p: number, maxmem: number }) => Promise<Buffer>

const SCRYPT = { N: 1 << 15, r: 8, p: 1 }
const SCRYPT_MAXMEM = 64 * 1024 * 1024
const HASH_BYTES = 32
const TOKEN_BYTES = 32
const MIN_PASSWORD_CHARS = 8
const MAX_PASSWORD_BYTES = 1024

export function bridgeDir (accountDir: string): string {
  return join(accountDir, 'bridge')
}
export const passwordFile = (accountDir: string): string => join(bridgeDir(accountDir), 'smtp-password.json')
export const tokenFile = (accountDir: string): string => join(bridgeDir(accountDir), 'http-token')

interface PasswordFile { v: 1, N: number, r: number, p: number, salt: string, hash: string }

async function hashOf (password: string, salt: Buffer, params: { N: number, r: number, p: number }): Promise<Buffer> {
  return await scryptAsync(password, salt, HASH_BYTES, { ...params, maxmem: SCRYPT_MAXMEM })
}

/** Sets the SMTP password (at least 8 characters). */
export async function setPassword (accountDir: string, password: string): Promise<void> {
  if (password.length < MIN_PASSWORD_CHARS || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new AsmtpError('CONFIG_INVALID', `the SMTP password must have ${MIN_PASSWORD_CHARS} characters or more (and at most ${MAX_PASSWORD_BYTES} bytes)`)
  }
  const salt = randomBytes(16)
  const hash = await hashOf(password, salt, SCRYPT)
  await mkdir(bridgeDir(accountDir), { recursive: true, mode: 0o700 })
  const file: PasswordFile = { v: 1, ...SCRYPT, salt: salt.toString('hex'), hash: hash.toString('hex') }
  await writeFileAtomic(passwordFile(accountDir), JSON.stringify(file) + '\n', 0o600)
}

/** A checker of SMTP passwords; CONFIG_INVALID when none was set. */
export async function loadPasswordCheck (accountDir: string): Promise<(password: string) => Promise<boolean>> {
  const path = passwordFile(accountDir)
  const raw = await readIfExists(path)
  if (raw === undefined) throw new AsmtpError('CONFIG_INVALID', `no SMTP password set for ${accountDir}: run asmtp-bridge password --account ${accountDir}`)
  let f: PasswordFile
  try {
    f = JSON.parse(raw.toString('utf8')) as PasswordFile
  } catch (err) {
    throw new AsmtpError('CONFIG_INVALID', `${path} is not valid JSON: set the password again`, { cause: err })
  }
  if (f.v !== 1 || typeof f.salt !== 'string' || typeof f.hash !== 'string' || ![f.N, f.r, f.p].every(Number.isSafeInteger)) {
    throw new AsmtpError('CONFIG_INVALID', `${path} is not a password file of this version: set the password again`)
  }
  const salt = Buffer.from(f.salt, 'hex')
  const expected = Buffer.from(f.hash, 'hex')
  return async (password: string) => {
    if (typeof password !== 'string' || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) return false
    const got = await hashOf(password, salt, { N: f.N, r: f.r, p: f.p })
    return got.length === expected.length && timingSafeEqual(got, expected)
  }
}

/** The HTTP bearer token: read, or made (0600) at the first start. */
export async function loadOrCreateToken (accountDir: string): Promise<string> {
  const path = tokenFile(accountDir)
  const raw = await readIfExists(path)
  const existing = raw?.toString('utf8').trim()
  if (existing !== undefined && /^[0-9a-f]{64}$/.test(existing)) return existing
  const token = randomBytes(TOKEN_BYTES).toString('hex')
  await mkdir(bridgeDir(accountDir), { recursive: true, mode: 0o700 })
  await writeFileAtomic(path, token + '\n', 0o600)
  return token
}

/** Compares a presented token with the real one in constant time. */
export function tokenMatches (presented: string, token: string): boolean {
  const a = Buffer.from(presented, 'utf8')
  const b = Buffer.from(token, 'utf8')
  return a.length === b.length && timingSafeEqual(a, b)
}
