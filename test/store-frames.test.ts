import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toHex } from '../src/index.js'
import type { FrameRecord, Store, StoredEnvelope } from '../src/store/index.js'
import { DAY_MS, EXPIRES, T0, frameRec, heldCounts, isStoreError, topicId, withStore } from './helpers/store.js'

const KIB = 1024

async function listAll (store: Store, topic: Uint8Array, limit = 4096): Promise<StoredEnvelope[]> {
  const out: StoredEnvelope[] = []
  let after = 0n
  for (;;) {
    const page = await store.listMatched(topic, { after, limit })
    out.push(...page.envelopes)
    after = page.cursor
    if (!page.more) return out
  }
}

async function held (store: Store, recs: FrameRecord[]): Promise<boolean[]> {
  return await Promise.all(recs.map(async (r) => await store.hasFrame(r.hash)))
}

test('frames: put relayed-only and matched, has, get in order, usage, status, bad arguments', async () => {
  await withStore(async ({ store }) => {
    const topic = topicId(1)
    const a = frameRec('a', { bucket: 3, hour: 7 })
    const b = frameRec('b', { bucket: 3, hour: 8 })
    const quota = { bucketQuotaBytes: 1024 * 1024 }
    assert.equal(await store.hasSeen(a.hash), false)
    assert.equal(await store.hasFrame(a.hash), false)
    assert.deepEqual(await store.putFrame(a, quota), { stored: true, seen: false, evicted: 0 })
    assert.deepEqual(await store.putFrame(b, { ...quota, topic }), { stored: true, seen: false, seq: 1n, evicted: 0 })
    assert.deepEqual(await store.putFrame(a, quota), { stored: false, seen: true, evicted: 0 })
    assert.deepEqual(await store.putFrame(b, { ...quota, topic }), { stored: false, seen: true, seq: 1n, evicted: 0 })
    assert.equal(await store.hasSeen(a.hash), true)
    assert.equal(await store.hasFrame(b.hash), true)
    const missing = frameRec('missing')
    assert.deepEqual(await store.getFrames([b.hash, missing.hash, a.hash]), [b, undefined, a])
    assert.deepEqual(await store.getFrames([]), [])
    assert.deepEqual(await store.bucketUsage(3), { relayedBytes: a.frame.length, relayedFrames: 1, matchedFrames: 1 })
    assert.deepEqual(await store.bucketUsage(4), { relayedBytes: 0, relayedFrames: 0, matchedFrames: 0 })
    assert.deepEqual(heldCounts(await store.status()), { frames: 2, matchedFrames: 1, relayedBytes: a.frame.length, unfetchedPastRetention: 0 })
    const page = await store.listMatched(topic)
    assert.deepEqual(page, {
      envelopes: [{ topic, seq: 1n, hash: b.hash, receivedAt: T0, expiresAt: EXPIRES, data: b.frame }], cursor: 1n, more: false
    })
    assert.equal(await store.countMatched(), 1)
    assert.equal(await store.countMatched(topic), 1)
    assert.equal(await store.countMatched(topicId(2)), 0)
    await assert.rejects(store.putFrame({ ...a, hash: a.hash.subarray(1) }, quota), RangeError)
    await assert.rejects(store.putFrame({ ...a, bucket: 65536 }, quota), RangeError)
    await assert.rejects(store.putFrame({ ...a, hour: -1 }, quota), RangeError)
    await assert.rejects(store.putFrame({ ...a, frame: new Uint8Array(0) }, quota), RangeError)
    await assert.rejects(store.putFrame(a, { bucketQuotaBytes: -1 }), RangeError)
    await assert.rejects(store.putFrame(a, { ...quota, topic: topic.subarray(1) }), RangeError)
    await assert.rejects(store.listMatched(topic, { limit: 0 }), RangeError)
    await assert.rejects(store.listMatched(topic, { after: -1n }), RangeError)
    await assert.rejects(store.bucketUsage(1.5), RangeError)
  })
})

test('quota: a flood of one bucket evicts its oldest relayed-only frames only; matched frames stay until fetched and swept', async () => {
  await withStore(async ({ store, clock, reopen }) => {
    const topic = topicId(1)
    const size = 4 * KIB
    const quota = { bucketQuotaBytes: 10 * size }
    const other = Array.from({ length: 5 }, (_, i) => frameRec(`other${i}`, { bucket: 2, size }))
    for (const r of other) await store.putFrame(r, quota)
    const mine = Array.from({ length: 3 }, (_, i) => frameRec(`mine${i}`, { bucket: 1, size }))
    for (const r of mine) assert.equal((await store.putFrame(r, { ...quota, topic })).stored, true)
    // one at a time, then in concurrent groups (one batch per group, evicting within the group)
    const flood = Array.from({ length: 60 }, (_, i) => frameRec(`flood${i}`, { bucket: 1, size }))
    let evicted = 0
    for (const r of flood.slice(0, 20)) {
      const res = await store.putFrame(r, quota)
      assert.equal(res.stored, true)
      evicted += res.evicted
    }
    for (const res of await Promise.all(flood.slice(20).map(async (r) => await store.putFrame(r, quota)))) {
      assert.equal(res.stored, true)
      evicted += res.evicted
    }
    assert.equal(evicted, 50)
    assert.deepEqual(await held(store, flood), flood.map((_, i) => i >= 50), 'not the oldest that went')
    assert.deepEqual(await held(store, other), other.map(() => true), 'another bucket lost frames')
    assert.deepEqual(await held(store, mine), mine.map(() => true), 'a matched frame was evicted')
    const usage1 = { relayedBytes: 10 * size, relayedFrames: 10, matchedFrames: 3 }
    assert.deepEqual(await store.bucketUsage(1), usage1)
    assert.deepEqual(await store.bucketUsage(2), { relayedBytes: 5 * size, relayedFrames: 5, matchedFrames: 0 })
    // a frame larger than the whole quota is not stored, and evicts nothing
    const huge = frameRec('huge', { bucket: 1, size: 11 * size })
    assert.deepEqual(await store.putFrame(huge, quota), { stored: false, seen: false, evicted: 0 })
    assert.deepEqual(await store.bucketUsage(1), usage1)

    store = await reopen()
    assert.deepEqual(await store.bucketUsage(1), usage1, 'usage counters after a reopen')
    assert.deepEqual(heldCounts(await store.status()), { frames: 18, matchedFrames: 3, relayedBytes: 15 * size, unfetchedPastRetention: 0 })
    const next = frameRec('after reopen', { bucket: 1, size })
    assert.equal((await store.putFrame(next, quota)).evicted, 1)
    assert.equal(await store.hasFrame(flood[50].hash), false, 'the oldest after a reopen')

    // past network expiry and retention: relayed frames go, matched ones no device fetched stay
    clock.t = T0 + 31 * DAY_MS
    assert.deepEqual(await store.deleteExpired(), { frames: 15, seen: 60 + 1 + 3 + 5 + 1 })
    assert.deepEqual(await held(store, mine), mine.map(() => true))
    assert.equal((await listAll(store, topic)).length, 3)
    assert.equal((await store.status()).unfetchedPastRetention, 3)
    store = await reopen()
    assert.deepEqual(await store.deleteExpired(), { frames: 0, seen: 0 })
    assert.equal((await store.status()).unfetchedPastRetention, 3)
    await store.markFetched(topic, 2n)
    await store.markFetched(topic, 1n) // monotonic: changes nothing
    assert.deepEqual(await store.deleteExpired(), { frames: 2, seen: 0 })
    assert.deepEqual(await held(store, mine), [false, false, true])
    assert.deepEqual((await listAll(store, topic)).map((e) => e.seq), [3n])
    assert.deepEqual(heldCounts(await store.status()), { frames: 1, matchedFrames: 1, relayedBytes: 0, unfetchedPastRetention: 1 })
    await store.markFetched(topic, 3n)
    assert.deepEqual(await store.deleteExpired(), { frames: 1, seen: 0 })
    assert.deepEqual(heldCounts(await store.status()), { frames: 0, matchedFrames: 0, relayedBytes: 0, unfetchedPastRetention: 0 })
    assert.deepEqual(await store.bucketUsage(1), { relayedBytes: 0, relayedFrames: 0, matchedFrames: 0 })
  })
})

test('matched: a frame fetched in time goes at max(expiry, arrival + retention), not before', async () => {
  await withStore(async ({ store, clock }) => {
    const topic = topicId(1)
    const short = frameRec('short', { expiresAt: T0 + DAY_MS })
    const long = frameRec('long', { expiresAt: T0 + 3 * DAY_MS })
    for (const r of [short, long]) await store.putFrame(r, { bucketQuotaBytes: 0, topic })
    await store.markFetched(topic, 2n)
    clock.t = T0 + 2 * DAY_MS - 1
    assert.deepEqual(await store.deleteExpired(), { frames: 0, seen: 1 })
    assert.equal(await store.hasSeen(short.hash), false)
    assert.deepEqual(await held(store, [short, long]), [true, true])
    clock.t = T0 + 2 * DAY_MS
    assert.deepEqual(await store.deleteExpired(), { frames: 1, seen: 0 })
    assert.deepEqual(await held(store, [short, long]), [false, true])
    clock.t = T0 + 3 * DAY_MS
    assert.deepEqual(await store.deleteExpired(), { frames: 1, seen: 1 })
    assert.equal(await store.countMatched(), 0)
  }, { retentionMs: 2 * DAY_MS })
})

test('replay: an evicted frame is still seen, also after a reopen; seen entries go after their expiry', async () => {
  await withStore(async ({ store, clock, reopen }) => {
    const size = KIB
    const quota = { bucketQuotaBytes: 2 * size }
    const first = frameRec('first', { size, expiresAt: T0 + 1000 })
    const later = [frameRec('l1', { size, expiresAt: T0 + 5000 }), frameRec('l2', { size, expiresAt: T0 + 5000 })]
    await store.putFrame(first, quota)
    for (const r of later) await store.putFrame(r, quota)
    assert.equal(await store.hasFrame(first.hash), false)
    assert.equal(await store.hasSeen(first.hash), true)
    assert.deepEqual(await store.putFrame(first, quota), { stored: false, seen: true, evicted: 0 })
    // reopened, the seen filter is built in the background: before and after it is ready
    store = await reopen()
    assert.equal(await store.hasSeen(first.hash), true)
    assert.deepEqual(await store.putFrame(first, quota), { stored: false, seen: true, evicted: 0 })
    await store.hashFilterIdle()
    assert.equal(await store.hasSeen(first.hash), true)
    assert.deepEqual(await store.putFrame(first, { ...quota, topic: topicId(1) }), { stored: false, seen: true, evicted: 0 })
    assert.deepEqual(await store.bucketUsage(1), { relayedBytes: 2 * size, relayedFrames: 2, matchedFrames: 0 })
    clock.t = T0 + 1000
    assert.equal(await store.hasSeen(first.hash), false, 'a seen entry past its expiry')
    assert.deepEqual(await store.deleteExpired(), { frames: 0, seen: 1 })
    assert.equal(await store.hasSeen(later[0].hash), true)
    assert.deepEqual(await store.deleteExpired(T0 + 5000), { frames: 2, seen: 2 })
    store = await reopen()
    for (const r of [first, ...later]) assert.equal(await store.hasSeen(r.hash), false)
    assert.deepEqual(heldCounts(await store.status()), { frames: 0, matchedFrames: 0, relayedBytes: 0, unfetchedPastRetention: 0 })
  })
})

test('promotion: a relayed-only frame put with a topic becomes matched, leaves the quota and is never evicted', async () => {
  await withStore(async ({ store, reopen }) => {
    const topic = topicId(1)
    const size = KIB
    const quota = { bucketQuotaBytes: 3 * size }
    const r = frameRec('promoted', { size })
    assert.deepEqual(await store.putFrame(r, quota), { stored: true, seen: false, evicted: 0 })
    assert.deepEqual(await store.putFrame(r, { ...quota, topic }), { stored: false, seen: true, seq: 1n, evicted: 0 })
    assert.deepEqual(await store.putFrame(r, { ...quota, topic }), { stored: false, seen: true, seq: 1n, evicted: 0 })
    assert.deepEqual(await store.putFrame(r, quota), { stored: false, seen: true, evicted: 0 })
    assert.deepEqual(await store.bucketUsage(1), { relayedBytes: 0, relayedFrames: 0, matchedFrames: 1 })
    // a second topic of this node: matched under both
    assert.deepEqual(await store.putFrame(r, { ...quota, topic: topicId(2) }), { stored: false, seen: true, seq: 1n, evicted: 0 })
    assert.equal(await store.countMatched(), 2)
    assert.deepEqual(await store.bucketUsage(1), { relayedBytes: 0, relayedFrames: 0, matchedFrames: 1 })
    // in one group: stored relayed-only, then promoted, then a flood of its bucket
    const same = frameRec('same group', { size })
    const flood = Array.from({ length: 10 }, (_, i) => frameRec(`f${i}`, { size }))
    const results = await Promise.all([
      store.putFrame(same, quota), store.putFrame(same, { ...quota, topic }), ...flood.map(async (f) => await store.putFrame(f, quota))
    ])
    assert.deepEqual(results.slice(0, 2), [{ stored: true, seen: false, evicted: 0 }, { stored: false, seen: true, seq: 2n, evicted: 0 }])
    assert.deepEqual(await held(store, [r, same]), [true, true])
    store = await reopen()
    assert.deepEqual(await store.bucketUsage(1), { relayedBytes: 3 * size, relayedFrames: 3, matchedFrames: 2 })
    assert.deepEqual((await listAll(store, topic)).map((e) => toHex(e.hash)), [toHex(r.hash), toHex(same.hash)])
  })
})

test('listMatched: paging with cursors across topics; seq per topic continues after everything was swept', async () => {
  await withStore(async ({ store, clock, reopen }) => {
    const topics = [topicId(1), topicId(2), topicId(3)]
    const counts = [23, 10, 1]
    const quota = { bucketQuotaBytes: 0 }
    for (let n = 0; n < 23; n++) {
      for (let i = 0; i < topics.length; i++) {
        if (n >= counts[i]) continue
        const res = await store.putFrame(frameRec(`${i}/${n}`, { bucket: i }), { ...quota, topic: topics[i] })
        assert.equal(res.seq, BigInt(n + 1))
      }
    }
    for (const limit of [1, 5, 10, 23, 100]) {
      for (let i = 0; i < topics.length; i++) {
        let after = 0n
        const seqs: bigint[] = []
        for (;;) {
          const page = await store.listMatched(topics[i], { after, limit })
          assert.ok(page.envelopes.length <= limit)
          for (const e of page.envelopes) {
            assert.deepEqual(e.topic, topics[i])
            assert.deepEqual(e.data, frameRec(`${i}/${seqs.length}`).frame)
            seqs.push(e.seq)
          }
          assert.equal(page.more, counts[i] - seqs.length > 0, `topic ${i} limit ${limit} after ${after}`)
          assert.equal(page.cursor, seqs.at(-1) ?? after)
          after = page.cursor
          if (!page.more) break
        }
        assert.deepEqual(seqs, Array.from({ length: counts[i] }, (_, n) => BigInt(n + 1)))
      }
    }
    assert.deepEqual(await store.listMatched(topics[0], { after: 1000n }), { envelopes: [], cursor: 1000n, more: false })
    assert.deepEqual((await store.listMatched(topics[0], { after: 5n, limit: 2 })).envelopes.map((e) => e.seq), [6n, 7n])
    for (let i = 0; i < topics.length; i++) await store.markFetched(topics[i], BigInt(counts[i]))
    clock.t = T0 + 60 * DAY_MS
    assert.equal((await store.deleteExpired()).frames, 34)
    store = await reopen()
    assert.equal((await store.putFrame(frameRec('next'), { ...quota, topic: topics[0] })).seq, 24n)
  })
})

test('crash safety: a failed batch leaves none of a group\'s records and no counter moved', async () => {
  await withStore(async ({ store }) => {
    const db = (store as unknown as { db: { root: { batch: (...a: unknown[]) => Promise<void> } } }).db
    const batch = db.root.batch.bind(db.root)
    const quota = { bucketQuotaBytes: 2 * KIB }
    const kept = frameRec('kept', { size: KIB })
    await store.putFrame(kept, quota)
    db.root.batch = async () => { await Promise.resolve(); throw new Error('disk full') }
    const lost = [frameRec('lost1', { size: KIB }), frameRec('lost2', { size: KIB })]
    const results = await Promise.allSettled([
      ...lost.map(async (r) => await store.putFrame(r, quota)), store.putFrame(kept, { ...quota, topic: topicId(1) })
    ])
    for (const r of results) assert.ok(r.status === 'rejected' && isStoreError(r.reason), r.status)
    db.root.batch = batch
    for (const r of lost) {
      assert.equal(await store.hasFrame(r.hash), false)
      assert.equal(await store.hasSeen(r.hash), false)
    }
    assert.equal(await store.hasFrame(kept.hash), true, 'the eviction in the failed batch happened')
    assert.equal(await store.countMatched(), 0)
    assert.deepEqual(await store.bucketUsage(1), { relayedBytes: KIB, relayedFrames: 1, matchedFrames: 0 })
    assert.deepEqual(await store.putFrame(lost[0], quota), { stored: true, seen: false, evicted: 0 })
    assert.equal((await store.putFrame(kept, { ...quota, topic: topicId(1) })).seq, 1n)
  })
})
