import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { equalBytes } from '../src/index.js'
import { decodeFrame, openFrame } from '../src/frame/index.js'
import { createTestnet, waitFor, type TestNode, type Testnet } from './helpers/testnet.js'
import { makePair, type Pair } from './helpers/pair.js'
import { frameToAlice, frameToBob } from './helpers/frames.js'

const ALICE = 'aa'.repeat(32)
const BOB = 'bb'.repeat(32)

async function registerPair (a: TestNode, b: TestNode, pair: Pair): Promise<void> {
  await a.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
  await b.node.registerTopic(pair.topic.topic, pair.topic.key, BOB)
}

function envelopeOf (frame: Uint8Array): Uint8Array {
  return decodeFrame(frame).envelope
}

/** How many of `t`'s envelope events carry the envelope of `frame` (whatever its stamp). */
function receivedCount (t: TestNode, frame: Uint8Array): number {
  const envelope = envelopeOf(frame)
  return t.received.filter(e => equalBytes(envelopeOf(e.data), envelope)).length
}

/** The PeerIds `t` ever connected to, from the moment this is called. */
function connectionLog (t: TestNode): Set<string> {
  const seen = new Set(t.node.host.getConnections().map(c => c.remotePeer.toString()))
  t.node.host.addEventListener('peer:connect', (evt) => { seen.add(evt.detail.toString()) })
  return seen
}

/** A relay and two home nodes that listen nowhere (behind NAT): they can only reach each other through the relay. */
async function relayAndTwoHomes (): Promise<{ net: Testnet, relay: TestNode, a: TestNode, b: TestNode }> {
  const net = await createTestnet(3, { topology: 'star', homesUnreachable: true })
  const [relay, a, b] = net.nodes as [TestNode, TestNode, TestNode]
  return { net, relay, a, b }
}

async function deliver (from: TestNode, to: TestNode, pair: Pair, frame: Uint8Array, where: string): Promise<void> {
  await from.node.publish(pair.topic.topic, frame)
  await waitFor(() => receivedCount(to, frame) === 1, `delivery ${where}`)
}

test('two home nodes that never connect to each other deliver both ways through a relay, live and after a restart', async () => {
  const { net, relay, a, b } = await relayAndTwoHomes()
  try {
    const aPeers = connectionLog(a)
    const bPeers = connectionLog(b)
    const pair = makePair()
    await registerPair(a, b, pair)
    const bucket = a.node.bucketOf(pair.topic.topic)
    await waitFor(() => relay.node.bucketPeers(bucket).includes(a.node.peerId) && relay.node.bucketPeers(bucket).includes(b.node.peerId) &&
      a.node.bucketPeers(bucket).includes(relay.node.peerId) && b.node.bucketPeers(bucket).includes(relay.node.peerId), 'both homes and the relay to share the bucket')

    const toBob = frameToBob(pair, { text: 'live to bob' })
    await deliver(a, b, pair, toBob, 'alice -> bob through the relay')
    const toAlice = frameToAlice(pair, { text: 'live to alice' })
    await deliver(b, a, pair, toAlice, 'bob -> alice through the relay')
    const got = b.received.find(e => receivedCount(b, toBob) === 1 && equalBytes(envelopeOf(e.data), envelopeOf(toBob)))
    assert.ok(got !== undefined)
    const opened = openFrame(got.data, { recipient: pair.bob, topic: pair.topic, expectedSender: pair.alice.publicKey })
    assert.equal(new TextDecoder().decode(opened.opened.message.body), 'live to bob')
    // the relay held both frames, relayed-only (it has no topic key)
    assert.equal((await relay.node.status()).matchedFrames, 0)
    assert.ok((await relay.node.status()).frames >= 2)

    // bob's node is down while alice writes; it catches up from the relay when it returns
    await net.stop(2)
    const whileDown = [frameToBob(pair, { text: 'sent while down 1' }), frameToBob(pair, { text: 'sent while down 2' })]
    for (const f of whileDown) await a.node.publish(pair.topic.topic, f)
    await waitFor(async () => (await relay.node.status()).frames >= 4, 'the relay to store what alice sent')
    await net.restart(2)
    const bPeersAfter = connectionLog(b)
    await waitFor(() => whileDown.every(f => receivedCount(b, f) === 1), 'catch-up of the frames sent while bob\'s node was down')
    const caught = b.received.filter(e => e.source === 'catchup').length
    assert.ok(caught >= 2, `caught up ${caught}`)
    const page = await b.node.query(pair.topic.topic, 0n)
    assert.equal(page.envelopes.length, 4, 'bob\'s node holds each of alice\'s four frames once')

    assert.ok(!aPeers.has(b.node.peerId), 'alice\'s node never connected to bob\'s')
    assert.ok(!bPeers.has(a.node.peerId) && !bPeersAfter.has(a.node.peerId), 'bob\'s node never connected to alice\'s')
  } finally {
    await net.teardown()
  }
})

test('registering and deregistering topics changes the bucket subscriptions at once', async () => {
  const net = await createTestnet(1, { topology: 'none' })
  try {
    const [n] = net.nodes as [TestNode]
    const pubsub = n.node.host.services.pubsub
    assert.deepEqual(pubsub.getTopics(), [])
    const pair = makePair()
    await n.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    const bucket = n.node.bucketOf(pair.topic.topic)
    const name = `asmtp/2/4/${bucket.toString(16)}`
    assert.deepEqual(pubsub.getTopics(), [name])
    assert.deepEqual(n.node.listBuckets(), [bucket])
    // a second owner of the same topic: still subscribed after the first one leaves
    await n.node.registerTopic(pair.topic.topic, pair.topic.key, BOB)
    await n.node.deregisterTopic(pair.topic.topic, ALICE)
    assert.deepEqual(pubsub.getTopics(), [name])
    await n.node.deregisterTopic(pair.topic.topic, BOB)
    assert.deepEqual(pubsub.getTopics(), [])
    assert.deepEqual(n.node.listBuckets(), [])
  } finally {
    await net.teardown()
  }
})

test('b = 0: one bucket for everybody, two users on the same node get each other\'s mail, and a topic registered after its frames arrived gets them', async () => {
  const net = await createTestnet(3, { topology: 'star', network: { bucketBits: 0 } })
  try {
    const [relay, a, b] = net.nodes as [TestNode, TestNode, TestNode]
    assert.deepEqual(relay.node.listBuckets(), [0])
    const local = makePair()
    await a.node.registerTopic(local.topic.topic, local.topic.key, ALICE)
    await a.node.registerTopic(local.topic.topic, local.topic.key, BOB)
    assert.deepEqual(a.node.host.services.pubsub.getTopics(), ['asmtp/2/0/0'])
    const f = frameToBob(local)
    const r = await a.node.publish(local.topic.topic, f)
    assert.equal(r.stored, true)
    // the frame goes down the stem first: it is a's mail once it is fluffed and back from the mesh
    await waitFor(async () => await a.node.countEnvelopes(local.topic.topic) > 0, 'the frame to come back to a')
    const page = await a.node.query(local.topic.topic, 0n)
    assert.equal(page.envelopes.length, 1)
    assert.ok(equalBytes(envelopeOf(page.envelopes[0]?.data ?? new Uint8Array()), envelopeOf(f)))

    const remote = makePair()
    await registerPair(a, b, remote)
    await waitFor(() => b.node.bucketPeers(0).includes(relay.node.peerId) && a.node.bucketPeers(0).includes(relay.node.peerId), 'the bucket mesh')
    await deliver(a, b, remote, frameToBob(remote), 'across nodes in the one bucket')
    // the other pair's frame reached b too (every node carries everything) but is not b's mail
    assert.equal(receivedCount(b, f), 0)
    assert.equal((await b.node.query(local.topic.topic, 0n).catch(() => ({ envelopes: [] }))).envelopes.length, 0)
    // ...yet b carries it: with one bucket every node stores every frame, relayed-only
    await waitFor(async () => await b.node.hasFrame(r.hash), 'b to hold the other pair\'s frame relayed-only')
    // a user of b registers that pair's topic only now: the frame b already held is its mail at once
    await b.node.registerTopic(local.topic.topic, local.topic.key, BOB)
    const late = await b.node.query(local.topic.topic, 0n)
    assert.equal(late.envelopes.length, 1, 'the held frame is matched when its topic is registered')
    assert.ok(equalBytes(envelopeOf(late.envelopes[0]?.data ?? new Uint8Array()), envelopeOf(f)))
    assert.equal(receivedCount(b, f), 1, 'and announced to watching devices')
  } finally {
    await net.teardown()
  }
})

test('publishing checks the frame, dedupes a retry of the same bytes, and pushes back when the queue is full', async () => {
  const net = await createTestnet(1, { topology: 'none', limits: { maxPublishQueue: 2 } })
  try {
    const [n] = net.nodes as [TestNode]
    const pair = makePair()
    await assert.rejects(n.node.publish(pair.topic.topic, frameToBob(pair)), { code: 'NOT_FOUND' })
    await n.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    const other = makePair()
    await assert.rejects(n.node.publish(pair.topic.topic, frameToBob(other)), { code: 'ENVELOPE_BAD_MAC' })
    await assert.rejects(n.node.publish(pair.topic.topic, new Uint8Array(100)), (err: Error & { code?: string }) => err.code !== undefined)
    const stale = frameToBob(pair, { time: Date.now() - 30 * 24 * 3600_000 })
    await assert.rejects(n.node.publish(pair.topic.topic, stale), { code: 'FRAME_BAD_TIME' })

    const f = frameToBob(pair)
    const first = await n.node.publish(pair.topic.topic, f)
    const again = await n.node.publish(pair.topic.topic, f)
    assert.equal(first.stored, true)
    assert.equal(again.stored, false, 'the same unstamped frame gets the same stamp and is stored once')
    assert.equal(again.seq, first.seq)
    assert.equal(await n.node.countEnvelopes(pair.topic.topic), 1)

    const burst = Array.from({ length: 6 }, () => n.node.publish(pair.topic.topic, frameToBob(pair)))
    const results = await Promise.allSettled(burst)
    const full = results.filter(r => r.status === 'rejected' && (r.reason as { code?: string }).code === 'QUEUE_FULL')
    assert.ok(full.length >= 1, 'some publishes of the burst are pushed back')
    assert.ok(results.some(r => r.status === 'fulfilled'))
  } finally {
    await net.teardown()
  }
})

test('a restarted node keeps its topics, rejoins their buckets, and serves what it stored', async () => {
  const net = await createTestnet(2, { topology: 'star' })
  try {
    const [, a] = net.nodes as [TestNode, TestNode]
    const pair = makePair()
    await a.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    const f = frameToBob(pair)
    await a.node.publish(pair.topic.topic, f)
    const node = await net.restart(1)
    assert.deepEqual(node.listTopics().map(t => t.owners), [[ALICE]])
    assert.deepEqual(node.listBuckets(), [node.bucketOf(pair.topic.topic)])
    assert.ok(node.host.services.pubsub.getTopics().includes(`asmtp/2/4/${node.bucketOf(pair.topic.topic).toString(16)}`))
    const page = await node.query(pair.topic.topic, 0n)
    assert.equal(page.envelopes.length, 1)
  } finally {
    await net.teardown()
  }
})
