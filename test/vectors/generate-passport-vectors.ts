/**
 * Generates test/vectors/passport.json: valid passports (a genesis; a chain with add device,
 * remove device and rotate) and invalid ones, each with a note and the AsmtpError code it must
 * raise. Device keys come from fixed seeds; shared keys and seal ephemerals are random, so a
 * re-run gives other bytes with the same meaning. Every vector is checked here before it is
 * written. Run: npx tsc -p . && node dist/test/vectors/generate-passport-vectors.js
 */
import '../../src/polyfill.js'
import { writeFileSync } from 'node:fs'
import { AsmtpError, type AsmtpErrorCode } from '../../src/errors.js'
import { concatBytes, toHex, u32be } from '../../src/bytes.js'
import { blake2b256, Ed25519KeyPair, generateX25519 } from '../../src/crypto/index.js'
import {
  BLOCK_SIGNED_BYTES, createPassport, decodeBlock, createRegistrationRequest, encodeEntries, encodeEntry, encodePassportExport,
  ENTRY_DEREGISTER_MASTER_KEY, ENTRY_SET_SHARED_KEY, fromPassportTime, mergePassport, Passport, sealSharedSecret,
  signBlock, signRegisterMasterKey, toPassportTime, ZERO_BLOCK_ID, type Entry
} from '../../src/passport/index.js'

const OUT = new URL('../../../test/vectors/passport.json', import.meta.url)
const T0_MS = Date.UTC(2024, 0, 1)
const T0 = toPassportTime(T0_MS)

function device (name: string): Ed25519KeyPair {
  return Ed25519KeyPair.fromSecretKey(blake2b256(new TextEncoder().encode(`asmtp passport vector device ${name}`)))
}

const A = device('A')
const B = device('B')
const C = device('C')
const D = device('D')
const SEEDS = new Map([[A, 'A'], [B, 'B'], [C, 'C'], [D, 'D']])

/** ms of `seconds` after T0. */
function at (seconds: number): number {
  return fromPassportTime(T0 + seconds)
}

function request (dev: Ed25519KeyPair, alias: string, passport: Passport, created = 0, expiry?: number): Uint8Array {
  return createRegistrationRequest({ device: dev, alias, passportId: passport.id, created: at(created), expiry: expiry === undefined ? undefined : at(expiry) })
}

function setShared (created: number, sealTo: Ed25519KeyPair[]): Entry {
  const shared = generateX25519()
  return { type: ENTRY_SET_SHARED_KEY, publicKey: shared.publicKey, created: T0 + created, seals: sealTo.map(k => sealSharedSecret(shared.secretKey, shared.publicKey, k.publicKey)) }
}

/** A block on the tip of `passport`, `time` in seconds after T0. */
function block (passport: Passport | null, author: Ed25519KeyPair, time: number, content: Entry[] | Uint8Array): Uint8Array {
  return signBlock({
    author,
    previous: passport === null ? ZERO_BLOCK_ID : passport.state.tipId,
    time: T0 + time,
    content: content instanceof Uint8Array ? content : encodeEntries(content)
  })
}

function exportWith (passport: Passport, ...extra: Uint8Array[]): Uint8Array {
  return encodePassportExport([...passport.blocks.map(b => b.bytes), ...extra])
}

/** Copy of a block with header fields changed and the header signed again by `author`. */
function resigned (bytes: Uint8Array, author: Ed25519KeyPair, patch: (header: Uint8Array) => void): Uint8Array {
  const out = bytes.slice()
  patch(out)
  out.set(author.sign(out.subarray(0, BLOCK_SIGNED_BYTES)), BLOCK_SIGNED_BYTES)
  return out
}

function flip (bytes: Uint8Array, index: number): Uint8Array {
  const out = bytes.slice()
  out[index] = (out[index] ?? 0) ^ 0x01
  return out
}

// Valid: a genesis, and a chain A -> +B -> +C -> -C -> rotate (by B).
const genesis = createPassport({ device: A, alias: 'laptop', time: at(0) })
const withB = genesis.addDevice(A, request(B, 'phone', genesis, 5), { time: at(10) })
const withC = withB.addDevice(B, request(C, 'tablet', withB, 15, 100_000), { time: at(20) })
const withoutC = withC.removeDevice(A, C.publicKey, { time: at(30) })
const chain = withoutC.rotateSharedKey(B, { time: at(40) })

function describeValid (note: string, passport: Passport, devices: Ed25519KeyPair[], outsiders: Array<[Ed25519KeyPair, AsmtpErrorCode]>): unknown {
  const secret = passport.openSharedSecret(devices[0])
  for (const d of devices) if (toHex(passport.openSharedSecret(d)) !== toHex(secret)) throw new Error(`${note}: devices disagree on the shared secret`)
  return {
    note,
    export: toHex(passport.export()),
    id: toHex(passport.id),
    blockIds: passport.blocks.map(b => toHex(b.id)),
    tipTime: passport.state.tipTime,
    sharedKeyVersion: passport.state.sharedKeyVersion,
    sharedPublicKey: toHex(passport.sharedPublicKey),
    sharedSecret: toHex(secret),
    masterKeys: [...passport.state.masterKeys.values()].map(k => ({ key: toHex(k.key), alias: k.alias, created: k.created, expiry: k.expiry })),
    devices: devices.map(d => ({ name: SEEDS.get(d), seed: toHex(d.secretKey) })),
    outsiders: outsiders.map(([d, code]) => ({ name: SEEDS.get(d), seed: toHex(d.secretKey), code }))
  }
}

const valid = [
  describeValid('genesis: RegisterMasterKey(A) + SetSharedKey sealed to A', genesis, [A], [[B, 'LEDGER_UNKNOWN_KEY']]),
  describeValid('chain: genesis A; A adds B; B adds C (expiring); A removes C with a new shared key; B rotates', chain, [A, B], [[C, 'LEDGER_UNKNOWN_KEY'], [D, 'LEDGER_UNKNOWN_KEY']])
]

interface Invalid { note: string, code: AsmtpErrorCode, kind: 'import' | 'block' | 'merge', [field: string]: unknown }
const invalid: Invalid[] = []

function importCase (note: string, code: AsmtpErrorCode, bytes: Uint8Array, expectedId?: Uint8Array): void {
  invalid.push({ note, code, kind: 'import', export: toHex(bytes), ...(expectedId === undefined ? {} : { expectedId: toHex(expectedId) }) })
}

const other = createPassport({ device: D, alias: 'desktop', time: at(0) })
const rotate1 = block(genesis, A, 10, [setShared(10, [A])])
const rotate2 = block(genesis, A, 11, [setShared(11, [A])])
const removedB = withB.removeDevice(A, B.publicKey, { time: at(20) })
const expiringB = genesis.addDevice(A, request(B, 'phone', genesis, 5, 100), { time: at(10) })
const chainBytes = chain.export()

importCase('fork: two blocks on the genesis inside one export', 'LEDGER_FORK', exportWith(genesis, rotate1, rotate2))
importCase('fork: a block on a non-tip parent', 'LEDGER_FORK', exportWith(withB, block(genesis, A, 12, [setShared(12, [A])])))
invalid.push({ note: 'fork: merging a chain that diverges from the one held', code: 'LEDGER_FORK', kind: 'merge', current: toHex(exportWith(genesis, rotate1)), candidate: toHex(exportWith(genesis, rotate2)) })
invalid.push({ note: 'merge: a candidate of another passport', code: 'PASSPORT_WRONG_ID', kind: 'merge', current: toHex(genesis.export()), candidate: toHex(other.export()) })
importCase('block authored by a removed key', 'LEDGER_UNAUTHORIZED_AUTHOR', exportWith(removedB, block(removedB, B, 30, [setShared(30, [A])])))
importCase('block authored by a key that expired before the block time', 'LEDGER_UNAUTHORIZED_AUTHOR', exportWith(expiringB, block(expiringB, B, 100, [setShared(100, [A])])))
importCase('block authored by a key that was never registered', 'LEDGER_UNAUTHORIZED_AUTHOR', exportWith(genesis, block(genesis, D, 10, [setShared(10, [A])])))
const addBBytes = withB.blocks[1].bytes
importCase('bad signature: one bit of the second block\'s signature flipped', 'PASSPORT_BAD_SIGNATURE', exportWith(genesis, flip(addBBytes, 130)))
importCase('bad signature: header time changed without re-signing', 'PASSPORT_BAD_SIGNATURE', exportWith(genesis, flip(addBBytes, 7)))
importCase('bad content hash: one content byte changed', 'PASSPORT_BAD_HASH', exportWith(genesis, flip(addBBytes, 168 + 40)))
importCase('bad version: version 2, signed', 'PASSPORT_BAD_VERSION', exportWith(genesis, resigned(addBBytes, A, h => { h[1] = 2 })))
importCase('time going backwards: block 5 s before the tip', 'LEDGER_TIME_BACKWARDS', exportWith(withB, block(withB, A, 5, [setShared(5, [A, B])])))
importCase('entry in the future: SetSharedKey created 1 s after its block', 'LEDGER_ENTRY_IN_FUTURE', exportWith(genesis, block(genesis, A, 10, [setShared(11, [A])])))
importCase('entry in the future: RegisterMasterKey created after its block', 'LEDGER_ENTRY_IN_FUTURE',
  exportWith(genesis, block(genesis, A, 10, [signRegisterMasterKey(B, { alias: 'phone', passportId: genesis.id, created: T0 + 20 }), setShared(10, [A, B])])))
importCase('truncated: the last 10 bytes of a chain export cut off', 'DECODE_TRUNCATED', chainBytes.subarray(0, chainBytes.length - 10))
importCase('trailing bytes: two bytes after the last block (not even a length prefix)', 'DECODE_TRAILING_BYTES', concatBytes(genesis.export(), Uint8Array.of(0, 0)))
importCase('trailing bytes: a block frame declares one byte more than header + content', 'DECODE_INVALID',
  concatBytes(u32be(genesis.blocks[0].bytes.length + 1), genesis.blocks[0].bytes, Uint8Array.of(0)))
invalid.push({ note: 'trailing bytes: a block followed by one extra byte', code: 'DECODE_TRAILING_BYTES', kind: 'block', block: toHex(concatBytes(genesis.blocks[0].bytes, Uint8Array.of(0))) })
invalid.push({ note: 'truncated: a block cut inside its header', code: 'DECODE_TRUNCATED', kind: 'block', block: toHex(genesis.blocks[0].bytes.subarray(0, 100)) })
importCase('a length prefix larger than the bytes that follow', 'DECODE_TRUNCATED', concatBytes(u32be(1_000_000), new Uint8Array(200)))
importCase('duplicate key: B registered twice', 'LEDGER_DUPLICATE_KEY', exportWith(withB, block(withB, A, 20, [
  signRegisterMasterKey(B, { alias: 'phone 2', passportId: genesis.id, created: T0 + 20 }), setShared(20, [A, B])])))
const twiceA = [signRegisterMasterKey(A, { alias: 'laptop', created: T0 }), signRegisterMasterKey(A, { alias: 'laptop 2', created: T0 })]
importCase('duplicate key: the genesis registers its author twice', 'LEDGER_DUPLICATE_KEY', encodePassportExport([block(null, A, 0, twiceA)]))
importCase('duplicate alias: C registered as "laptop", the alias of A', 'LEDGER_DUPLICATE_ALIAS', exportWith(genesis, block(genesis, A, 20, [
  signRegisterMasterKey(C, { alias: 'laptop', passportId: genesis.id, created: T0 + 20 }), setShared(20, [A, C])])))
importCase('removing the last master key', 'LEDGER_LAST_MASTER_KEY', exportWith(genesis, block(genesis, A, 10, [{ type: ENTRY_DEREGISTER_MASTER_KEY, key: A.publicKey, created: T0 + 10 }])))
importCase('deregistering a key that is not a master key', 'LEDGER_UNKNOWN_KEY', exportWith(genesis, block(genesis, A, 10, [{ type: ENTRY_DEREGISTER_MASTER_KEY, key: D.publicKey, created: T0 + 10 }])))
importCase('SetSharedKey missing a seal: B added, shared key sealed to A only', 'LEDGER_SHARED_KEY_MISSING_SEAL', exportWith(genesis, block(genesis, A, 10, [
  signRegisterMasterKey(B, { alias: 'phone', passportId: genesis.id, created: T0 + 10 }), setShared(10, [A])])))
importCase('SetSharedKey missing a seal: rotation that forgets B', 'LEDGER_SHARED_KEY_MISSING_SEAL', exportWith(withB, block(withB, B, 20, [setShared(20, [B])])))
importCase('SetSharedKey sealed to a key that is not a master key', 'LEDGER_UNKNOWN_KEY', exportWith(genesis, block(genesis, A, 10, [setShared(10, [A, D])])))
importCase('SetSharedKey sealed to a key removed earlier in the same block', 'LEDGER_UNKNOWN_KEY', exportWith(withB, block(withB, A, 20, [
  setShared(20, [A, B]), { type: ENTRY_DEREGISTER_MASTER_KEY, key: B.publicKey, created: T0 + 20 }])))
const forgedProof = { ...signRegisterMasterKey(B, { alias: 'phone', passportId: genesis.id, created: T0 + 10 }), proof: C.sign(new Uint8Array(1)) }
importCase('bad proof of possession: RegisterMasterKey(B) with a proof signed by C', 'PASSPORT_BAD_PROOF', exportWith(genesis, block(genesis, A, 10, [forgedProof, setShared(10, [A, B])])))
const reg = signRegisterMasterKey(B, { alias: 'phone', passportId: genesis.id, created: T0 + 10 })
importCase('bad proof of possession: alias changed after signing', 'PASSPORT_BAD_PROOF', exportWith(genesis, block(genesis, A, 10, [{ ...reg, alias: 'phoné' }, setShared(10, [A, B])])))
importCase('RegisterMasterKey for another passport (request replayed from passport D)', 'PASSPORT_WRONG_ID', exportWith(genesis, block(genesis, A, 10, [
  signRegisterMasterKey(B, { alias: 'phone', passportId: other.id, created: T0 + 10 }), setShared(10, [A, B])])))
importCase('unknown entry type 9', 'PASSPORT_UNKNOWN_ENTRY', exportWith(genesis, block(genesis, A, 10, concatBytes(Uint8Array.of(0, 9), new Uint8Array(36)))))
importCase('empty block content', 'PASSPORT_BAD_ENTRY', exportWith(genesis, block(genesis, A, 10, new Uint8Array(0))))
importCase('entry body running past the end of the content', 'PASSPORT_BAD_ENTRY', exportWith(genesis, block(genesis, A, 10, encodeEntry(setShared(10, [A])).subarray(0, 60))))
importCase('genesis that does not register its author', 'PASSPORT_BAD_GENESIS', encodePassportExport([block(null, A, 0, [signRegisterMasterKey(B, { alias: 'phone', created: T0 })])]))
importCase('genesis whose RegisterMasterKey carries a non-zero passport id', 'PASSPORT_BAD_GENESIS', encodePassportExport([block(null, A, 0, [signRegisterMasterKey(A, { alias: 'laptop', passportId: other.id, created: T0 })])]))
importCase('first block of the export is not a genesis', 'PASSPORT_BAD_GENESIS', encodePassportExport([addBBytes]))
importCase('bad previous: the second block names a block that is not the tip', 'LEDGER_BAD_PREVIOUS', exportWith(genesis, resigned(rotate1, A, h => { h.set(blake2b256(h.subarray(0, 8)), 40) })))
importCase('bad previous: a second genesis after the first', 'LEDGER_BAD_PREVIOUS', exportWith(genesis, other.blocks[0].bytes))
importCase('empty export', 'PASSPORT_EMPTY', new Uint8Array(0))
importCase('a valid passport that is not the expected one', 'PASSPORT_WRONG_ID', other.export(), genesis.id)

function codeOf (fn: () => unknown): AsmtpErrorCode | 'none' {
  try {
    fn()
    return 'none'
  } catch (err) {
    if (err instanceof AsmtpError) return err.code
    throw err
  }
}

for (const v of invalid) {
  const hex = (field: string): Uint8Array => Uint8Array.from(Buffer.from(v[field] as string, 'hex'))
  const got = v.kind === 'import'
    ? codeOf(() => Passport.import(hex('export'), v.expectedId === undefined ? {} : { expectedId: hex('expectedId') }))
    : v.kind === 'merge'
      ? codeOf(() => mergePassport(Passport.import(hex('current')), Passport.import(hex('candidate'))))
      : codeOf(() => decodeBlock(hex('block')))
  if (got !== v.code) throw new Error(`vector "${v.note}": expected ${v.code}, got ${got}`)
}
for (const v of valid as Array<{ export: string, id: string }>) {
  if (toHex(Passport.import(Uint8Array.from(Buffer.from(v.export, 'hex'))).id) !== v.id) throw new Error('valid vector does not import')
}

writeFileSync(OUT, JSON.stringify({
  description: 'asmtp passports (docs/PROTOCOL.md section 1). Valid: export, id, state, device seeds that open sharedSecret, outsiders that cannot. Invalid: kind import (Passport.import of export, with expectedId when given), block (decodeBlock), merge (mergePassport(import(current), import(candidate))), and the AsmtpError code.',
  generator: 'test/vectors/generate-passport-vectors.ts',
  valid,
  invalid
}, null, 2) + '\n')
console.log(`wrote ${valid.length} valid and ${invalid.length} invalid passport vectors to ${OUT.pathname}`)
