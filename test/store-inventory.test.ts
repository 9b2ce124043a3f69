import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import fc from 'fast-check'
import { compareBytes, concatBytes, sha256, toHex } from '../src/index.js'
import { openStore, type FrameRecord, type InventoryItem, type Store } from '../src/store/index.js'
import { T0, frameRec, topicId, withDir, withStore } from './helpers/store.js'

const QUOTA = { bucketQuotaBytes: 1024 * 1024 }

function sorted (recs: FrameRecord[]): Array<{ hour: number, hash: string }> {
  return [...recs]
    .sort((a, b) => a.hour - b.hour || compareBytes(a.hash, b.hash))
    .map((r) => ({ hour: r.hour, hash: toHex(r.hash) }))
}

async function pages (store: Store, bucket: number, fromHour: number, toHour: number, limit: number, now?: number): Promise<InventoryItem[]> {
  const out: InventoryItem[] = []
  let after: InventoryItem | undefined
  for (;;) {
    const page = await store.inventory(bucket, { fromHour, toHour, after, limit, now })
    assert.ok(page.items.length <= limit)
    const first = page.items[0]
    if (after !== undefined && first !== undefined) {
      assert.ok(first.hour > after.hour || (first.hour === after.hour && compareBytes(first.hash, after.hash) > 0), 'a page starts at or before `after`')
    }
    out.push(...page.items)
    after = page.items.at(-1) ?? after
    if (!page.more) return out
  }
}

function shuffled<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let x = seed
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    const j = x % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

test('inventory: sorted by (hour, hash) whatever the arrival order; pages return each once; expired frames absent', async () => {
  await withStore(async ({ store, clock }) => {
    const recs = Array.from({ length: 120 }, (_, i) => frameRec(`inv${i}`, { bucket: 5, hour: 100 + (i % 6), expiresAt: T0 + 10_000 + (i % 4) * 1000 }))
    const otherBucket = Array.from({ length: 10 }, (_, i) => frameRec(`b6/${i}`, { bucket: 6, hour: 100 + (i % 6) }))
    const topic = topicId(1)
    for (const [i, r] of shuffled([...recs, ...otherBucket], 7).entries()) {
      await store.putFrame(r, i % 5 === 0 ? { ...QUOTA, topic } : QUOTA)
    }
    const expected = sorted(recs)
    const simple = (items: InventoryItem[]): Array<{ hour: number, hash: string }> => items.map((x) => ({ hour: x.hour, hash: toHex(x.hash) }))
    for (const limit of [1, 7, 50, 120, 5000]) {
      assert.deepEqual(simple(await pages(store, 5, 0, 0xffffffff, limit)), expected, `limit ${limit}`)
    }
    // only hour and hash: nothing that tells arrival
    const first = await store.inventory(5, { fromHour: 0, toHour: 200, limit: 1 })
    assert.deepEqual(Object.keys(first.items[0]).sort(), ['hash', 'hour'])
    assert.deepEqual(Object.keys(first).sort(), ['items', 'more'])
    // hours are inclusive
    assert.deepEqual(simple(await pages(store, 5, 101, 102, 9)), expected.filter((x) => x.hour === 101 || x.hour === 102))
    assert.deepEqual(await store.inventory(5, { fromHour: 103, toHour: 102, limit: 10 }), { items: [], more: false })
    assert.deepEqual(await store.inventory(7, { fromHour: 0, toHour: 1000, limit: 10 }), { items: [], more: false })
    // `after` from another hour than fromHour, and below the range
    const mid = expected[40]
    const rest = await pages(store, 5, 0, 1000, 13, undefined)
    assert.equal(rest.length, 120)
    const afterMid = await store.inventory(5, { fromHour: 0, toHour: 1000, after: { hour: mid.hour, hash: Buffer.from(mid.hash, 'hex') }, limit: 4096 })
    assert.deepEqual(simple(afterMid.items), expected.slice(41))
    const below = await store.inventory(5, { fromHour: 103, toHour: 1000, after: { hour: 1, hash: new Uint8Array(32) }, limit: 4096 })
    assert.deepEqual(simple(below.items), expected.filter((x) => x.hour >= 103))
    // network expiry: relayed-only and matched frames both leave the inventory, with or without the sweep
    const live = (t: number): Array<{ hour: number, hash: string }> => sorted(recs.filter((r) => r.expiresAt > t))
    assert.deepEqual(simple(await pages(store, 5, 0, 1000, 17, T0 + 11_000)), live(T0 + 11_000))
    clock.t = T0 + 12_000
    assert.deepEqual(simple(await pages(store, 5, 0, 1000, 17)), live(T0 + 12_000))
    await store.deleteExpired()
    assert.deepEqual(simple(await pages(store, 5, 0, 1000, 17)), live(T0 + 12_000))
    assert.deepEqual(simple(await pages(store, 5, 0, 1000, 17, T0)), live(T0 + 12_000), 'swept entries came back')
    await assert.rejects(store.inventory(5, { fromHour: 0, toHour: 1, limit: 0 }), RangeError)
    await assert.rejects(store.inventory(-1, { fromHour: 0, toHour: 1, limit: 1 }), RangeError)
    await assert.rejects(store.inventory(5, { fromHour: 0, toHour: 2 ** 32, limit: 1 }), RangeError)
  })
})

test('inventory: property: random frames in random order page back sorted, each exactly once', async () => {
  await withStore(async ({ store }) => {
    let round = 0
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ hour: fc.integer({ min: 0, max: 5 }), n: fc.nat() }), { maxLength: 40 }),
      fc.integer({ min: 1, max: 10 }),
      async (specs, limit) => {
        const bucket = round++
        const recs = [...new Map(specs.map((s) => [`${s.hour}/${s.n}`, frameRec(`p${bucket}/${s.hour}/${s.n}`, { bucket, hour: s.hour })])).values()]
        await Promise.all(recs.map(async (r) => await store.putFrame(r, QUOTA)))
        const got = await pages(store, bucket, 0, 5, limit)
        assert.deepEqual(got.map((x) => ({ hour: x.hour, hash: toHex(x.hash) })), sorted(recs))
      }), { numRuns: 40 })
  })
})

test('hourDigests: equal for the same set put in different orders, different when one frame is missing', async () => {
  await withDir(async (dir) => {
    const recs = Array.from({ length: 60 }, (_, i) => frameRec(`d${i}`, { bucket: 9, hour: 500 + (i % 3), expiresAt: i === 59 ? T0 + 1 : T0 + 1_000_000 }))
    const open = async (name: string): Promise<Store> => await openStore({ path: join(dir, name), now: () => T0 })
    const a = await open('a')
    const b = await open('b')
    const c = await open('c')
    try {
      for (const r of recs) await a.putFrame(r, QUOTA)
      for (const r of shuffled(recs, 3)) await b.putFrame(r, r.hour === 501 ? { ...QUOTA, topic: topicId(1) } : QUOTA)
      const missing = recs[10] // hour 501
      await Promise.all(shuffled(recs, 11).filter((r) => r !== missing).map(async (r) => await c.putFrame(r, QUOTA)))
      const da = await a.hourDigests(9, 0, 0xffffffff)
      assert.deepEqual(await b.hourDigests(9, 0, 0xffffffff), da)
      assert.deepEqual(da.map((d) => [d.hour, d.count]), [[500, 20], [501, 20], [502, 20]])
      const hour500 = recs.filter((r) => r.hour === 500).map((r) => r.hash).sort(compareBytes)
      assert.deepEqual(da[0].digest, sha256(concatBytes(...hour500)))
      const dc = await c.hourDigests(9, 0, 0xffffffff)
      assert.deepEqual(dc[0], da[0])
      assert.deepEqual(dc[2], da[2])
      assert.equal(dc[1].count, 19)
      assert.notDeepEqual(dc[1].digest, da[1].digest)
      // inclusive hours, other buckets empty, expired frames left out
      assert.deepEqual((await a.hourDigests(9, 501, 501)).map((d) => d.hour), [501])
      assert.deepEqual(await a.hourDigests(8, 0, 1000), [])
      const later = await a.hourDigests(9, 0, 1000, T0 + 1)
      assert.equal(later[2].count, 19, 'an expired frame was counted')
    } finally {
      await Promise.all([a.close(), b.close(), c.close()])
    }
  })
})
