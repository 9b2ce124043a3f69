/**
 * TTL (issue 16, point 3) on real in-process nodes with one injected clock, never a sleep: a
 * 1 h frame goes from every node at its expiry (the relay's relayed-only copy and the home node's
 * matched, unfetched one), catch-up does not hand it out, and a relay that never saw it refuses
 * it once expired; a frame without a TTL beside it stays. On the client: `send` with ttl 1h
 * carries the class under the MAC, and both sides delete the message at expiry and say so.
 */
import '../src/polyfill.js'
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { Account, equalBytes } from '../src/index.js'
import { decodeFrame, frameHash, HOUR_MS } from '../src/frame/index.js'
import { createTestnet, waitFor, type Testnet, type TestnetInit, type TestNode } from './helpers/testnet.js'
import { makePair } from './helpers/pair.js'
import { frameToBob } from './helpers/frames.js'
import { FAST, folders, openOn, syncUntil, type Folders } from './helpers/accounts.js'

const ALICE = 'aa'.repeat(32)
const BOB = 'bb'.repeat(32)

let clock = Date.now()
const now = (): number => clock
const nets: Testnet[] = []
let f: Folders | undefined

after(async () => {
  for (const n of nets) await n.teardown()
  await f?.remove()
})

async function testnet (n: number, init: TestnetInit = {}): Promise<Testnet> {
  const net = await createTestnet(n, { ...init, node: { now, expiryIntervalMs: 3_600_000 } })
  nets.push(net)
  return net
}

test('TTL: a 1 h frame is dropped by every node at its expiry, not handed out by catch-up, and refused by a relay once expired', { timeout: 180_000 }, async () => {
  clock = Date.now()
  const net = await testnet(3, { topology: 'star' })
  const [r, a, h] = net.nodes as [TestNode, TestNode, TestNode]
  const pair = makePair()
  const bucket = a.node.bucketOf(pair.topic.topic)
  await a.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
  await h.node.registerTopic(pair.topic.topic, pair.topic.key, BOB)
  await waitFor(() => h.node.bucketPeers(bucket).includes(r.node.peerId) && a.node.bucketPeers(bucket).includes(r.node.peerId), 'the bucket mesh')

  const ttl = await a.node.publish(pair.topic.topic, frameToBob(pair, { ttlClass: 1, time: clock }))
  const plain = await a.node.publish(pair.topic.topic, frameToBob(pair, { time: clock }))
  for (const x of [ttl, plain]) {
    await waitFor(async () => await r.node.hasFrame(x.hash) && await h.node.hasFrame(x.hash), 'the relay and bob\'s node to hold both frames')
  }
  const stored = (await h.node.query(pair.topic.topic, 0n)).envelopes.find(e => equalBytes(e.hash, ttl.hash))
  assert.ok(stored !== undefined, 'bob\'s node matched the 1 h frame')
  const expired = stored.data
  assert.equal(decodeFrame(expired).ttlClass, 1)

  // two hours later: past (hour + 1) h + 1 h whatever the minute of sending
  clock += 2 * HOUR_MS + 60_000
  const late = await net.add([r.node.getMultiaddrs()[0] ?? ''], { relay: true })
  await waitFor(() => late.node.bucketPeers(bucket).includes(r.node.peerId), 'the late relay in the bucket mesh')
  await late.node.catchUp(r.node.peerId, bucket)
  await waitFor(async () => await late.node.hasFrame(plain.hash), 'catch-up to bring the frame without a TTL')
  assert.equal(await late.node.hasFrame(ttl.hash), false, 'catch-up does not hand out the expired frame')

  for (const n of [r, a, h]) await n.node.deleteExpired()
  assert.equal(await r.node.hasFrame(ttl.hash), false, 'the relay dropped it')
  assert.equal(await h.node.hasFrame(ttl.hash), false, 'bob\'s node dropped it although no device fetched it')
  assert.ok(!(await h.node.query(pair.topic.topic, 0n)).envelopes.some(e => equalBytes(e.hash, ttl.hash)), 'and no device can fetch it')
  assert.equal(await h.node.hasFrame(plain.hash), true, 'the frame without a TTL stays (matched, unfetched)')
  assert.equal(await r.node.hasFrame(plain.hash), true, 'and stays at the relay')

  // a relay that never saw it: the expired frame, forwarded by another relay, is ignored and not stored
  const eve = await net.add([late.node.getMultiaddrs()[0] ?? ''], { relay: true })
  await waitFor(() => late.node.bucketPeers(bucket).includes(eve.node.peerId), 'eve in the late relay\'s mesh')
  const before = (await late.node.status()).gossip.ignored
  await eve.node.host.services.pubsub.publish(`asmtp/2/4/${bucket.toString(16)}`, expired)
  await waitFor(async () => (await late.node.status()).gossip.ignored > before, 'the late relay to refuse the expired frame')
  assert.equal(await late.node.hasFrame(frameHash(expired)), false)
})

test('TTL on the client: a 1 h message is deleted at expiry by both sides, and inbox says it expired', { timeout: 180_000 }, async () => {
  clock = Date.now()
  f = await folders()
  const made = [
    await Account.create({ dir: f.dir('alice'), alias: 'alice', ...FAST }),
    await Account.create({ dir: f.dir('bob'), alias: 'bob', ...FAST })
  ]
  const users = await Promise.all(made.map(async x => (await x.identity()).deviceKey))
  const net = await testnet(2, { users })
  const alice = await openOn(f.dir('alice'), net.nodes[0], { clock: now })
  const bob = await openOn(f.dir('bob'), net.nodes[1], { clock: now })
  await alice.addContact('bob', { passport: (await bob.passport()).export() })
  await bob.addContact('alice', { passport: (await alice.passport()).export() })
  await Promise.all([alice.sync(), bob.sync()])

  await assert.rejects(alice.send('bob', { text: 'x' }, { ttl: '2h' as '1h' }), /TTL must be one of 1h, 24h, 7d/)
  const sent = await alice.send('bob', { text: 'gone in an hour' }, { ttl: '1h' })
  await alice.send('bob', { text: 'stays' })
  assert.ok(sent.expiresAt !== undefined && sent.expiresAt > clock && sent.expiresAt <= clock + 2 * HOUR_MS)
  const got = await syncUntil(bob, 'both messages', m => m.filter(x => x.direction === 'in').length === 2 ? m : undefined)
  const short = got.find(m => m.text === 'gone in an hour')
  assert.equal(short?.expiresAt, sent.expiresAt, 'bob computes the same expiry from the MAC\'d frame header')
  assert.equal(got.find(m => m.text === 'stays')?.expiresAt, undefined)

  clock = sent.expiresAt
  for (const who of [alice, bob]) {
    const texts = (await who.inbox()).map(m => m.text)
    assert.ok(!texts.includes('gone in an hour'), 'deleted at expiry')
    assert.ok(texts.includes('stays'))
    const notes = await who.vanished()
    assert.equal(notes.length, 1)
    assert.equal(notes[0]?.reason, 'expired')
    assert.equal(notes[0]?.at, sent.expiresAt)
  }
})
