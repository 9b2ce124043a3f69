/**
 * Passport block content: a sequence of entries, each u16 type ‖ self-delimiting body
 * (docs/PROTOCOL.md section 1, "Entries"). Decoding checks everything that needs no ledger context:
 * field sizes, alias rules, expiry after creation, the proof of possession of a registered key,
 * a usable shared public key, one seal per master key.
 */
import { AsmtpError } from '../errors.js'
import { ByteReader, concatBytes, toHex, u16be, u32be } from '../bytes.js'
import { blake2b256, verifyEd25519, x25519, type Ed25519KeyPair } from '../crypto/index.js'

export const ENTRY_REGISTER_MASTER_KEY = 1
export const ENTRY_DEREGISTER_MASTER_KEY = 2
export const ENTRY_SET_SHARED_KEY = 3

export const MAX_ALIAS_BYTES = 32
/** A SetSharedKey counts its seals in a u8, so a passport holds at most this many master keys. */
export const MAX_MASTER_KEYS = 255
export const PASSPORT_ID_BYTES = 32
export const SEAL_CIPHERTEXT_BYTES = 48
export const SEAL_BYTES = 32 + 32 + SEAL_CIPHERTEXT_BYTES

const REGISTER_DOMAIN = new TextEncoder().encode('asmtp/passport/register/v1')
const ZERO_ID = new Uint8Array(PASSPORT_ID_BYTES)
// Any clamped scalar maps every low-order point to zero, which x25519() refuses.
const PROBE_SCALAR = blake2b256(new TextEncoder().encode('asmtp/passport/probe/v1'))
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/

export interface RegisterMasterKeyEntry {
  readonly type: typeof ENTRY_REGISTER_MASTER_KEY
  readonly key: Uint8Array
  readonly alias: string
  /** All zero inside the genesis block, the passport id in every later block. */
  readonly passportId: Uint8Array
  /** Seconds since the passport epoch. */
  readonly created: number
  /** Seconds since the passport epoch; 0 = never. The key is active strictly before it. */
  readonly expiry: number
  readonly proof: Uint8Array
}

export interface DeregisterMasterKeyEntry {
  readonly type: typeof ENTRY_DEREGISTER_MASTER_KEY
  readonly key: Uint8Array
  readonly created: number
}

export interface Seal {
  /** Ed25519 master key the shared secret is sealed to. */
  readonly masterKey: Uint8Array
  readonly ephemeral: Uint8Array
  readonly ciphertext: Uint8Array
}

export interface SetSharedKeyEntry {
  readonly type: typeof ENTRY_SET_SHARED_KEY
  /** X25519 public key. */
  readonly publicKey: Uint8Array
  readonly created: number
  readonly seals: readonly Seal[]
}

export type Entry = RegisterMasterKeyEntry | DeregisterMasterKeyEntry | SetSharedKeyEntry

function badEntry (message: string, cause?: unknown): AsmtpError {
  return new AsmtpError('PASSPORT_BAD_ENTRY', message, cause === undefined ? undefined : { cause })
}

/** UTF-8 bytes of an alias, or PASSPORT_BAD_ENTRY when it breaks the alias rules. */
export function encodeAlias (alias: string): Uint8Array {
  const bytes = new TextEncoder().encode(alias)
  if (bytes.length < 1 || bytes.length > MAX_ALIAS_BYTES) throw badEntry(`alias must be 1 to ${MAX_ALIAS_BYTES} UTF-8 bytes, got ${bytes.length}`)
  if (CONTROL_RE.test(alias)) throw badEntry('alias must not contain control characters')
  if (new TextDecoder().decode(bytes) !== alias) throw badEntry('alias is not well-formed Unicode')
  return bytes
}

function decodeAlias (bytes: Uint8Array): string {
  let alias: string
  try {
    alias = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch (err) {
    throw badEntry('alias is not valid UTF-8', err)
  }
  encodeAlias(alias)
  return alias
}

function registerBody (e: Omit<RegisterMasterKeyEntry, 'type' | 'proof'>): Uint8Array {
  const alias = encodeAlias(e.alias)
  return concatBytes(e.key, Uint8Array.of(alias.length), alias, e.passportId, u32be(e.created), u32be(e.expiry))
}

/** The bytes a registered key signs as its proof of possession. */
export function registerProofMessage (e: Omit<RegisterMasterKeyEntry, 'type' | 'proof'>): Uint8Array {
  return concatBytes(REGISTER_DOMAIN, registerBody(e))
}

/** A RegisterMasterKey entry with its proof of possession, signed by the device it registers. */
export function signRegisterMasterKey (device: Ed25519KeyPair, fields: { alias: string, passportId?: Uint8Array, created: number, expiry?: number }): RegisterMasterKeyEntry {
  const body = {
    key: device.publicKey,
    alias: fields.alias,
    passportId: fields.passportId ?? ZERO_ID,
    created: fields.created,
    expiry: fields.expiry ?? 0
  }
  if (body.passportId.length !== PASSPORT_ID_BYTES) throw new RangeError(`passport id must be ${PASSPORT_ID_BYTES} bytes`)
  if (body.expiry !== 0 && body.expiry <= body.created) throw badEntry(`a master key must expire after it is created (${body.expiry} <= ${body.created})`)
  return { type: ENTRY_REGISTER_MASTER_KEY, ...body, proof: device.sign(registerProofMessage(body)) }
}

export function encodeEntry (entry: Entry): Uint8Array {
  switch (entry.type) {
    case ENTRY_REGISTER_MASTER_KEY:
      return concatBytes(u16be(entry.type), registerBody(entry), entry.proof)
    case ENTRY_DEREGISTER_MASTER_KEY:
      return concatBytes(u16be(entry.type), entry.key, u32be(entry.created))
    case ENTRY_SET_SHARED_KEY:
      if (entry.seals.length > MAX_MASTER_KEYS) throw new RangeError(`a SetSharedKey holds at most ${MAX_MASTER_KEYS} seals`)
      return concatBytes(u16be(entry.type), entry.publicKey, u32be(entry.created), Uint8Array.of(entry.seals.length),
        ...entry.seals.flatMap(s => [s.masterKey, s.ephemeral, s.ciphertext]))
  }
}

export function encodeEntries (entries: readonly Entry[]): Uint8Array {
  return concatBytes(...entries.map(encodeEntry))
}

function decodeRegister (r: ByteReader): RegisterMasterKeyEntry {
  const key = r.bytesN(32)
  const aliasLength = r.u8()
  const alias = decodeAlias(r.bytesN(aliasLength))
  const entry: RegisterMasterKeyEntry = {
    type: ENTRY_REGISTER_MASTER_KEY,
    key,
    alias,
    passportId: r.bytesN(PASSPORT_ID_BYTES),
    created: r.u32(),
    expiry: r.u32(),
    proof: r.bytesN(64)
  }
  if (entry.expiry !== 0 && entry.expiry <= entry.created) throw badEntry(`RegisterMasterKey expires (${entry.expiry}) no later than it is created (${entry.created})`)
  if (!verifyEd25519(key, registerProofMessage(entry), entry.proof)) {
    throw new AsmtpError('PASSPORT_BAD_PROOF', `RegisterMasterKey ${toHex(key)}: the proof of possession does not verify`)
  }
  return entry
}

function decodeSetSharedKey (r: ByteReader): SetSharedKeyEntry {
  const publicKey = r.bytesN(32)
  const created = r.u32()
  const count = r.u8()
  const seals: Seal[] = []
  const seen = new Set<string>()
  for (let i = 0; i < count; i++) {
    const seal = { masterKey: r.bytesN(32), ephemeral: r.bytesN(32), ciphertext: r.bytesN(SEAL_CIPHERTEXT_BYTES) }
    const hex = toHex(seal.masterKey)
    if (seen.has(hex)) throw badEntry(`SetSharedKey seals the shared secret twice to ${hex}`)
    seen.add(hex)
    seals.push(seal)
  }
  try {
    x25519(PROBE_SCALAR, publicKey)
  } catch (err) {
    throw badEntry('SetSharedKey public key is of low order', err)
  }
  return { type: ENTRY_SET_SHARED_KEY, publicKey, created, seals }
}

/** Decodes block content. PASSPORT_BAD_ENTRY (empty or malformed), PASSPORT_UNKNOWN_ENTRY, PASSPORT_BAD_PROOF. */
export function decodeEntries (content: Uint8Array): Entry[] {
  if (content.length === 0) throw badEntry('block content holds no entry')
  const r = new ByteReader(content, 'block content')
  const entries: Entry[] = []
  while (r.remaining > 0) {
    try {
      const type = r.u16()
      switch (type) {
        case ENTRY_REGISTER_MASTER_KEY: entries.push(decodeRegister(r)); break
        case ENTRY_DEREGISTER_MASTER_KEY: entries.push({ type, key: r.bytesN(32), created: r.u32() }); break
        case ENTRY_SET_SHARED_KEY: entries.push(decodeSetSharedKey(r)); break
        default: throw new AsmtpError('PASSPORT_UNKNOWN_ENTRY', `unknown passport entry type ${type} at offset ${r.offset - 2}`)
      }
    } catch (err) {
      if (err instanceof AsmtpError && err.code === 'DECODE_TRUNCATED') throw badEntry(`entry ${entries.length} runs past the end of the block content`, err)
      throw err
    }
  }
  return entries
}
