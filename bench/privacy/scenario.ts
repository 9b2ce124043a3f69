/**
 * The spy experiment's network, as a pure description: user-serving nodes, relays, user pairs
 * (the two users of a pair on distinct nodes, every user-serving node serving at least one
 * user), messages per direction, the order of the sends and their gaps, all drawn from one
 * seeded generator so that two runs with the same seed describe the same experiment.
 */

export interface ScenarioInit {
  /** user-serving nodes */
  nodes: number
  /** nodes that serve no user (bootstrap / relays) */
  relays: number
  /** user pairs; needs 2 * pairs >= nodes so that every node serves someone */
  pairs: number
  /** messages each user of a pair sends to the other */
  messagesPerDirection: number
  /** bucket bits of a version 2 network; undefined for version 1 (one topic per pair) */
  bucketBits?: number
  /** ms between two sends, drawn uniformly from [min, max] */
  gapMs?: [number, number]
  seed?: number
}

export interface ScenarioUser { index: number, node: number }
export interface ScenarioPair { index: number, a: number, b: number }
/** One send of the traffic phase: user `from` writes to user `to`, then waits `gapMs`. */
export interface ScenarioSend { pair: number, from: number, to: number, gapMs: number }

export interface Scenario {
  nodes: number
  relays: number
  bucketBits?: number
  messagesPerDirection: number
  seed: number
  users: ScenarioUser[]
  pairs: ScenarioPair[]
  sends: ScenarioSend[]
}

/** mulberry32: a small seeded generator of floats in [0, 1). */
export function seededRandom (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T> (items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

export function createScenario (init: ScenarioInit): Scenario {
  const { nodes, relays, pairs: pairCount, messagesPerDirection } = init
  if (nodes < 2) throw new RangeError('the experiment needs at least 2 user-serving nodes')
  if (2 * pairCount < nodes) throw new RangeError(`${pairCount} pairs cannot give each of ${nodes} nodes a user`)
  const seed = init.seed ?? 1
  const random = seededRandom(seed)
  const [gapMin, gapMax] = init.gapMs ?? [50, 250]
  // users 2k and 2k+1 form pair k; the first `nodes` users take one node each, the others
  // land on random nodes, never on their partner's node
  const users: ScenarioUser[] = []
  const order = shuffle(Array.from({ length: nodes }, (_, i) => i), random)
  for (let u = 0; u < 2 * pairCount; u++) {
    let node: number
    if (u < nodes) node = order[u]
    else {
      const partnerNode = u % 2 === 1 ? users[u - 1].node : undefined
      do node = Math.floor(random() * nodes)
      while (node === partnerNode)
    }
    users.push({ index: u, node })
  }
  // a pair whose first user was placed second cannot clash; one placed from `order` may:
  // swap its second user with another second user until the two nodes differ
  for (let k = 0; k < pairCount; k++) {
    const a = users[2 * k]
    const b = users[2 * k + 1]
    if (a.node !== b.node) continue
    const other = users.findIndex((x, i) => i % 2 === 1 && x.node !== a.node && users[i - 1].node !== b.node)
    if (other < 0) throw new RangeError('cannot place the pairs on distinct nodes')
    ;[b.node, users[other].node] = [users[other].node, b.node]
  }
  const pairs = Array.from({ length: pairCount }, (_, k) => ({ index: k, a: 2 * k, b: 2 * k + 1 }))
  // each pair talks in turns (a, b, a, b ...); the pairs' turns interleave at random
  const queue: number[] = shuffle(pairs.flatMap(p => Array.from({ length: 2 * messagesPerDirection }, () => p.index)), random)
  const turn = new Array<number>(pairCount).fill(0)
  const sends = queue.map(k => {
    const p = pairs[k]
    const t = turn[k]++
    const [from, to] = t % 2 === 0 ? [p.a, p.b] : [p.b, p.a]
    return { pair: k, from, to, gapMs: gapMin + random() * (gapMax - gapMin) }
  })
  return { nodes, relays, bucketBits: init.bucketBits, messagesPerDirection, seed, users, pairs, sends }
}
