import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect, createServer, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { AsmtpError, type AsmtpErrorCode } from '../src/errors.js'
import { toHex } from '../src/bytes.js'
import { blake2b256 } from '../src/crypto/hash.js'
import { Ed25519KeyPair } from '../src/crypto/ed25519.js'
import {
  connectClient, createClientServer, ErrorCode, MessageType, WRONG_NODE_MESSAGE,
  type BackendEnvelope, type ChannelLimits, type ClientBackend, type ClientConnection, type ClientServer
} from '../src/channel/index.js'
import { FrameSocket } from '../src/channel/frame-socket.js'
import { channelStaticKey, IkInitiator, nodeStaticFromId, type TransportKeys } from '../src/channel/handshake.js'
import { CipherState, FrameCipher } from '../src/channel/transport-cipher.js'
import { decodeFramePlaintext, encodeFramePlaintext, encodePublish, encodeRegisterTopic, type ChannelMessage } from '../src/channel/messages.js'
import { decodeError, type ErrorBody } from '../src/channel/error-codes.js'

// ---- an in-memory ClientBackend ------------------------------------------------------------------

class FakeBackend implements ClientBackend {
  readonly calls: string[] = []
  /** While set, publish waits for it (requests in flight). */
  hold: Promise<void> | null = null
  private readonly passports = new Map<string, Uint8Array>()
  private readonly owners = new Map<string, Set<string>>()
  private readonly stored = new Map<string, Array<{ seq: bigint, data: Uint8Array }>>()
  private readonly listeners = new Set<(e: BackendEnvelope) => void>()
  private seq = 0n

  async putPassport (bytes: Uint8Array): Promise<{ export: () => Uint8Array }> {
    this.calls.push('putPassport')
    if (bytes[0] === 0xba) throw new AsmtpError('PASSPORT_BAD_SIGNATURE', 'block 0: signature does not verify')
    const copy = new Uint8Array(bytes)
    this.passports.set(toHex(blake2b256(copy)), copy)
    return await Promise.resolve({ export: () => copy })
  }

  async getPassport (id: Uint8Array): Promise<{ export: () => Uint8Array }> {
    this.calls.push('getPassport')
    const p = this.passports.get(toHex(id))
    if (p === undefined) throw new AsmtpError('NOT_FOUND', `passport ${toHex(id)} not found`)
    return await Promise.resolve({ export: () => p })
  }

  async registerTopic (topic: Uint8Array, _key: Uint8Array, owner: string): Promise<void> {
    this.calls.push('registerTopic')
    const set = this.owners.get(toHex(topic)) ?? new Set<string>()
    set.add(owner)
    this.owners.set(toHex(topic), set)
    await Promise.resolve()
  }

  async deregisterTopic (topic: Uint8Array, owner: string): Promise<void> {
    this.calls.push('deregisterTopic')
    this.owners.get(toHex(topic))?.delete(owner)
    await Promise.resolve()
  }

  isTopicOwner (topic: Uint8Array, owner: string): boolean {
    this.calls.push('isTopicOwner')
    return this.owners.get(toHex(topic))?.has(owner) ?? false
  }

  async publish (topic: Uint8Array, envelope: Uint8Array): Promise<{ stored: boolean, seq: bigint }> {
    this.calls.push('publish')
    if (this.hold !== null) await this.hold
    const list = this.stored.get(toHex(topic)) ?? []
    this.stored.set(toHex(topic), list)
    const same = list.find(e => Buffer.compare(e.data, envelope) === 0)
    if (same !== undefined) return { stored: false, seq: same.seq }
    const item = { seq: ++this.seq, data: new Uint8Array(envelope) }
    list.push(item)
    for (const l of this.listeners) l({ topic, ...item })
    return { stored: true, seq: item.seq }
  }

  async query (topic: Uint8Array, after: bigint, limit = 1000): Promise<{ envelopes: Array<{ seq: bigint, data: Uint8Array }>, cursor: bigint, more: boolean }> {
    this.calls.push('query')
    const all = (this.stored.get(toHex(topic)) ?? []).filter(e => e.seq > after)
    const envelopes = all.slice(0, limit)
    return await Promise.resolve({ envelopes, cursor: envelopes.at(-1)?.seq ?? after, more: all.length > envelopes.length })
  }

  onEnvelope (listener: (e: BackendEnvelope) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }
}

// ---- helpers -------------------------------------------------------------------------------------

interface Node {
  server: ClientServer
  backend: FakeBackend
  nodeKey: Ed25519KeyPair
  devices: Ed25519KeyPair[]
  port: number
}

async function startNode (limits?: Partial<ChannelLimits>, deviceCount = 3): Promise<Node> {
  const backend = new FakeBackend()
  const nodeKey = Ed25519KeyPair.generate()
  const devices = Array.from({ length: deviceCount }, () => Ed25519KeyPair.generate())
  const server = createClientServer({ backend, nodeKey, users: devices.map(d => toHex(d.publicKey)), host: '127.0.0.1', port: 0, limits })
  const { port } = await server.start()
  return { server, backend, nodeKey, devices, port }
}

async function connect (node: Node, device: Ed25519KeyPair, extra: Partial<Parameters<typeof connectClient>[0]> = {}): Promise<ClientConnection> {
  return await connectClient({ host: '127.0.0.1', port: node.port, remoteId: toHex(node.nodeKey.publicKey), device, ...extra })
}

const isCode = (code: AsmtpErrorCode, message?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof AsmtpError, `expected AsmtpError ${code}, got ${String(e)}`)
  assert.equal(e.code, code, e.message)
  if (message !== undefined) assert.match(e.message, message)
  return true
}

async function openSocket (port: number): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => { resolve(s) })
    s.once('error', reject)
  })
}

/** A client made by hand, to send frames the library never would. */
interface Raw { socket: Socket, frames: FrameSocket, keys: TransportKeys, tx: FrameCipher, rx: FrameCipher }

async function rawConnect (node: Node, device: Ed25519KeyPair): Promise<Raw> {
  const socket = await openSocket(node.port)
  const frames = new FrameSocket(socket, { min: 1, max: 65535 })
  const initiator = new IkInitiator(channelStaticKey(device), nodeStaticFromId(node.nodeKey.publicKey))
  frames.write(initiator.writeMessage1(Uint8Array.of(1)))
  assert.deepEqual(initiator.readMessage2(await frames.readOne()), Uint8Array.of(1))
  const keys = initiator.keys()
  return { socket, frames, keys, tx: new FrameCipher(keys.tx), rx: new FrameCipher(keys.rx) }
}

function sendRaw (raw: Raw, type: number, id: number, body: Uint8Array = new Uint8Array(0)): void {
  raw.frames.write(raw.tx.seal(encodeFramePlaintext(type, id, body)))
}

async function readRaw (raw: Raw): Promise<ChannelMessage> {
  return decodeFramePlaintext(raw.rx.open(await raw.frames.readOne()))
}

/** Reads until the node closes; returns the connection-level error frame it sent first, if any. */
async function expectClosed (raw: Raw, ms = 5000): Promise<ErrorBody | null> {
  const timer = setTimeout(() => { raw.frames.destroy(new Error('the node did not close the connection')) }, ms)
  let error: ErrorBody | null = null
  for (;;) {
    let m: ChannelMessage
    try {
      m = await readRaw(raw)
    } catch {
      break
    }
    if (m.type === MessageType.ERROR && m.id === 0) error = decodeError(m.body)
  }
  clearTimeout(timer)
  const reason = await raw.frames.closed
  assert.notEqual(reason?.message, 'the node did not close the connection', `the node kept the connection open for ${ms} ms`)
  return error
}

async function socketClosed (socket: Socket): Promise<number> {
  let received = 0
  socket.on('data', (d: Buffer) => { received += d.length })
  if (!socket.destroyed) await new Promise(resolve => socket.once('close', resolve))
  return received
}

/** Waits for a condition (bounded; never a fixed sleep). */
async function waitFor (condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

const topicOf = (): Uint8Array => new Uint8Array(randomBytes(32))

// ---- tests ---------------------------------------------------------------------------------------

test('handshake and request/reply both ways, each frame under a freshly rekeyed key in both directions', async () => {
  const node = await startNode()
  try {
    const raw = await rawConnect(node, node.devices[0])
    sendRaw(raw, MessageType.PING, 1, new TextEncoder().encode('one'))
    sendRaw(raw, MessageType.PING, 2, new TextEncoder().encode('two'))
    const r1 = await raw.frames.readOne()
    const r2 = await raw.frames.readOne()
    // the node's first reply opens under the split key; its second one does not under that key at nonce 1 ...
    const unrekeyed = new CipherState(raw.keys.rx)
    assert.deepEqual(decodeFramePlaintext(unrekeyed.decrypt(r1)!), { type: 0x80, id: 1, body: new TextEncoder().encode('one') })
    assert.equal(unrekeyed.decrypt(r2), null)
    // ... but does under REKEY(split key), so the node rekeyed its sending state after frame 1
    assert.deepEqual(decodeFramePlaintext(raw.rx.open(r1)), { type: 0x80, id: 1, body: new TextEncoder().encode('one') })
    assert.deepEqual(decodeFramePlaintext(raw.rx.open(r2)), { type: 0x80, id: 2, body: new TextEncoder().encode('two') })

    // and the node's receiving state was rekeyed: frame 2 under the un-rekeyed key is refused
    const other = await rawConnect(node, node.devices[1])
    const stale = new CipherState(other.keys.tx)
    other.frames.write(stale.encrypt(encodeFramePlaintext(MessageType.PING, 1, Uint8Array.of(1))))
    other.frames.write(stale.encrypt(encodeFramePlaintext(MessageType.PING, 2, Uint8Array.of(2))))
    assert.deepEqual((await readRaw(other)).id, 1)
    const err = await expectClosed(other)
    assert.equal(err?.code, ErrorCode.PROTOCOL_VIOLATION)
    assert.match(err?.message ?? '', /FRAME_INVALID/)

    sendRaw(raw, MessageType.PING, 3)
    assert.equal((await readRaw(raw)).id, 3, 'the first connection is unaffected')
    raw.frames.end()

    const conn = await connect(node, node.devices[2])
    const topic = topicOf()
    await conn.registerTopic(topic, topicOf())
    assert.deepEqual(await conn.publish(topic, Uint8Array.of(1, 2, 3)), { stored: true, seq: 1n })
    assert.deepEqual(await conn.publish(topic, Uint8Array.of(1, 2, 3)), { stored: false, seq: 1n })
    const q = await conn.query(topic, 0n)
    assert.deepEqual(q, { cursor: 1n, more: false, envelopes: [{ seq: 1n, data: Uint8Array.of(1, 2, 3) }] })
    const c = conn.transportCounters
    assert.equal(c.sent, 4n)
    assert.equal(c.received, 4n)
    assert.equal(c.sendRekeys, 4)
    assert.equal(c.receiveRekeys, 4)
    await conn.close()
    assert.equal(await conn.closed, null)
  } finally {
    await node.server.stop()
  }
})

test('PING/PONG echoes; a 200 KiB message is fragmented with MORE frames and reassembled both ways; 8 MiB in flight back-pressures', async () => {
  const node = await startNode()
  try {
    const conn = await connect(node, node.devices[0])
    assert.deepEqual(await conn.ping(), new Uint8Array(0))
    assert.deepEqual(await conn.ping(Uint8Array.of(7, 8)), Uint8Array.of(7, 8))
    const before = conn.transportCounters
    const big = new Uint8Array(randomBytes(200 * 1024))
    assert.deepEqual(await conn.ping(big), big)
    const after = conn.transportCounters
    assert.equal(after.sent - before.sent, 4n, '200 KiB travels as 3 MORE frames and a PING')
    assert.equal(after.received - before.received, 4n)
    // 8 MiB each way at once: the sender waits for its queue to drain, the node stops reading
    // requests while its replies pile up, and nobody is disconnected
    const bodies = Array.from({ length: 8 }, () => new Uint8Array(randomBytes(1024 * 1024)))
    const echoes = await Promise.all(bodies.map(async b => await conn.ping(b)))
    assert.ok(echoes.every((e, i) => Buffer.compare(e, bodies[i]) === 0))
    const passport = new Uint8Array(randomBytes(300 * 1024))
    assert.deepEqual(await conn.putPassport(passport), passport)
    assert.deepEqual(await conn.getPassport(blake2b256(passport)), passport)
    await conn.close()
  } finally {
    await node.server.stop()
  }
})

test('connection errors a person meets: unreachable node, wrong remote id, not an asmtp node, no answer', async () => {
  const node = await startNode()
  const dead = createServer()
  await new Promise<void>(resolve => dead.listen(0, '127.0.0.1', resolve))
  const deadPort = (dead.address() as { port: number }).port
  await new Promise(resolve => dead.close(resolve))
  const smtp = createServer(s => { s.end('220 mail.example.org ESMTP ready\r\n') })
  const silent = createServer(() => {})
  await new Promise<void>(resolve => smtp.listen(0, '127.0.0.1', resolve))
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  try {
    const device = node.devices[0]
    const remoteId = toHex(node.nodeKey.publicKey)
    await assert.rejects(connectClient({ host: '127.0.0.1', port: deadPort, remoteId, device }),
      isCode('HANDSHAKE_FAILED', new RegExp(`^cannot reach the node at 127\\.0\\.0\\.1:${deadPort}$`)))
    await assert.rejects(connectClient({ host: '127.0.0.1', port: node.port, remoteId: toHex(Ed25519KeyPair.generate().publicKey), device }),
      (e: unknown) => isCode('HANDSHAKE_FAILED')(e) && (e as Error).message === WRONG_NODE_MESSAGE)
    assert.equal(WRONG_NODE_MESSAGE, 'handshake failed: wrong --remote-id or not an asmtp node')
    await assert.rejects(connectClient({ host: '127.0.0.1', port: (smtp.address() as { port: number }).port, remoteId, device }),
      (e: unknown) => isCode('HANDSHAKE_FAILED')(e) && (e as Error).message === WRONG_NODE_MESSAGE)
    await assert.rejects(connectClient({ host: '127.0.0.1', port: (silent.address() as { port: number }).port, remoteId, device, timeoutMs: 200 }),
      isCode('HANDSHAKE_FAILED', /^handshake failed: no answer from 127\.0\.0\.1:\d+ within 200 ms/))
    const ac = new AbortController()
    const pending = connectClient({ host: '127.0.0.1', port: (silent.address() as { port: number }).port, remoteId, device, signal: ac.signal })
    ac.abort()
    await assert.rejects(pending, isCode('ABORTED'))
    await assert.rejects(connectClient({ host: '127.0.0.1', port: node.port, remoteId: 'zz', device }), isCode('DECODE_INVALID'))
    const conn = await connect(node, device)
    await conn.ping()
    await conn.close()
  } finally {
    smtp.close()
    silent.close()
    await node.server.stop()
  }
})

test('a device not in users is refused with UNAUTHORIZED_DEVICE before any request; the backend saw no call', async () => {
  const node = await startNode()
  try {
    const stranger = Ed25519KeyPair.generate()
    await assert.rejects(connect(node, stranger), isCode('UNAUTHORIZED_DEVICE',
      new RegExp(`^this device is not in the node's users: add ${toHex(stranger.publicKey)} to users in its config$`)))
    // by hand: message 2 says 0x00 and the node closes, whatever the device sends after it
    const socket = await openSocket(node.port)
    const frames = new FrameSocket(socket, { min: 1, max: 65535 })
    const initiator = new IkInitiator(channelStaticKey(stranger), nodeStaticFromId(node.nodeKey.publicKey))
    frames.write(initiator.writeMessage1(Uint8Array.of(1)))
    assert.deepEqual(initiator.readMessage2(await frames.readOne()), Uint8Array.of(0))
    const tx = new FrameCipher(initiator.keys().tx)
    frames.write(tx.seal(encodeFramePlaintext(MessageType.REGISTER_TOPIC, 1, encodeRegisterTopic({ topic: topicOf(), key: topicOf() }))))
    await assert.rejects(frames.readOne())
    await frames.closed
    assert.deepEqual(node.backend.calls, [])
    await waitFor(() => node.server.connections === 0, 'the node to count 0 connection(s)')
  } finally {
    await node.server.stop()
  }
})

test('garbage, truncated, oversized, undecryptable and out-of-order frames close only that connection', async () => {
  const node = await startNode()
  const [alice, bob] = [node.devices[0], node.devices[1]]
  const keeper = await connect(node, alice)
  const stillWorks = async (): Promise<void> => { assert.deepEqual(await keeper.ping(Uint8Array.of(42)), Uint8Array.of(42)) }
  try {
    // before the handshake: the node drops the socket without a word
    for (const bytes of [
      Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(300)]), // oversized length
      Buffer.concat([Buffer.from([0, 97]), randomBytes(97)]), // a message 1 that does not decrypt
      Buffer.from([0, 0]) // empty message 1
    ]) {
      const s = await openSocket(node.port)
      s.write(bytes)
      assert.equal(await socketClosed(s), 0)
      await stillWorks()
    }
    const half = await openSocket(node.port)
    half.end(Buffer.from([0, 97, 1, 2, 3])) // truncated message 1, then EOF
    assert.equal(await socketClosed(half), 0)

    // after the handshake: an error frame under request id 0, then the node closes
    const cases: Array<{ note: string, code: number, message: RegExp, act: (raw: Raw) => void }> = [
      { note: 'random bytes as a frame', code: ErrorCode.PROTOCOL_VIOLATION, message: /FRAME_INVALID/, act: raw => { raw.frames.write(randomBytes(40)) } },
      { note: 'frame shorter than a tag and header', code: ErrorCode.PROTOCOL_VIOLATION, message: /FRAME_INVALID/, act: raw => { raw.frames.write(randomBytes(3)) } },
      { note: 'empty MORE part', code: ErrorCode.PROTOCOL_VIOLATION, message: /empty MORE/, act: raw => { sendRaw(raw, MessageType.MORE, 1) } },
      {
        note: 'MORE parts beyond 1 MiB',
        code: ErrorCode.PROTOCOL_VIOLATION,
        message: /FRAME_TOO_LARGE/,
        act: raw => { for (let i = 0; i < 17; i++) sendRaw(raw, MessageType.MORE, 1, new Uint8Array(65514)) }
      },
      {
        note: 'more fragmented messages open than requests allowed in flight',
        code: ErrorCode.PROTOCOL_VIOLATION,
        message: /fragmented messages open/,
        act: raw => { for (let id = 1; id <= 33; id++) sendRaw(raw, MessageType.MORE, id, Uint8Array.of(1)) }
      },
      { note: 'a reply type from the device', code: ErrorCode.PROTOCOL_VIOLATION, message: /may not send type 0x80/, act: raw => { sendRaw(raw, 0x80, 1) } },
      { note: 'request id 0', code: ErrorCode.PROTOCOL_VIOLATION, message: /request id 0 is reserved/, act: raw => { sendRaw(raw, MessageType.PING, 0) } },
      {
        note: 'a request id reused while in flight',
        code: ErrorCode.PROTOCOL_VIOLATION,
        message: /already in flight/,
        act: raw => {
          node.backend.hold = new Promise(() => {})
          sendRaw(raw, MessageType.PUBLISH, 5, encodePublish({ topic: topicOf(), envelope: Uint8Array.of(1) }))
          sendRaw(raw, MessageType.PUBLISH, 5, encodePublish({ topic: topicOf(), envelope: Uint8Array.of(2) }))
        }
      }
    ]
    for (const c of cases) {
      const raw = await rawConnect(node, bob)
      c.act(raw)
      const err = await expectClosed(raw)
      assert.equal(err?.code, c.code, c.note)
      assert.match(err?.message ?? '', c.message, c.note)
      await stillWorks()
    }
    node.backend.hold = null
    // a truncated frame followed by EOF
    const cut = await rawConnect(node, bob)
    cut.socket.end(Buffer.from([0, 100, 1, 2, 3]))
    await cut.frames.closed
    await stillWorks()

    // well-formed frames the node does not understand get an error reply and the connection stays
    const raw = await rawConnect(node, bob)
    sendRaw(raw, 0x20, 1)
    let m = await readRaw(raw)
    assert.deepEqual([m.type, m.id, decodeError(m.body).code], [MessageType.ERROR, 1, ErrorCode.UNKNOWN_TYPE])
    sendRaw(raw, MessageType.REGISTER_TOPIC, 2, new Uint8Array(10))
    m = await readRaw(raw)
    assert.deepEqual([m.type, m.id, decodeError(m.body).code], [MessageType.ERROR, 2, ErrorCode.BAD_REQUEST])
    assert.match(decodeError(m.body).message, /^DECODE_TRUNCATED: /)
    sendRaw(raw, MessageType.PING, 3)
    assert.equal((await readRaw(raw)).type, 0x80)
    raw.frames.end()
    await raw.frames.closed

    await stillWorks()
    await waitFor(() => node.server.connections === 1, 'the node to count 1 connection(s)')
    assert.equal(node.backend.calls.filter(c => c !== 'publish').length, 0)
  } finally {
    await keeper.close()
    await node.server.stop()
  }
})

test('100 concurrent clients on one server, each doing a few requests: all succeed', async () => {
  const node = await startNode({}, 100)
  try {
    const results = await Promise.all(node.devices.map(async (device, i) => {
      const conn = await connect(node, device)
      const topic = topicOf()
      await conn.registerTopic(topic, topicOf())
      assert.deepEqual(await conn.ping(Uint8Array.of(i)), Uint8Array.of(i))
      const a = await conn.publish(topic, new Uint8Array(randomBytes(500)))
      const b = await conn.publish(topic, new Uint8Array(randomBytes(500)))
      const q = await conn.query(topic, 0n)
      assert.deepEqual(q.envelopes.map(e => e.seq), [a.seq, b.seq])
      await conn.close()
      return q.envelopes.length
    }))
    assert.equal(results.reduce((x, y) => x + y, 0), 200)
    await waitFor(() => node.server.connections === 0, 'the node to count 0 connection(s)')
  } finally {
    await node.server.stop()
  }
})

test('QUERY and WATCH are refused for a topic this device did not register; WATCH pushes arrive in order', async () => {
  const node = await startNode()
  try {
    const alice = await connect(node, node.devices[0])
    const bob = await connect(node, node.devices[1])
    const topic = topicOf()
    const elsewhere = topicOf()
    await alice.registerTopic(topic, topicOf())
    await bob.registerTopic(elsewhere, topicOf())
    await assert.rejects(bob.query(topic, 0n), isCode('TOPIC_NOT_REGISTERED', /not registered by this device/))
    await assert.rejects(bob.watch(() => {}, { topics: [topic] }), isCode('TOPIC_NOT_REGISTERED', /not registered by this device/))
    assert.equal(node.backend.calls.includes('query'), false, 'the backend was not asked')

    const seen: Array<{ topic: string, seq: bigint, data: string }> = []
    const stop = await alice.watch(e => { seen.push({ topic: toHex(e.topic), seq: e.seq, data: toHex(e.data) }) })
    await assert.rejects(alice.watch(() => {}), isCode('PROTOCOL_VIOLATION'))
    const sent: string[] = []
    for (let i = 0; i < 50; i++) {
      const env = new Uint8Array(randomBytes(100 + i))
      sent.push(toHex(env))
      await bob.publish(topic, env)
      await bob.publish(elsewhere, new Uint8Array(randomBytes(10)))
    }
    await alice.ping()
    assert.deepEqual(seen.map(s => s.data), sent)
    assert.ok(seen.every(s => s.topic === toHex(topic)))
    assert.ok(seen.every((s, i) => i === 0 || s.seq > (seen[i - 1]?.seq ?? 0n)))

    await alice.deregisterTopic(topic)
    await bob.publish(topic, Uint8Array.of(9, 9))
    await alice.ping()
    assert.equal(seen.length, 50, 'no pushes after deregistering')
    await alice.registerTopic(topic, topicOf())
    await bob.publish(topic, Uint8Array.of(8, 8))
    await alice.ping()
    assert.equal(seen.length, 51, 'a topic registered later is watched at once')
    await stop()
    await bob.publish(topic, Uint8Array.of(7, 7))
    await alice.ping()
    assert.equal(seen.length, 51, 'no pushes after stopping')
    const stopTopics = await alice.watch(e => { seen.push({ topic: toHex(e.topic), seq: e.seq, data: toHex(e.data) }) }, { topics: [topic] })
    await bob.publish(topic, Uint8Array.of(6, 6))
    await alice.ping()
    assert.equal(seen.at(-1)?.data, '0606')
    await stopTopics()
    await alice.close()
    await bob.close()
  } finally {
    await node.server.stop()
  }
})

test('QUERY replies are cut to fit the 1 MiB message limit and say there is more', async () => {
  const node = await startNode()
  try {
    const conn = await connect(node, node.devices[0])
    const topic = topicOf()
    await conn.registerTopic(topic, topicOf())
    for (let i = 0; i < 20; i++) await conn.publish(topic, new Uint8Array(60 * 1024).fill(i))
    const first = await conn.query(topic, 0n)
    assert.ok(first.more)
    assert.equal(first.envelopes.length, 17)
    assert.equal(first.cursor, first.envelopes.at(-1)?.seq)
    const rest = await conn.query(topic, first.cursor)
    assert.equal(rest.more, false)
    assert.deepEqual([...first.envelopes, ...rest.envelopes].map(e => e.data[0]), Array.from({ length: 20 }, (_, i) => i))
    const two = await conn.query(topic, 0n, 2)
    assert.deepEqual([two.envelopes.length, two.more, two.cursor], [2, true, 2n])
    await conn.close()
  } finally {
    await node.server.stop()
  }
})

test('requests in flight are bounded, time out, abort, and node errors come back as AsmtpErrors', async () => {
  const node = await startNode({ maxInFlight: 4, requestTimeoutMs: 500 })
  try {
    const topic = topicOf()
    let release!: () => void
    node.backend.hold = new Promise(resolve => { release = resolve })
    // a client that ignores the node's bound gets TOO_MANY_REQUESTS for the excess
    const greedy = await connect(node, node.devices[0], { limits: { maxInFlight: 10 } })
    const greedyResults = Promise.allSettled(Array.from({ length: 10 }, async (_, i) => await greedy.publish(topic, Uint8Array.of(i))))
    // the library's own bound queues requests instead
    const polite = await connect(node, node.devices[1], { limits: { maxInFlight: 4 } })
    const politeResults = Promise.allSettled(Array.from({ length: 10 }, async (_, i) => await polite.publish(topic, Uint8Array.of(100 + i))))
    await greedy.ping()
    release()
    node.backend.hold = null
    const g = await greedyResults
    assert.equal(g.filter(r => r.status === 'fulfilled').length, 4)
    for (const r of g.filter(r => r.status === 'rejected')) isCode('RATE_LIMITED', /too many requests/)(r.reason)
    const p = await politeResults
    assert.deepEqual(p.filter(r => r.status === 'rejected').map(r => String(r.reason)), [])

    // the node's own request timeout
    node.backend.hold = new Promise(() => {})
    await assert.rejects(polite.publish(topic, Uint8Array.of(1, 1)), isCode('TIMEOUT'))
    // the client's timeout and AbortSignal; a late reply is swallowed
    await assert.rejects(polite.publish(topic, Uint8Array.of(2, 2), { timeoutMs: 50 }), isCode('TIMEOUT', /did not answer within 50 ms/))
    const ac = new AbortController()
    const aborted = polite.publish(topic, Uint8Array.of(3, 3), { signal: ac.signal })
    ac.abort()
    await assert.rejects(aborted, isCode('ABORTED'))
    await new Promise(resolve => setTimeout(resolve, 600))
    node.backend.hold = null
    await polite.ping()

    await assert.rejects(polite.putPassport(Uint8Array.of(0xba, 1, 2)), isCode('PASSPORT_BAD_SIGNATURE', /signature does not verify/))
    await assert.rejects(polite.getPassport(new Uint8Array(32)), isCode('NOT_FOUND'))
    await assert.rejects(polite.getPassport(new Uint8Array(5)), RangeError)
    await greedy.close()
    await polite.close()
  } finally {
    await node.server.stop()
  }
})

test('handshake and idle timeouts close silent connections', async () => {
  const node = await startNode({ handshakeTimeoutMs: 300, idleTimeoutMs: 400 })
  try {
    const silent = await openSocket(node.port)
    const t0 = Date.now()
    await socketClosed(silent)
    assert.ok(Date.now() - t0 < 2000)
    const idle = await connect(node, node.devices[0])
    isCode('TIMEOUT', /^node: no frame for 400 ms$/)(await idle.closed)
    await waitFor(() => node.server.connections === 0, 'the node to drop both connections')
  } finally {
    await node.server.stop()
  }
})

test('a watcher that does not read its pushes is disconnected, others are not; stop() closes everyone', async () => {
  const node = await startNode({ maxMessageBytes: 128 * 1024, maxSendQueueBytes: 256 * 1024 })
  try {
    const device = node.devices[1]
    const publisher = await connect(node, node.devices[2], { limits: { maxMessageBytes: 128 * 1024 } })
    const owner = await connect(node, device)
    const topic = topicOf()
    await owner.registerTopic(topic, topicOf())
    await owner.close()
    const raw = await rawConnect(node, device)
    sendRaw(raw, MessageType.WATCH, 1)
    assert.equal((await readRaw(raw)).type, MessageType.WATCH | 0x80)
    raw.socket.pause()
    assert.equal(node.server.connections, 2)
    let published = 0
    while (node.server.connections === 2 && published < 2000) {
      await publisher.publish(topic, new Uint8Array(randomBytes(60 * 1024)))
      published++
    }
    assert.equal(node.server.connections, 1, `the watcher that does not read was disconnected (after ${published} pushes)`)
    await publisher.ping()
    raw.socket.destroy()

    const last = await connect(node, node.devices[0])
    await node.server.stop()
    isCode('NOT_STARTED', /^node: the node is shutting down$/)(await last.closed)
    isCode('NOT_STARTED')(await publisher.closed)
    await assert.rejects(last.ping(), isCode('NOT_STARTED'))
    assert.equal(node.server.connections, 0)
    assert.equal(node.server.address, null)
  } finally {
    await node.server.stop()
  }
})
