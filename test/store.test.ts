import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { Level } from 'level'
import { Key } from 'interface-datastore'
import { AsmtpError, sha256, toHex, u16be, u32be, u64be, concatBytes } from '../src/index.js'
import { openStore, SUBLEVELS, type Store, type StoreInit, type StoredEnvelope } from '../src/store/index.js'
import { EXPIRY_SWEEP_BATCH, EnvelopeTable } from '../src/store/envelopes.js'
import { HASH_FILTER_MIN_CAPACITY, HashFilter } from '../src/store/hash-filter.js'
import { createStoreDb, type StoreDb } from '../src/store/db.js'
import { WriteLock } from '../src/store/write-lock.js'
import type { CachedLevelDatastore } from '../src/store/cached-datastore.js'
import { waitFor } from './helpers/testnet.js'
import {
  decodeEnvelopeValue, decodeExpiryIndexValue, decodeFormatValue, decodeHashIndexValue, decodePassportValue,
  decodeTopicValue, decodeU64Value
} from '../src/store/values.js'

const T0 = 1_700_000_000_000

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-store-'))
  try {
    await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** A store with a settable clock; `reopen` closes it and opens the same path again. */
async function withStore (fn: (s: { store: Store, dir: string, clock: { t: number }, reopen: () => Promise<Store> }) => Promise<void>, init: Partial<StoreInit> = {}): Promise<void> {
  await withDir(async (dir) => {
    const clock = { t: T0 }
    const open = async (): Promise<Store> => await openStore({ path: join(dir, 'db'), now: () => clock.t, ...init })
    let store = await open()
    try {
      await fn({
        store,
        dir,
        clock,
        reopen: async () => {
          await store.close()
          store = await open()
          return store
        }
      })
    } finally {
      await store.close()
    }
  })
}

function envelope (label: string): { data: Uint8Array, hash: Uint8Array } {
  const data = new TextEncoder().encode(`envelope ${label}`)
  return { data, hash: sha256(data) }
}

function topicId (n: number): Uint8Array {
  const t = new Uint8Array(32).fill(0xa0)
  t[31] = n
  return t
}

function isStoreError (e: unknown): boolean {
  return e instanceof AsmtpError && e.code === 'STORE_ERROR'
}

async function listAll (store: Store, topic: Uint8Array, limit = 4096): Promise<StoredEnvelope[]> {
  const out: StoredEnvelope[] = []
  let after = 0n
  for (;;) {
    const page = await store.listEnvelopes(topic, { after, limit })
    out.push(...page.envelopes)
    after = page.cursor
    if (!page.more) return out
  }
}

test('envelopes: put, has, get, list, dedupe by hash', async () => {
  await withStore(async ({ store }) => {
    const topic = topicId(1)
    const a = envelope('a')
    const b = envelope('b')
    assert.equal(await store.hasEnvelope(a.hash), false)
    assert.equal(await store.getEnvelope(a.hash), undefined)
    const ra = await store.putEnvelope(topic, a.data, a.hash)
    assert.deepEqual(ra, { stored: true, seq: 1n, hash: a.hash })
    const rb = await store.putEnvelope(topic, b.data, b.hash)
    assert.equal(rb.seq, 2n)
    const again = await store.putEnvelope(topic, a.data, a.hash)
    assert.deepEqual(again, { stored: false, seq: 1n, hash: a.hash })
    assert.equal(await store.hasEnvelope(a.hash), true)
    const got = await store.getEnvelope(b.hash)
    assert.deepEqual(got, { topic, seq: 2n, hash: b.hash, receivedAt: T0, expiresAt: T0 + 14 * 24 * 3600 * 1000, data: b.data })
    const page = await store.listEnvelopes(topic)
    assert.deepEqual(page.envelopes.map((e) => toHex(e.data)), [toHex(a.data), toHex(b.data)])
    assert.equal(page.cursor, 2n)
    assert.equal(page.more, false)
    assert.equal(await store.countEnvelopes(), 2)
    assert.equal(await store.countEnvelopes(topic), 2)
    assert.equal(await store.countEnvelopes(topicId(2)), 0)
    await assert.rejects(store.putEnvelope(topic.subarray(1), a.data, a.hash), RangeError)
    await assert.rejects(store.putEnvelope(topic, a.data, a.hash.subarray(1)), RangeError)
    await assert.rejects(store.listEnvelopes(topic, { limit: 0 }), RangeError)
    await assert.rejects(store.listEnvelopes(topic, { after: -1n }), RangeError)
  })
})

test('envelopes: paging with cursors across several topics', async () => {
  await withStore(async ({ store }) => {
    const topics = [topicId(1), topicId(2), topicId(3)]
    const counts = [23, 10, 1]
    const expected = new Map<number, bigint[]>(topics.map((_, i) => [i, []]))
    for (let n = 0; n < 23; n++) {
      for (let i = 0; i < topics.length; i++) {
        if (n >= counts[i]) continue
        const e = envelope(`${i}/${n}`)
        const r = await store.putEnvelope(topics[i], e.data, e.hash)
        expected.get(i)!.push(r.seq)
      }
    }
    for (const limit of [1, 5, 10, 23, 100]) {
      for (let i = 0; i < topics.length; i++) {
        let after = 0n
        const seen: bigint[] = []
        for (;;) {
          const page = await store.listEnvelopes(topics[i], { after, limit })
          assert.ok(page.envelopes.length <= limit)
          for (const e of page.envelopes) {
            assert.deepEqual(e.topic, topics[i])
            assert.equal(new TextDecoder().decode(e.data), `envelope ${i}/${seen.length}`)
            seen.push(e.seq)
          }
          const remaining = counts[i] - seen.length
          assert.equal(page.more, remaining > 0, `topic ${i} limit ${limit} after ${after}`)
          assert.equal(page.cursor, seen.at(-1) ?? 0n)
          after = page.cursor
          if (!page.more) break
        }
        assert.deepEqual(seen, expected.get(i))
      }
    }
    const end = await store.listEnvelopes(topics[0], { after: 1000n })
    assert.deepEqual(end, { envelopes: [], cursor: 1000n, more: false })
    const middle = await store.listEnvelopes(topics[0], { after: expected.get(0)![4], limit: 2 })
    assert.deepEqual(middle.envelopes.map((e) => e.seq), expected.get(0)!.slice(5, 7))
    assert.equal((await store.listEnvelopes(topicId(9))).envelopes.length, 0)
  })
})

test('envelopes: 200 concurrent puts with duplicates get unique seqs and are stored once', async () => {
  await withStore(async ({ store }) => {
    const topic = topicId(7)
    const distinct = Array.from({ length: 150 }, (_, i) => envelope(`c${i}`))
    const inputs = [...distinct, ...distinct.slice(0, 50)]
    const results = await Promise.all(inputs.map(async (e) => await store.putEnvelope(topic, e.data, e.hash)))
    const stored = results.filter((r) => r.stored)
    assert.equal(stored.length, 150)
    assert.equal(new Set(stored.map((r) => r.seq)).size, 150)
    const seqByHash = new Map(stored.map((r) => [toHex(r.hash), r.seq]))
    assert.equal(seqByHash.size, 150)
    for (const r of results.filter((r) => !r.stored)) assert.equal(r.seq, seqByHash.get(toHex(r.hash)))
    const all = await listAll(store, topic, 64)
    assert.equal(all.length, 150)
    for (let i = 1; i < all.length; i++) assert.ok(all[i].seq > all[i - 1].seq)
    assert.equal(await store.countEnvelopes(topic), 150)
  })
})

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

/** An envelope table on a real LevelDB of its own, for tests that reach below the Store. */
async function withTable (fn: (table: EnvelopeTable, db: StoreDb) => Promise<void>): Promise<void> {
  await withDir(async (dir) => {
    const db = createStoreDb(join(dir, 'db'))
    await db.root.open()
    try {
      await fn(new EnvelopeTable({ db, lock: new WriteLock(), now: () => T0, retentionMs: 1000, lastSeq: 0n }), db)
    } finally {
      await db.root.close()
    }
  })
}

test('hash filter: a new hash skips the index lookup, a stored one is still found', async () => {
  await withTable(async (table, db) => {
    await table.rebuildFilter()
    // count the hashes the table looks up in the real hash index
    let looked = 0
    const getMany = db.envelopeHashes.getMany.bind(db.envelopeHashes)
    db.envelopeHashes.getMany = async (keys: Uint8Array[]) => { looked += keys.length; return await getMany(keys) }
    const topic = topicId(3)
    const es = Array.from({ length: 100 }, (_, i) => envelope(`f${i}`))
    const first = await Promise.all(es.map(async e => await table.put(topic, e.data, e.hash)))
    assert.ok(first.every(r => r.stored))
    assert.equal(looked, 0, 'new hashes were looked up in the index')
    const again = await Promise.all(es.map(async e => await table.put(topic, e.data, e.hash)))
    assert.deepEqual(again.map(r => [r.stored, r.seq]), first.map(r => [false, r.seq]))
    assert.equal(looked, 100)
    // stored and new hashes interleaved in the same groups: only the stored ones are looked up, and
    // each answer goes to its own put
    const fresh = Array.from({ length: 50 }, (_, i) => envelope(`f-new${i}`))
    const mixed = await Promise.all(fresh.flatMap((e, i) => [e, es[i]]).map(async e => await table.put(topic, e.data, e.hash)))
    assert.equal(looked, 150)
    mixed.forEach((r, i) => {
      if (i % 2 === 0) assert.ok(r.stored && r.seq > 100n, `new envelope ${i / 2} was not stored`)
      else assert.deepEqual([r.stored, r.seq], [false, first[(i - 1) / 2].seq], `stored envelope ${(i - 1) / 2}`)
    })
  })
})

test('hash filter: a build that starts while a put is being written still holds that put', async () => {
  await withTable(async (table, db) => {
    // hold the put's LevelDB write until the build has been asked for
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    let writing!: () => void
    const started = new Promise<void>(resolve => { writing = resolve })
    const batch = db.root.batch.bind(db.root) as (ops: unknown[], options: unknown) => Promise<void>
    const gated = async (ops: unknown[], options: unknown): Promise<void> => { writing(); await gate; await batch(ops, options) }
    ;(db.root as unknown as { batch: typeof gated }).batch = gated
    const e = envelope('in flight')
    const put = table.put(topicId(5), e.data, e.hash)
    await started
    const build = table.rebuildFilter()
    release()
    assert.equal((await put).stored, true)
    await build
    const again = await table.put(topicId(5), e.data, e.hash)
    assert.deepEqual([again.stored, again.seq], [false, 1n], 'the filter built meanwhile lost the put in flight')
  })
})

test('hash filter: dedupe holds across a reopen, while the filter is built and after it grows', async () => {
  await withStore(async ({ store: first, reopen }) => {
    const topic = topicId(4)
    // more than the smallest filter holds, so it fills up and is built again, larger
    const n = HASH_FILTER_MIN_CAPACITY + 4000
    const es = Array.from({ length: n }, (_, i) => envelope(`g${i}`))
    const seqs = new Map<string, bigint>()
    for (let i = 0; i < n; i += 1000) {
      for (const r of await Promise.all(es.slice(i, i + 1000).map(async e => await first.putEnvelope(topic, e.data, e.hash)))) {
        assert.equal(r.stored, true)
        seqs.set(toHex(r.hash), r.seq)
      }
    }
    await first.hashFilterIdle()
    const sample = es.filter((_e, i) => i % 97 === 0)
    for (const r of await Promise.all(sample.map(async e => await first.putEnvelope(topic, e.data, e.hash)))) {
      assert.deepEqual([r.stored, r.seq], [false, seqs.get(toHex(r.hash))])
    }
    // reopened: the filter is built from the index in the background; puts right away, old and
    // new, race with that build, and every answer must still be right
    const store = await reopen()
    const fresh = Array.from({ length: 300 }, (_, i) => envelope(`h${i}`))
    const during = await Promise.all([...sample, ...fresh].map(async e => await store.putEnvelope(topic, e.data, e.hash)))
    assert.deepEqual(during.slice(0, sample.length).map(r => [r.stored, r.seq]), sample.map(e => [false, seqs.get(toHex(e.hash))]))
    assert.ok(during.slice(sample.length).every(r => r.stored), 'a new envelope was taken for a duplicate')
    await store.hashFilterIdle()
    const after = await Promise.all(fresh.map(async e => await store.putEnvelope(topic, e.data, e.hash)))
    assert.deepEqual(after.map(r => [r.stored, r.seq]), during.slice(sample.length).map(r => [false, r.seq]), 'puts made during the build were forgotten')
    assert.equal(await store.countEnvelopes(topic), n + fresh.length)
  })
})

test('envelopes: everything survives a reopen and seq continues upward', async () => {
  await withStore(async ({ store: first, reopen }) => {
    const topic = topicId(1)
    for (let i = 0; i < 5; i++) {
      const e = envelope(`r${i}`)
      await first.putEnvelope(topic, e.data, e.hash)
    }
    const store = await reopen()
    const all = await listAll(store, topic)
    assert.deepEqual(all.map((e) => e.seq), [1n, 2n, 3n, 4n, 5n])
    assert.equal(await store.hasEnvelope(envelope('r3').hash), true)
    assert.equal((await store.putEnvelope(topic, envelope('r3').data, envelope('r3').hash)).stored, false)
    const next = envelope('r5')
    assert.equal((await store.putEnvelope(topicId(2), next.data, next.hash)).seq, 6n)
  })
})

test('expiry: deleteExpired removes exactly the expired ones; reads never see expired', async () => {
  await withStore(async ({ store, clock, reopen }) => {
    const topic = topicId(1)
    const a = envelope('a')
    const b = envelope('b')
    const c = envelope('c')
    await store.putEnvelope(topic, a.data, a.hash)
    await store.putEnvelope(topic, b.data, b.hash)
    clock.t = T0 + 500
    await store.putEnvelope(topic, c.data, c.hash)
    clock.t = T0 + 999
    assert.equal((await store.listEnvelopes(topic)).envelopes.length, 3)
    assert.equal(await store.deleteExpired(), 0)
    clock.t = T0 + 1000
    const page = await store.listEnvelopes(topic)
    assert.deepEqual(page.envelopes.map((e) => e.seq), [3n])
    assert.equal(await store.hasEnvelope(a.hash), false)
    assert.equal(await store.getEnvelope(a.hash), undefined)
    assert.equal(await store.countEnvelopes(), 1)
    assert.equal(await store.countEnvelopes(topic), 1)
    assert.equal(await store.deleteExpired(), 2)
    assert.equal(await store.deleteExpired(), 0)
    assert.equal((await store.getEnvelope(c.hash))?.seq, 3n)
    const again = await store.putEnvelope(topic, a.data, a.hash)
    assert.deepEqual(again, { stored: true, seq: 4n, hash: a.hash })
    assert.equal((await store.getEnvelope(a.hash))?.expiresAt, T0 + 2000)

    // an expired envelope not yet swept is replaced by a new put of the same bytes
    clock.t = T0 + 1500
    const replaced = await store.putEnvelope(topic, c.data, c.hash)
    assert.deepEqual(replaced, { stored: true, seq: 5n, hash: c.hash })
    assert.equal(await store.deleteExpired(), 0)
    assert.deepEqual((await listAll(store, topic)).map((e) => e.seq), [4n, 5n])

    // explicit time; seq keeps counting after everything expired, across a reopen
    assert.equal(await store.deleteExpired(T0 + 10_000), 2)
    assert.equal(await store.countEnvelopes(), 0)
    const reopened = await reopen()
    assert.equal((await reopened.putEnvelope(topic, b.data, b.hash)).seq, 6n)
  }, { retentionMs: 1000 })
})

test('expiry: the sweep works in bounded batches over more than one batch', async () => {
  await withStore(async ({ store, clock }) => {
    const n = EXPIRY_SWEEP_BATCH * 2 + 37
    await Promise.all(Array.from({ length: n }, async (_, i) => {
      const e = envelope(`bulk${i}`)
      await store.putEnvelope(topicId(i % 3), e.data, e.hash)
    }))
    clock.t = T0 + 5
    const keep = envelope('keep')
    await store.putEnvelope(topicId(0), keep.data, keep.hash)
    clock.t = T0 + 10
    assert.equal(await store.deleteExpired(), n)
    assert.equal(await store.countEnvelopes(), 1)
    assert.deepEqual((await listAll(store, topicId(0))).map((e) => toHex(e.hash)), [toHex(keep.hash)])
  }, { retentionMs: 10 })
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
    const e = envelope('ds')
    await store.putEnvelope(topicId(1), e.data, e.hash)
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
    assert.equal(await store.countEnvelopes(), 1)
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
    const e = envelope('x')
    const good = envelope('good')
    let store = await openStore({ path })
    await store.registerTopic(topic, new Uint8Array(32), 'alice')
    await store.putEnvelope(topic, e.data, e.hash)
    await store.putEnvelope(topicId(2), good.data, good.hash)
    await store.putPassport(passportId, Uint8Array.of(1, 2, 3))
    await store.setCursor('c', 5n)
    await store.close()

    const raw = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
    const sub = (name: string) => raw.sublevel<Uint8Array, Uint8Array>(name, { keyEncoding: 'view', valueEncoding: 'view' })
    const named = (name: string) => raw.sublevel<string, Uint8Array>(name, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const junk = Uint8Array.of(1, 0xff, 0xff)
    await raw.open()
    await sub(SUBLEVELS.topics).put(topic, junk)
    await sub(SUBLEVELS.envelopes).put(concatBytes(topic, u64be(1n)), Uint8Array.of(9, 9))
    await sub(SUBLEVELS.passports).put(passportId, Uint8Array.of(2, 1))
    await sub(SUBLEVELS.passports).put(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 1))
    await named(SUBLEVELS.cursors).put('c', junk)
    await raw.close()

    store = await openStore({ path })
    try {
      await assert.rejects(store.getTopic(topic), isStoreError)
      await assert.rejects(store.listTopics(), isStoreError)
      await assert.rejects(store.registerTopic(topic, new Uint8Array(32), 'bob'), isStoreError)
      await assert.rejects(store.getEnvelope(e.hash), isStoreError)
      await assert.rejects(store.listEnvelopes(topic), isStoreError)
      await assert.rejects(store.getPassport(passportId), isStoreError)
      await assert.rejects(store.listPassportIds(), isStoreError)
      await assert.rejects(store.getCursor('c'), isStoreError)
      await assert.rejects(store.getTopic(topic), /corrupt store: topics record/)
      // the rest of the store still works
      assert.equal((await store.getEnvelope(good.hash))?.seq, 2n)
      assert.equal((await store.listEnvelopes(topicId(2))).envelopes.length, 1)
      await store.setCursor('c', 6n)
      assert.equal(await store.getCursor('c'), 6n)
    } finally {
      await store.close()
    }

    await raw.open()
    await named(SUBLEVELS.meta).put('last-seq', junk)
    await raw.close()
    await assert.rejects(openStore({ path }), isStoreError)
    await raw.open()
    await named(SUBLEVELS.meta).put('last-seq', Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 9))
    await named(SUBLEVELS.meta).put('format', Uint8Array.of(1, 0, 99))
    await raw.close()
    await assert.rejects(openStore({ path }), /store format 99 is not supported/)
  })
})

test('value decoders: random bytes decode or throw STORE_ERROR, nothing else', () => {
  const decoders = [
    decodeEnvelopeValue, decodeHashIndexValue, decodeExpiryIndexValue, decodeTopicValue,
    decodePassportValue, decodeU64Value, decodeFormatValue
  ]
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, versioned) => {
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
    const e = envelope('late')
    const pending = store.putEnvelope(topicId(1), e.data, e.hash)
    await store.close()
    assert.equal((await pending).stored, true)
    await store.close()
    await assert.rejects(store.getCursor('x'), isStoreError)
    await assert.rejects(store.putEnvelope(topicId(1), e.data, e.hash), isStoreError)
    await assert.rejects(openStore({ path, retentionMs: 0 }), RangeError)
    const reopened = await openStore({ path })
    assert.equal(await reopened.hasEnvelope(e.hash), true)
    await reopened.close()
  })
})

test('random bytes as envelope data round-trip exactly', async () => {
  await withStore(async ({ store }) => {
    const topic = randomBytes(32)
    const datas = [randomBytes(1), randomBytes(65 * 1024), randomBytes(1000)]
    for (const data of datas) await store.putEnvelope(topic, data, sha256(data))
    const all = await listAll(store, new Uint8Array(topic))
    assert.deepEqual(all.map((x) => toHex(x.data)), datas.map((d) => toHex(d)))
  })
})
