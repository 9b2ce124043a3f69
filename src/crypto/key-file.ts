/**
 * Secret key files: JSON, written with mode 0600, optionally encrypted with a passphrase
 * (scrypt N=2^15 r=8 p=1 -> ChaCha20-Poly1305, the key type as associated data).
 *
 *   plain:     { "asmtp-key": 1, "type": "ed25519", "secret": "<hex>" }
 *   encrypted: { "asmtp-key": 1, "type": "ed25519", "kdf": { "name": "scrypt", "N", "r", "p", "salt" },
 *                "nonce": "<hex>", "ciphertext": "<hex>" }
 *
 * A file readable by group or others is refused (as ssh does), so a leaked mode is noticed.
 */
import { randomBytes, scryptSync } from 'node:crypto'
import { chmod, readFile, stat, writeFile, rename } from 'node:fs/promises'
import { AsmtpError } from '../errors.js'
import { fromHex, toHex } from '../bytes.js'
import { chachaOpen, chachaSeal } from './aead.js'

export type KeyType = 'ed25519' | 'x25519'

const FORMAT_VERSION = 1
const SCRYPT = { N: 1 << 15, r: 8, p: 1 }
const SCRYPT_MAXMEM = 256 * 1024 * 1024

interface KdfParams { name: 'scrypt', N: number, r: number, p: number, salt: string }

function deriveFileKey (password: string, kdf: KdfParams): Uint8Array {
  return new Uint8Array(scryptSync(password.normalize('NFKC'), fromHex(kdf.salt, undefined, 'kdf salt'), 32, { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: SCRYPT_MAXMEM }))
}

/** Serialises a secret key to the key-file text; encrypted when `password` is a non-empty string. */
export function encodeKeyFile (type: KeyType, secret: Uint8Array, password?: string): string {
  if (password === undefined || password === '') {
    return JSON.stringify({ 'asmtp-key': FORMAT_VERSION, type, secret: toHex(secret) }, null, 2) + '\n'
  }
  const kdf: KdfParams = { name: 'scrypt', ...SCRYPT, salt: toHex(randomBytes(16)) }
  const nonce = randomBytes(12)
  const ciphertext = chachaSeal(deriveFileKey(password, kdf), nonce, secret, Buffer.from(type))
  return JSON.stringify({ 'asmtp-key': FORMAT_VERSION, type, kdf, nonce: toHex(nonce), ciphertext: toHex(ciphertext) }, null, 2) + '\n'
}

/** Parses key-file text. Throws AsmtpError KEY_FILE_INVALID or KEY_FILE_PASSWORD. */
export function decodeKeyFile (text: string, expectedType: KeyType, password?: string, where = 'key file'): Uint8Array {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw new AsmtpError('KEY_FILE_INVALID', `${where} is not an asmtp key file (not JSON)`, { cause: err })
  }
  if (typeof doc !== 'object' || doc === null || (doc as Record<string, unknown>)['asmtp-key'] !== FORMAT_VERSION) {
    throw new AsmtpError('KEY_FILE_INVALID', `${where} is not an asmtp key file (version ${FORMAT_VERSION} expected)`)
  }
  const d = doc as Record<string, unknown>
  if (d.type !== expectedType) throw new AsmtpError('KEY_FILE_INVALID', `${where} holds a ${String(d.type)} key, expected ${expectedType}`)
  try {
    if (typeof d.secret === 'string') return fromHex(d.secret, 32, `${where} secret`)
    const kdf = d.kdf as KdfParams | undefined
    if (kdf?.name !== 'scrypt' || typeof d.nonce !== 'string' || typeof d.ciphertext !== 'string' ||
        !Number.isInteger(kdf.N) || !Number.isInteger(kdf.r) || !Number.isInteger(kdf.p) || typeof kdf.salt !== 'string' ||
        kdf.N > (1 << 20) || kdf.r > 32 || kdf.p > 16) {
      throw new AsmtpError('KEY_FILE_INVALID', `${where} has neither a secret nor valid encryption fields`)
    }
    if (password === undefined || password === '') {
      throw new AsmtpError('KEY_FILE_PASSWORD', `${where} is encrypted: a password is required`)
    }
    const plain = chachaOpen(deriveFileKey(password, kdf), fromHex(d.nonce, 12, `${where} nonce`), fromHex(d.ciphertext, 48, `${where} ciphertext`), Buffer.from(expectedType))
    if (plain === null) throw new AsmtpError('KEY_FILE_PASSWORD', `${where}: wrong password (or the file was altered)`)
    return plain
  } catch (err) {
    if (err instanceof AsmtpError && err.code !== 'DECODE_INVALID') throw err
    throw new AsmtpError('KEY_FILE_INVALID', `${where} is malformed: ${(err as Error).message}`, { cause: err })
  }
}

/** Writes a key file with mode 0600 (atomically: temp file then rename). Refuses to overwrite unless asked. */
export async function writeKeyFile (path: string, type: KeyType, secret: Uint8Array, options: { password?: string, overwrite?: boolean } = {}): Promise<void> {
  const text = encodeKeyFile(type, secret, options.password)
  if (options.overwrite !== true) {
    await writeFile(path, text, { mode: 0o600, flag: 'wx' })
  } else {
    const tmp = `${path}.${process.pid}.tmp`
    await writeFile(tmp, text, { mode: 0o600, flag: 'w' })
    await rename(tmp, path)
  }
  await chmod(path, 0o600)
}

/** Reads a key file; refuses one that group or others can read. */
export async function readKeyFile (path: string, type: KeyType, password?: string): Promise<Uint8Array> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    throw new AsmtpError('KEY_FILE_INVALID', `key file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  if ((info.mode & 0o077) !== 0) {
    throw new AsmtpError('KEY_FILE_PERMISSIONS', `key file ${path} is accessible by others (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`)
  }
  return decodeKeyFile(await readFile(path, 'utf8'), type, password, `key file ${path}`)
}
