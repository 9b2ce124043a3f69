/**
 * The spy experiment's view of a delivery: the one file that knows the node and its delivery
 * API. A Delivery starts a network for a scenario, registers the user pairs, sends one
 * envelope at a time and reports which node it left from, waits for delivery and reads the
 * bytes every node read from the network. The ground truth of the experiment (which node
 * serves which user, the pairs, each frame's origin node) comes from here, never from the spy.
 *
 * v2Delivery drives version 2 asmtp nodes (gossipsub buckets of b bits, relays carrying every
 * bucket, home nodes bootstrapped to them, own frames along a Dandelion++ stem first unless
 * `stem: false`), each in its own process (node-process.ts). The
 * version 1 delivery is gone with version 1; its row stays in results.json as the reference.
 */
import { fileURLToPath } from 'node:url'
import { generateX25519, toHex } from '../../src/index.js'
import { deriveTopic } from '../../src/topic/index.js'
import { NodeProcess } from './child.js'
import type { BucketView, StartRequest } from './node-process.js'
import type { Scenario, ScenarioPair } from './scenario.js'

export interface NodeHandle { index: number, role: 'user' | 'relay', peerId: string, addrs: string[] }

export interface NetworkHandles {
  /** user-serving nodes first (0 .. scenario.nodes - 1), then relays */
  nodes: NodeHandle[]
  /** user index -> index of the node that serves the user */
  userNode: number[]
}

export interface SentFrame {
  /** hex of the gossipsub message id: SHA-256 of the stamped frame (`publish(...).hash`) */
  frameId: string
  originNode: number
  toUser: number
}

export interface DeliveryOptions { signal?: AbortSignal, progress?: (s: string) => void }

export interface Delivery {
  readonly name: string
  /** the network's bucket bits; undefined for version 1 */
  readonly bucketBits?: number
  /** the network's stamp_bits when the delivery sets it; undefined for the default */
  readonly stampBits?: number
  /** whether nodes send their own frames along a stem first (origin hiding) @default false */
  readonly stem?: boolean
  startNetwork: (scenario: Scenario, options?: DeliveryOptions) => Promise<NetworkHandles>
  registerPair: (pair: ScenarioPair, options?: DeliveryOptions) => Promise<void>
  /** Until every registered pair can deliver (bounded). */
  waitReady: (options?: DeliveryOptions) => Promise<void>
  send: (fromUser: number, toUser: number, options?: DeliveryOptions) => Promise<SentFrame>
  /** How many of the frames reached their recipient's node within `timeoutMs`. */
  waitDelivered: (frames: SentFrame[], timeoutMs: number, options?: DeliveryOptions) => Promise<number>
  /** Starts every node's count of bytes read from the network afresh. */
  resetBytes: () => Promise<void>
  /** Bytes each node read from the network since resetBytes, by node index. */
  bytesReceived: () => Promise<number[]>
  stop: () => Promise<void>
}

const NODE_PROCESS = fileURLToPath(new URL('./node-process.js', import.meta.url))
const START_BATCH = 4
const READY_TIMEOUT_MS = 180_000
const READY_POLL_MS = 500

export interface V2DeliveryInit {
  bucketBits: number
  /** the network's stamp_bits @default the network's default */
  stampBits?: number
  /** whether nodes send their own frames along a stem first; false is part 1's delivery @default true */
  stem?: boolean
}

interface V2Pair { pair: ScenarioPair, topic: string, key: string }
interface V2User { secret: string, public: string }

export function v2Delivery (init: V2DeliveryInit): Delivery {
  const { bucketBits, stampBits } = init
  const stem = init.stem ?? true
  let scenario: Scenario | undefined
  const procs: NodeProcess[] = []
  const handles: NodeHandle[] = []
  const users: V2User[] = []
  const pairs = new Map<string, V2Pair>()
  const pairKey = (x: number, y: number): string => x < y ? `${x}/${y}` : `${y}/${x}`
  const nodeOf = (user: number): number => scenario!.users[user].node
  const name = `v2 b=${bucketBits}${stem ? ' stems' : ''}`

  async function startOne (index: number, role: 'user' | 'relay', bootstrap: string[]): Promise<void> {
    const p = await NodeProcess.spawn(NODE_PROCESS)
    procs[index] = p
    const req: StartRequest = { bootstrap, relay: role === 'relay', bucketBits, stem, ...(stampBits === undefined ? {} : { stampBits }) }
    const r = await p.call<{ peerId: string, addrs: string[] }>('start', { ...req })
    handles[index] = { index, role, peerId: r.peerId, addrs: r.addrs }
  }

  /** Topics registered on node n (hex). */
  const topicsOn = (n: number): string[] => [...pairs.values()].filter(v => nodeOf(v.pair.a) === n || nodeOf(v.pair.b) === n).map(v => v.topic)

  return {
    name: 'v2',
    bucketBits,
    stampBits,
    stem,

    async startNetwork (s, options = {}) {
      scenario = s
      if (s.relays < 1) throw new RangeError('version 2 needs at least one relay')
      const total = s.nodes + s.relays
      options.progress?.(`${name}: starting ${s.relays} relays and ${s.nodes} home nodes, one process each`)
      // relays first, in a chain; home nodes bootstrap to one relay each, a few at a time
      for (let r = 0; r < s.relays; r++) await startOne(s.nodes + r, 'relay', r === 0 ? [] : [handles[s.nodes + r - 1].addrs[0]])
      for (let i = 0; i < s.nodes; i += START_BATCH) {
        options.signal?.throwIfAborted()
        await Promise.all(Array.from({ length: Math.min(START_BATCH, s.nodes - i) }, async (_x, j) => {
          await startOne(i + j, 'user', [handles[s.nodes + ((i + j) % s.relays)].addrs[0]])
        }))
      }
      users.push(...s.users.map(() => {
        const k = generateX25519()
        return { secret: toHex(k.secretKey), public: toHex(k.publicKey) }
      }))
      if (handles.length !== total) throw new Error('not every node started')
      return { nodes: [...handles], userNode: s.users.map(u => u.node) }
    },

    async registerPair (pair) {
      const t = deriveTopic(Buffer.from(users[pair.a].secret, 'hex'), Buffer.from(users[pair.b].public, 'hex'))
      const v = { pair, topic: toHex(t.topic), key: toHex(t.key) }
      pairs.set(pairKey(pair.a, pair.b), v)
      await Promise.all([nodeOf(pair.a), nodeOf(pair.b)].map(async n => { await procs[n].call('register', { topics: [{ topic: v.topic, key: v.key }] }) }))
    },

    // every home node has a relay among its bucket's subscribers and a non-empty gossipsub mesh
    // in each of its buckets: a publish then reaches the bucket (the pair's nodes never meet)
    async waitReady (options = {}) {
      const start = Date.now()
      const relays = new Set(handles.filter(h => h.role === 'relay').map(h => h.peerId))
      const waiting = new Set(handles.filter(h => h.role === 'user').map(h => h.index))
      let reported = start
      while (waiting.size > 0) {
        options.signal?.throwIfAborted()
        await Promise.all([...waiting].map(async n => {
          const views = await procs[n].call<BucketView[]>('buckets', { topics: topicsOn(n) })
          if (views.every(v => v.mesh.length > 0 && v.peers.some(p => relays.has(p)))) waiting.delete(n)
        }))
        if (waiting.size === 0) break
        if (Date.now() - start > READY_TIMEOUT_MS) throw new Error(`${name}: ${waiting.size} home nodes had no bucket mesh after ${READY_TIMEOUT_MS / 1000} s`)
        if (Date.now() - reported > 10_000) {
          reported = Date.now()
          options.progress?.(`${name}: ${scenario!.nodes - waiting.size}/${scenario!.nodes} home nodes in their buckets' meshes after ${((reported - start) / 1000).toFixed(0)} s`)
        }
        await new Promise(resolve => setTimeout(resolve, READY_POLL_MS))
      }
    },

    async send (fromUser, toUser) {
      const v = pairs.get(pairKey(fromUser, toUser))
      if (v === undefined) throw new RangeError(`users ${fromUser} and ${toUser} are not a registered pair`)
      const origin = nodeOf(fromUser)
      const r = await procs[origin].call<{ frameId: string }>('publish', { topic: v.topic, key: v.key, senderSecret: users[fromUser].secret, recipientPublic: users[toUser].public })
      return { frameId: r.frameId, originNode: origin, toUser }
    },

    async waitDelivered (frames, timeoutMs, options = {}) {
      const deadline = Date.now() + timeoutMs
      const got = await Promise.all(frames.map(async f => await procs[nodeOf(f.toUser)].waitReceived(f.frameId, Math.max(0, deadline - Date.now()), options.signal)))
      return got.filter(t => t !== undefined).length
    },

    async resetBytes () {
      await Promise.all(procs.map(async p => { await p.call('reset-bytes') }))
    },

    async bytesReceived () {
      return await Promise.all(procs.map(async p => await p.call<number>('bytes')))
    },

    async stop () {
      await Promise.all(procs.map(async p => { await p.stop() }))
    }
  }
}
