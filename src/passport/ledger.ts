/**
 * The passport ledger: applies one decoded block to the state left by the blocks before it and
 * enforces the chain rules (docs/PROTOCOL.md section 1, "Ledger rules"). States are immutable: every
 * block gives a new state.
 */
import { AsmtpError } from '../errors.js'
import { equalBytes, toHex } from '../bytes.js'
import { isGenesisBlock, type Block } from './block.js'
import {
  ENTRY_DEREGISTER_MASTER_KEY, ENTRY_REGISTER_MASTER_KEY, ENTRY_SET_SHARED_KEY, MAX_MASTER_KEYS,
  type RegisterMasterKeyEntry, type Seal, type SetSharedKeyEntry
} from './entries.js'

export interface MasterKey {
  readonly key: Uint8Array
  readonly alias: string
  /** Seconds since the passport epoch. */
  readonly created: number
  /** Seconds since the passport epoch; 0 = never. */
  readonly expiry: number
}

export interface LedgerState {
  /** Registered and not deregistered master keys (expired ones included), keyed by hex key. */
  readonly masterKeys: ReadonlyMap<string, MasterKey>
  readonly sharedPublicKey: Uint8Array | null
  /** Seals of the current shared secret, keyed by hex master key. */
  readonly seals: ReadonlyMap<string, Seal>
  readonly tipId: Uint8Array
  /** Seconds since the passport epoch. */
  readonly tipTime: number
  /** Number of SetSharedKey entries so far. */
  readonly sharedKeyVersion: number
}

/** Active at `time` (passport seconds): registered, not removed, and not expired. */
export function isMasterKeyActive (masterKey: MasterKey, time: number): boolean {
  return masterKey.expiry === 0 || time < masterKey.expiry
}

function activeKeys (keys: ReadonlyMap<string, MasterKey>, time: number): MasterKey[] {
  return [...keys.values()].filter(k => isMasterKeyActive(k, time))
}

function fail (code: ConstructorParameters<typeof AsmtpError>[0], message: string): never {
  throw new AsmtpError(code, message)
}

function checkGenesis (block: Block): void {
  if (!isGenesisBlock(block)) fail('PASSPORT_BAD_GENESIS', 'the first block of a passport must have a zero previous block id')
  const registers = block.entries.filter((e): e is RegisterMasterKeyEntry => e.type === ENTRY_REGISTER_MASTER_KEY)
  if (!registers.some(e => equalBytes(e.key, block.author))) fail('PASSPORT_BAD_GENESIS', 'the genesis block must register its author as a master key')
  if (registers.some(e => !equalBytes(e.passportId, new Uint8Array(32)))) fail('PASSPORT_BAD_GENESIS', 'RegisterMasterKey entries of the genesis block must carry a zero passport id')
}

function checkSeals (entry: SetSharedKeyEntry, keys: ReadonlyMap<string, MasterKey>, time: number): void {
  const sealed = new Set(entry.seals.map(s => toHex(s.masterKey)))
  for (const k of activeKeys(keys, time)) {
    const hex = toHex(k.key)
    if (!sealed.has(hex)) fail('LEDGER_SHARED_KEY_MISSING_SEAL', `SetSharedKey has no seal for active master key ${hex} (${k.alias})`)
  }
  for (const hex of sealed) {
    const k = keys.get(hex)
    if (k === undefined || !isMasterKeyActive(k, time)) fail('LEDGER_UNKNOWN_KEY', `SetSharedKey seals to ${hex}, which is not an active master key`)
  }
}

/**
 * Applies `block` to `state` (null for the genesis block, then `passportId` is ignored) and
 * returns the new state. Throws the AsmtpError of the first rule the block breaks.
 */
export function applyBlock (state: LedgerState | null, block: Block, passportId: Uint8Array): LedgerState {
  const time = block.time
  const keys = new Map(state?.masterKeys ?? [])
  let seals = new Map(state?.seals ?? [])
  let sharedPublicKey = state?.sharedPublicKey ?? null
  let sharedKeyVersion = state?.sharedKeyVersion ?? 0

  if (state === null) {
    checkGenesis(block)
  } else {
    if (!equalBytes(block.previous, state.tipId)) fail('LEDGER_BAD_PREVIOUS', `block ${toHex(block.id)} does not follow the tip ${toHex(state.tipId)}`)
    const author = keys.get(toHex(block.author))
    if (author === undefined || !isMasterKeyActive(author, time)) fail('LEDGER_UNAUTHORIZED_AUTHOR', `block author ${toHex(block.author)} is not an active master key at the block time`)
    if (time < state.tipTime) fail('LEDGER_TIME_BACKWARDS', `block time ${time} is earlier than the tip time ${state.tipTime}`)
  }

  const setSharedKeys: SetSharedKeyEntry[] = []
  for (const entry of block.entries) {
    if (entry.created > time) fail('LEDGER_ENTRY_IN_FUTURE', `entry created at ${entry.created}, after its block time ${time}`)
    const hex = toHex(entry.type === ENTRY_SET_SHARED_KEY ? entry.publicKey : entry.key)
    switch (entry.type) {
      case ENTRY_REGISTER_MASTER_KEY: {
        if (state !== null && !equalBytes(entry.passportId, passportId)) fail('PASSPORT_WRONG_ID', `RegisterMasterKey ${hex} is for passport ${toHex(entry.passportId)}, not ${toHex(passportId)}`)
        if (entry.expiry !== 0 && entry.expiry <= time) fail('PASSPORT_BAD_ENTRY', `RegisterMasterKey ${hex} has already expired at the block time`)
        const existing = keys.get(hex)
        if (existing !== undefined && isMasterKeyActive(existing, time)) fail('LEDGER_DUPLICATE_KEY', `master key ${hex} is already registered`)
        const active = activeKeys(keys, time)
        if (active.some(k => k.alias === entry.alias)) fail('LEDGER_DUPLICATE_ALIAS', `alias "${entry.alias}" is already used by another master key`)
        if (active.length >= MAX_MASTER_KEYS) fail('PASSPORT_BAD_ENTRY', `a passport holds at most ${MAX_MASTER_KEYS} active master keys`)
        keys.set(hex, { key: entry.key, alias: entry.alias, created: entry.created, expiry: entry.expiry })
        break
      }
      case ENTRY_DEREGISTER_MASTER_KEY:
        if (!keys.has(hex)) fail('LEDGER_UNKNOWN_KEY', `DeregisterMasterKey: ${hex} is not a master key of this passport`)
        keys.delete(hex)
        seals.delete(hex)
        if (activeKeys(keys, time).length === 0) fail('LEDGER_LAST_MASTER_KEY', `DeregisterMasterKey would remove the last active master key ${hex}`)
        break
      case ENTRY_SET_SHARED_KEY:
        setSharedKeys.push(entry)
        sharedPublicKey = entry.publicKey
        seals = new Map(entry.seals.map(s => [toHex(s.masterKey), s]))
        sharedKeyVersion++
        break
    }
  }
  for (const entry of setSharedKeys) checkSeals(entry, keys, time)

  return { masterKeys: keys, sharedPublicKey, seals, tipId: block.id, tipTime: time, sharedKeyVersion }
}
