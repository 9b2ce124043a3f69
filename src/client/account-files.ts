/**
 * An account's folder (docs/CLIENT.md "Local files"): the device key, the own passport and the
 * contacts' passports, the state file (contacts, key versions, cursors, remembered node), and
 * the old shared secrets, sealed with a key derived from the device key.
 */
import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { concatBytes, fromHex, toHex } from '../bytes.js'
import { blake2b256, chachaOpen, chachaSeal, Ed25519KeyPair, readKeyFile } from '../crypto/index.js'
import { AsmtpError } from '../errors.js'
import { Passport } from '../passport/index.js'
import type { ContactSharedKey, MailboxContact, OwnSharedKey } from './mailbox.js'
import { readIfExists, writeFileAtomic } from './folder.js'

export const STATE_VERSION = 1
const SECRETS_LABEL = new TextEncoder().encode('asmtp/cli/shared-keys/v1')

export interface Paths {
  dir: string
  key: string
  passport: string
  state: string
  secrets: string
  contacts: string
  messages: string
  sent: string
  files: string
  incoming: string
  lock: string
  syncState: string
  outbox: string
}

export function pathsFor (dir: string): Paths {
  return {
    dir,
    key: join(dir, 'device.key'),
    passport: join(dir, 'passport.bin'),
    state: join(dir, 'state.json'),
    secrets: join(dir, 'shared-keys.bin'),
    contacts: join(dir, 'contacts'),
    messages: join(dir, 'messages.jsonl'),
    sent: join(dir, 'sent-envelopes.txt'),
    files: join(dir, 'files'),
    incoming: join(dir, 'incoming'),
    lock: join(dir, 'lock'),
    syncState: join(dir, 'sync-state.json'),
    outbox: join(dir, 'outbox')
  }
}

export interface ContactRecord {
  alias: string
  passportId: string
  addedAt: number
  updatedAt: number
  keys: Array<{ publicKey: string, retiredAt: number | null }>
  /** Tip of our passport last sent to this contact; null: never sent. */
  announcedTip: string | null
  /** The alias asked for, when `alias` had to differ (docs/CLIENT.md "Conflicts"). */
  wanted?: string
  /** Last change of this contact by any device of the passport (ms) and its device key: the conflict clock. */
  at?: number
  by?: string
}

export interface NodeRecord { address: string, remoteId: string }

export interface StateFile {
  version: number
  alias: string
  deviceKey: string
  passportId: string
  /** Set while this device waits to be added to passportId (init --join). */
  joinRequest: string | null
  node: NodeRecord | null
  contacts: ContactRecord[]
  /** node public id -> topic hex -> last seq read (decimal). */
  cursors: Record<string, Record<string, string>>
  /** node public id -> topics registered there by this device. */
  registered: Record<string, string[]>
}

function corrupt (path: string, what: string): AsmtpError {
  return new AsmtpError('STORE_ERROR', `${path} is corrupt: ${what}`)
}

const isHex = (v: unknown, bytes: number): v is string => typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-f]+$/.test(v)
const isTime = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isSafeInteger(v))

function checkState (path: string, s: unknown): StateFile {
  if (typeof s !== 'object' || s === null) throw corrupt(path, 'not a JSON object')
  const st = s as Partial<StateFile>
  if (st.version !== STATE_VERSION) throw corrupt(path, `version ${String(st.version)} is not ${STATE_VERSION}`)
  if (typeof st.alias !== 'string' || !isHex(st.deviceKey, 32) || !isHex(st.passportId, 32)) throw corrupt(path, 'alias, deviceKey or passportId')
  if (st.joinRequest !== null && typeof st.joinRequest !== 'string') throw corrupt(path, 'joinRequest')
  if (!Array.isArray(st.contacts)) throw corrupt(path, 'contacts')
  for (const c of st.contacts) {
    if (typeof c.alias !== 'string' || !isHex(c.passportId, 32) || !Array.isArray(c.keys) || c.keys.length === 0 ||
        !c.keys.every(k => isHex(k.publicKey, 32) && isTime(k.retiredAt)) || (c.announcedTip !== null && !isHex(c.announcedTip, 32))) {
      throw corrupt(path, `contact ${String(c.alias)}`)
    }
  }
  if (typeof st.cursors !== 'object' || st.cursors === null || typeof st.registered !== 'object' || st.registered === null) throw corrupt(path, 'cursors')
  return { ...st, node: st.node ?? null } as StateFile
}

export async function loadState (paths: Paths): Promise<StateFile> {
  const raw = await readIfExists(paths.state)
  if (raw === undefined) throw new AsmtpError('ACCOUNT_NOT_FOUND', `no identity in ${paths.dir}: run asmtp-cli init --alias <name> (or give --dir)`)
  let doc: unknown
  try {
    doc = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw new AsmtpError('STORE_ERROR', `${paths.state} is not valid JSON`, { cause: err })
  }
  return checkState(paths.state, doc)
}

export async function saveState (paths: Paths, state: StateFile): Promise<void> {
  await writeFileAtomic(paths.state, JSON.stringify(state, null, 2) + '\n')
}

export async function makeDirs (paths: Paths): Promise<void> {
  await mkdir(paths.dir, { recursive: true, mode: 0o700 })
  for (const d of [paths.contacts, paths.files, paths.incoming, paths.outbox]) await mkdir(d, { recursive: true, mode: 0o700 })
}

export async function loadDevice (paths: Paths, password?: string): Promise<Ed25519KeyPair> {
  return Ed25519KeyPair.fromSecretKey(await readKeyFile(paths.key, 'ed25519', password))
}

// ---- passports ------------------------------------------------------------------------------

export async function loadOwnPassport (paths: Paths, state: StateFile): Promise<Passport> {
  const bytes = await readIfExists(paths.passport)
  if (bytes === undefined) {
    throw new AsmtpError('NOT_FOUND', state.joinRequest === null
      ? `${paths.passport} is missing`
      : `this device is not in passport ${state.passportId} yet: run "asmtp-cli passport add-device <request>" on a device of it, then "asmtp-cli sync" here`)
  }
  return Passport.import(new Uint8Array(bytes), { expectedId: fromHex(state.passportId) })
}

export async function saveOwnPassport (paths: Paths, passport: Passport): Promise<void> {
  await writeFileAtomic(paths.passport, passport.export(), 0o644)
}

export function contactPassportPath (paths: Paths, passportId: string): string {
  return join(paths.contacts, `${passportId}.passport`)
}

export async function loadContactPassport (paths: Paths, contact: ContactRecord): Promise<Passport> {
  const bytes = await readIfExists(contactPassportPath(paths, contact.passportId))
  if (bytes === undefined) throw new AsmtpError('STORE_ERROR', `the passport of contact ${contact.alias} is missing from ${paths.contacts}`)
  return Passport.import(new Uint8Array(bytes), { expectedId: fromHex(contact.passportId) })
}

export async function saveContactPassport (paths: Paths, passport: Passport): Promise<void> {
  await writeFileAtomic(contactPassportPath(paths, toHex(passport.id)), passport.export(), 0o644)
}

// ---- contacts as the mailbox sees them ----------------------------------------------------

export function toMailboxContact (c: ContactRecord): MailboxContact {
  return {
    alias: c.alias,
    passportId: fromHex(c.passportId),
    keys: c.keys.map((k): ContactSharedKey => ({ publicKey: fromHex(k.publicKey), retiredAt: k.retiredAt }))
  }
}

export function contactKeysToRecord (keys: readonly ContactSharedKey[]): ContactRecord['keys'] {
  return keys.map(k => ({ publicKey: toHex(k.publicKey), retiredAt: k.retiredAt }))
}

export function findContact (state: StateFile, alias: string): ContactRecord {
  const c = state.contacts.find(x => x.alias === alias)
  if (c === undefined) {
    const known = state.contacts.map(x => x.alias).join(', ')
    throw new AsmtpError('CONTACT_UNKNOWN', `unknown contact "${alias}"${known === '' ? ' (no contacts yet: asmtp-cli contact add)' : ` (contacts: ${known})`}`)
  }
  return c
}

// ---- shared secrets, sealed with a key derived from the device key --------------------------
//   file = nonce (12) ‖ ChaCha20-Poly1305(key = BLAKE2b-256(label ‖ device seed), JSON)

function secretsKey (device: Ed25519KeyPair): Uint8Array {
  return blake2b256(concatBytes(SECRETS_LABEL, device.secretKey))
}

export async function loadSharedKeys (paths: Paths, device: Ed25519KeyPair): Promise<OwnSharedKey[]> {
  const raw = await readIfExists(paths.secrets)
  if (raw === undefined) return []
  const bytes = new Uint8Array(raw)
  const plain = bytes.length < 12 ? null : chachaOpen(secretsKey(device), bytes.subarray(0, 12), bytes.subarray(12), SECRETS_LABEL)
  if (plain === null) throw new AsmtpError('STORE_ERROR', `${paths.secrets} does not open with this device's key (corrupt, or from another device)`)
  let doc: unknown
  try {
    doc = JSON.parse(new TextDecoder().decode(plain))
  } catch (err) {
    throw new AsmtpError('STORE_ERROR', `${paths.secrets} holds invalid JSON`, { cause: err })
  }
  if (!Array.isArray(doc)) throw corrupt(paths.secrets, 'not a list')
  return doc.map((k: { publicKey?: unknown, secretKey?: unknown, retiredAt?: unknown }) => {
    if (!isHex(k.publicKey, 32) || !isHex(k.secretKey, 32) || !isTime(k.retiredAt)) throw corrupt(paths.secrets, 'a key entry')
    return { publicKey: fromHex(k.publicKey), secretKey: fromHex(k.secretKey), retiredAt: k.retiredAt }
  })
}

export async function saveSharedKeys (paths: Paths, device: Ed25519KeyPair, keys: readonly OwnSharedKey[]): Promise<void> {
  const json = JSON.stringify(keys.map(k => ({ publicKey: toHex(k.publicKey), secretKey: toHex(k.secretKey), retiredAt: k.retiredAt })))
  const nonce = new Uint8Array(randomBytes(12))
  await writeFileAtomic(paths.secrets, concatBytes(nonce, chachaSeal(secretsKey(device), nonce, new TextEncoder().encode(json), SECRETS_LABEL)))
}
