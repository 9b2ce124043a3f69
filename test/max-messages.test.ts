/**
 * storage.max_messages (issue 16 point 4) on a real store, on disk and in RAM: over the cap the
 * oldest relayed-only frames of the fullest bucket go first; this node's users' mail (matched)
 * evicts relayed frames and is stored even past the cap (never dropped); once only matched
 * frames are left, relayed frames are refused (not marked seen, so they may come again), and
 * the counters say so, also after a reopen.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { frameRec, topicId, withStore } from './helpers/store.js'

const CAP = 5

for (const memory of [false, true]) {
  test(`max_messages ${CAP} on ${memory ? 'memory-level' : 'LevelDB'}: relayed frames make room, the oldest of the fullest bucket first; our users' mail is kept; relayed ones are then refused`, async () => {
    await withStore(async (h) => {
      let store = h.store
      const opts = { bucketQuotaBytes: 1 << 20, maxFrames: CAP }
      const put = async (label: string, bucket: number, topic?: number) => await store.putFrame(frameRec(label, { bucket }), { ...opts, ...(topic === undefined ? {} : { topic: topicId(topic) }) })
      for (let i = 0; i < 3; i++) assert.equal((await put(`r1-${i}`, 1)).stored, true)
      for (let i = 0; i < 2; i++) assert.equal((await put(`r2-${i}`, 2)).stored, true)
      assert.equal((await store.status()).frames, CAP)

      const sixth = await put('r2-2', 2)
      assert.deepEqual([sixth.stored, sixth.evicted], [true, 1], 'one relayed frame made room')
      assert.equal(await store.hasFrame(frameRec('r1-0', { bucket: 1 }).hash), false, 'the oldest frame of the fullest bucket (1) went')
      assert.equal(await store.hasFrame(frameRec('r2-0', { bucket: 2 }).hash), true, 'the other bucket kept its oldest')
      assert.equal((await store.status()).frames, CAP)

      for (let i = 0; i < CAP + 2; i++) assert.equal((await put(`m-${i}`, 1, 1)).stored, true, `our users' frame ${i} is stored`)
      let s = await store.status()
      assert.equal(s.matchedFrames, CAP + 2, 'matched frames past the cap are kept')
      assert.equal(s.frames, CAP + 2, 'every relayed frame was evicted for them')
      assert.equal(s.evictedFrames, 1 + CAP)

      const refused = await put('late relayed', 2)
      assert.deepEqual([refused.stored, refused.refused], [false, true], 'a relayed frame is refused')
      assert.equal(await store.hasSeen(frameRec('late relayed', { bucket: 2 }).hash), false, 'and not marked seen')
      s = await store.status()
      assert.equal(s.refusedFrames, 1)
      for (let i = 0; i < CAP + 2; i++) assert.equal(await store.hasFrame(frameRec(`m-${i}`, { bucket: 1 }).hash), true)

      if (!memory) {
        store = await h.reopen()
        assert.equal((await store.status()).matchedFrames, CAP + 2, 'the counts survive a reopen')
        assert.equal((await put('after reopen', 3)).refused, true, 'and the cap still holds')
      }
      // no cap: the same relayed frame is stored
      assert.equal((await store.putFrame(frameRec('late relayed', { bucket: 2 }), { bucketQuotaBytes: 1 << 20 })).stored, true)
    }, { memory })
  })
}
