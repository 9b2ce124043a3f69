import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toHex } from '../src/index.js'
import { createTestnet, waitFor, type TestNode } from './helpers/testnet.js'
import { makePair } from './helpers/pair.js'
import { frameToAlice, frameToBob } from './helpers/frames.js'

const ALICE = 'aa'.repeat(32)
const BOB = 'bb'.repeat(32)

function contains (haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle)) >= 0
}

test('a keyless node in a bucket receives its frames, and no topic id or key appears in anything it receives or in any DHT record', async () => {
  const net = await createTestnet(3, { topology: 'star' })
  try {
    const [relay, a, b] = net.nodes as [TestNode, TestNode, TestNode]
    // k carries every bucket and knows no topic key: what any peer in the bucket could do
    const k = await net.add([relay.node.getMultiaddrs()[0] ?? ''], { relay: true })
    const captured: Uint8Array[] = []
    let storedFrames = 0
    // every frame k stores, by gossip or catch-up, and every subscription it hears
    k.node.on('frame', (f) => { captured.push(f.data); storedFrames++ })
    const k2 = k.node.host.services.pubsub
    k2.addEventListener('message', (evt) => { captured.push(evt.detail.data) })
    k2.addEventListener('subscription-change', (evt) => {
      for (const s of evt.detail.subscriptions) captured.push(new TextEncoder().encode(s.topic))
    })

    const pair = makePair()
    await a.node.registerTopic(pair.topic.topic, pair.topic.key, ALICE)
    await b.node.registerTopic(pair.topic.topic, pair.topic.key, BOB)
    const bucket = a.node.bucketOf(pair.topic.topic)
    await waitFor(() => [a, b].every(t => t.node.bucketPeers(bucket).includes(relay.node.peerId)), 'the bucket mesh')
    const frames = [frameToBob(pair), frameToAlice(pair), frameToBob(pair)]
    await a.node.publish(pair.topic.topic, frames[0] ?? new Uint8Array())
    await b.node.publish(pair.topic.topic, frames[1] ?? new Uint8Array())
    await a.node.publish(pair.topic.topic, frames[2] ?? new Uint8Array())
    await waitFor(() => storedFrames >= 3, 'the keyless node to receive the three frames')
    // whatever k stores, and every record of every node's DHT and peer store
    const status = await k.node.status()
    assert.ok(status.frames >= 3 && status.matchedFrames === 0)
    for (const t of net.nodes) {
      for await (const { key, value } of t.node.datastore.query({})) {
        captured.push(new TextEncoder().encode(key.toString()), value)
      }
    }
    const needles = [pair.topic.topic, pair.topic.key].flatMap(x => [x, new TextEncoder().encode(toHex(x)), new TextEncoder().encode(Buffer.from(x).toString('base64'))])
    assert.ok(captured.length > 10)
    for (const bytes of captured) {
      for (const needle of needles) assert.ok(!contains(bytes, needle), 'a topic id or key in captured bytes')
    }
    // and the check above would have seen one: a frame's MAC input is not in the frame, but the topic id in a DHT key would be
    assert.ok(contains(new TextEncoder().encode(`/x/${toHex(pair.topic.topic)}`), needles[1] ?? new Uint8Array()))
  } finally {
    await net.teardown()
  }
})
