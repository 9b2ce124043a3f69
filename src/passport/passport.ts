/**
 * The Passport: an immutable, fully validated chain of blocks with its ledger state, and the
 * builders that extend it (create, add a device, remove a device, rotate the shared key), each
 * of which returns a new Passport (docs/PROTOCOL.md section 1, "Builders" and "Merging").
 */
import { AsmtpError } from '../errors.js'
import { equalBytes, toHex } from '../bytes.js'
import { generateX25519, type Ed25519KeyPair } from '../crypto/index.js'
import { decodeBlock, isGenesisBlock, signBlock, ZERO_BLOCK_ID, type Block } from './block.js'
import {
  decodeEntries, encodeEntries, encodeEntry, ENTRY_DEREGISTER_MASTER_KEY, ENTRY_REGISTER_MASTER_KEY,
  ENTRY_SET_SHARED_KEY, signRegisterMasterKey, type Entry, type RegisterMasterKeyEntry
} from './entries.js'
import { assertExportLimits, decodePassportExport, encodePassportExport } from './export.js'
import { applyBlock, isMasterKeyActive, type LedgerState } from './ledger.js'
import { openSeal, sealSharedSecret } from './seal.js'
import { toPassportTime } from './time.js'

/** How far (seconds) a registration request may be ahead of the adding device's clock. */
export const MAX_REQUEST_CLOCK_SKEW_S = 600

export interface PassportBuildOptions {
  /** Block time in ms since the Unix epoch; default: now, but never before the tip. */
  time?: number
}

export interface CreatePassportInit {
  device: Ed25519KeyPair
  alias: string
  /** ms since the Unix epoch; default Date.now(). */
  time?: number
}

export interface RegistrationRequestInit {
  device: Ed25519KeyPair
  alias: string
  passportId: Uint8Array
  /** ms since the Unix epoch; default Date.now(). */
  created?: number
  /** ms since the Unix epoch; 0 or absent = never expires. */
  expiry?: number
}

export class Passport {
  /** Genesis block id. */
  readonly id: Uint8Array
  readonly blocks: readonly Block[]
  readonly state: LedgerState

  private constructor (blocks: readonly Block[], state: LedgerState) {
    assertExportLimits(blocks.map(b => b.bytes.length))
    this.blocks = Object.freeze([...blocks])
    this.state = state
    this.id = blocks[0].id
  }

  /** Validates a whole chain, genesis first. */
  static fromBlocks (blocks: readonly Uint8Array[]): Passport {
    if (blocks.length === 0) throw new AsmtpError('PASSPORT_EMPTY', 'a passport needs at least its genesis block')
    assertExportLimits(blocks.map(b => b.length))
    const decoded = blocks.map(decodeBlock)
    const parents = new Map<string, Uint8Array>()
    for (const block of decoded) {
      if (isGenesisBlock(block)) continue
      const parent = toHex(block.previous)
      const sibling = parents.get(parent)
      if (sibling !== undefined && !equalBytes(sibling, block.id)) {
        throw new AsmtpError('LEDGER_FORK', `fork: blocks ${toHex(sibling)} and ${toHex(block.id)} both follow ${parent}`)
      }
      parents.set(parent, block.id)
    }
    const genesis = decoded[0]
    let state = applyBlock(null, genesis, genesis.id)
    for (const block of decoded.slice(1)) state = applyBlock(state, block, genesis.id)
    return new Passport(decoded, state)
  }

  /** Decodes and validates an export; `expectedId` guards against being handed another passport. */
  static import (bytes: Uint8Array, options: { expectedId?: Uint8Array } = {}): Passport {
    const passport = Passport.fromBlocks(decodePassportExport(bytes))
    if (options.expectedId !== undefined && !equalBytes(passport.id, options.expectedId)) {
      throw new AsmtpError('PASSPORT_WRONG_ID', `passport ${toHex(passport.id)} is not the expected ${toHex(options.expectedId)}`)
    }
    return passport
  }

  /** Validates one more block against the tip and returns the longer passport. */
  appendBlock (bytes: Uint8Array): Passport {
    const block = decodeBlock(bytes)
    return new Passport([...this.blocks, block], applyBlock(this.state, block, this.id))
  }

  export (): Uint8Array {
    return encodePassportExport(this.blocks.map(b => b.bytes))
  }

  get sharedPublicKey (): Uint8Array {
    if (this.state.sharedPublicKey === null) throw new AsmtpError('PASSPORT_NO_SHARED_KEY', `passport ${toHex(this.id)} has no shared key yet`)
    return this.state.sharedPublicKey
  }

  /** Whether `key` is a master key, not removed and not expired at `time` (ms, default now). */
  isActiveMasterKey (key: Uint8Array, time: number = Date.now()): boolean {
    const mk = this.state.masterKeys.get(toHex(key))
    return mk !== undefined && isMasterKeyActive(mk, toPassportTime(time))
  }

  /**
   * The 32-byte X25519 secret of the current shared key, opened with the device's seal. Throws
   * PASSPORT_NO_SHARED_KEY, LEDGER_UNKNOWN_KEY (the device holds no seal of the current key) or
   * PASSPORT_BAD_ENTRY (its seal does not open to the shared key).
   */
  openSharedSecret (device: Ed25519KeyPair): Uint8Array {
    const sharedPublicKey = this.sharedPublicKey
    const seal = this.state.seals.get(toHex(device.publicKey))
    if (seal === undefined) throw new AsmtpError('LEDGER_UNKNOWN_KEY', `device ${toHex(device.publicKey)} holds no seal of the current shared key of passport ${toHex(this.id)}`)
    return openSeal(seal, sharedPublicKey, device)
  }

  /**
   * Registers the device that made `request` (see createRegistrationRequest) and re-seals the
   * current shared secret to every active master key, the new one included: topics stay the same.
   */
  addDevice (author: Ed25519KeyPair, request: Uint8Array, options: PassportBuildOptions = {}): Passport {
    const registration = decodeRegistrationRequest(request)
    if (!equalBytes(registration.passportId, this.id)) {
      throw new AsmtpError('PASSPORT_WRONG_ID', `the registration request is for passport ${toHex(registration.passportId)}, not ${toHex(this.id)}`)
    }
    let time = this.blockTime(options)
    if (options.time === undefined && registration.created > time) {
      if (registration.created > time + MAX_REQUEST_CLOCK_SKEW_S) {
        throw new AsmtpError('LEDGER_ENTRY_IN_FUTURE', `the registration request was created ${registration.created - time} s in the future; check the new device's clock`)
      }
      time = registration.created
    }
    this.assertAuthor(author, time)
    const shared = this.state.sharedPublicKey === null
      ? generateX25519()
      : { publicKey: this.state.sharedPublicKey, secretKey: this.openSharedSecret(author) }
    const keys = [...this.activeKeysAt(time).filter(k => !equalBytes(k, registration.key)), registration.key]
    return this.append(author, time, [registration], shared, keys)
  }

  /** Deregisters `key` and seals a NEW shared key to the remaining master keys (the removed device knew the old one). */
  removeDevice (author: Ed25519KeyPair, key: Uint8Array, options: PassportBuildOptions = {}): Passport {
    const time = this.blockTime(options)
    this.assertAuthor(author, time)
    const deregister: Entry = { type: ENTRY_DEREGISTER_MASTER_KEY, key: new Uint8Array(key), created: time }
    const keys = this.activeKeysAt(time).filter(k => !equalBytes(k, key))
    return this.append(author, time, [deregister], generateX25519(), keys)
  }

  /** Seals a new shared key to every active master key; all pairwise topics change. */
  rotateSharedKey (author: Ed25519KeyPair, options: PassportBuildOptions = {}): Passport {
    const time = this.blockTime(options)
    this.assertAuthor(author, time)
    return this.append(author, time, [], generateX25519(), this.activeKeysAt(time))
  }

  private blockTime (options: PassportBuildOptions): number {
    if (options.time !== undefined) return toPassportTime(options.time)
    return Math.max(toPassportTime(Date.now()), this.state.tipTime)
  }

  private assertAuthor (author: Ed25519KeyPair, time: number): void {
    const mk = this.state.masterKeys.get(toHex(author.publicKey))
    if (mk === undefined || !isMasterKeyActive(mk, time)) {
      throw new AsmtpError('LEDGER_UNAUTHORIZED_AUTHOR', `device ${toHex(author.publicKey)} is not an active master key of passport ${toHex(this.id)}`)
    }
  }

  private activeKeysAt (time: number): Uint8Array[] {
    return [...this.state.masterKeys.values()].filter(k => isMasterKeyActive(k, time)).map(k => k.key)
  }

  private append (author: Ed25519KeyPair, time: number, entries: Entry[], shared: { publicKey: Uint8Array, secretKey: Uint8Array }, sealTo: Uint8Array[]): Passport {
    const setSharedKey: Entry = {
      type: ENTRY_SET_SHARED_KEY,
      publicKey: shared.publicKey,
      created: time,
      seals: sealTo.map(k => sealSharedSecret(shared.secretKey, shared.publicKey, k))
    }
    const content = encodeEntries([...entries, setSharedKey])
    return this.appendBlock(signBlock({ author, previous: this.state.tipId, time, content }))
  }
}

/** A new passport: a genesis block holding RegisterMasterKey(device) + SetSharedKey sealed to it. */
export function createPassport (init: CreatePassportInit): Passport {
  const time = toPassportTime(init.time ?? Date.now())
  const shared = generateX25519()
  const content = encodeEntries([
    signRegisterMasterKey(init.device, { alias: init.alias, created: time }),
    { type: ENTRY_SET_SHARED_KEY, publicKey: shared.publicKey, created: time, seals: [sealSharedSecret(shared.secretKey, shared.publicKey, init.device.publicKey)] }
  ])
  return Passport.fromBlocks([signBlock({ author: init.device, previous: ZERO_BLOCK_ID, time, content })])
}

/** Made on the NEW device: the encoded RegisterMasterKey entry with its proof of possession. */
export function createRegistrationRequest (init: RegistrationRequestInit): Uint8Array {
  if (init.passportId.length !== 32) throw new AsmtpError('PASSPORT_WRONG_ID', `a passport id is 32 bytes, got ${init.passportId.length}`)
  const expiry = init.expiry === undefined || init.expiry === 0 ? 0 : toPassportTime(init.expiry)
  return encodeEntry(signRegisterMasterKey(init.device, {
    alias: init.alias,
    passportId: init.passportId,
    created: toPassportTime(init.created ?? Date.now()),
    expiry
  }))
}

/** Decodes and verifies a registration request (one RegisterMasterKey entry with a valid proof). */
export function decodeRegistrationRequest (request: Uint8Array): RegisterMasterKeyEntry {
  const entries = decodeEntries(request)
  const entry = entries[0]
  if (entries.length !== 1 || entry?.type !== ENTRY_REGISTER_MASTER_KEY) {
    throw new AsmtpError('PASSPORT_BAD_ENTRY', 'a registration request is exactly one RegisterMasterKey entry')
  }
  return entry
}

/**
 * Chooses between the passport we hold and a candidate: the candidate when it extends current
 * (current's blocks are its prefix), current when the candidate is a prefix of it or equal.
 * Diverging chains are a fork (LEDGER_FORK), never silently replaced; another passport is
 * PASSPORT_WRONG_ID.
 */
export function mergePassport (current: Passport | null, candidate: Passport): Passport {
  if (current === null) return candidate
  if (!equalBytes(current.id, candidate.id)) {
    throw new AsmtpError('PASSPORT_WRONG_ID', `candidate passport ${toHex(candidate.id)} is not ${toHex(current.id)}`)
  }
  const common = Math.min(current.blocks.length, candidate.blocks.length)
  for (let i = 0; i < common; i++) {
    const ours = current.blocks[i]
    const theirs = candidate.blocks[i]
    if (!equalBytes(ours.id, theirs.id)) {
      throw new AsmtpError('LEDGER_FORK', `fork at block ${i} of passport ${toHex(current.id)}: ${toHex(ours.id)} held, ${toHex(theirs.id)} offered`)
    }
  }
  return candidate.blocks.length > current.blocks.length ? candidate : current
}
