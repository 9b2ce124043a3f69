import '../src/polyfill.js'
import { readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js'
import { blake2b } from '@noble/hashes/blake2.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { AsmtpError, type AsmtpErrorCode } from '../src/errors.js'
import { concatBytes, fromHex, toHex, u32be } from '../src/bytes.js'
import { Ed25519KeyPair } from '../src/crypto/index.js'
import {
  createPassport, createRegistrationRequest, decodeBlock, decodePassportExport, decodeRegistrationRequest,
  encodePassportExport, ENTRY_SET_SHARED_KEY, fromPassportTime, MAX_PASSPORT_BLOCKS, MAX_PASSPORT_EXPORT_BYTES,
  mergePassport, Passport, PASSPORT_EPOCH_MS, signBlock, toPassportTime, type SetSharedKeyEntry
} from '../src/passport/index.js'

interface ValidVector {
  note: string
  export: string
  id: string
  blockIds: string[]
  tipTime: number
  sharedKeyVersion: number
  sharedPublicKey: string
  sharedSecret: string
  masterKeys: Array<{ key: string, alias: string, created: number, expiry: number }>
  devices: Array<{ name: string, seed: string }>
  outsiders: Array<{ name: string, seed: string, code: AsmtpErrorCode }>
}
interface InvalidVector {
  note: string
  code: AsmtpErrorCode
  kind: 'import' | 'block' | 'merge'
  export?: string
  expectedId?: string
  block?: string
  current?: string
  candidate?: string
}
const vectors = readVectors<{ valid: ValidVector[], invalid: InvalidVector[] }>('passport.json')

const T0 = Date.UTC(2024, 0, 1)
const sec = (s: number): number => T0 + s * 1000

function isCode (code: AsmtpErrorCode) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof AsmtpError, `expected AsmtpError ${code}, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

function onlyAsmtpErrors (fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof AsmtpError, `non-AsmtpError escaped: ${String(err)}`)
  }
}

/** genesis A; A adds B; B adds C; A removes C; B rotates. Returns every step. */
function buildChain () {
  const [a, b, c] = [Ed25519KeyPair.generate(), Ed25519KeyPair.generate(), Ed25519KeyPair.generate()]
  const p0 = createPassport({ device: a, alias: 'laptop', time: sec(0) })
  const p1 = p0.addDevice(a, createRegistrationRequest({ device: b, alias: 'phone', passportId: p0.id, created: sec(1) }), { time: sec(10) })
  const p2 = p1.addDevice(b, createRegistrationRequest({ device: c, alias: 'tablet', passportId: p0.id, created: sec(11) }), { time: sec(20) })
  const p3 = p2.removeDevice(a, c.publicKey, { time: sec(30) })
  const p4 = p3.rotateSharedKey(b, { time: sec(40) })
  return { a, b, c, steps: [p0, p1, p2, p3, p4] as const }
}

test('passport time: 2020 epoch in seconds, floored, range-checked', () => {
  assert.equal(PASSPORT_EPOCH_MS, Date.parse('2020-01-01T00:00:00Z'))
  assert.equal(toPassportTime(PASSPORT_EPOCH_MS + 1999), 1)
  assert.equal(fromPassportTime(toPassportTime(T0)), T0)
  assert.throws(() => toPassportTime(PASSPORT_EPOCH_MS - 1000), RangeError)
  assert.throws(() => toPassportTime(PASSPORT_EPOCH_MS + 2 ** 32 * 1000), RangeError)
})

test('vectors: valid passports import with the recorded id and state, and re-export byte-identically', () => {
  assert.ok(vectors.valid.length >= 2)
  for (const v of vectors.valid) {
    const bytes = fromHex(v.export)
    const p = Passport.import(bytes, { expectedId: fromHex(v.id) })
    assert.equal(toHex(p.id), v.id, v.note)
    assert.deepEqual(p.blocks.map(b => toHex(b.id)), v.blockIds, v.note)
    assert.equal(toHex(p.state.tipId), v.blockIds.at(-1))
    assert.equal(p.state.tipTime, v.tipTime)
    assert.equal(p.state.sharedKeyVersion, v.sharedKeyVersion)
    assert.equal(toHex(p.sharedPublicKey), v.sharedPublicKey)
    assert.deepEqual([...p.state.masterKeys.values()].map(k => ({ key: toHex(k.key), alias: k.alias, created: k.created, expiry: k.expiry })), v.masterKeys)
    for (const d of v.devices) {
      const device = Ed25519KeyPair.fromSecretKey(fromHex(d.seed))
      assert.ok(p.isActiveMasterKey(device.publicKey, fromPassportTime(v.tipTime)), `${v.note}: ${d.name} active`)
      assert.equal(toHex(p.openSharedSecret(device)), v.sharedSecret, `${v.note}: ${d.name} opens the shared secret`)
    }
    for (const d of v.outsiders) {
      assert.throws(() => p.openSharedSecret(Ed25519KeyPair.fromSecretKey(fromHex(d.seed))), isCode(d.code), `${v.note}: ${d.name}`)
    }
    assert.deepEqual(p.export(), bytes)
  }
})

test('vectors: every invalid passport is refused with its exact code', () => {
  const required: AsmtpErrorCode[] = [
    'LEDGER_FORK', 'LEDGER_UNAUTHORIZED_AUTHOR', 'PASSPORT_BAD_SIGNATURE', 'PASSPORT_BAD_HASH', 'LEDGER_TIME_BACKWARDS',
    'LEDGER_ENTRY_IN_FUTURE', 'DECODE_TRUNCATED', 'DECODE_TRAILING_BYTES', 'LEDGER_DUPLICATE_KEY', 'LEDGER_LAST_MASTER_KEY',
    'LEDGER_SHARED_KEY_MISSING_SEAL', 'PASSPORT_BAD_PROOF'
  ]
  for (const code of required) assert.ok(vectors.invalid.some(v => v.code === code), `a vector for ${code}`)
  assert.ok(vectors.invalid.some(v => v.kind === 'merge' && v.code === 'LEDGER_FORK'), 'a fork vector through mergePassport')
  for (const v of vectors.invalid) {
    assert.ok(v.note.length > 0)
    const run = v.kind === 'import'
      ? () => Passport.import(fromHex(v.export!), v.expectedId === undefined ? {} : { expectedId: fromHex(v.expectedId) })
      : v.kind === 'block'
        ? () => decodeBlock(fromHex(v.block!))
        : () => mergePassport(Passport.import(fromHex(v.current!)), Passport.import(fromHex(v.candidate!)))
    assert.throws(run, isCode(v.code), v.note)
  }
})

test('vectors: block ids, signatures and seals agree with an independent computation (noble)', () => {
  const v = vectors.valid[0]
  const [genesis] = decodePassportExport(fromHex(v.export))
  const header = genesis.subarray(0, 168)
  const author = header.subarray(72, 104)
  assert.equal(toHex(blake2b(header, { dkLen: 32 })), v.id)
  assert.ok(ed25519.verify(header.subarray(104, 168), header.subarray(0, 104), author))
  assert.deepEqual(blake2b(genesis.subarray(168), { dkLen: 32 }), header.subarray(8, 40))

  const entry = decodeBlock(genesis).entries.find((e): e is SetSharedKeyEntry => e.type === ENTRY_SET_SHARED_KEY)!
  const seal = entry.seals[0]
  const seed = fromHex(v.devices[0].seed)
  const deviceX = sha512(seed).subarray(0, 32)
  const m = nobleX25519.getPublicKey(deviceX)
  const k = blake2b(concatBytes(new TextEncoder().encode('asmtp/passport/seal/v1'), nobleX25519.getSharedSecret(deviceX, seal.ephemeral), seal.ephemeral, m), { dkLen: 32 })
  const secret = chacha20poly1305(k, new Uint8Array(12), concatBytes(entry.publicKey, seal.masterKey)).decrypt(seal.ciphertext)
  assert.equal(toHex(secret), v.sharedSecret)
  assert.equal(toHex(nobleX25519.getPublicKey(secret)), v.sharedPublicKey)
})

test('multi-block passport: export, import, file round trip, every device opens the same secret', async () => {
  const { a, b, c, steps } = buildChain()
  const [p0, p1, p2, p3, p4] = steps
  assert.deepEqual(steps.map(p => p.blocks.length), [1, 2, 3, 4, 5])
  assert.deepEqual(steps.map(p => p.state.sharedKeyVersion), [1, 2, 3, 4, 5])
  for (const p of steps) {
    assert.deepEqual(p.id, p0.id)
    assert.deepEqual(p.state.tipId, p.blocks.at(-1)!.id)
  }
  assert.equal(p0.blocks.length, 1, 'builders return new passports and leave the old one alone')

  // Adding devices keeps the shared key (topics stay), removing and rotating change it.
  assert.deepEqual(p1.sharedPublicKey, p0.sharedPublicKey)
  assert.deepEqual(p2.sharedPublicKey, p0.sharedPublicKey)
  assert.notDeepEqual(p3.sharedPublicKey, p2.sharedPublicKey)
  assert.notDeepEqual(p4.sharedPublicKey, p3.sharedPublicKey)
  for (const d of [a, b, c]) assert.deepEqual(p2.openSharedSecret(d), p0.openSharedSecret(a))
  const oldSecret = p2.openSharedSecret(c)

  const bytes = p4.export()
  const imported = Passport.import(bytes, { expectedId: p0.id })
  assert.deepEqual(imported.export(), bytes)
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-passport-'))
  try {
    const file = join(dir, 'passport.bin')
    await writeFile(file, imported.export())
    const reloaded = Passport.import(new Uint8Array(await readFile(file)))
    assert.deepEqual(reloaded.export(), bytes)
    assert.deepEqual(reloaded.state.tipId, p4.state.tipId)
    assert.equal(reloaded.state.tipTime, toPassportTime(sec(40)))
    assert.deepEqual([...reloaded.state.masterKeys.values()].map(k => k.alias).sort(), ['laptop', 'phone'])
    const secret = reloaded.openSharedSecret(a)
    assert.deepEqual(reloaded.openSharedSecret(b), secret)
    assert.notDeepEqual(secret, oldSecret)
    assert.throws(() => reloaded.openSharedSecret(c), isCode('LEDGER_UNKNOWN_KEY'))
    assert.throws(() => p3.openSharedSecret(c), isCode('LEDGER_UNKNOWN_KEY'), 'the removed device has no seal of the new key')
    assert.ok(!reloaded.isActiveMasterKey(c.publicKey) && reloaded.isActiveMasterKey(a.publicKey))

    // The ledger advances after a reload: the reloaded passport takes a new block.
    const next = reloaded.rotateSharedKey(a, { time: sec(50) })
    assert.equal(next.blocks.length, 6)
    assert.deepEqual(Passport.import(next.export()).state.tipId, next.blocks[5].id)
    assert.throws(() => reloaded.rotateSharedKey(c, { time: sec(50) }), isCode('LEDGER_UNAUTHORIZED_AUTHOR'))
    assert.throws(() => reloaded.removeDevice(c, a.publicKey, { time: sec(50) }), isCode('LEDGER_UNAUTHORIZED_AUTHOR'))
    assert.throws(() => reloaded.addDevice(c, createRegistrationRequest({ device: Ed25519KeyPair.generate(), alias: 'x', passportId: p0.id, created: sec(41) }), { time: sec(50) }), isCode('LEDGER_UNAUTHORIZED_AUTHOR'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('builders refuse what the ledger refuses', () => {
  const { a, b, c, steps: [p0, p1] } = buildChain()
  assert.throws(() => p0.removeDevice(a, a.publicKey, { time: sec(5) }), isCode('LEDGER_LAST_MASTER_KEY'))
  assert.throws(() => p0.removeDevice(a, c.publicKey, { time: sec(5) }), isCode('LEDGER_UNKNOWN_KEY'))
  assert.throws(() => p1.rotateSharedKey(a, { time: sec(5) }), isCode('LEDGER_TIME_BACKWARDS'))
  assert.throws(() => p1.addDevice(a, createRegistrationRequest({ device: b, alias: 'again', passportId: p0.id, created: sec(1) }), { time: sec(12) }), isCode('LEDGER_DUPLICATE_KEY'))
  assert.throws(() => p1.addDevice(a, createRegistrationRequest({ device: c, alias: 'phone', passportId: p0.id, created: sec(1) }), { time: sec(12) }), isCode('LEDGER_DUPLICATE_ALIAS'))
  const other = createPassport({ device: c, alias: 'other', time: sec(0) })
  assert.throws(() => p0.addDevice(a, createRegistrationRequest({ device: b, alias: 'phone', passportId: other.id }), { time: sec(5) }), isCode('PASSPORT_WRONG_ID'))
  assert.throws(() => p0.addDevice(a, createRegistrationRequest({ device: b, alias: 'phone', passportId: p0.id, created: Date.now() + 3_600_000 })), isCode('LEDGER_ENTRY_IN_FUTURE'))
  assert.throws(() => createRegistrationRequest({ device: b, alias: 'x'.repeat(33), passportId: p0.id }), isCode('PASSPORT_BAD_ENTRY'))
  assert.throws(() => createRegistrationRequest({ device: b, alias: 'bell\u0007', passportId: p0.id }), isCode('PASSPORT_BAD_ENTRY'))
  assert.throws(() => createRegistrationRequest({ device: b, alias: '', passportId: p0.id }), isCode('PASSPORT_BAD_ENTRY'))
  const req = createRegistrationRequest({ device: b, alias: 'phone', passportId: p0.id })
  assert.equal(decodeRegistrationRequest(req).alias, 'phone')
  assert.throws(() => decodeRegistrationRequest(concatBytes(req, req)), isCode('PASSPORT_BAD_ENTRY'))
  const tampered = req.slice()
  tampered[40] = (tampered[40] ?? 0) ^ 1
  assert.throws(() => p0.addDevice(a, tampered), isCode('PASSPORT_BAD_PROOF'))
  // A passport without a time given never goes back in time, even when the clock does.
  const future = p0.rotateSharedKey(a, { time: Date.now() + 3_600_000 })
  assert.ok(future.rotateSharedKey(a).state.tipTime >= future.state.tipTime)
})

test('expiring device: active before its expiry, refused as author after it', () => {
  const [a, b] = [Ed25519KeyPair.generate(), Ed25519KeyPair.generate()]
  const p0 = createPassport({ device: a, alias: 'laptop', time: sec(0) })
  const p1 = p0.addDevice(a, createRegistrationRequest({ device: b, alias: 'guest', passportId: p0.id, created: sec(1), expiry: sec(100) }), { time: sec(10) })
  assert.ok(p1.isActiveMasterKey(b.publicKey, sec(99)))
  assert.ok(!p1.isActiveMasterKey(b.publicKey, sec(100)))
  const p2 = p1.rotateSharedKey(b, { time: sec(50) })
  assert.throws(() => p2.rotateSharedKey(b, { time: sec(100) }), isCode('LEDGER_UNAUTHORIZED_AUTHOR'))
  const p3 = p2.rotateSharedKey(a, { time: sec(200) })
  assert.throws(() => p3.openSharedSecret(b), isCode('LEDGER_UNKNOWN_KEY'), 'an expired device gets no seal of a later key')
  assert.throws(() => createRegistrationRequest({ device: b, alias: 'guest', passportId: p0.id, created: sec(100), expiry: sec(100) }), isCode('PASSPORT_BAD_ENTRY'))
})

test('mergePassport: extension accepted, prefix keeps current, fork and forgery rejected', () => {
  const { a, steps: [, p1, p2] } = buildChain()
  assert.equal(mergePassport(null, p1), p1)
  assert.equal(mergePassport(p1, p2), p2, 'extension')
  assert.equal(mergePassport(p2, p1), p2, 'prefix keeps current')
  assert.equal(mergePassport(p2, Passport.import(p2.export())), p2, 'equal keeps current')
  const fork = p1.rotateSharedKey(a, { time: sec(15) })
  assert.throws(() => mergePassport(p2, fork), isCode('LEDGER_FORK'))
  assert.throws(() => mergePassport(fork, p2), isCode('LEDGER_FORK'))
  assert.throws(() => Passport.fromBlocks([...p2.blocks, fork.blocks[2]].map(b => b.bytes)), isCode('LEDGER_FORK'))
  assert.throws(() => mergePassport(p2, createPassport({ device: a, alias: 'laptop', time: sec(1) })), isCode('PASSPORT_WRONG_ID'))

  // A forged extension (signed by an outsider) never becomes a candidate.
  const mallory = Ed25519KeyPair.generate()
  const forged = signBlock({ author: mallory, previous: p2.state.tipId, time: toPassportTime(sec(30)), content: p2.blocks[1].content })
  assert.throws(() => Passport.import(encodePassportExport([...p2.blocks.map(b => b.bytes), forged])), isCode('LEDGER_UNAUTHORIZED_AUTHOR'))
  assert.throws(() => mergePassport(p2, p2.appendBlock(forged)), isCode('LEDGER_UNAUTHORIZED_AUTHOR'))
  const tamperedBlock = p2.rotateSharedKey(a, { time: sec(30) }).blocks[3].bytes.slice()
  tamperedBlock[tamperedBlock.length - 1] = (tamperedBlock[tamperedBlock.length - 1] ?? 0) ^ 1
  assert.throws(() => p2.appendBlock(tamperedBlock), isCode('PASSPORT_BAD_HASH'))
})

test('decoders: random, truncated and bit-flipped input only ever raise AsmtpError', () => {
  const { steps } = buildChain()
  const valid = steps[4].export()
  const firstBlock = steps[4].blocks[0].bytes

  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
    onlyAsmtpErrors(() => decodeBlock(bytes))
    onlyAsmtpErrors(() => decodePassportExport(bytes))
    onlyAsmtpErrors(() => Passport.import(bytes))
    onlyAsmtpErrors(() => decodeRegistrationRequest(bytes))
  }), { numRuns: 300 })
  // Random bodies behind a well-formed frame, so decoding gets past the length checks.
  fc.assert(fc.property(fc.uint8Array({ minLength: 168, maxLength: 400 }), (block) => {
    block[0] = 0
    block[1] = 1
    new DataView(block.buffer).setUint16(2, block.length - 168)
    onlyAsmtpErrors(() => Passport.import(concatBytes(u32be(block.length), block)))
  }), { numRuns: 200 })

  // A cut at a block boundary is a shorter valid chain; every other cut is refused.
  const boundaries = new Map<number, number>()
  steps.forEach((p, i) => boundaries.set(p.export().length, i))
  for (let n = 0; n < valid.length; n++) {
    const step = boundaries.get(n)
    if (step !== undefined) {
      assert.deepEqual(Passport.import(valid.subarray(0, n)).state.tipId, steps[step].state.tipId)
    } else {
      assert.throws(() => Passport.import(valid.subarray(0, n)), (e: unknown) => e instanceof AsmtpError, `prefix of ${n} bytes`)
    }
  }
  for (let n = 0; n < firstBlock.length; n++) {
    assert.throws(() => decodeBlock(firstBlock.subarray(0, n)), (e: unknown) => e instanceof AsmtpError)
  }
  fc.assert(fc.property(fc.nat({ max: valid.length * 8 - 1 }), (bit) => {
    const flipped = valid.slice()
    flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7))
    assert.throws(() => Passport.import(flipped), (e: unknown) => e instanceof AsmtpError, `bit ${bit}`)
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.nat({ max: firstBlock.length * 8 - 1 }), (bit) => {
    const flipped = firstBlock.slice()
    flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7))
    assert.throws(() => decodeBlock(flipped), (e: unknown) => e instanceof AsmtpError, `bit ${bit}`)
  }), { numRuns: 200 })
  assert.deepEqual(Passport.import(valid).export(), valid, 'the unchanged input still imports')
})

test('oversized exports are refused with DECODE_TOO_LARGE before any block is checked', () => {
  assert.throws(() => decodePassportExport(new Uint8Array(MAX_PASSPORT_EXPORT_BYTES + 1)), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => Passport.import(new Uint8Array(MAX_PASSPORT_EXPORT_BYTES + 1)), isCode('DECODE_TOO_LARGE'))
  const emptyBlock = concatBytes(u32be(168), Uint8Array.of(0, 1), new Uint8Array(166))
  const many = concatBytes(...new Array<Uint8Array>(MAX_PASSPORT_BLOCKS + 1).fill(emptyBlock))
  assert.ok(many.length < MAX_PASSPORT_EXPORT_BYTES)
  assert.throws(() => decodePassportExport(many), isCode('DECODE_TOO_LARGE'))
  assert.equal(decodePassportExport(many.subarray(0, MAX_PASSPORT_BLOCKS * emptyBlock.length)).length, MAX_PASSPORT_BLOCKS)
  assert.throws(() => encodePassportExport(new Array<Uint8Array>(MAX_PASSPORT_BLOCKS + 1).fill(new Uint8Array(168))), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => Passport.fromBlocks(new Array<Uint8Array>(MAX_PASSPORT_BLOCKS + 1).fill(new Uint8Array(168))), isCode('DECODE_TOO_LARGE'))
  assert.throws(() => decodeBlock(new Uint8Array(168 + 65536)), isCode('DECODE_TOO_LARGE'))
})
