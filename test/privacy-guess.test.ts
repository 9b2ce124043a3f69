import { test } from 'node:test'
import assert from 'node:assert/strict'
import { anonymitySets, carriers, evaluate, guessOrigins, guessPartners, median, replyCounts, topicMembers, unionObservations } from '../bench/privacy/guess.js'
import { createScenario } from '../bench/privacy/scenario.js'
import { parseTopicName, type Observations } from '../bench/privacy/spy.js'

function obs (part: Partial<Observations>): Observations {
  return { spy: 'S', role: 'passive', announcements: [], frames: [], providers: [], providerLookups: [], records: [], inbound: [], ...part }
}
const sub = (peer: string, topic: string, t = 0, subscribe = true): Observations['announcements'][number] => ({ peer, topic, subscribe, t })
const frame = (frameId: string, topic: string, from: string, t: number): Observations['frames'][number] => ({ frameId, topic, from, t, bytes: 1024 })

test('topic members: the spy and peers that unsubscribed are left out', () => {
  const m = topicMembers(obs({ announcements: [sub('A', 't1'), sub('B', 't1'), sub('S', 't1'), sub('C', 't1', 1), sub('C', 't1', 2, false)] }))
  assert.deepEqual([...m.get('t1')!].sort(), ['A', 'B'])
})

test('partners: one topic per pair (version 1) names every partner', () => {
  const o = obs({ announcements: [sub('A', 't1'), sub('B', 't1'), sub('C', 't2'), sub('D', 't2'), sub('A', 't3'), sub('C', 't3')] })
  const g = guessPartners(o)
  assert.deepEqual(g.get('A')!.sort(), ['B', 'C'])
  assert.deepEqual(g.get('D'), ['C'])
})

test('partners: in a shared bucket, shared groups rank first, then reply timing', () => {
  // A, B, C, D in one bucket; A and B also share a second bucket
  const both = obs({ announcements: ['A', 'B', 'C', 'D'].map(p => sub(p, 'b0')).concat([sub('A', 'b1'), sub('B', 'b1')]) })
  assert.deepEqual(guessPartners(both).get('A'), ['B'])
  // one bucket only: C answers A's frames, B never does
  const timed = obs({
    announcements: ['A', 'B', 'C', 'D'].map(p => sub(p, 'b0')),
    frames: [frame('1', 'b0', 'A', 0), frame('2', 'b0', 'C', 100), frame('3', 'b0', 'A', 200), frame('4', 'b0', 'C', 300), frame('5', 'b0', 'B', 20_000)]
  })
  assert.equal(replyCounts(timed).get('A C'), 3)
  assert.equal(replyCounts(timed).get('B C'), undefined, 'a frame 19.7 s later is no reply')
  assert.deepEqual(guessPartners(timed).get('A'), ['C'])
  assert.deepEqual(guessPartners(timed).get('C'), ['A'])
})

test('partners: a peer in every bucket (a relay) is nobody\'s partner; at b = 0 it cannot be told apart', () => {
  // b = 2: R announces all four buckets, A and B share two, C is in one of them
  const b2 = ['asmtp/2/2/0', 'asmtp/2/2/1', 'asmtp/2/2/2', 'asmtp/2/2/3']
  const o = obs({ announcements: [...b2.map(t => sub('R', t)), sub('A', b2[0]), sub('A', b2[1]), sub('B', b2[0]), sub('B', b2[1]), sub('C', b2[1]), sub('C', b2[2]), sub('C', b2[3])] })
  assert.deepEqual([...carriers(o)], ['R'])
  assert.deepEqual(guessPartners(o).get('A'), ['B'])
  assert.ok(!guessPartners(o).get('C')!.includes('R'))
  const b0 = obs({ announcements: [sub('R', 'asmtp/2/0/0'), sub('A', 'asmtp/2/0/0')] })
  assert.equal(carriers(b0).size, 0)
  assert.deepEqual(guessPartners(b0).get('A'), ['R'])
})

test('partners: DHT provider keys count as groups', () => {
  const o = obs({ providers: [{ key: 'k', provider: 'A', t: 0 }, { key: 'k', provider: 'B', t: 1 }, { key: 'k', provider: 'S', t: 2 }] })
  assert.deepEqual(guessPartners(o).get('A'), ['B'])
})

test('origins: the first peer a frame arrived from', () => {
  assert.equal(guessOrigins(obs({ frames: [frame('f', 't', 'B', 5)] })).get('f'), 'B')
})

test('union of several hosts: first arrival over all of them, and no host taken for a peer', () => {
  const s1 = obs({
    spy: 'S1',
    announcements: [sub('A', 'b0', 1), sub('S2', 'b0', 2), sub('B', 'b0', 3)],
    frames: [frame('f1', 'b0', 'B', 10), frame('f2', 'b0', 'A', 30), frame('f3', 'b0', 'S2', 1)],
    providers: [{ key: 'k', provider: 'A', t: 0 }, { key: 'k', provider: 'S2', t: 0 }],
    inbound: [{ peer: 'S2', protocol: 'p', t: 0 }, { peer: 'A', protocol: 'p', t: 0 }]
  })
  const s2 = obs({
    spy: 'S2',
    announcements: [sub('A', 'b0', 0), sub('S1', 'b0', 1), sub('C', 'b0', 4)],
    frames: [frame('f1', 'b0', 'A', 5), frame('f2', 'b0', 'C', 40), frame('f3', 'b0', 'C', 2)]
  })
  const u = unionObservations([s1, s2], 'active')
  assert.equal(u.role, 'active')
  assert.equal(u.spy, 'S1')
  // f1 reached S2 first (from A); f2 reached S1 first; f3's earliest copy came from a host
  assert.deepEqual(Object.fromEntries(guessOrigins(u)), { f1: 'A', f2: 'A', f3: 'C' })
  assert.deepEqual([...topicMembers(u).get('b0')!].sort(), ['A', 'B', 'C'])
  assert.deepEqual(u.announcements.map(a => a.t), [0, 1, 3, 4])
  assert.deepEqual(u.providers.map(p => p.provider), ['A'])
  assert.deepEqual(u.inbound.map(i => i.peer), ['A'])
  assert.ok(!guessPartners(u).get('A')!.some(p => p === 'S1' || p === 'S2'))
  assert.throws(() => unionObservations([], 'active'), RangeError)
})

test('evaluate: precision, recall and chance against the ground truth', () => {
  const o = obs({
    announcements: ['A', 'B', 'C', 'D', 'R'].map(p => sub(p, 'b0')),
    frames: [frame('f1', 'b0', 'A', 0), frame('f2', 'b0', 'B', 50), frame('f3', 'b0', 'R', 100)]
  })
  const r = evaluate(o, {
    userServing: ['A', 'B', 'C', 'D'],
    partners: { A: ['B'], B: ['A'], C: ['D'], D: ['C'] },
    origins: { f1: 'A', f2: 'B', f3: 'C', f4: 'D' }
  })
  // R is a relay: four user-serving nodes in the bucket
  assert.equal(r.anonymitySet, 4)
  assert.equal(r.origin.chance, 1 / 4)
  assert.equal(r.partner.chance, 1 / 3)
  assert.equal(r.origin.correct, 2)
  assert.equal(r.origin.precision, 2 / 3)
  assert.equal(r.origin.recall, 2 / 4)
  // A and B reply to each other: both right; C and D have no evidence beyond the bucket
  assert.equal(r.partner.truth, 4)
  assert.equal(r.partner.guessed, 4)
  assert.ok(r.partner.correct >= 2)
  assert.equal(r.partner.recall, r.partner.correct / 4)
})

test('anonymity sets and the median', () => {
  const o = obs({ announcements: [sub('A', 't1'), sub('B', 't1'), sub('R', 't2'), sub('A', 't3'), sub('B', 't3'), sub('C', 't3')] })
  assert.deepEqual(anonymitySets(o, ['A', 'B', 'C']).sort(), [2, 3])
  assert.equal(median([3, 1, 2]), 2)
  assert.equal(median([1, 2, 3, 4]), 2.5)
  assert.ok(Number.isNaN(median([])))
})

test('topic names: version 1 pairs and version 2 buckets; anything else is not joined', () => {
  assert.deepEqual(parseTopicName('asmtp/1/' + 'ab'.repeat(32)), { version: 1, name: 'asmtp/1/' + 'ab'.repeat(32), topic: 'ab'.repeat(32) })
  assert.deepEqual(parseTopicName('asmtp/2/4/a'), { version: 2, name: 'asmtp/2/4/a', bits: 4, bucket: 'a' })
  for (const bad of ['asmtp/1/ab', 'asmtp/2/17/0', 'other/1/' + 'ab'.repeat(32), 'asmtp/2/4/A']) assert.equal(parseTopicName(bad), undefined, bad)
})

test('scenario: deterministic, pairs on distinct nodes, every node serves a user, turns alternate', () => {
  const init = { nodes: 24, relays: 2, pairs: 16, messagesPerDirection: 4, seed: 7 }
  const s = createScenario(init)
  assert.deepEqual(createScenario(init), s)
  for (const p of s.pairs) assert.notEqual(s.users[p.a].node, s.users[p.b].node)
  assert.equal(new Set(s.users.map(u => u.node)).size, 24)
  assert.equal(s.sends.length, 16 * 2 * 4)
  for (const p of s.pairs) {
    const mine = s.sends.filter(x => x.pair === p.index)
    mine.forEach((x, i) => { assert.equal(x.from, i % 2 === 0 ? p.a : p.b) })
  }
  assert.throws(() => createScenario({ ...init, pairs: 11 }), RangeError)
})
