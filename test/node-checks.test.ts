import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { equalBytes } from '../src/index.js'
import { decodeFrame, encodeFrame, frameHash, verifyStamp } from '../src/frame/index.js'
import { createTestnet, waitFor, type TestNode } from './helpers/testnet.js'
import { makePair, type Pair } from './helpers/pair.js'
import { frameToBob, stampFor } from './helpers/frames.js'

const ALICE = 'aa'.repeat(32)
const BOB = 'bb'.repeat(32)
const FRAME_1K = 1024 + 14

/** Two pairs whose topics fall in the same bucket (b = 4: a few tries). */
function twoPairsInOneBucket (node: TestNode): [Pair, Pair] {
  const first = makePair()
  for (;;) {
    const second = makePair()
    if (node.node.bucketOf(second.topic.topic) === node.node.bucketOf(first.topic.topic)) return [first, second]
  }
}

function receivedEnvelope (t: TestNode, frame: Uint8Array): number {
  const envelope = decodeFrame(frame).envelope
  return t.received.filter(e => equalBytes(decodeFrame(e.data).envelope, envelope)).length
}

test('the checks at the first hop: junk is rejected and lowers its sender\'s score, skew is ignored, replays and re-labels fail, others still deliver', async () => {
  // r: an honest relay; a: alice's home node; h: bob's home node. The relay quota holds three
  // 1 KiB frames per bucket, so relayed-only frames are evicted quickly.
  const net = await createTestnet(3, { topology: 'star', relayQuotaBytes: 3 * FRAME_1K })
  try {
    const [r, a, h] = net.nodes as [TestNode, TestNode, TestNode]
    const [relayed, mine] = twoPairsInOneBucket(a)
    const bucket = a.node.bucketOf(mine.topic.topic)
    const name = `asmtp/2/4/${bucket.toString(16)}`
    await a.node.registerTopic(relayed.topic.topic, relayed.topic.key, ALICE)
    await a.node.registerTopic(mine.topic.topic, mine.topic.key, ALICE)
    await h.node.registerTopic(mine.topic.topic, mine.topic.key, BOB)
    await waitFor(() => h.node.bucketPeers(bucket).includes(r.node.peerId) && a.node.bucketPeers(bucket).includes(r.node.peerId), 'the bucket mesh')

    // a frame of another pair reaches h relayed-only, then a flood of that pair evicts it
    const first = await a.node.publish(relayed.topic.topic, frameToBob(relayed))
    await waitFor(async () => await h.node.hasFrame(first.hash), 'h to hold the relayed frame')
    const firstBytes = (await a.node.query(relayed.topic.topic, 0n)).envelopes[0]?.data
    assert.ok(firstBytes !== undefined && equalBytes(frameHash(firstBytes), first.hash))
    for (let i = 0; i < 4; i++) await a.node.publish(relayed.topic.topic, frameToBob(relayed))
    await waitFor(async () => !await h.node.hasFrame(first.hash), 'the relayed frame to be evicted at h')

    // h restarts (gossipsub forgets what it saw); eve, a new peer, replays the evicted frame
    const h2 = await net.restart(2)
    const eve = await net.add([h2.getMultiaddrs()[0] ?? ''], { relay: true })
    await waitFor(() => h2.bucketPeers(bucket).includes(eve.node.peerId) && eve.node.bucketPeers(bucket).includes(h2.peerId), 'eve in h\'s bucket mesh')
    const pubsub = eve.node.host.services.pubsub
    const before = await h2.status()
    await pubsub.publish(name, firstBytes)
    await waitFor(async () => (await h2.status()).gossip.duplicates > before.gossip.duplicates, 'h to refuse the replay as seen')
    assert.equal(await h2.hasFrame(first.hash), false, 'the replayed frame is not stored again')

    // clock skew: a stale and a future hour, with valid stamps, are ignored without penalty
    const evePeer = eve.node.peerId
    const scoreBefore = h2.peerScore(evePeer)
    const stale = stampFor(h2, frameToBob(mine, { time: Date.now() - 20 * 24 * 3600_000 }), bucket)
    const future = stampFor(h2, frameToBob(mine, { time: Date.now() + 3 * 3600_000 }), bucket)
    const ignoredBefore = (await h2.status()).gossip.ignored
    await pubsub.publish(name, stale)
    await pubsub.publish(name, future)
    await waitFor(async () => (await h2.status()).gossip.ignored >= ignoredBefore + 2, 'both skewed frames to be ignored')
    assert.ok(h2.peerScore(evePeer) >= scoreBefore, 'ignoring costs the forwarder nothing')

    // re-labelled frames (ttl_class or hour changed, stamped again) pass the keyless checks but not the MAC
    const good = decodeFrame(stampFor(h2, frameToBob(mine), bucket))
    const relabelled = [
      stampFor(h2, encodeFrame({ ...good, ttlClass: 3, nonce: 0n }), bucket),
      stampFor(h2, encodeFrame({ ...good, hour: good.hour - 1, nonce: 0n }), bucket)
    ]
    for (const f of relabelled) await pubsub.publish(name, f)
    await waitFor(async () => (await Promise.all(relabelled.map(async f => await h2.hasFrame(frameHash(f))))).every(Boolean), 'h to store the re-labelled frames as relayed-only')
    assert.equal(relabelled.reduce((n, f) => n + receivedEnvelope(h, f), 0), 0, 'a re-labelled frame is never bob\'s mail')

    // junk: a bad stamp, a wrong size, random bytes: each rejected and counted, and eve's score falls
    let badStamp = encodeFrame({ ...good, nonce: 1n })
    for (let n = 2n; verifyStamp(badStamp, { bucketBits: 4, bucket, stampBits: h2.config.network.stampBits }); n++) badStamp = encodeFrame({ ...good, nonce: n })
    const wrongSize = new Uint8Array(14 + 1000)
    wrongSize.set(badStamp.subarray(0, 14))
    const junk = [badStamp, wrongSize, randomBytes(FRAME_1K)]
    const rejectedBefore = (await h2.status()).gossip.rejected
    const scoreMid = h2.peerScore(evePeer)
    for (const j of junk) await pubsub.publish(name, j)
    await waitFor(async () => (await h2.status()).gossip.rejected >= rejectedBefore + 3, 'the three junk frames to be rejected')
    for (const j of junk) assert.equal(await h2.hasFrame(frameHash(j)), false)
    // gossipsub caches scores for a heartbeat
    await waitFor(() => h2.peerScore(evePeer) < Math.min(0, scoreMid), 'the rejects to lower the sender\'s score below zero', 5000)

    // valid traffic from others still arrives
    const fine = frameToBob(mine, { text: 'still arrives' })
    await a.node.publish(mine.topic.topic, fine)
    await waitFor(() => receivedEnvelope(h, fine) === 1, 'alice\'s frame to reach bob\'s node after the junk')
  } finally {
    await net.teardown()
  }
})
