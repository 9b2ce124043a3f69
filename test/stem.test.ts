/**
 * Dandelion++ stems between real nodes over TCP on 127.0.0.1 (src/node/stem/): a successor that
 * drops everything loses no mail, a frame is never stemmed twice and a loop ends in a fluff, only
 * connections the node dialled are successors, and the origin's store and catch-up answers look
 * like those of a relay that only saw the fluff. The stem's timers run on a manual clock.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { toHex } from '../src/bytes.js'
import { frameHour } from '../src/frame/index.js'
import { CATCHUP_PROTOCOL, encodeRequest, type CatchupRequest } from '../src/node/catchup/index.js'
import { EMBARGO_MAX_MEANS, EMBARGO_MEAN_MS, encodeStemMessage, STEM_EPOCH_MS, STEM_PROTOCOL } from '../src/node/stem/index.js'
import { createTestnet, waitFor, type TestNode } from './helpers/testnet.js'
import { makePair, type Pair } from './helpers/pair.js'
import { frameToBob } from './helpers/frames.js'
import { host } from './helpers/catchup-source.js'
import { cycle, dropStems, ManualClock } from './helpers/stem.js'

const ALICE = 'aa'.repeat(32)
const BOB = 'bb'.repeat(32)
const T = { timeout: 120_000 }
/** Past every embargo timer (they are cut at EMBARGO_MAX_MEANS means). */
const PAST_EMBARGO_MS = EMBARGO_MAX_MEANS * EMBARGO_MEAN_MS + 1

async function sharing (bucket: number, a: TestNode, ...others: TestNode[]): Promise<void> {
  await waitFor(() => others.every(o => a.node.bucketPeers(bucket).includes(o.node.peerId) && o.node.bucketPeers(bucket).includes(a.node.peerId)), 'the bucket to be shared')
}

function outbound (t: TestNode): string[] {
  return t.node.host.getConnections().filter(c => c.direction === 'outbound' && c.status === 'open').map(c => c.remotePeer.toString())
}

test('a stem successor that drops everything loses no mail: the origin\'s embargo timer fluffs it', T, async () => {
  const clock = new ManualClock()
  const net = await createTestnet(3, { topology: 'star', homesUnreachable: true, node: { stem: { clock } } })
  try {
    const [relay, alice, bob] = net.nodes as [TestNode, TestNode, TestNode]
    const dropped = await dropStems(relay.node)
    const pair = makePair()
    await alice.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    await bob.node.registerTopic(pair.topic.topic, pair.topic.key, BOB)
    const bucket = alice.node.bucketOf(pair.topic.topic)
    await sharing(bucket, relay, alice, bob)
    assert.deepEqual(outbound(alice), [relay.node.peerId], 'the relay is the only peer alice\'s node dialled')

    const r = await alice.node.publish(pair.topic.topic, frameToBob(pair))
    assert.equal(r.stored, true)
    await waitFor(() => dropped.length === 1, 'the frame to reach the stem successor, which drops it')
    assert.equal(dropped[0].bucket, bucket)
    assert.equal(await alice.node.hasFrame(r.hash), false, 'held under embargo, not stored')
    assert.equal(await relay.node.hasFrame(r.hash), false)
    assert.equal(bob.received.length, 0)

    clock.advance(PAST_EMBARGO_MS)
    await waitFor(() => bob.received.some(e => toHex(e.hash) === toHex(r.hash)), 'bob to get the frame the origin fluffed', 10_000)
    const s = (await alice.node.status()).stem
    assert.equal(s.expired, 1)
    assert.equal(s.fluffed, 1)
    assert.equal(s.held, 0)
    assert.ok(await alice.node.hasFrame(r.hash))
    assert.ok(await relay.node.hasFrame(r.hash))
  } finally {
    await net.teardown()
  }
})

test('a frame is never stemmed twice: a loop of stem successors ends in a fluff, and a stored frame stemmed again is dropped', T, async () => {
  const clock = new ManualClock()
  // 0.5: the coin never fluffs, every successor draw is the same, no embargo fires (the clock stands still)
  const net = await createTestnet(3, { topology: 'none', node: { stem: { clock, random: () => 0.5 } } })
  try {
    const nodes = net.nodes as [TestNode, TestNode, TestNode]
    const [a, b, c] = nodes
    const pair = makePair()
    for (const [i, t] of nodes.entries()) await t.node.registerTopic(pair.topic.topic, pair.topic.key, ['aa', 'bb', 'cc'][i].repeat(32))
    // a ring: each node dials the next, so each has one connection it dialled
    await Promise.all(nodes.map(async (t, i) => { await t.node.host.dial(nodes[(i + 1) % 3].node.host.getMultiaddrs()[0]) }))
    const bucket = a.node.bucketOf(pair.topic.topic)
    await sharing(bucket, a, b, c)
    await sharing(bucket, b, c)
    for (const t of nodes) assert.ok(outbound(t).length >= 1)

    const r = await a.node.publish(pair.topic.topic, frameToBob(pair))
    assert.equal(r.stored, true)
    await waitFor(async () => (await Promise.all(nodes.map(async t => await t.node.hasFrame(r.hash)))).every(Boolean), 'the loop to end in a fluff that reaches every node', 10_000)
    const stats = await Promise.all(nodes.map(async t => (await t.node.status()).stem))
    const sum = (k: keyof typeof stats[0]): number => stats.reduce((n, s) => n + s[k], 0)
    assert.equal(sum('loops'), 1, 'one node got the frame it held back from its successor')
    assert.equal(sum('fluffed'), 1, 'and fluffed it there')
    assert.equal(sum('expired'), 0, 'no embargo timer fired')
    assert.equal(stats[0].sent, 1)
    assert.ok(stats.every(s => s.forwarded <= 1), `no node forwarded the frame twice: ${JSON.stringify(stats.map(s => s.forwarded))}`)
    await waitFor(async () => (await Promise.all(nodes.map(async t => (await t.node.status()).stem.held))).every(n => n === 0), 'every holder to see the frame come back')

    // the stored frame stemmed to a node again is dropped there
    const before = (await b.node.status()).stem
    const stream = await a.node.host.dialProtocol(b.node.host.getMultiaddrs()[0], STEM_PROTOCOL, { signal: AbortSignal.timeout(5000) })
    const stored = await b.node.hasFrame(r.hash)
    assert.ok(stored)
    const frames = await a.node.query(pair.topic.topic, 0n)
    const original = frames.envelopes.find(e => toHex(e.hash) === toHex(r.hash))
    assert.ok(original !== undefined)
    await lpStream(stream).write(encodeStemMessage({ bucket, frame: original.data }), { signal: AbortSignal.timeout(5000) })
    await stream.close()
    await waitFor(async () => (await b.node.status()).stem.received > before.received, 'b to read the frame stemmed again')
    const after = (await b.node.status()).stem
    assert.equal(after.forwarded, before.forwarded, 'not forwarded')
    assert.equal(after.fluffed, before.fluffed, 'not fluffed')
    assert.equal(after.dropped, before.dropped + 1, 'dropped: it is stored already')
  } finally {
    await net.teardown()
  }
})

test('a retried publish of the same bytes is not stemmed twice, while held and once stored', T, async () => {
  const clock = new ManualClock()
  const net = await createTestnet(2, { topology: 'star', homesUnreachable: true, node: { stem: { clock } } })
  try {
    const [relay, alice] = net.nodes as [TestNode, TestNode]
    const dropped = await dropStems(relay.node)
    const pair = makePair()
    await alice.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    await sharing(alice.node.bucketOf(pair.topic.topic), relay, alice)
    const f = frameToBob(pair)
    const first = await alice.node.publish(pair.topic.topic, f)
    const held = await alice.node.publish(pair.topic.topic, f)
    assert.equal(first.stored, true)
    assert.equal(held.stored, false, 'the same frame is held: not sent again')
    assert.equal(toHex(held.hash), toHex(first.hash))
    await waitFor(() => dropped.length === 1, 'the frame to reach the successor')
    clock.advance(PAST_EMBARGO_MS)
    await waitFor(async () => await alice.node.hasFrame(first.hash), 'the fluff')
    const stored = await alice.node.publish(pair.topic.topic, f)
    assert.equal(stored.stored, false, 'the same frame is stored: not sent again')
    assert.equal(dropped.length, 1)
    assert.equal(await alice.node.countEnvelopes(pair.topic.topic), 1)
    assert.equal((await alice.node.status()).stem.sent, 1)
  } finally {
    await net.teardown()
  }
})

test('the stem successor is chosen only among connections the node dialled: a bucket peer that dials in is never chosen', T, async () => {
  const clock = new ManualClock()
  // the draws cycle over the whole range, so over the epochs any candidate would be picked
  const net = await createTestnet(2, { topology: 'star', node: { stem: { clock, random: cycle([0, 0.99, 0.5, 0.25, 0.75]) } } })
  try {
    const [relay, alice] = net.nodes as [TestNode, TestNode]
    const sybil = await net.add([alice.node.getMultiaddrs()[0]], { relay: true })
    const toRelay = await dropStems(relay.node)
    const toSybil = await dropStems(sybil.node)
    const pair = makePair()
    await alice.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    const bucket = alice.node.bucketOf(pair.topic.topic)
    await sharing(bucket, alice, relay, sybil)
    const inbound = alice.node.host.getConnections(sybil.node.host.peerId)
    assert.ok(inbound.length > 0 && inbound.every(c => c.direction === 'inbound'), 'the sybil dialled alice\'s node')

    const rounds = 10
    for (let i = 0; i < rounds; i++) {
      clock.advance(STEM_EPOCH_MS)
      const r = await alice.node.publish(pair.topic.topic, frameToBob(pair))
      assert.equal(r.stored, true)
      assert.ok(alice.node.host.getConnections(sybil.node.host.peerId).length > 0, 'the sybil is still connected')
    }
    await waitFor(() => toRelay.length + toSybil.length === rounds, 'every frame to reach a successor')
    assert.equal(toSybil.length, 0, 'the peer that dialled in never got a stem frame')
    assert.equal(toRelay.length, rounds)
  } finally {
    await net.teardown()
  }
})

/** One catch-up exchange with `peer` from a fresh host: the raw reply bytes, as hex. */
async function ask (peer: TestNode, requests: CatchupRequest[]): Promise<string[]> {
  const h = await host()
  try {
    await h.start()
    const stream = await h.dialProtocol(peer.node.host.getMultiaddrs()[0], CATCHUP_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream, { maxDataLength: 8 * 1024 * 1024 })
    const replies: string[] = []
    for (const req of requests) {
      await lp.write(encodeRequest(req), { signal: AbortSignal.timeout(10_000) })
      replies.push(toHex((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()))
    }
    await stream.close()
    return replies
  } finally {
    await h.stop()
  }
}

test('catch-up answers and storage look the same at the origin and at a relay that only saw the fluff', T, async () => {
  const clock = new ManualClock()
  const net = await createTestnet(2, { topology: 'star', node: { stem: { clock } } })
  try {
    const [relay, alice] = net.nodes as [TestNode, TestNode]
    // a relay that dials alice's node: it is never her successor, so it sees only the fluff
    const witness = await net.add([alice.node.getMultiaddrs()[0]], { relay: true })
    const dropped = await dropStems(relay.node)
    const pair: Pair = makePair()
    await alice.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    const bucket = alice.node.bucketOf(pair.topic.topic)
    await sharing(bucket, alice, relay, witness)

    const hour = frameHour(Date.now())
    const summary: CatchupRequest = { type: 'summary', bucket, fromHour: hour - 2, toHour: hour + 1 }
    const r = await alice.node.publish(pair.topic.topic, frameToBob(pair))
    await waitFor(() => dropped.length === 1, 'the frame to reach alice\'s successor, which drops it')
    // held under embargo: nothing at the origin tells it has the frame
    assert.equal(await alice.node.hasFrame(r.hash), false)
    assert.deepEqual(await ask(alice, [summary]), await ask(witness, [summary]))
    assert.equal((await alice.node.status()).frames, (await witness.node.status()).frames)

    clock.advance(PAST_EMBARGO_MS)
    await waitFor(async () => await witness.node.hasFrame(r.hash), 'the witness to get the fluff')
    const fluffed = alice.received.find(e => toHex(e.hash) === toHex(r.hash))
    assert.ok(fluffed !== undefined, 'alice\'s node stored its own frame when it fluffed it')
    const requests: CatchupRequest[] = [
      summary,
      { type: 'inventory', bucket, hour: frameHour(Date.now()), after: new Uint8Array(32), limit: 1024 },
      { type: 'fetch', hashes: [r.hash] }
    ]
    const atOrigin = await ask(alice, requests)
    const atWitness = await ask(witness, requests)
    assert.deepEqual(atOrigin, atWitness, 'SUMMARY, INVENTORY and FETCH answers are byte for byte the same')
    assert.ok(atOrigin[1].includes(toHex(r.hash)), 'and they list the frame')
    const [so, sw] = [await alice.node.status(), await witness.node.status()]
    assert.equal(so.frames, sw.frames)
    assert.equal(so.gossip.accepted, sw.gossip.accepted, 'both took the frame once by the intake path')
  } finally {
    await net.teardown()
  }
})
