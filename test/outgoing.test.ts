import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { AsmtpError } from '../src/errors.js'
import { decodeOutgoing, encodeOutgoing, openStore } from '../src/store/index.js'

test('outgoing entries round-trip, and truncated, oversized-key and random values are a clean STORE_ERROR', () => {
  const hash = randomBytes(32)
  const frame = randomBytes(700)
  const back = decodeOutgoing(hash, encodeOutgoing(513, frame))
  assert.equal(back.bucket, 513)
  assert.deepEqual(Buffer.from(back.frame), frame)
  assert.throws(() => decodeOutgoing(hash, new Uint8Array(2)), (e: unknown) => e instanceof AsmtpError && e.code === 'STORE_ERROR')
  assert.throws(() => decodeOutgoing(randomBytes(33), encodeOutgoing(1, frame)), (e: unknown) => e instanceof AsmtpError && e.code === 'STORE_ERROR')
  assert.throws(() => encodeOutgoing(65536, frame), RangeError)
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2048 }), (k, v) => {
    try {
      const d = decodeOutgoing(k, v)
      return k.length === 32 && v.length >= 3 && d.frame.length === v.length - 2
    } catch (err) {
      return err instanceof AsmtpError && err.code === 'STORE_ERROR'
    }
  }))
})

test('the outgoing journal survives a reopen of the store, drops entries that do not decode, and forgets deleted ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-outgoing-'))
  try {
    const path = join(dir, 'db')
    const a = { hash: randomBytes(32), frame: randomBytes(300) }
    const b = { hash: randomBytes(32), frame: randomBytes(300) }
    let store = await openStore({ path })
    await store.outgoing.put(a.hash, 3, a.frame)
    await store.outgoing.put(b.hash, 4, b.frame)
    await store.close()
    store = await openStore({ path })
    const listed = await store.outgoing.list()
    assert.equal(listed.length, 2)
    const got = listed.find(e => Buffer.from(e.hash).equals(a.hash))
    assert.equal(got?.bucket, 3)
    assert.deepEqual(Buffer.from(got?.frame ?? []), a.frame)
    await store.outgoing.delete([a.hash])
    assert.deepEqual((await store.outgoing.list()).map(e => Buffer.from(e.hash).toString('hex')), [b.hash.toString('hex')])
    await store.close()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
