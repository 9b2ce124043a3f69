/**
 * Private networks (issue 16 point 1) with real processes: asmtpd-cli new-network makes the key,
 * an asmtpd on it accepts a node with the key on each of its libp2p listen addresses (IPv4 and
 * IPv6) and refuses a node with another key or none, in both directions: dialled by them, and
 * dialling them from its bootstrap list. The passphrase KDF is checked against Python's scrypt.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { fromHex, networkKeyFromPassphrase, openStore, parseConfig, toHex, type Store } from '../src/index.js'
import { createAsmtpLibp2p, type AsmtpLibp2p } from '../src/node/libp2p.js'
import { collect } from './helpers/process.js'
import { cleanEnv, NODE_TOOL, nodeFolder, spawnDaemon, type Daemon } from './helpers/daemon.js'
import { waitFor } from './helpers/testnet.js'

/** Independent value: Python's hashlib.scrypt(b'correct horse battery staple', salt=b'asmtp/pnet/v1', n=32768, r=8, p=1, dklen=32). */
const PASSPHRASE_VECTOR = '42ba2afdb0dbc9586b103d1d14d47835a061b6ccbfef35c924a1ce663266af00'

test('the passphrase KDF is scrypt(passphrase, "asmtp/pnet/v1", 2^15, 8, 1) into 32 bytes, and the config turns either field into that key', () => {
  assert.equal(toHex(networkKeyFromPassphrase('correct horse battery staple')), PASSPHRASE_VECTOR)
  const viaPassphrase = parseConfig("secret: k\nnetwork:\n  passphrase: 'correct horse battery staple'\n", { baseDir: '/srv' })
  assert.equal(toHex(viaPassphrase.network.privateKey ?? new Uint8Array()), PASSPHRASE_VECTOR)
  const viaKey = parseConfig(`secret: k\nnetwork:\n  private_key: '${PASSPHRASE_VECTOR}'\n`, { baseDir: '/srv' })
  assert.deepEqual(viaKey.network.privateKey, fromHex(PASSPHRASE_VECTOR))
  const viaSwarmKey = parseConfig(`secret: k\nnetwork:\n  private_key: "/key/swarm/psk/1.0.0/\\n/base16/\\n${PASSPHRASE_VECTOR}"\n`, { baseDir: '/srv' })
  assert.deepEqual(viaSwarmKey.network.privateKey, fromHex(PASSPHRASE_VECTOR))
  assert.equal(parseConfig('secret: k\n', { baseDir: '/srv' }).network.privateKey, null)
})

interface Peer { host: AsmtpLibp2p, store: Store, addr: string }

async function peer (networkKey: Uint8Array | null): Promise<Peer> {
  const store = await openStore({ path: 'pnet-test', memory: true })
  const host = await createAsmtpLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    datastore: store.datastore,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    validators: {},
    selectors: {},
    networkKey
  })
  await host.start()
  return { host, store, addr: host.getMultiaddrs()[0]?.toString() ?? '' }
}

/** A TCP relay in front of `target` that counts the connections made to it and those that closed. */
async function countingProxy (target: string): Promise<{ port: number, opened: number, closed: number, close: () => Promise<void> }> {
  const port = Number(/\/tcp\/(\d+)/.exec(target)?.[1])
  const sockets = new Set<Socket>()
  const counts = { opened: 0, closed: 0 }
  const server = createServer((inbound) => {
    counts.opened++
    const outbound = connect(port, '127.0.0.1')
    sockets.add(inbound).add(outbound)
    inbound.pipe(outbound).pipe(inbound)
    const end = (): void => { inbound.destroy(); outbound.destroy() }
    inbound.once('close', () => { counts.closed++; end() })
    outbound.once('close', end)
    inbound.on('error', end)
    outbound.on('error', end)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no proxy port')
  return {
    port: address.port,
    get opened () { return counts.opened },
    get closed () { return counts.closed },
    close: async () => { for (const s of sockets) s.destroy(); await new Promise(resolve => server.close(resolve)) }
  }
}

test('a node with the wrong key or none is refused on every libp2p port of a private node, dialling in and dialled out', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'asmtp-pnet-'))
  const cleanup: Array<() => Promise<unknown>> = []
  t.after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })
  const made = await collect(spawn(process.execPath, [NODE_TOOL, 'new-network', '--json'], { env: cleanEnv() }), 30_000)
  assert.equal(made.code, 0, made.stderr)
  const printed = JSON.parse(made.stdout) as { privateKey: string, configLines: string[] }
  assert.match(printed.privateKey, /^[0-9a-f]{64}$/)
  assert.deepEqual(printed.configLines, ['network:', `  private_key: '${printed.privateKey}'`])
  const key = fromHex(printed.privateKey)
  const otherKey = new Uint8Array(key)
  otherKey[0] ^= 1

  const right = await peer(key)
  const wrong = await peer(otherKey)
  const none = await peer(null)
  for (const p of [right, wrong, none]) cleanup.push(async () => { await p.host.stop(); await p.store.close() })
  const wrongProxy = await countingProxy(wrong.addr)
  const noneProxy = await countingProxy(none.addr)
  cleanup.push(wrongProxy.close, noneProxy.close)
  const viaProxy = (p: Peer, port: number): string => `/ip4/127.0.0.1/tcp/${port}/p2p/${p.host.peerId.toString()}`

  // the private node dials all three from its bootstrap list (the wrong two through counting proxies)
  const config = await nodeFolder(join(root, 'private'), [
    'secret: ./node.key', 'users: []', 'client:', '  listen: 127.0.0.1:0',
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0, /ip6/::1/tcp/0]',
    `  bootstrap: ['${viaProxy(wrong, wrongProxy.port)}', '${viaProxy(none, noneProxy.port)}', '${right.addr}/p2p/${right.host.peerId.toString()}']`,
    ...printed.configLines.slice(1),
    'storage:', '  memory: true', 'log:', '  level: info'
  ])
  const node: Daemon = await spawnDaemon({ config, cwd: root })
  cleanup.push(node.stop)
  assert.equal(node.listening.length, 2, `IPv4 and IPv6: ${node.listening.join(' ')}`)

  await waitFor(() => right.host.getConnections().some(c => c.remotePeer.toString() === node.peerId), 'the node with the key to connect the private node')
  await waitFor(() => wrongProxy.opened > 0 && wrongProxy.closed === wrongProxy.opened && noneProxy.opened > 0 && noneProxy.closed === noneProxy.opened,
    'the private node to dial the nodes without its key, and those connections to end')
  assert.equal(wrong.host.getConnections().length, 0, 'the wrong-key node holds no connection')
  assert.equal(none.host.getConnections().length, 0, 'the keyless node holds no connection')

  for (const addr of node.listening) {
    const target = multiaddr(addr)
    const connection = await right.host.dial(target, { signal: AbortSignal.timeout(10_000) })
    assert.equal(connection.remotePeer.toString(), node.peerId, `the node with the key connects on ${addr}`)
    for (const [name, p] of [['wrong key', wrong], ['no key', none]] as const) {
      await assert.rejects(p.host.dial(target, { signal: AbortSignal.timeout(10_000) }), `${name} is refused on ${addr}`)
    }
  }
  assert.ok(wrong.host.getConnections().length === 0 && none.host.getConnections().length === 0)
  assert.ok(!node.stdout.includes(wrong.host.peerId.toString()) && !node.stdout.includes(none.host.peerId.toString()), 'the private node never saw them connected')
})
