/**
 * The spy's guesses, from its observations alone, and how good they are against the ground
 * truth the delivery reports. Pure functions.
 *
 * - Partner of a user-serving node X: in each group X is in (a gossipsub topic it announced,
 *   or a DHT provider key it provided), the other member that ranks first by the number of
 *   groups it shares with X, then by reply timing (frames first seen from Y soon after frames
 *   first seen from X in the same topic, or the other way round), then by PeerId. Peers that
 *   announce every bucket of a version 2 network of 2 buckets or more are taken for relays
 *   and are nobody's partner (they share every group with everyone).
 * - Origin of a frame: the peer it first arrived from.
 * - Chance: 1/(m-1) for a partner and 1/m for an origin, m being the median anonymity set,
 *   the user-serving nodes per topic (bucket) among those announcing it.
 * - Several hosts of one adversary (the active spy's sybils) are guessed from the union of
 *   what they saw: each frame's first arrival over all of them, and none of them as a peer.
 */
import { parseTopicName, type Observations } from './spy.js'

export interface GroundTruth {
  /** PeerIds of the nodes that serve users (relays and spies are not in it) */
  userServing: string[]
  /** node PeerId -> PeerIds of the nodes serving its users' partners */
  partners: Record<string, string[]>
  /** frame id -> PeerId of the node it left from */
  origins: Record<string, string>
}

export interface GuessInit {
  /** a frame from Y counts as a reply to one from X when it follows within this @default 5000 */
  replyWindowMs?: number
}

export interface Score { precision: number, recall: number, chance: number, guessed: number, correct: number, truth: number }

export interface PrivacyMetrics {
  /** median user-serving nodes per topic or bucket */
  anonymitySet: number
  partner: Score
  origin: Score
}

export function median (values: number[]): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * One adversary's view from several hosts on one clock: announcements, DHT and inbound
 * sightings of all of them, each frame's earliest arrival, and nothing that names one of the
 * hosts as a peer (so the guessers never take a sybil for a node). `spy` is the first host.
 */
export function unionObservations (list: Observations[], role: string): Observations {
  if (list.length === 0) throw new RangeError('no observations to unite')
  const hosts = new Set(list.map(o => o.spy))
  const first = new Map<string, Observations['frames'][number]>()
  for (const f of list.flatMap(o => o.frames)) {
    if (hosts.has(f.from)) continue
    const seen = first.get(f.frameId)
    if (seen === undefined || f.t < seen.t) first.set(f.frameId, f)
  }
  return {
    spy: list[0].spy,
    role,
    announcements: list.flatMap(o => o.announcements).filter(a => !hosts.has(a.peer)).sort((x, y) => x.t - y.t),
    frames: [...first.values()],
    providers: list.flatMap(o => o.providers).filter(p => !hosts.has(p.provider)),
    providerLookups: list.flatMap(o => o.providerLookups),
    records: list.flatMap(o => o.records),
    inbound: list.flatMap(o => o.inbound).filter(i => !hosts.has(i.peer))
  }
}

/** Gossipsub topic -> the peers announcing it at the end (the spy left out). */
export function topicMembers (obs: Observations): Map<string, Set<string>> {
  const members = new Map<string, Set<string>>()
  for (const a of [...obs.announcements].sort((x, y) => x.t - y.t)) {
    if (a.peer === obs.spy) continue
    let set = members.get(a.topic)
    if (set === undefined) {
      set = new Set()
      members.set(a.topic, set)
    }
    if (a.subscribe) set.add(a.peer)
    else set.delete(a.peer)
  }
  for (const [t, set] of members) if (set.size === 0) members.delete(t)
  return members
}

/** Every group: gossipsub topics, and DHT provider keys (prefixed `dht:`) with their providers. */
export function groups (obs: Observations): Map<string, Set<string>> {
  const all = topicMembers(obs)
  for (const p of obs.providers) {
    if (p.provider === obs.spy) continue
    const k = `dht:${p.key}`
    let set = all.get(k)
    if (set === undefined) {
      set = new Set()
      all.set(k, set)
    }
    set.add(p.provider)
  }
  return all
}

/** Peers announcing all 2^b buckets of a version 2 network with b >= 1: relays, as far as the spy can tell. */
export function carriers (obs: Observations): Set<string> {
  const perPeer = new Map<string, Map<number, number>>()
  for (const [topic, set] of topicMembers(obs)) {
    const name = parseTopicName(topic)
    if (name?.version !== 2 || name.bits === 0) continue
    for (const p of set) {
      const counts = perPeer.get(p) ?? new Map<number, number>()
      counts.set(name.bits, (counts.get(name.bits) ?? 0) + 1)
      perPeer.set(p, counts)
    }
  }
  const out = new Set<string>()
  for (const [p, counts] of perPeer) for (const [bits, n] of counts) if (n === 2 ** bits) out.add(p)
  return out
}

const pairKey = (x: string, y: string): string => x < y ? `${x} ${y}` : `${y} ${x}`

/** Unordered peer pair -> how often one's frame followed the other's in a topic within the window. */
export function replyCounts (obs: Observations, init: GuessInit = {}): Map<string, number> {
  const windowMs = init.replyWindowMs ?? 5000
  const byTopic = new Map<string, Array<{ from: string, t: number }>>()
  for (const f of obs.frames) {
    const list = byTopic.get(f.topic) ?? []
    list.push(f)
    byTopic.set(f.topic, list)
  }
  const counts = new Map<string, number>()
  for (const list of byTopic.values()) {
    list.sort((a, b) => a.t - b.t)
    for (let i = 1; i < list.length; i++) {
      const [prev, cur] = [list[i - 1], list[i]]
      if (prev.from === cur.from || cur.t - prev.t > windowMs) continue
      const k = pairKey(prev.from, cur.from)
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
  }
  return counts
}

/** For each peer seen in a group: the partner nodes the spy guesses (one per group at most). */
export function guessPartners (obs: Observations, init: GuessInit = {}): Map<string, string[]> {
  const all = groups(obs)
  const relays = carriers(obs)
  const replies = replyCounts(obs, init)
  const shared = new Map<string, number>()
  for (const set of all.values()) {
    const ps = [...set]
    for (let i = 0; i < ps.length; i++) {
      for (let j = i + 1; j < ps.length; j++) {
        const k = pairKey(ps[i], ps[j])
        shared.set(k, (shared.get(k) ?? 0) + 1)
      }
    }
  }
  const out = new Map<string, string[]>()
  for (const set of all.values()) {
    for (const x of set) {
      const candidates = [...set].filter(y => y !== x && !relays.has(y))
      if (candidates.length === 0) continue
      const rank = (y: string): [number, number] => [shared.get(pairKey(x, y)) ?? 0, replies.get(pairKey(x, y)) ?? 0]
      candidates.sort((a, b) => {
        const [ra, rb] = [rank(a), rank(b)]
        return rb[0] - ra[0] || rb[1] - ra[1] || (a < b ? -1 : 1)
      })
      const mine = out.get(x) ?? []
      if (!mine.includes(candidates[0])) mine.push(candidates[0])
      out.set(x, mine)
    }
  }
  return out
}

/** Frame id -> the peer it first arrived from. */
export function guessOrigins (obs: Observations): Map<string, string> {
  return new Map(obs.frames.map(f => [f.frameId, f.from]))
}

/** User-serving nodes per topic, for every topic announced by at least one of them. */
export function anonymitySets (obs: Observations, userServing: Iterable<string>): number[] {
  const users = new Set(userServing)
  return [...topicMembers(obs).values()].map(set => [...set].filter(p => users.has(p)).length).filter(n => n > 0)
}

function score (guessed: number, correct: number, truth: number, chance: number): Score {
  return { precision: guessed === 0 ? NaN : correct / guessed, recall: truth === 0 ? NaN : correct / truth, chance, guessed, correct, truth }
}

export function evaluate (obs: Observations, truth: GroundTruth, init: GuessInit = {}): PrivacyMetrics {
  const users = new Set(truth.userServing)
  const m = median(anonymitySets(obs, users))
  const partners = guessPartners(obs, init)
  let pGuessed = 0
  let pCorrect = 0
  let pTruth = 0
  for (const x of users) {
    const real = new Set(truth.partners[x] ?? [])
    const guess = partners.get(x) ?? []
    pTruth += real.size
    pGuessed += guess.length
    pCorrect += guess.filter(y => real.has(y)).length
  }
  const origins = guessOrigins(obs)
  let oGuessed = 0
  let oCorrect = 0
  const frames = Object.entries(truth.origins)
  for (const [frameId, origin] of frames) {
    const g = origins.get(frameId)
    if (g === undefined) continue
    oGuessed++
    if (g === origin) oCorrect++
  }
  return {
    anonymitySet: m,
    partner: score(pGuessed, pCorrect, pTruth, m > 1 ? 1 / (m - 1) : 1),
    origin: score(oGuessed, oCorrect, frames.length, m > 0 ? 1 / m : 1)
  }
}
