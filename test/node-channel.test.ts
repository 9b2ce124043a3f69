import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AsmtpError, Ed25519KeyPair, toHex } from '../src/index.js'
import { connectClient, type ClientConnection } from '../src/channel/index.js'
import { openFrame } from '../src/frame/index.js'
import type { AsmtpNode } from '../src/node/index.js'
import { createTestnet, waitFor, type TestNode } from './helpers/testnet.js'
import { aliceToBob, makePair } from './helpers/pair.js'

async function connect (node: AsmtpNode, device: Ed25519KeyPair): Promise<ClientConnection> {
  const [host, port] = node.clientAddress!.split(':') as [string, string]
  return await connectClient({ host, port: Number(port), remoteId: node.publicId, device, timeoutMs: 5000 })
}

test('devices reach their own nodes over the client channel and mail crosses the network to a watcher', async () => {
  const aliceDevice = Ed25519KeyPair.generate()
  const bobDevice = Ed25519KeyPair.generate()
  const net = await createTestnet(3, { topology: 'star', users: [toHex(aliceDevice.publicKey), toHex(bobDevice.publicKey)] })
  const clients: ClientConnection[] = []
  try {
    const [, a, b] = net.nodes as [TestNode, TestNode, TestNode]
    const pair = makePair()
    const alice = await connect(a.node, aliceDevice)
    const bob = await connect(b.node, bobDevice)
    clients.push(alice, bob)
    assert.deepEqual(await alice.ping(new Uint8Array([1, 2, 3])), new Uint8Array([1, 2, 3]))
    await alice.registerTopic(pair.topic.topic, pair.topic.key)
    await bob.registerTopic(pair.topic.topic, pair.topic.key)
    const pushed: Uint8Array[] = []
    const unwatch = await bob.watch((e) => { pushed.push(e.data) })
    await waitFor(() => a.node.topicPeers(pair.topic.topic).includes(b.node.peerId), 'the two nodes to meet')
    const envelope = aliceToBob(pair, 'over the client channel')
    const r = await alice.publish(pair.topic.topic, envelope)
    assert.equal(r.stored, true)
    await waitFor(() => pushed.length === 1, 'the watch push at the recipient')
    const { opened } = openFrame(pushed[0], { recipient: pair.bob, topic: pair.topic, expectedSender: pair.alice.publicKey })
    assert.equal(new TextDecoder().decode(opened.message.body), 'over the client channel')
    const page = await bob.query(pair.topic.topic, 0n)
    assert.equal(page.envelopes.length, 1)
    assert.deepEqual(page.envelopes[0].data, envelope)
    await unwatch()

    // a device not in users is refused before any request is handled
    await assert.rejects(connect(a.node, Ed25519KeyPair.generate()), (e: unknown) => e instanceof AsmtpError && e.code === 'UNAUTHORIZED_DEVICE')
    // a device may not read a topic it did not register, even on its own node
    const other = makePair()
    await assert.rejects(bob.query(other.topic.topic, 0n), (e: unknown) => e instanceof AsmtpError)
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.close() }))
    await net.teardown()
  }
})
