import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import fc from 'fast-check'
import { Level } from 'level'
import { Key } from 'interface-datastore'
import { AsmtpError, sha256, toHex, u16be, u32be, u64be, concatBytes } from '../src/index.js'
import { EXPIRY_SWEEP_BATCH, openStore, SUBLEVELS, type FrameRecord } from '../src/store/index.js'
import { HASH_FILTER_MIN_CAPACITY, HashFilter } from '../src/store/hash-filter.js'
import { BucketUsage } from '../src/store/bucket-usage.js'
import { FramePuts } from '../src/store/frame-put.js'
import { FrameState } from '../src/store/frame-state.js'
import { SeenFilter } from '../src/store/seen-filter.js'
import { createStoreDb, type StoreDb } from '../src/store/db.js'
import { WriteLock } from '../src/store/write-lock.js'
import type { CachedLevelDatastore } from '../src/store/cached-datastore.js'
import { waitFor } from './helpers/testnet.js'
import { EXPIRES, T0, frameRec, heldCounts, isStoreError, topicId, withDir, withStore } from './helpers/store.js'
import { decodeFormatValue, decodePassportValue, decodeTopicValue, decodeU64Value } from '../src/store/values.js'
import {
  decodeBucketUsage, decodeEmptyValue, decodeExpiresAt, decodeFrameData, decodeFrameHeader, decodeHashRef, decodeRelayEntry
} from '../src/store/frame-values.js'

const QUOTA = { bucketQuotaBytes: 64 * 1024 * 1024 }

test('hash filter: never forgets a hash, about 1% false positives at capacity, full past it', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 200 }), (hashes) => {
    const f = new HashFilter(1)
    for (const h of hashes) f.add(h)
    return hashes.every(h => f.mayHave(h))
  }))
  const f = new HashFilter(HASH_FILTER_MIN_CAPACITY)
  const word = (i: number): Uint8Array => sha256(u32be(i))
  for (let i = 0; i < HASH_FILTER_MIN_CAPACITY; i++) f.add(word(i))
  assert.equal(f.full, false)
  let positives = 0
  for (let i = 0; i < HASH_FILTER_MIN_CAPACITY; i++) if (f.mayHave(word(HASH_FILTER_MIN_CAPACITY + i))) positives++
  assert.ok(positives / HASH_FILTER_MIN_CAPACITY < 0.03, `${positives} false positives in ${HASH_FILTER_MIN_CAPACITY}`)
  f.add(word(0))
  assert.equal(f.full, true)
  // a hash of the wrong length is never a definite "no", and is never added
  assert.equal(f.mayHave(new Uint8Array(31)), true)
  assert.throws(() => { f.add(new Uint8Array(33)) }, RangeError)
})


/** The frame puts on a real LevelDB of their own, for tests that reach below the Store. */
async function withPuts (fn: (puts: FramePuts, db: StoreDb, filter: SeenFilter) => Promise<void>): Promise<void> {
  await withDir(async (dir) => {
    const db = createStoreDb(join(dir, 'db'))
    await db.root.open()
    try {
      const lock = new WriteLock()
      const filter = new SeenFilter(db, lock)
      const state = new FrameState({ db, lock, now: () => T0, retentionMs: 1000, usage: new BucketUsage(), filter, lastArrival: 0n, sync: false })
      await fn(new FramePuts(state), db, filter)
    } finally {
      await db.root.close()
    }
  })
}

test('seen filter: a new hash skips the lookups, a seen one is still found', async () => {
  await withPuts(async (puts, db, filter) => {
    await filter.rebuild()
    // count the hashes looked up in the real seen set
    let looked = 0
    const getMany = db.seen.getMany.bind(db.seen)
    db.seen.getMany = async (keys: Uint8Array[]) => { looked += keys.length; return await getMany(keys) }
    const topic = topicId(3)
    const recs = Array.from({ length: 100 }, (_, i) => frameRec(`f${i}`))
    const first = await Promise.all(recs.map(async r => await puts.put(r, { ...QUOTA, topic })))
    assert.ok(first.every(r => r.stored))
    assert.equal(looked, 0, 'new hashes were looked up')
    const again = await Promise.all(recs.map(async r => await puts.put(r, { ...QUOTA, topic })))
    assert.deepEqual(again.map(r => [r.stored, r.seen, r.seq]), first.map(r => [false, true, r.seq]))
    assert.equal(looked, 100)
    // seen and new hashes interleaved in the same groups: only the seen ones are looked up, and
    // each answer goes to its own put
    const fresh = Array.from({ length: 50 }, (_, i) => frameRec(`f-new${i}`))
    const mixed = await Promise.all(fresh.flatMap((r, i) => [r, recs[i]]).map(async r => await puts.put(r, { ...QUOTA, topic })))
    assert.equal(looked, 150)
    mixed.forEach((r, i) => {
      if (i % 2 === 0) assert.ok(r.stored && r.seq !== undefined && r.seq > 100n, `new frame ${i / 2} was not stored`)
      else assert.deepEqual([r.stored, r.seq], [false, first[(i - 1) / 2].seq], `seen frame ${(i - 1) / 2}`)
    })
  })
})

test('seen filter: a build that starts while a put is being written still holds that put', async () => {
  await withPuts(async (puts, db, filter) => {
    // hold the put's LevelDB write until the build has been asked for
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let writing!: () => void
    const started = new Promise<void>(resolve => { writing = resolve })
    const batch = db.root.batch.bind(db.root) as (ops: unknown[], options: unknown) => Promise<void>
    const gated = async (ops: unknown[], options: unknown): Promise<void> => { writing(); await gate; await batch(ops, options) }
    ;(db.root as unknown as { batch: typeof gated }).batch = gated
    const r = frameRec('in flight')
    const put = puts.put(r, QUOTA)
    await started
    const build = filter.rebuild()
    release()
    assert.equal((await put).stored, true)
    await build
    assert.equal(filter.mayHave(r.hash), true, 'the filter built meanwhile lost the put in flight')
    assert.deepEqual(await puts.put(r, QUOTA), { stored: false, seen: true, evicted: 0 })
  })
})

test('seen filter: replays are caught across a reopen, while the filter is built and after it grows', async () => {
  await withStore(async ({ store: first, reopen }) => {
    // more than the smallest filter holds, so it fills up and is built again, larger
    const n = HASH_FILTER_MIN_CAPACITY + 4000
    const recs = Array.from({ length: n }, (_, i) => frameRec(`g${i}`, { bucket: i % 16 }))
    for (let i = 0; i < n; i += 1000) {
      for (const r of await Promise.all(recs.slice(i, i + 1000).map(async r => await first.putFrame(r, QUOTA)))) assert.equal(r.stored, true)
    }
    await first.hashFilterIdle()
    const sample = recs.filter((_r, i) => i % 97 === 0)
    for (const r of await Promise.all(sample.map(async r => await first.putFrame(r, QUOTA)))) assert.deepEqual(r, { stored: false, seen: true, evicted: 0 })
    // reopened: the filter is built in the background; puts right away, old and new, race with
    // that build, and every answer must still be right
    const store = await reopen()
    const fresh = Array.from({ length: 300 }, (_, i) => frameRec(`h${i}`))
    const during = await Promise.all([...sample, ...fresh].map(async r => await store.putFrame(r, QUOTA)))
    assert.ok(during.slice(0, sample.length).every(r => !r.stored && r.seen), 'a replay was stored')
    assert.ok(during.slice(sample.length).every(r => r.stored), 'a new frame was taken for a replay')
    await store.hashFilterIdle()
    const after = await Promise.all(fresh.map(async r => await store.putFrame(r, QUOTA)))
    assert.ok(after.every(r => !r.stored && r.seen), 'puts made during the build were forgotten')
    assert.equal((await store.status()).frames, n + fresh.length)
  })
})

test('sweep: bounded batches over more than one batch remove exactly what is due', async () => {
  await withStore(async ({ store, clock }) => {
    const n = EXPIRY_SWEEP_BATCH * 2 + 37
    const due = Array.from({ length: n }, (_, i) => frameRec(`bulk${i}`, { bucket: i % 3, expiresAt: T0 + 5 }))
    await Promise.all(due.map(async r => await store.putFrame(r, QUOTA)))
    const keep = frameRec('keep', { expiresAt: T0 + 11 })
    await store.putFrame(keep, QUOTA)
    // each batch runs under the write lock, one after the other, so the batches are bounded
    const db = (store as unknown as { db: StoreDb }).db
    const keys = db.expiry.keys.bind(db.expiry)
    const limits: Array<number | undefined> = []
    db.expiry.keys = ((o: { limit?: number }) => { limits.push(o.limit); return keys(o) }) as typeof db.expiry.keys
    clock.t = T0 + 10
    assert.deepEqual(await store.deleteExpired(), { frames: n, seen: n })
    assert.deepEqual(limits, [EXPIRY_SWEEP_BATCH, EXPIRY_SWEEP_BATCH, EXPIRY_SWEEP_BATCH])
    assert.deepEqual(heldCounts(await store.status()), { frames: 1, matchedFrames: 0, relayedBytes: keep.frame.length, unfetchedPastRetention: 0 })
    assert.deepEqual(await store.getFrames([keep.hash, due[0].hash]), [keep, undefined])
  })
})

test('topics: several owners, key conflict, deregister, survive a reopen', async () => {
  await withStore(async ({ store, clock, reopen }) => {
    const t1 = topicId(1)
    const t2 = topicId(2)
    const key1 = new Uint8Array(32).fill(1)
    const r = await store.registerTopic(t1, key1, 'alice')
    assert.deepEqual(r, { topic: t1, key: key1, owners: ['alice'], registeredAt: T0 })
    clock.t = T0 + 1
    const r2 = await store.registerTopic(t1, key1, 'bob')
    assert.deepEqual(r2.owners, ['alice', 'bob'])
    assert.equal(r2.registeredAt, T0)
    assert.deepEqual((await store.registerTopic(t1, key1, 'bob')).owners, ['alice', 'bob'])
    await assert.rejects(store.registerTopic(t1, new Uint8Array(32).fill(2), 'carol'),
      (e: unknown) => e instanceof AsmtpError && e.code === 'PROTOCOL_VIOLATION')
    await store.registerTopic(t2, new Uint8Array(32).fill(2), 'carol')

    store = await reopen()
    assert.deepEqual(await store.getTopic(t1), { topic: t1, key: key1, owners: ['alice', 'bob'], registeredAt: T0 })
    assert.deepEqual((await store.listTopics()).map((t) => toHex(t.topic)), [toHex(t1), toHex(t2)])
    assert.equal(await store.deregisterTopic(t1, 'nobody'), false)
    assert.equal(await store.deregisterTopic(t1, 'alice'), false)
    assert.deepEqual((await store.getTopic(t1))?.owners, ['bob'])
    assert.equal(await store.deregisterTopic(t1, 'bob'), true)
    assert.equal(await store.getTopic(t1), undefined)
    assert.equal(await store.deregisterTopic(t1, 'bob'), true)

    store = await reopen()
    assert.deepEqual((await store.listTopics()).map((t) => t.owners), [['carol']])
    const fresh = await store.registerTopic(t1, new Uint8Array(32).fill(3), 'dave')
    assert.equal(fresh.registeredAt, T0 + 1)
    await assert.rejects(store.registerTopic(t1, key1.subarray(1), 'x'), RangeError)
    await assert.rejects(store.registerTopic(t1, key1, ''), RangeError)
  })
})

test('passports and cursors: put, get, list, overwrite, survive a reopen', async () => {
  await withStore(async ({ store, reopen }) => {
    const id1 = new Uint8Array(32).fill(0x11)
    const id2 = new Uint8Array(32).fill(0x22)
    assert.equal(await store.getPassport(id1), undefined)
    await store.putPassport(id2, Uint8Array.of(0, 0, 0, 1, 9))
    await store.putPassport(id1, Uint8Array.of(1))
    await store.putPassport(id1, Uint8Array.of(0, 0, 0, 2, 7, 7))
    assert.equal(await store.getCursor('client/abc/00'), 0n)
    await store.setCursor('client/abc/00', 42n)
    await store.setCursor('catchup/peer/00', (1n << 64n) - 1n)
    await store.setCursor('catchup/peer/00', 7n)
    await store.setCursor('max', (1n << 64n) - 1n)
    await assert.rejects(store.setCursor('x', -1n), RangeError)
    await assert.rejects(store.setCursor('x', 1n << 64n), RangeError)
    await assert.rejects(store.setCursor('', 1n), RangeError)
    await assert.rejects(store.putPassport(id1.subarray(2), Uint8Array.of(1)), RangeError)

    store = await reopen()
    assert.deepEqual(await store.getPassport(id1), Uint8Array.of(0, 0, 0, 2, 7, 7))
    assert.deepEqual(await store.getPassport(id2), Uint8Array.of(0, 0, 0, 1, 9))
    assert.deepEqual((await store.listPassportIds()).map(toHex), [toHex(id1), toHex(id2)])
    assert.equal(await store.getCursor('client/abc/00'), 42n)
    assert.equal(await store.getCursor('catchup/peer/00'), 7n)
    assert.equal(await store.getCursor('max'), (1n << 64n) - 1n)
    assert.equal(await store.getCursor('unset'), 0n)
  })
})

test('libp2p datastore: put, get, has, query, delete, batch through interface-datastore; survives a reopen', async () => {
  await withStore(async ({ store, reopen }) => {
    const ds = store.datastore
    await ds.put(new Key('/peers/a'), Uint8Array.of(1))
    await ds.put(new Key('/peers/b'), Uint8Array.of(2))
    await ds.put(new Key('/dht/record/x'), Uint8Array.of(3))
    const batch = ds.batch()
    batch.put(new Key('/peers/c'), Uint8Array.of(4))
    batch.put(new Key('/gone'), Uint8Array.of(5))
    batch.delete(new Key('/gone'))
    await batch.commit()
    // the store's own sublevels are invisible to the datastore and vice versa
    await store.putFrame(frameRec('ds'), { bucketQuotaBytes: 1024, topic: topicId(1) })
    await store.setCursor('/peers/z', 1n)

    store = await reopen()
    const ds2 = store.datastore
    assert.deepEqual([...await ds2.get(new Key('/peers/b'))], [2])
    assert.equal(await ds2.has(new Key('/peers/a')), true)
    assert.equal(await ds2.has(new Key('/gone')), false)
    await assert.rejects(async () => await ds2.get(new Key('/missing')), (err: unknown) => err instanceof Error && err.name === 'NotFoundError')
    const peers: string[] = []
    for await (const { key, value } of ds2.query({ prefix: '/peers' })) peers.push(`${key.toString()}=${value[0]}`)
    assert.deepEqual(peers.sort(), ['/peers/a=1', '/peers/b=2', '/peers/c=4'])
    const all: string[] = []
    for await (const key of ds2.queryKeys({})) all.push(key.toString())
    assert.deepEqual(all.sort(), ['/dht/record/x', '/peers/a', '/peers/b', '/peers/c'])
    await ds2.delete(new Key('/peers/a'))
    assert.equal(await ds2.has(new Key('/peers/a')), false)
    assert.equal(await store.countMatched(), 1)
  })
})

test('libp2p datastore cache: reads from memory, many rewrites reach LevelDB as one batch, nothing pending is lost', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'db')
    let store = await openStore({ path })
    let ds = store.datastore as CachedLevelDatastore
    const key = new Key('/peers/hot')
    for (let i = 0; i < 100; i++) await ds.put(key, Uint8Array.of(i))
    assert.deepEqual([...await ds.get(key)], [99], 'a read sees the newest write before it is flushed')
    await assert.rejects(async () => await ds.get(new Key('/peers/none')), (err: unknown) => err instanceof Error && err.name === 'NotFoundError')
    const hits = ds.counters.hits
    assert.equal(await ds.has(new Key('/peers/none')), false)
    assert.equal(ds.counters.hits, hits + 1, 'a miss is remembered')
    await ds.put(new Key('/peers/gone'), Uint8Array.of(1))
    await ds.delete(new Key('/peers/gone'))
    const b = ds.batch()
    b.put(new Key('/peers/batched'), Uint8Array.of(7))
    await b.commit()
    // a query flushes first, so it sees every write
    const keys: string[] = []
    for await (const k of ds.queryKeys({ prefix: '/peers' })) keys.push(k.toString())
    assert.deepEqual(keys.sort(), ['/peers/batched', '/peers/hot'])
    assert.equal(ds.counters.flushes, 1, '100 rewrites of one key and three more writes: one batch')
    await ds.put(key, Uint8Array.of(200))
    await waitFor(() => ds.counters.flushes === 2, 'the timed flush of a lone write', 5_000)
    await ds.put(key, Uint8Array.of(201))
    await store.close() // flushes the pending write
    store = await openStore({ path })
    ds = store.datastore as CachedLevelDatastore
    assert.deepEqual([...await ds.get(key)], [201])
    assert.equal(await ds.has(new Key('/peers/gone')), false)
    assert.deepEqual([...await ds.get(new Key('/peers/batched'))], [7])
    await store.close()
  })
})

test('corrupt values on disk give AsmtpError STORE_ERROR, not a crash', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'db')
    const topic = topicId(1)
    const passportId = new Uint8Array(32).fill(0x33)
    const bad = frameRec('bad', { bucket: 2 })
    const badSeen = frameRec('bad seen', { bucket: 4 })
    const good = frameRec('good', { bucket: 3 })
    let store = await openStore({ path })
    await store.registerTopic(topic, new Uint8Array(32), 'alice')
    await store.putFrame(bad, { ...QUOTA, topic })
    await store.putFrame(badSeen, QUOTA)
    await store.putFrame(good, { ...QUOTA, topic: topicId(2) })
    await store.putPassport(passportId, Uint8Array.of(1, 2, 3))
    await store.setCursor('c', 5n)
    await store.close()

    const raw = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
    const sub = (name: string) => raw.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
    const named = (name: string) => raw.sublevel<string, Uint8Array>(name, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const junk = Uint8Array.of(1, 0xff, 0xff)
    await raw.open()
    await sub(SUBLEVELS.topics).put(topic, junk)
    await sub(SUBLEVELS.frames).put(bad.hash, Uint8Array.of(9, 9))
    await sub(SUBLEVELS.seen).put(badSeen.hash, junk)
    await sub(SUBLEVELS.inventory).put(concatBytes(u16be(4), u32be(1)), junk)
    await sub(SUBLEVELS.passports).put(passportId, Uint8Array.of(2, 1))
    await sub(SUBLEVELS.passports).put(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 1))
    await named(SUBLEVELS.cursors).put('c', junk)
    await raw.close()

    store = await openStore({ path })
    try {
      await assert.rejects(store.getTopic(topic), isStoreError)
      await assert.rejects(store.listTopics(), isStoreError)
      await assert.rejects(store.registerTopic(topic, new Uint8Array(32), 'bob'), isStoreError)
      await assert.rejects(store.hasFrame(bad.hash), isStoreError)
      await assert.rejects(store.getFrames([good.hash, bad.hash]), isStoreError)
      await assert.rejects(store.listMatched(topic), isStoreError)
      await assert.rejects(store.putFrame(bad, QUOTA), /corrupt store: frames record/)
      await assert.rejects(store.hasSeen(badSeen.hash), isStoreError)
      await assert.rejects(store.inventory(4, { fromHour: 0, toHour: 5, limit: 10 }), /corrupt store: inventory key/)
      await assert.rejects(store.getPassport(passportId), isStoreError)
      await assert.rejects(store.listPassportIds(), isStoreError)
      await assert.rejects(store.getCursor('c'), isStoreError)
      await assert.rejects(store.getTopic(topic), /corrupt store: topics record/)
      // the rest of the store still works
      assert.deepEqual(await store.getFrames([good.hash]), [good])
      assert.equal((await store.listMatched(topicId(2))).envelopes.length, 1)
      assert.equal((await store.putFrame(frameRec('new'), { ...QUOTA, topic: topicId(2) })).seq, 2n)
      await store.setCursor('c', 6n)
      assert.equal(await store.getCursor('c'), 6n)
    } finally {
      await store.close()
    }

    for (const [key, value] of [['last-arrival', junk], ['format', Uint8Array.of(1, 0, 99)]] as const) {
      await raw.open()
      await named(SUBLEVELS.meta).put(key, value)
      await raw.close()
      await assert.rejects(openStore({ path }), isStoreError)
      await raw.open()
      await named(SUBLEVELS.meta).del(key)
      await raw.close()
    }
    await raw.open()
    await sub(SUBLEVELS.bucketUsage).put(u16be(3), junk)
    await raw.close()
    await assert.rejects(openStore({ path }), /corrupt store: bucket-usage record 0003/)
  })
})

test('a folder from asmtp version 1 fails to open with a STORE_ERROR naming it', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'v1')
    const raw = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
    await raw.open()
    await raw.sublevel<string, Uint8Array>(SUBLEVELS.meta, { keyEncoding: 'utf8', valueEncoding: 'view' }).put('format', Uint8Array.of(1, 0, 1))
    await raw.close()
    await assert.rejects(openStore({ path }), (e: unknown) => isStoreError(e) && (e as Error).message.includes(path) && /from asmtp version 1/.test((e as Error).message))
    const fresh = await openStore({ path: join(dir, 'v2') })
    await fresh.close()
    const reopened = await openStore({ path: join(dir, 'v2') })
    await reopened.close()
  })
})

test('value decoders: random bytes decode or throw STORE_ERROR, nothing else', () => {
  const decoders = [
    decodeTopicValue, decodePassportValue, decodeU64Value, decodeFormatValue, decodeFrameHeader, decodeFrameData,
    decodeExpiresAt, decodeRelayEntry, decodeHashRef, decodeEmptyValue, decodeBucketUsage
  ]
  fc.assert(fc.property(fc.uint8Array({ maxLength: 160 }), fc.boolean(), (bytes, versioned) => {
    const input = versioned ? concatBytes(Uint8Array.of(1), bytes) : bytes
    for (const decode of decoders) {
      try {
        decode('test record', input)
      } catch (e) {
        assert.ok(isStoreError(e), String(e))
      }
    }
  }), { numRuns: 2000 })
  const topicValue = concatBytes(Uint8Array.of(1), new Uint8Array(32), u64be(5), Uint8Array.of(0, 1, 0, 2, 0xc3, 0x28))
  assert.throws(() => decodeTopicValue('bad utf-8', topicValue), isStoreError)
  // a header that is matched without a retention end, and one truncated in its matches
  const header = (keepUntil: number, count: number, matches: Uint8Array) => concatBytes(Uint8Array.of(1), u16be(1), u32be(2), u64be(3), u64be(4), u64be(5n), u32be(6), u64be(keepUntil), Uint8Array.of(count), matches)
  assert.equal(decodeFrameHeader('ok', header(7, 1, concatBytes(new Uint8Array(32), u64be(1n)))).matches.length, 1)
  assert.throws(() => decodeFrameHeader('no keepUntil', header(0, 1, concatBytes(new Uint8Array(32), u64be(1n)))), isStoreError)
  assert.throws(() => decodeFrameHeader('truncated', header(7, 2, concatBytes(new Uint8Array(32), u64be(1n)))), isStoreError)
})

test('big-endian integer encoders agree with DataView on every range, wrapping as setBigUint64 does', () => {
  const viaView = (n: bigint): Uint8Array => {
    const out = new Uint8Array(8)
    new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, n))
    return out
  }
  const edges = [0n, 1n, 255n, 256n, 0xffffffffn, 0x100000000n, BigInt(Number.MAX_SAFE_INTEGER), 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n, -1n]
  for (const n of edges) assert.deepEqual(u64be(n), viaView(n), `bigint ${n}`)
  fc.assert(fc.property(fc.bigInt({ min: -(2n ** 65n), max: 2n ** 65n }), (n) => { assert.deepEqual(u64be(n), viaView(n)) }), { numRuns: 2000 })
  fc.assert(fc.property(fc.maxSafeNat(), (n) => { assert.deepEqual(u64be(n), viaView(BigInt(n))) }), { numRuns: 2000 })
  assert.deepEqual(u64be(-1), viaView(-1n))
  assert.throws(() => u64be(1.5), RangeError)
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
    const view = new DataView(new ArrayBuffer(4))
    view.setUint32(0, n)
    assert.deepEqual(u32be(n), new Uint8Array(view.buffer))
    view.setUint16(0, n & 0xffff)
    assert.deepEqual(u16be(n & 0xffff), new Uint8Array(view.buffer, 0, 2))
  }), { numRuns: 2000 })
})

test('store lifecycle: close is idempotent, a closed store refuses work, a locked path is STORE_ERROR', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'db')
    const store = await openStore({ path })
    await assert.rejects(openStore({ path }), isStoreError)
    const r = frameRec('late', { expiresAt: Date.now() + 24 * 3600 * 1000 })
    const pending = store.putFrame(r, QUOTA)
    await store.close()
    assert.equal((await pending).stored, true)
    await store.close()
    await assert.rejects(store.getCursor('x'), isStoreError)
    await assert.rejects(store.putFrame(r, QUOTA), isStoreError)
    await assert.rejects(store.status(), isStoreError)
    await assert.rejects(openStore({ path, retentionMs: 0 }), RangeError)
    const reopened = await openStore({ path })
    assert.equal(await reopened.hasFrame(r.hash), true)
    await reopened.close()
  })
})

test('random bytes as frames round-trip exactly, relayed-only and matched', async () => {
  await withStore(async ({ store }) => {
    const topic = new Uint8Array(randomBytes(32))
    const recs: FrameRecord[] = [randomBytes(1), randomBytes(65 * 1024 + 14), randomBytes(1000)].map((b, i) => {
      const frame = new Uint8Array(b)
      return { hash: sha256(frame), bucket: 65535, hour: 0xffffffff - i, expiresAt: EXPIRES, frame }
    })
    for (const [i, r] of recs.entries()) await store.putFrame(r, i === 1 ? QUOTA : { ...QUOTA, topic })
    assert.deepEqual(await store.getFrames(recs.map((r) => r.hash)), recs)
    const page = await store.listMatched(topic)
    assert.deepEqual(page.envelopes.map((e) => toHex(e.data)), [toHex(recs[0].frame), toHex(recs[2].frame)])
    const inv = await store.inventory(65535, { fromHour: 0, toHour: 0xffffffff, limit: 10 })
    assert.deepEqual(inv.items.map((x) => x.hour), [0xffffffff - 2, 0xffffffff - 1, 0xffffffff])
  })
})
