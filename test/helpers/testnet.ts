/**
 * createTestnet(n): n real asmtp nodes in this process, each with its own libp2p host on
 * 127.0.0.1 port 0 (real TCP), its own LevelDB in a temporary folder, and teardown. In a star,
 * node 0 is a relay (it carries every bucket) and the others are home nodes bootstrapped to
 * it. Nodes can be stopped and started again from the same storage and key.
 */
import '../../src/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ed25519KeyPair } from '../../src/crypto/index.js'
import { loopbackConfig, type LoopbackConfigInit, type NodeConfig } from '../../src/config/index.js'
import { AsmtpNode, type AsmtpNodeInit, type EnvelopeEvent } from '../../src/node/index.js'

export type Topology = 'star' | 'chain' | 'none'

export interface TestnetInit {
  topology?: Topology
  /** overrides for every node's limits */
  limits?: Partial<NodeConfig['limits']>
  /** overrides of every node's network section (bucket_bits, stamp_bits, ...) */
  network?: Partial<Omit<NodeConfig['network'], 'listen' | 'bootstrap' | 'relay'>>
  /** node 0 of a star is a relay @default true */
  relayCenter?: boolean
  /** home nodes (not node 0 of a star) listen nowhere and only dial out, as behind NAT @default false */
  homesUnreachable?: boolean
  relayQuotaBytes?: number
  /** device keys (hex) allowed on every node's client channel */
  users?: string[]
  /** extra AsmtpNode options (intervals) */
  node?: Omit<AsmtpNodeInit, 'config' | 'nodeKey'>
}

export interface AddOptions {
  relay?: boolean
  reachable?: boolean
  network?: Partial<Omit<NodeConfig['network'], 'listen' | 'bootstrap'>>
}

export interface TestNode {
  readonly index: number
  readonly key: Ed25519KeyPair
  readonly dir: string
  node: AsmtpNode
  bootstrap: string[]
  options: AddOptions
  /** every envelope event this node emitted since it was (re)started */
  received: EnvelopeEvent[]
}

export interface Testnet {
  nodes: TestNode[]
  /** stops node i (its storage is kept) */
  stop: (i: number) => Promise<void>
  /** starts node i again from the same storage and key (bootstrap to the given addresses) */
  restart: (i: number, bootstrap?: string[]) => Promise<AsmtpNode>
  /** adds one more node bootstrapped to `bootstrap` */
  add: (bootstrap: string[], options?: AddOptions) => Promise<TestNode>
  teardown: () => Promise<void>
}

export function testConfig (dir: string, bootstrap: string[], limits: Partial<NodeConfig['limits']> = {}, users: string[] = [], network: LoopbackConfigInit['network'] = {}, relayQuotaBytes?: number): NodeConfig {
  // tests raise the per-peer gossip rate: their floods are bursts from one peer
  return loopbackConfig({ dir, bootstrap, users, limits: { maxPeerMessagesPerSecond: 10_000, ...limits }, network, ...(relayQuotaBytes === undefined ? {} : { relayQuotaBytes }) })
}

export async function createTestnet (n: number, init: TestnetInit = {}): Promise<Testnet> {
  const topology = init.topology ?? 'star'
  const nodes: TestNode[] = []

  async function boot (t: TestNode): Promise<AsmtpNode> {
    const network = { ...init.network, ...t.options.network, relay: t.options.relay ?? false, reachable: t.options.reachable ?? true }
    const config = testConfig(t.dir, t.bootstrap, init.limits, init.users, network, init.relayQuotaBytes)
    const node = new AsmtpNode({ peerUpkeepIntervalMs: 1000, ...init.node, config, nodeKey: t.key })
    t.received = []
    node.on('envelope', (e) => { t.received.push(e) })
    await node.start()
    t.node = node
    return node
  }

  async function add (bootstrap: string[], options: AddOptions = {}): Promise<TestNode> {
    const dir = await mkdtemp(join(tmpdir(), 'asmtp-testnet-'))
    const t = { index: nodes.length, key: Ed25519KeyPair.generate(), dir, bootstrap, options, received: [] } as unknown as TestNode
    nodes.push(t)
    await boot(t)
    return t
  }

  const testnet: Testnet = {
    nodes,
    add,
    stop: async (i) => { await nodes[i].node.stop() },
    restart: async (i, bootstrap) => {
      const t = nodes[i]
      await t.node.stop()
      if (bootstrap !== undefined) t.bootstrap = bootstrap
      return await boot(t)
    },
    teardown: async () => {
      await Promise.allSettled(nodes.map(async t => { await t.node.stop() }))
      await Promise.allSettled(nodes.map(async t => { await rm(t.dir, { recursive: true, force: true }) }))
    }
  }
  try {
    for (let i = 0; i < n; i++) {
      let bootstrap: string[] = []
      if (i > 0 && topology === 'star') bootstrap = [nodes[0].node.getMultiaddrs()[0]]
      if (i > 0 && topology === 'chain') bootstrap = [nodes[i - 1].node.getMultiaddrs()[0]]
      const center = i === 0 && topology === 'star'
      const relay = center && (init.relayCenter ?? true)
      await add(bootstrap, { relay, reachable: center || init.homesUnreachable !== true })
    }
  } catch (err) {
    await testnet.teardown()
    throw err
  }
  return testnet
}

/** Polls `condition` until it holds; fails after `timeoutMs` naming `what`. Never a fixed sleep. */
export async function waitFor (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}
