/**
 * createTestnet(n): n real asmtp nodes in this process, each with its own libp2p host on
 * 127.0.0.1 port 0 (real TCP), its own LevelDB in a temporary folder, and teardown. Nodes can
 * be stopped and started again from the same storage and key (store-and-forward tests).
 */
import '../../src/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ed25519KeyPair } from '../../src/crypto/index.js'
import { loopbackConfig, type NodeConfig } from '../../src/config/index.js'
import { AsmtpNode, type EnvelopeEvent } from '../../src/node/index.js'

export type Topology = 'star' | 'chain' | 'none'

export interface TestnetInit {
  topology?: Topology
  /** overrides for every node's limits */
  limits?: Partial<NodeConfig['limits']>
  rendezvousIntervalMs?: number
  /** device keys (hex) allowed on every node's client channel */
  users?: string[]
}

export interface TestNode {
  readonly index: number
  readonly key: Ed25519KeyPair
  readonly dir: string
  node: AsmtpNode
  bootstrap: string[]
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
  add: (bootstrap: string[]) => Promise<TestNode>
  teardown: () => Promise<void>
}

export function testConfig (dir: string, bootstrap: string[], limits: Partial<NodeConfig['limits']> = {}, users: string[] = []): NodeConfig {
  // tests raise the per-peer gossip rate: their floods are bursts from one peer
  return loopbackConfig({ dir, bootstrap, users, limits: { maxPeerMessagesPerSecond: 10_000, ...limits } })
}

export async function createTestnet (n: number, init: TestnetInit = {}): Promise<Testnet> {
  const topology = init.topology ?? 'star'
  const nodes: TestNode[] = []
  const rendezvousIntervalMs = init.rendezvousIntervalMs ?? 500

  async function boot (t: TestNode): Promise<AsmtpNode> {
    const node = new AsmtpNode({ config: testConfig(t.dir, t.bootstrap, init.limits, init.users), nodeKey: t.key, rendezvousIntervalMs })
    t.received = []
    node.on('envelope', (e) => { t.received.push(e) })
    await node.start()
    t.node = node
    return node
  }

  async function add (bootstrap: string[]): Promise<TestNode> {
    const dir = await mkdtemp(join(tmpdir(), 'asmtp-testnet-'))
    const t = { index: nodes.length, key: Ed25519KeyPair.generate(), dir, bootstrap, received: [] } as unknown as TestNode
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
      await add(bootstrap)
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
