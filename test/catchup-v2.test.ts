/**
 * Catch-up v2 (src/node/catchup/) between two real libp2p hosts over TCP on 127.0.0.1: full
 * sync, identical sets, paging and the FETCH byte cap, the per-peer budget, resuming after an
 * interruption, sorted replies, and peers that misbehave on either side.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { compareBytes, toHex } from '../src/bytes.js'
import { sha256 } from '../src/crypto/hash.js'
import {
  CATCHUP_PROTOCOL, catchUpBucket, createCatchupResponder, decodeRequest, encodeFetchReply, encodeInventoryReply, encodeRequest,
  encodeSummaryReply, MAX_FETCH_REPLY_BYTES, type CatchUpBucketInit, type CatchupResponderInit, type CatchUpResult
} from '../src/node/catchup/index.js'
import { HOUR0, host, MemorySource, testFrame } from './helpers/catchup-source.js'
import { isCode } from './helpers/vectors.js'

const BUCKET = 3
const T = { timeout: 120_000 }

interface Pair {
  a: Libp2p
  b: Libp2p
  stats: () => ReturnType<ReturnType<typeof createCatchupResponder>['stats']>
  dial: () => Promise<Stream>
  run: (local: MemorySource, init?: Partial<CatchUpBucketInit>) => Promise<CatchUpResult>
  stop: () => Promise<void>
}

/** Host b serves `source` (or runs `handler` instead of a responder); host a asks. */
async function pair (source: MemorySource, init: Partial<CatchupResponderInit> = {}, handler?: (s: Stream) => Promise<void>): Promise<Pair> {
  const a = await host()
  const b = await host()
  const responder = createCatchupResponder({ source, ...init })
  await b.handle(CATCHUP_PROTOCOL, (stream, connection) => {
    void (handler !== undefined ? handler(stream) : responder.handle(stream, connection))
  })
  const dial = async (): Promise<Stream> => await a.dialProtocol(b.getMultiaddrs()[0], CATCHUP_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  const run = async (local: MemorySource, more: Partial<CatchUpBucketInit> = {}): Promise<CatchUpResult> => await catchUpBucket({
    stream: await dial(), bucket: BUCKET, fromHour: HOUR0 - 24, toHour: HOUR0 + 24, local, accept: local.acceptInto(BUCKET), ...more
  })
  return { a, b, stats: responder.stats, dial, run, stop: async () => { await Promise.all([a.stop(), b.stop()]) } }
}

/** Adds frames to every source given: `counts[i]` frames in hour HOUR0 + i, of 200 to 1,200 bytes. */
function fill (counts: number[], ...sources: MemorySource[]): Uint8Array[] {
  const frames: Uint8Array[] = []
  counts.forEach((n, i) => { for (let j = 0; j < n; j++) frames.push(testFrame(HOUR0 + i, 200 + Math.floor(Math.random() * 1000))) })
  for (const s of sources) for (const f of frames) s.add(BUCKET, f)
  return frames
}

async function sameDigests (x: MemorySource, y: MemorySource): Promise<boolean> {
  const a = await x.hourDigests(BUCKET, HOUR0 - 24, HOUR0 + 24)
  const b = await y.hourDigests(BUCKET, HOUR0 - 24, HOUR0 + 24)
  return JSON.stringify(a.map(h => [h.hour, h.count, toHex(h.digest)])) === JSON.stringify(b.map(h => [h.hour, h.count, toHex(h.digest)]))
}

test('a full sync brings 2,000 frames over five hours, paging an hour of 1,300, and fetches only what is missing', T, async () => {
  const remote = new MemorySource([BUCKET])
  const frames = fill([1300, 400, 150, 100, 50], remote)
  const p = await pair(remote)
  try {
    const local = new MemorySource([BUCKET])
    const r = await p.run(local)
    assert.deepEqual({ ...r, bytes: 0 }, { hoursDiffering: 5, offered: 2000, fetched: 2000, stored: 2000, invalid: 0, bytes: 0, complete: true, requests: r.requests })
    assert.ok(r.bytes > frames.reduce((n, f) => n + f.length, 0))
    assert.ok(await sameDigests(local, remote))
    assert.equal(p.stats().requests.inventory, 6, 'hour 0 takes two pages of at most 1,024')

    // another node holding hour 1 entirely and 100 frames of hour 0 fetches the other 1,500
    const partial = new MemorySource([BUCKET])
    for (const f of frames.slice(0, 100).concat(frames.slice(1300, 1700))) partial.add(BUCKET, f)
    const r2 = await p.run(partial)
    assert.equal(r2.hoursDiffering, 4)
    assert.equal(r2.offered, 1600)
    assert.equal(r2.fetched, 1500)
    assert.equal(r2.stored, 1500)
    assert.ok(await sameDigests(partial, remote))
  } finally {
    await p.stop()
  }
})

test('identical sets exchange only one SUMMARY, whatever the order the frames arrived in', T, async () => {
  const remote = new MemorySource([BUCKET])
  const local = new MemorySource([BUCKET])
  const frames = fill([120, 80, 100], remote)
  for (const f of [...frames].reverse()) local.add(BUCKET, f)
  const p = await pair(remote)
  try {
    const r = await p.run(local)
    assert.equal(r.complete, true)
    assert.equal(r.requests, 1)
    assert.equal(r.hoursDiffering, 0)
    assert.deepEqual(p.stats().requests, { summary: 1, inventory: 0, fetch: 0 })
    assert.equal(remote.calls.inventory + remote.calls.getFrames, 0)
  } finally {
    await p.stop()
  }
})

test('INVENTORY pages hold at most 1,024 hashes and FETCH replies stop at 4 MiB', T, async () => {
  const remote = new MemorySource([BUCKET])
  fill([2500], remote)
  for (let i = 0; i < 100; i++) remote.add(BUCKET, testFrame(HOUR0 + 1, 60_000))
  const p = await pair(remote)
  try {
    const local = new MemorySource([BUCKET])
    const r = await p.run(local)
    assert.equal(r.complete, true)
    assert.equal(r.stored, 2600)
    const s = p.stats()
    assert.equal(s.requests.inventory, 3 + 1, '2,500 hashes take three pages')
    assert.ok(s.requests.fetch >= 3 + 2, `6 MB of large frames need two FETCH replies at least (${s.requests.fetch} FETCH)`)
    assert.ok(s.largestReplyBytes <= MAX_FETCH_REPLY_BYTES && s.largestReplyBytes > MAX_FETCH_REPLY_BYTES - 70_000, `largest reply ${s.largestReplyBytes}`)
  } finally {
    await p.stop()
  }
})

test('the per-peer byte budget: a second run within the minute gets BUDGET and ends incomplete, a minute later it completes', T, async () => {
  let now = 1_000_000
  const remote = new MemorySource([BUCKET])
  fill([1000, 1000], remote) // about 1.4 MB of frames
  const p = await pair(remote, { budgetBytesPerMinute: 2_000_000, now: () => now })
  try {
    const first = await p.run(new MemorySource([BUCKET]))
    assert.equal(first.complete, true)
    const local = new MemorySource([BUCKET])
    const second = await p.run(local)
    assert.equal(second.complete, false)
    assert.equal(second.stopped, 'budget')
    assert.ok(second.stored < 2000)
    assert.equal(p.stats().refused.budget, 1)
    now += 60_000
    const third = await p.run(local)
    assert.equal(third.complete, true)
    assert.equal(third.stored, 2000 - second.stored)
    assert.equal(local.size, 2000)
  } finally {
    await p.stop()
  }
})

test('an aborted run resumes: the second run fetches only what is still missing, nothing twice', T, async () => {
  const remote = new MemorySource([BUCKET])
  fill([900, 600, 500], remote)
  const p = await pair(remote)
  try {
    const local = new MemorySource([BUCKET])
    const controller = new AbortController()
    const accept = local.acceptInto(BUCKET)
    await assert.rejects(p.run(local, {
      signal: controller.signal,
      accept: async (f) => {
        if (local.size === 700) controller.abort()
        return await accept(f)
      }
    }), isCode('ABORTED'))
    assert.ok(local.size >= 700 && local.size < 2000, `${local.size} stored before the abort`)
    const before = local.size

    // then a run whose stream is cut under it after 300 more
    let stream: Stream | undefined
    const cut = await catchUpBucket({
      stream: stream = await p.dial(), bucket: BUCKET, fromHour: HOUR0 - 24, toHour: HOUR0 + 24, local,
      accept: async (f) => {
        if (local.size === before + 300) stream!.abort(new Error('cut by the test'))
        return await accept(f)
      }
    })
    assert.equal(cut.complete, false)
    assert.equal(cut.stopped, 'closed')

    const rest = await p.run(local)
    assert.equal(rest.complete, true)
    assert.equal(rest.fetched, 2000 - before - cut.stored)
    assert.equal(local.size, 2000)
    assert.equal(new Set(local.accepted).size, local.accepted.length, 'a frame was fetched twice')
  } finally {
    await p.stop()
  }
})

test('replies are sorted by hash and hour whatever order the store returns', T, async () => {
  const remote = new MemorySource([BUCKET], true)
  fill([300, 200, 100], remote)
  const p = await pair(remote)
  try {
    const lp = lpStream(await p.dial())
    await lp.write(encodeRequest({ type: 'summary', bucket: BUCKET, fromHour: HOUR0, toHour: HOUR0 + 10 }))
    const summary = (await lp.read()).subarray()
    const hours = [0, 1, 2].map(i => new DataView(summary.buffer, summary.byteOffset).getUint32(3 + i * 40))
    assert.deepEqual(hours, [HOUR0, HOUR0 + 1, HOUR0 + 2])
    await lp.write(encodeRequest({ type: 'inventory', bucket: BUCKET, hour: HOUR0, after: new Uint8Array(32), limit: 1024 }))
    const page = (await lp.read()).subarray()
    const hashes = Array.from({ length: 300 }, (_, i) => page.subarray(3 + i * 32, 35 + i * 32))
    assert.deepEqual(hashes.map(toHex), [...hashes].sort(compareBytes).map(toHex))
    const r = await p.run(new MemorySource([BUCKET]))
    assert.equal(r.complete, true)
    assert.equal(r.stored, 600)
  } finally {
    await p.stop()
  }
})

/** A responder that answers SUMMARY and INVENTORY honestly for `frame` and FETCH with `reply`. */
function lyingResponder (frame: Uint8Array, reply: (asked: Uint8Array[]) => Uint8Array): (s: Stream) => Promise<void> {
  const hash = sha256(frame)
  return async (stream) => {
    const lp = lpStream(stream)
    try {
      for (;;) {
        const req = decodeRequest((await lp.read()).subarray())
        if (req.type === 'summary') await lp.write(encodeSummaryReply([{ hour: HOUR0, count: 1, digest: sha256(hash) }]))
        else if (req.type === 'inventory') await lp.write(encodeInventoryReply([hash], false))
        else await lp.write(reply(req.hashes))
      }
    } catch {
      stream.abort(new Error('done'))
    }
  }
}

test('a responder that sends a frame not asked for, junk bytes, an invalid frame or nothing ends the run', T, async () => {
  const asked = testFrame(HOUR0, 500)
  const cases: Array<{ what: string, reply: (hs: Uint8Array[]) => Uint8Array, stopped: string, invalid: number }> = [
    { what: 'an unasked frame', reply: () => encodeFetchReply(1, [testFrame(HOUR0, 500)]), stopped: 'protocol', invalid: 1 },
    { what: 'junk bytes', reply: () => Uint8Array.of(0, 0, 1, 0xff, 0xff), stopped: 'protocol', invalid: 0 }
  ]
  for (const c of cases) {
    const p = await pair(new MemorySource([BUCKET]), {}, lyingResponder(asked, c.reply))
    try {
      const local = new MemorySource([BUCKET])
      const r = await p.run(local)
      assert.equal(r.complete, false, c.what)
      assert.equal(r.stopped, c.stopped, c.what)
      assert.equal(r.invalid, c.invalid, c.what)
      assert.equal(local.accepted.length, 0, c.what)
    } finally {
      await p.stop()
    }
  }

  // frames that fail the node's checks: the run stops at the first and asks nothing more
  const remote = new MemorySource([BUCKET])
  fill([50], remote)
  remote.add(BUCKET, testFrame(HOUR0, 300, true))
  fill([0, 50], remote)
  const p = await pair(remote)
  try {
    const r = await p.run(new MemorySource([BUCKET]))
    assert.equal(r.complete, false)
    assert.equal(r.stopped, 'invalid-frame')
    assert.equal(r.invalid, 1)
    assert.equal(r.fetched, r.stored + 1)
    assert.equal(p.stats().requests.inventory, 1, 'the second hour was never asked')
  } finally {
    await p.stop()
  }

  // a responder that never answers: the run ends at its read timeout
  const silent = await pair(new MemorySource([BUCKET]), {}, async () => { await Promise.resolve() })
  try {
    const started = Date.now()
    const r = await silent.run(new MemorySource([BUCKET]), { timeoutMs: 500 })
    assert.equal(r.stopped, 'timeout')
    assert.ok(Date.now() - started < 5000)
  } finally {
    await silent.stop()
  }
})

test('the responder answers junk with BAD_REQUEST and closes, and refuses streams past its bound with BUSY', T, async () => {
  const p = await pair(new MemorySource([BUCKET]), { maxConcurrent: 2 })
  try {
    const junk = lpStream(await p.dial())
    await junk.write(Uint8Array.of(2, 9, 1, 2, 3))
    assert.deepEqual([...(await junk.read({ signal: AbortSignal.timeout(5000) })).subarray()], [4], 'BAD_REQUEST')
    await assert.rejects(junk.read({ signal: AbortSignal.timeout(5000) }), (e: Error) => e.name === 'UnexpectedEOFError')

    const unknown = lpStream(await p.dial())
    await unknown.write(encodeRequest({ type: 'summary', bucket: BUCKET + 1, fromHour: HOUR0, toHour: HOUR0 }))
    assert.deepEqual([...(await unknown.read({ signal: AbortSignal.timeout(5000) })).subarray()], [1], 'UNKNOWN_BUCKET')

    const held = [await p.dial(), await p.dial()] // open, silent: they hold both slots
    const deadline = Date.now() + 5000
    while (p.stats().active < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    const third = lpStream(await p.dial())
    await third.write(encodeRequest({ type: 'summary', bucket: BUCKET, fromHour: HOUR0, toHour: HOUR0 }))
    assert.deepEqual([...(await third.read({ signal: AbortSignal.timeout(5000) })).subarray()], [2], 'BUSY')
    assert.equal(p.stats().refused.busy, 1)
    for (const s of held) s.abort(new Error('test done'))
  } finally {
    await p.stop()
  }
})
