import '../src/polyfill.js'
import { isCode, readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fromHex, toHex } from '../src/bytes.js'
import { sha256 } from '../src/crypto/hash.js'
import {
  decodeFrame, encodeFrame, verifyStamp, searchStamp, stampInput, stampDigest, leadingZeroBits, stampTarget, createStampPool
} from '../src/frame/index.js'

interface StampVectors {
  valid: Array<{ note: string, bucketBits: number, bucket: number, stampBits: number, nonce: string, frame: string, inputHash: string, scrypt: string }>
  invalid: Array<{ note: string, bucketBits: number, bucket: number, stampBits: number, frame: string }>
}
const vectors = readVectors<StampVectors>('stamp.json')

test('stamp vectors: input hash, scrypt output, verifyStamp true; searchStamp finds the same nonce', () => {
  for (const v of vectors.valid) {
    const bytes = fromHex(v.frame)
    const f = decodeFrame(bytes)
    assert.equal(f.nonce, BigInt(v.nonce))
    const input = stampInput({ ...v, hour: f.hour, ttlClass: f.ttlClass, nonce: f.nonce, envelopeDigest: sha256(f.envelope) })
    assert.equal(toHex(input), v.inputHash, v.note)
    assert.equal(toHex(stampDigest(input)), v.scrypt, v.note)
    assert.equal(verifyStamp(bytes, v), true, v.note)
    const unstamped = encodeFrame({ ...f, nonce: 0n })
    assert.equal(toHex(searchStamp(unstamped, v)!), v.frame, v.note)
  }
})

test('stamp invalid vectors: verifyStamp is false', () => {
  for (const v of vectors.invalid) assert.equal(verifyStamp(fromHex(v.frame), v), false, v.note)
  assert.equal(verifyStamp(new Uint8Array(5000), { bucketBits: 4, bucket: 0, stampBits: 0 }), false)
})

test('leadingZeroBits and stampTarget', () => {
  assert.equal(leadingZeroBits(new Uint8Array([0, 0x10])), 11)
  assert.equal(leadingZeroBits(new Uint8Array([0x80])), 0)
  assert.equal(leadingZeroBits(new Uint8Array(2)), 16)
  assert.deepEqual([1024, 4096, 16384, 65536].map(n => stampTarget(4, n)), [4, 5, 6, 7])
})

test('stamp pool: stamps 64 KiB frames off the event loop (a 10 ms interval keeps ticking); queue bound, abort, close', async () => {
  const envelope = new Uint8Array(65536)
  envelope[0] = 2
  const frames = Array.from({ length: 4 }, (_, i) => encodeFrame({ hour: 100 + i, ttlClass: 0, nonce: 0n, envelope }))
  const params = { bucketBits: 4, bucket: 3, stampBits: 6 }
  const pool = createStampPool({ threads: 1, maxQueue: 4 })
  try {
    let last = performance.now()
    let worstGap = 0
    const timer = setInterval(() => { const t = performance.now(); worstGap = Math.max(worstGap, t - last); last = t }, 10)
    const stamped = await Promise.all(frames.map(async f => await pool.stamp(f, params)))
    clearInterval(timer)
    for (const s of stamped) assert.equal(verifyStamp(s, params), true)
    assert.ok(worstGap < 250, `the event loop stalled for ${worstGap.toFixed(0)} ms`)
    const hard = { ...params, stampBits: 30 }
    const many = frames.map(async f => await pool.stamp(f, hard))
    await assert.rejects(pool.stamp(frames[0], hard), isCode('STAMP_QUEUE_FULL'))
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(pool.stamp(frames[0], { ...hard, signal: ac.signal }))
    const settled = Promise.allSettled(many)
    await pool.close()
    for (const r of await settled) assert.ok(r.status === 'rejected' && isCode('STAMP_POOL_CLOSED')(r.reason))
    await assert.rejects(pool.stamp(frames[0], params), isCode('STAMP_POOL_CLOSED'))
  } finally {
    await pool.close()
  }
})

test('stamp pool: an abort stops a running search and the worker takes the next job', async () => {
  const envelope = new Uint8Array(1024)
  envelope[0] = 2
  const frame = encodeFrame({ hour: 1, ttlClass: 0, nonce: 0n, envelope })
  const pool = createStampPool({ threads: 1 })
  try {
    const ac = new AbortController()
    const hard = pool.stamp(frame, { bucketBits: 0, bucket: 0, stampBits: 30, signal: ac.signal })
    const easy = pool.stamp(frame, { bucketBits: 0, bucket: 0, stampBits: 2 })
    ac.abort()
    await assert.rejects(hard, isCode('ABORTED'))
    assert.equal(verifyStamp(await easy, { bucketBits: 0, bucket: 0, stampBits: 2 }), true)
  } finally {
    await pool.close()
  }
})
