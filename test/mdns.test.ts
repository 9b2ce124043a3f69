/**
 * LAN discovery (issue 16 point 2) with real processes: two asmtpd on `network.mdns: true`,
 * no bootstrap list, each in its own network namespace joined to the other by a bridge (where
 * multicast works), find each other and carry mail between alice on one and bob on the other.
 * Without mDNS the same two nodes never meet (the control case), so the mail is mDNS's doing.
 * The namespaces and the bridge have names unique to this run and are deleted on every exit.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Account } from '../src/index.js'
import { needsRoot } from './helpers/root.js'
import { FAST, syncUntil, textsOf } from './helpers/accounts.js'
import { nodeFolder, spawnDaemon, type Daemon } from './helpers/daemon.js'

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] }) }

interface Lan { namespaces: string[], addresses: string[], remove: () => void }

/** A bridge in the root namespace and `n` namespaces on it, each with one address. */
function createLan (n: number): Lan {
  const id = `${process.pid % 100000}${Math.floor(Math.random() * 100)}`
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250)}`
  const bridge = `amb${id}`.slice(0, 15)
  const namespaces: string[] = []
  const remove = (): void => {
    for (const ns of namespaces) { try { ip('netns', 'del', ns) } catch { /* already gone */ } }
    try { ip('link', 'del', bridge) } catch { /* already gone */ }
  }
  try {
    ip('link', 'add', 'name', bridge, 'type', 'bridge')
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge)
    ip('link', 'set', bridge, 'up')
    const addresses: string[] = []
    for (let i = 0; i < n; i++) {
      const ns = `asmtp-mdns-${id}-${i}`
      const veth = `amv${id}${i}`.slice(0, 15)
      ip('netns', 'add', ns)
      namespaces.push(ns)
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      ip('link', 'set', veth, 'master', bridge)
      ip('link', 'set', veth, 'up')
      const address = `${subnet}.${i + 2}`
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
      addresses.push(address)
    }
    return { namespaces, addresses, remove }
  } catch (err) {
    remove()
    throw err
  }
}

async function lanNode (root: string, name: string, ns: string, address: string, users: string[], mdns: boolean): Promise<Daemon> {
  const config = await nodeFolder(join(root, name), [
    `users: [${users.map(u => `'${u}'`).join(', ')}]`, 'client:', `  listen: ${address}:0`,
    'network:', `  listen: [/ip4/${address}/tcp/0]`, '  bootstrap: []', `  mdns: ${mdns}`, '  bucket_bits: 0',
    'storage:', '  memory: true', 'metrics:', `  listen: ${address}:0`, 'log:', '  level: info'
  ], { key: false })
  return await spawnDaemon({ config, cwd: root, wrapper: ['ip', 'netns', 'exec', ns] })
}

test('two nodes on one LAN with mdns and no bootstrap list find each other and carry mail', { skip: needsRoot('ip') }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'asmtp-mdns-'))
  const lan = createLan(2)
  const daemons: Daemon[] = []
  t.after(async () => {
    for (const d of daemons) await d.stop().catch(() => {})
    lan.remove()
    await rm(root, { recursive: true, force: true })
  })
  const alice = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
  const bob = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
  const aliceKey = (await alice.identity()).deviceKey
  const bobKey = (await bob.identity()).deviceKey
  const [nsA = '', nsB = ''] = lan.namespaces
  const [addrA = '', addrB = ''] = lan.addresses

  // control: without mdns the two never meet
  const quietA = await lanNode(root, 'quiet-a', nsA, addrA, [], false)
  daemons.push(quietA)
  const quietB = await lanNode(root, 'quiet-b', nsB, addrB, [], false)
  daemons.push(quietB)

  const nodeA = await lanNode(root, 'node-a', nsA, addrA, [aliceKey], true)
  daemons.push(nodeA)
  const nodeB = await lanNode(root, 'node-b', nsB, addrB, [bobKey], true)
  daemons.push(nodeB)
  const a = await Account.open({ dir: join(root, 'alice'), remote: { remoteAddress: nodeA.clientAddress, remoteId: nodeA.publicId }, ...FAST })
  const b = await Account.open({ dir: join(root, 'bob'), remote: { remoteAddress: nodeB.clientAddress, remoteId: nodeB.publicId }, ...FAST })
  await a.addContact('bob', { passport: (await b.passport()).export() })
  await b.addContact('alice', { passport: (await a.passport()).export() })
  await a.sync()
  await b.sync()
  await a.send('bob', { text: 'found you on the LAN' })
  await syncUntil(b, 'bob to get the mail over the LAN', inbox => textsOf(inbox, 'in').includes('found you on the LAN') ? true : undefined, 90_000)

  const peersOf = async (d: Daemon): Promise<string[]> => (await d.status()).peers.map(p => p.peerId)
  assert.ok((await peersOf(nodeA)).includes(nodeB.peerId), 'A is connected to B')
  assert.ok((await peersOf(nodeB)).includes(nodeA.peerId), 'B is connected to A')
  assert.deepEqual(await peersOf(quietA), [], 'the node without mdns found nobody')
  assert.deepEqual(await peersOf(quietB), [], 'nor did its neighbour')
})
