import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter } from '../src/node/rate-limit.js'

test('rate limiter: burst, then the sustained rate per peer, peers independent, bounded map', () => {
  let now = 0
  const limiter = new RateLimiter({ ratePerSecond: 10, burst: 5, maxPeers: 3, now: () => now })
  const taken = (peer: string, n: number): number => Array.from({ length: n }, () => limiter.take(peer)).filter(Boolean).length
  assert.equal(taken('a', 20), 5, 'the burst')
  assert.equal(taken('b', 2), 2, 'another peer is not affected')
  now += 500
  assert.equal(taken('a', 20), 5, '10/s for 0.5 s, capped at the burst')
  now += 100
  assert.equal(taken('a', 20), 1)
  // a fourth peer evicts the least recently seen (b), which then starts with a full burst again
  assert.equal(taken('c', 1), 1)
  assert.equal(taken('d', 1), 1)
  assert.equal(taken('b', 10), 5)
})
