/**
 * Publishing back-pressure (src/node/libp2p.ts waitForOutboundDrain) on a real yamux stream over
 * TCP between two libp2p hosts: the reader pauses, the writer's window fills, and the wait must
 * hold until the reader resumes, on the first fill and on every later one.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import type { Stream } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import { DRAIN_WAIT_MS, waitForOutboundDrain } from '../src/node/libp2p.js'
import { waitFor } from './helpers/testnet.js'

const PROTOCOL = '/asmtp-test/drain/1.0.0'

async function host (): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    // the stream window stays at its initial 256 KiB: every fill stops at the window, far below
    // what loopback's socket buffers hold, so only the paused reader can hold the writer back
    streamMuxers: [yamux({ streamOptions: { initialStreamWindowSize: 256 * 1024, maxStreamWindowSize: 256 * 1024 } })],
    connectionGater: { denyDialMultiaddr: () => false }
  })
}

/** Resolves to true if `p` settles within a few turns of the event loop (no fixed sleep). */
async function settlesSoon (p: Promise<void>): Promise<boolean> {
  let settled = false
  void p.then(() => { settled = true }, () => { settled = true })
  for (let i = 0; i < 20 && !settled; i++) await new Promise(resolve => setImmediate(resolve))
  return settled
}

/**
 * A stream from `a` to `b` whose reader on `b` starts paused; `fill()` writes until the writer's
 * window is full (the paused reader sends no window updates).
 */
async function pausedStream (a: Libp2p, b: Libp2p): Promise<{ stream: Stream, remote: Stream, fill: () => Promise<void> }> {
  let remote: Stream | undefined
  await b.handle(PROTOCOL, (s) => {
    s.pause()
    remote = s
  })
  const stream = await a.dialProtocol(b.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(10_000) })
  await waitFor(() => remote !== undefined, 'the reader to get the stream')
  const chunk = new Uint8Array(1024)
  const fill = async (): Promise<void> => {
    await waitFor(() => {
      for (let i = 0; i < 64 && !stream.writableNeedsDrain; i++) stream.send(chunk)
      return stream.writableNeedsDrain
    }, 'the write window to fill')
  }
  return { stream, remote: remote!, fill }
}

/** Rejects with `what` unless `p` settles within `ms` (a bound on a wait, not a timing). */
async function within (p: Promise<void>, ms: number, what: string): Promise<void> {
  await Promise.race([p, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(what)) }, ms).unref())])
}

test('publishing waits for the outbound stream to drain, again after every drain, and not for a closed stream', async () => {
  const a = await host()
  const b = await host()
  try {
    const { stream, remote, fill } = await pausedStream(a, b)
    // the shape waitForOutboundDrain reads from gossipsub: its outbound streams by peer
    const pubsub = { streamsOutbound: new Map([[b.peerId.toString(), { rawStream: stream }]]) } as unknown as GossipSub
    for (let round = 1; round <= 3; round++) {
      await fill()
      const waiting = waitForOutboundDrain(pubsub)
      assert.equal(await settlesSoon(waiting), false, `round ${round}: the wait returned while the window was full`)
      remote.resume()
      await waiting
      assert.equal(stream.writableNeedsDrain, false, `round ${round}: the wait ended before the stream drained`)
      remote.pause()
    }
    // a hundred publishes waiting on one full stream share one 'drain' listener, and all go on
    await fill()
    const own = stream.listenerCount('drain')
    const many = Array.from({ length: 100 }, async () => { await waitForOutboundDrain(pubsub) })
    assert.equal(await settlesSoon(Promise.race(many)), false, 'a wait returned while the window was full')
    assert.equal(stream.listenerCount('drain'), own + 1, 'every waiter listens on the stream itself')
    remote.resume()
    await Promise.all(many)
    assert.equal(stream.listenerCount('drain'), own, 'a drain listener was left on the stream')
    remote.pause()
    // a full stream that is reset by the reader ends the wait at once, not after DRAIN_WAIT_MS
    await fill()
    const waiting = waitForOutboundDrain(pubsub)
    assert.equal(await settlesSoon(waiting), false, 'the wait returned while the window was full')
    remote.abort(new Error('the reader goes away'))
    await within(waiting, DRAIN_WAIT_MS / 2, `the wait outlived the closed stream by ${DRAIN_WAIT_MS / 2} ms`)
  } finally {
    await a.stop()
    await b.stop()
  }
})

test('a full stream holds up only publishes to its own peer, and once stalled for a whole wait, nothing until it drains', async () => {
  const a = await host()
  const b = await host()
  const c = await host()
  try {
    const { stream: slow, remote, fill } = await pausedStream(a, b)
    // c reads what it gets: its stream never fills
    await c.handle(PROTOCOL, () => {})
    const fast = await a.dialProtocol(c.getMultiaddrs()[0], PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const B = b.peerId.toString()
    const C = c.peerId.toString()
    const pubsub = { streamsOutbound: new Map([[B, { rawStream: slow }], [C, { rawStream: fast }]]) } as unknown as GossipSub
    await fill()
    // a publish to c alone does not wait for b's full stream
    assert.equal(await settlesSoon(waitForOutboundDrain(pubsub, { peers: [C] })), true, 'a publish to c waited for b')
    // one to b (or to everyone) does, up to its bound
    assert.equal(await settlesSoon(waitForOutboundDrain(pubsub, { peers: [B, C] })), false, 'a publish to b did not wait for its full stream')
    await within(waitForOutboundDrain(pubsub, { peers: [B], boundMs: 200 }), DRAIN_WAIT_MS / 2, 'the wait outlived its bound')
    assert.equal(slow.writableNeedsDrain, true, 'the stream drained although its reader is paused')
    // b stayed full for a whole wait: it is stalled, and the next publishes go on at once
    assert.equal(await settlesSoon(waitForOutboundDrain(pubsub, { peers: [B] })), true, 'a publish waited again for a stalled stream')
    assert.equal(await settlesSoon(waitForOutboundDrain(pubsub)), true, 'a publish to everyone waited for a stalled stream')
    // once b reads again and its stream drains, b's full window counts again
    remote.resume()
    await waitFor(() => !slow.writableNeedsDrain, 'the stream to drain')
    remote.pause()
    await fill()
    const waiting = waitForOutboundDrain(pubsub, { peers: [B] })
    assert.equal(await settlesSoon(waiting), false, 'a drained and refilled stream no longer held a publish')
    remote.resume()
    await within(waiting, DRAIN_WAIT_MS / 2, 'the wait did not end when the stream drained')
  } finally {
    await a.stop()
    await b.stop()
    await c.stop()
  }
})
