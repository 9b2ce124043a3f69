import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js'
import {
  AsmtpError, Ed25519KeyPair, verifyEd25519, generateX25519, x25519, x25519PublicKey,
  ed25519PublicToX25519, ed25519SecretToX25519, blake2b256, chachaSeal, chachaOpen,
  readKeyFile, writeKeyFile, decodeKeyFile, fromHex, toHex
} from '../src/index.js'

test('Ed25519: RFC 8032 test 1 and agreement with noble', () => {
  const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
  const kp = Ed25519KeyPair.fromSecretKey(seed)
  assert.equal(toHex(kp.publicKey), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
  const sig = kp.sign(new Uint8Array(0))
  assert.equal(toHex(sig), 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b')
  assert.ok(verifyEd25519(kp.publicKey, new Uint8Array(0), sig))
  assert.ok(!verifyEd25519(kp.publicKey, new Uint8Array([1]), sig))
  const other = Ed25519KeyPair.generate()
  const msg = new TextEncoder().encode('asmtp')
  assert.deepEqual(other.sign(msg), ed25519.sign(msg, other.secretKey))
  assert.deepEqual(other.publicKey, ed25519.getPublicKey(other.secretKey))
})

test('Ed25519 verify returns false on malformed input', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 70 }), (pk, sig) => {
    assert.equal(verifyEd25519(pk, new Uint8Array(1), sig), false)
  }))
})

test('X25519: RFC 7748 section 6.1 Alice and Bob', () => {
  const a = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
  const b = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')
  assert.equal(toHex(x25519PublicKey(a)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
  assert.equal(toHex(x25519PublicKey(b)), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
  const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
  assert.equal(toHex(x25519(a, x25519PublicKey(b))), k)
  assert.equal(toHex(x25519(b, x25519PublicKey(a))), k)
})

test('X25519 rejects low-order points with AsmtpError', () => {
  const kp = generateX25519()
  assert.throws(() => x25519(kp.secretKey, new Uint8Array(32)), (e: unknown) => e instanceof AsmtpError && e.code === 'KEY_INVALID')
  assert.throws(() => x25519(kp.secretKey, new Uint8Array(31)), (e: unknown) => e instanceof AsmtpError)
})

test('Ed25519 to X25519 conversion: DH of converted keys agrees (independent check with noble)', () => {
  const a = Ed25519KeyPair.generate()
  const b = Ed25519KeyPair.generate()
  const ax = ed25519SecretToX25519(a.secretKey)
  const bx = ed25519SecretToX25519(b.secretKey)
  assert.deepEqual(x25519PublicKey(ax), ed25519PublicToX25519(a.publicKey))
  const s1 = x25519(ax, ed25519PublicToX25519(b.publicKey))
  const s2 = nobleX25519.getSharedSecret(bx, ed25519PublicToX25519(a.publicKey))
  assert.deepEqual(s1, s2)
  assert.throws(() => ed25519PublicToX25519(new Uint8Array(5)), AsmtpError)
})

test('BLAKE2b-256 of the empty string (RFC 7693 family, published value)', () => {
  assert.equal(toHex(blake2b256(new Uint8Array(0))), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8')
})

test('ChaCha20-Poly1305: RFC 8439 2.8.2 vector and tamper detection', () => {
  const key = fromHex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f')
  const nonce = fromHex('070000004041424344454647')
  const ad = fromHex('50515253c0c1c2c3c4c5c6c7')
  const pt = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
  const ct = chachaSeal(key, nonce, pt, ad)
  assert.equal(toHex(ct.subarray(ct.length - 16)), '1ae10b594f09e26a7e902ecbd0600691')
  assert.deepEqual(chachaOpen(key, nonce, ct, ad), pt)
  const bad = new Uint8Array(ct)
  bad[3] = (bad[3] ?? 0) ^ 1
  assert.equal(chachaOpen(key, nonce, bad, ad), null)
  assert.equal(chachaOpen(key, nonce, ct.subarray(0, 10), ad), null)
})

test('key files: 0600, plain and encrypted round trip, wrong password, refuses loose permissions', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-key-'))
  try {
    const kp = Ed25519KeyPair.generate()
    const plain = join(dir, 'plain.key')
    await writeKeyFile(plain, 'ed25519', kp.secretKey)
    assert.equal((await stat(plain)).mode & 0o777, 0o600)
    assert.deepEqual(await readKeyFile(plain, 'ed25519'), kp.secretKey)
    await assert.rejects(writeKeyFile(plain, 'ed25519', kp.secretKey), /EEXIST/)

    const enc = join(dir, 'enc.key')
    await writeKeyFile(enc, 'ed25519', kp.secretKey, { password: 'correct horse' })
    assert.equal((await stat(enc)).mode & 0o777, 0o600)
    assert.deepEqual(await readKeyFile(enc, 'ed25519', 'correct horse'), kp.secretKey)
    await assert.rejects(readKeyFile(enc, 'ed25519', 'wrong'), (e: unknown) => e instanceof AsmtpError && e.code === 'KEY_FILE_PASSWORD')
    await assert.rejects(readKeyFile(enc, 'ed25519'), (e: unknown) => e instanceof AsmtpError && e.code === 'KEY_FILE_PASSWORD')
    await assert.rejects(readKeyFile(enc, 'x25519', 'correct horse'), (e: unknown) => e instanceof AsmtpError && e.code === 'KEY_FILE_INVALID')

    const loose = join(dir, 'loose.key')
    await writeFile(loose, '{}')
    await chmod(loose, 0o644)
    await assert.rejects(readKeyFile(loose, 'ed25519'), (e: unknown) => e instanceof AsmtpError && e.code === 'KEY_FILE_PERMISSIONS')
    await assert.rejects(readKeyFile(join(dir, 'missing.key'), 'ed25519'), (e: unknown) => e instanceof AsmtpError && e.code === 'KEY_FILE_INVALID')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('key file decoder: random and truncated input give AsmtpError only', () => {
  const good = JSON.stringify({ 'asmtp-key': 1, type: 'ed25519', secret: '00'.repeat(32) })
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    try { decodeKeyFile(s, 'ed25519') } catch (e) { assert.ok(e instanceof AsmtpError, String(e)) }
  }))
  for (let i = 0; i < good.length; i++) {
    try { decodeKeyFile(good.slice(0, i), 'ed25519') } catch (e) { assert.ok(e instanceof AsmtpError, String(e)) }
  }
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    try { decodeKeyFile(JSON.stringify(v), 'ed25519', 'pw') } catch (e) { assert.ok(e instanceof AsmtpError, String(e)) }
  }))
})

test('generating 101,000 keys never deadlocks the process (Node 20: generateKeyPairSync + export under GC)', async () => {
  // On Node 20, exporting a key made by generateKeyPairSync could hang the process forever when a
  // garbage collection ran during the export; it reproduced within 50,000 keys. A hang cannot be
  // caught inside the process, so the keys are made in a child process with a time limit.
  const { execFile } = await import('node:child_process')
  const { fileURLToPath } = await import('node:url')
  const crypto = fileURLToPath(new URL('../src/crypto/index.js', import.meta.url))
  const dh = fileURLToPath(new URL('../src/envelope/dh.js', import.meta.url))
  const script = `
    const { generateX25519, Ed25519KeyPair } = await import(${JSON.stringify(crypto)})
    const { generateEphemeral } = await import(${JSON.stringify(dh)})
    const seen = new Set()
    for (let i = 0; i < 50000; i++) {
      seen.add(Buffer.from(generateX25519().publicKey).toString('hex'))
      seen.add(Buffer.from(generateEphemeral().publicKey).toString('hex'))
      if (i % 50 === 0) seen.add(Buffer.from(Ed25519KeyPair.generate().publicKey).toString('hex'))
    }
    process.stdout.write(String(seen.size))`
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 90_000, killSignal: 'SIGKILL' }, (err, stdout) => {
      if (err !== null) reject(new Error(`key generation hung or failed: ${err.message}`))
      else resolve(stdout)
    })
  })
  assert.equal(Number(out), 101_000, 'every key is new')
})
