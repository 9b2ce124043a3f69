import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { ActiveSpy, STEM_PROTOCOL } from '../bench/privacy/active-spy.js'
import { encodeStemMessage } from '../src/node/stem/index.js'
import { Spy } from '../bench/privacy/spy.js'
import { meshPeers } from '../src/node/libp2p.js'
import { waitFor } from './helpers/testnet.js'

const TOPIC = 'asmtp/2/0/0'
const addrOf = (s: Spy): string => s.libp2p.getMultiaddrs()[0].toString()

async function stopAll (spies: Array<{ stop: () => Promise<void> }>): Promise<void> {
  await Promise.all(spies.map(async s => { await s.stop() }))
}

test('active spy: its sybils read and drop every stem frame, counted per sybil and sender; they never meet', async () => {
  const active = new ActiveSpy({ sybils: 2 })
  const nodes = [new Spy(), new Spy()]
  try {
    await active.start()
    await Promise.all(nodes.map(async n => { await n.start() }))
    const [s0, s1] = active.hosts
    const sent: Array<{ from: string, frame: Uint8Array }> = []
    for (const [node, count] of [[nodes[0], 3], [nodes[1], 1]] as const) {
      const stream = await node.libp2p.dialProtocol(multiaddr(addrOf(s0)), STEM_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
      const lp = lpStream(stream)
      for (let i = 0; i < count; i++) {
        const frame = randomBytes(300 + i)
        sent.push({ from: node.peerId, frame })
        await lp.write(encodeStemMessage({ bucket: 2, frame }), { signal: AbortSignal.timeout(10_000) })
      }
      // not a stem message (version 9): counted apart, no sighting
      if (count === 1) await lp.write(Uint8Array.of(9, 0, 0, 1), { signal: AbortSignal.timeout(10_000) })
      await stream.close()
    }
    await waitFor(() => active.stemCounts()[0].frames === 5, 'the sybil counted the five stem messages')
    const [c0, c1] = active.stemCounts()
    assert.equal(c0.sybil, s0.peerId)
    assert.equal(c0.streams, 2)
    assert.equal(c0.undecodable, 1)
    assert.deepEqual(c0.from, { [nodes[0].peerId]: 3, [nodes[1].peerId]: 2 })
    assert.deepEqual(c1, { sybil: s1.peerId, streams: 0, frames: 0, undecodable: 0, from: {} })
    const seen = active.stemSightings()
    assert.deepEqual(seen.map(x => x.frameId), sent.map(x => createHash('sha256').update(x.frame).digest('hex')))
    assert.deepEqual(seen.map(x => x.from), sent.map(x => x.from))
    assert.ok(seen.every(x => x.bucket === 2 && x.sybil === s0.peerId))
    // the sybils neither dial nor accept one another
    assert.equal(await s0.dial([addrOf(s1)]), 0)
    assert.equal(await s1.dial([addrOf(s0)]), 0)
    assert.equal(s0.libp2p.getConnections(s1.libp2p.peerId).length, 0)
  } finally {
    await stopAll([active, ...nodes])
  }
})

test('active spy: a sybil that joins a bucket late grafts every peer of it, beyond the mesh degree', async () => {
  // eight peers already meshed among themselves and content with it (Dlo = 1: none of them
  // grafts anyone new); a sybil then grafts all eight, where one with gossipsub's D would graft six
  const peers = Array.from({ length: 8 }, () => new Spy({ join: 'on-request', mesh: { D: 2, Dlo: 1, Dhi: 12, Dout: 1 } }))
  const active = new ActiveSpy({ sybils: 1, join: 'on-request' })
  try {
    await Promise.all(peers.map(async p => { await p.start() }))
    await active.start()
    const [sybil] = active.hosts
    for (let i = 0; i < peers.length; i++) await peers[i].dial(peers.slice(i + 1).map(addrOf))
    for (const p of peers) p.libp2p.services.pubsub.subscribe(TOPIC)
    await waitFor(() => peers.every(p => meshPeers(p.libp2p.services.pubsub, TOPIC).length >= 1), 'the peers formed their mesh')
    assert.equal(await sybil.dial(peers.map(addrOf)), peers.length)
    await waitFor(() => active.observations().announcements.filter(a => a.topic === TOPIC).length === peers.length, 'the sybil heard every peer announce the bucket')
    assert.equal(active.joinAll(), 1)
    await waitFor(() => meshPeers(sybil.libp2p.services.pubsub, TOPIC).length === peers.length, 'the sybil grafted every peer of the bucket', 10_000)
  } finally {
    await stopAll([active, ...peers])
  }
})
