/**
 * The bridge's HTTP API on real bridges over real nodes: send and poll between alice and bob,
 * server-sent events within bounded time and resumed from Last-Event-ID, delete, stats,
 * identity; a wrong token gets 401, malformed JSON 400 with the code, and every endpoint is
 * fed oversized and garbage input without the bridge losing anything or stopping.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import fc from 'fast-check'
import { MAX_SEND_BODY_BYTES } from '../src/index.js'
import { startMailNet, type BridgeProc, type MailNet } from './helpers/bridge-net.js'
import { stopChild } from './helpers/process.js'
import { waitFor } from './helpers/testnet.js'

const ARRIVAL_MS = 60_000
let net: MailNet
let alice: BridgeProc
let bob: BridgeProc

interface Mail { seq: number, messageId: string, direction: string, contact: string, text?: string, read: boolean }
interface ErrorBody { error: { code: string, message: string } }

async function api (b: BridgeProc, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, json: unknown }> {
  const res = await fetch(`http://${b.http ?? ''}${path}`, {
    method,
    headers: { authorization: `Bearer ${b.token ?? ''}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(60_000)
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? null : JSON.parse(text) as unknown }
}

async function received (b: BridgeProc, since: number): Promise<{ messages: Mail[], cursor: number }> {
  const r = await api(b, 'GET', `/v1/messages?since=${since}&direction=received`)
  assert.equal(r.status, 200, JSON.stringify(r.json))
  return r.json as { messages: Mail[], cursor: number }
}

/** Reads server-sent events from a stream until `want` events have come, or fails after `timeoutMs`. */
async function events (b: BridgeProc, want: number, headers: Record<string, string>, timeoutMs: number): Promise<Array<{ id: string, data: Mail }>> {
  const stop = new AbortController()
  const timer = setTimeout(() => { stop.abort() }, timeoutMs)
  const res = await fetch(`http://${b.http ?? ''}/v1/events`, { headers: { authorization: `Bearer ${b.token ?? ''}`, ...headers }, signal: stop.signal })
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
  const out: Array<{ id: string, data: Mail }> = []
  let buffer = ''
  const decoder = new TextDecoder()
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const id = /^id: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (id !== undefined && data !== undefined && /^event: message$/m.test(block)) out.push({ id, data: JSON.parse(data) as Mail })
      }
      if (out.length >= want) break
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err
    throw new Error(`only ${out.length} of ${want} events within ${timeoutMs} ms`, { cause: err })
  } finally {
    clearTimeout(timer)
    stop.abort()
  }
  return out
}

before(async () => {
  net = await startMailNet('bridge-http')
  alice = await net.startBridge(net.alice, ['--no-smtp', '--http', '127.0.0.1:0'])
  bob = await net.startBridge(net.bob, ['--no-smtp', '--http', '127.0.0.1:0'])
})

after(async () => {
  await stopChild(alice?.child)
  await stopChild(bob?.child)
  await net?.close()
})

test('send and poll between two accounts; the cursor moves on; delete and stats', async () => {
  const sent = await api(alice, 'POST', '/v1/messages', { to: 'BOB@asmtp', text: 'hello over HTTP' })
  assert.equal(sent.status, 201, JSON.stringify(sent.json))
  const mail = sent.json as Mail
  assert.equal(mail.direction, 'sent')
  assert.match(mail.messageId, /^[0-9a-f]{32}$/)
  let got: Mail | undefined
  let cursor = 0
  await waitFor(async () => {
    const page = await received(bob, 0)
    got = page.messages.find(m => m.messageId === mail.messageId)
    cursor = page.cursor
    return got !== undefined
  }, 'the message in bob\'s poll', ARRIVAL_MS)
  assert.equal(got?.text, 'hello over HTTP')
  assert.equal(got?.contact, 'alice')
  assert.equal(cursor, got?.seq)
  assert.deepEqual((await received(bob, cursor)).messages, [], 'nothing after the cursor')

  const stats = await api(bob, 'GET', '/v1/stats')
  assert.equal((stats.json as { received: number }).received, 1)
  const del = await api(bob, 'DELETE', `/v1/messages/${mail.messageId}`)
  assert.deepEqual(del.json, { deleted: 1 })
  const again = await api(bob, 'DELETE', `/v1/messages/${mail.messageId}`)
  assert.equal(again.status, 404)
  assert.equal((again.json as ErrorBody).error.code, 'MESSAGE_NOT_FOUND')
  assert.deepEqual((await received(bob, 0)).messages, [], 'deleted')

  const id = await api(alice, 'GET', '/v1/identity')
  assert.equal((id.json as { passportId: string }).passportId, net.alice.passportId)
  const exp = await fetch(`http://${alice.http ?? ''}/v1/identity/export`, { headers: { authorization: `Bearer ${alice.token ?? ''}` } })
  assert.deepEqual(new Uint8Array(await exp.arrayBuffer()), (await net.alice.account.passport()).export())
  const status = await api(alice, 'GET', '/v1/status')
  assert.equal((status.json as { nodeReachable: boolean }).nodeReachable, true)
})

test('server-sent events deliver new mail within bounded time and resume from Last-Event-ID', async () => {
  const start = (await received(bob, 0)).cursor
  const first = events(bob, 1, { 'last-event-id': String(await lastSeq(bob)) }, ARRIVAL_MS)
  const sent = await api(alice, 'POST', '/v1/messages', { to: 'bob', text: 'event one' })
  assert.equal(sent.status, 201)
  const [one] = await first
  assert.equal(one?.data.text, 'event one')
  assert.ok(Number(one?.id) > start)

  for (const text of ['event two', 'event three']) assert.equal((await api(alice, 'POST', '/v1/messages', { to: 'bob', text })).status, 201)
  await waitFor(async () => (await received(bob, Number(one?.id))).messages.length === 2, 'two more at bob', ARRIVAL_MS)
  const resumed = await events(bob, 2, { 'last-event-id': one?.id ?? '' }, ARRIVAL_MS)
  assert.deepEqual(resumed.map(e => e.data.text), ['event two', 'event three'], 'exactly what came after the last id')
  assert.deepEqual(resumed.map(e => Number(e.id)), resumed.map(e => e.data.seq))
})

async function lastSeq (b: BridgeProc): Promise<number> {
  return ((await api(b, 'GET', '/v1/stats')).json as { lastSeq: number }).lastSeq
}

const ENDPOINTS: Array<[string, string]> = [
  ['GET', '/v1/messages'], ['POST', '/v1/messages'], ['GET', '/v1/events'], ['GET', '/v1/stats'], ['GET', '/v1/status'],
  ['GET', '/v1/identity'], ['GET', '/v1/identity/export'], ['GET', '/v1/contacts'], ['DELETE', '/v1/messages/00000000000000000000000000000000']
]

test('a wrong or missing token gets 401 on every endpoint', async () => {
  for (const [method, path] of ENDPOINTS) {
    for (const auth of [`Bearer ${'0'.repeat(64)}`, '', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${bob.token ?? ''}`]) {
      const res = await fetch(`http://${alice.http ?? ''}${path}`, { method, headers: auth === '' ? {} : { authorization: auth } })
      assert.equal(res.status, 401, `${method} ${path} with "${auth.slice(0, 10)}"`)
      assert.equal((await res.json() as ErrorBody).error.code, 'UNAUTHORIZED')
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/)
    }
  }
})

test('malformed JSON gets 400 with the code', async () => {
  for (const body of ['{"to": "bob", "text": ', 'not json', '', '[]', '{"to": "bob"}', '{"to": "bob", "text": "x", "file": {"name": "a", "data": ""}}', '{"to": "bob", "text": 5}', '{"to": "bob", "file": {"name": "a", "data": "!!!"}}', '{"to": "bob", "text": "x", "extra": 1}']) {
    const r = await api(alice, 'POST', '/v1/messages', body)
    assert.equal(r.status, 400, body)
    assert.equal((r.json as ErrorBody).error.code, 'DECODE_INVALID', body)
  }
  const wrongType = await api(alice, 'POST', '/v1/messages', '{"to":"bob","text":"x"}', { 'content-type': 'text/plain' })
  assert.equal(wrongType.status, 400)
  const unknown = await api(alice, 'POST', '/v1/messages', { to: 'carol@asmtp', text: 'x' })
  assert.equal(unknown.status, 404)
  assert.equal((unknown.json as ErrorBody).error.code, 'CONTACT_UNKNOWN')
})

/** A raw request, so that bodies and headers can be anything; resolves with the status. */
async function raw (method: string, path: string, body: Uint8Array, headers: Record<string, string | number>): Promise<number> {
  const [host, port] = (alice.http ?? '').split(':')
  return await new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, headers: { authorization: `Bearer ${alice.token ?? ''}`, ...headers }, timeout: 30_000 }, (res) => {
      res.resume()
      res.once('end', () => { resolve(res.statusCode ?? 0) })
      if (path.startsWith('/v1/events') && res.statusCode === 200) { req.destroy(); resolve(200) }
    })
    req.once('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET' || err.code === 'EPIPE') resolve(-1); else reject(err) })
    req.once('timeout', () => { req.destroy(new Error(`${method} ${path} timed out`)) })
    req.end(Buffer.from(body))
  })
}

test('every endpoint takes oversized and garbage input with a clear error, and the bridge goes on', async () => {
  const before = (await api(alice, 'GET', '/v1/stats')).json as { total: number }
  const big = await raw('POST', '/v1/messages', new Uint8Array(0), { 'content-type': 'application/json', 'content-length': MAX_SEND_BODY_BYTES + 1 })
  assert.ok(big === 413 || big === -1, `oversized declared body: ${big}`)
  const streamed = await fetch(`http://${alice.http ?? ''}/v1/messages`, {
    method: 'POST', headers: { authorization: `Bearer ${alice.token ?? ''}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: 'bob', text: 'x'.repeat(MAX_SEND_BODY_BYTES) })
  }).then(async r => ({ status: r.status, json: await r.json() as ErrorBody })).catch(() => null)
  if (streamed !== null) {
    assert.equal(streamed.status, 413)
    assert.equal(streamed.json.error.code, 'DECODE_TOO_LARGE')
  }
  const longText = await api(alice, 'POST', '/v1/messages', { to: 'bob', text: 'y'.repeat(70_000) })
  assert.equal(longText.status, 413, JSON.stringify(longText.json))
  assert.equal((longText.json as ErrorBody).error.code, 'ENVELOPE_BODY_TOO_LARGE')

  for (const q of ['since=-1', 'since=abc', 'since=1e3', `since=${'9'.repeat(40)}`, 'limit=0', 'limit=100000', 'direction=up', 'unread=maybe']) {
    const r = await api(alice, 'GET', `/v1/messages?${q}`)
    assert.equal(r.status, 400, q)
    assert.equal((r.json as ErrorBody).error.code, 'DECODE_INVALID')
  }
  for (const id of ['abc', '-1', `${'9'.repeat(40)}`, 'x\u0000y']) {
    const r = await fetch(`http://${alice.http ?? ''}/v1/events`, { headers: { authorization: `Bearer ${alice.token ?? ''}`, 'last-event-id': encodeURIComponent(id) } })
    assert.equal(r.status, 400, id)
  }
  for (const [method, path] of [['GET', '/nothing'], ['PUT', '/v1/messages'], ['GET', '/v1/messages/00000000000000000000000000000000'], ['POST', '/v1/stats']] as const) {
    const r = await api(alice, method, path)
    assert.ok(r.status === 404 || r.status === 405, `${method} ${path}: ${r.status}`)
    assert.equal((r.json as ErrorBody).error.code, 'NOT_FOUND')
  }
  const hugeHeader = await raw('GET', '/v1/stats', new Uint8Array(0), { 'x-junk': 'z'.repeat(64 * 1024) })
  assert.ok(hugeHeader === 431 || hugeHeader === -1 || hugeHeader === 400, `huge header: ${hugeHeader}`)

  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...ENDPOINTS), fc.uint8Array({ maxLength: 4096 }), fc.constantFrom('application/json', 'text/plain', 'application/octet-stream'),
    async ([method, path], body, type) => {
      const status = await raw(method, path, body, { 'content-type': type, 'content-length': body.length })
      assert.ok(status === -1 || (status >= 200 && status < 500), `${method} ${path}: ${status}`)
      if (method === 'POST') assert.ok(status === 400 || status === 404 || status === 201 || status === -1, `garbage send: ${status}`)
    }), { numRuns: 120 })
  await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
    const r = await api(alice, 'POST', '/v1/messages', JSON.stringify(value))
    assert.equal(r.status, 400)
    assert.equal((r.json as ErrorBody).error.code, 'DECODE_INVALID')
  }), { numRuns: 100 })

  const status = await api(alice, 'GET', '/v1/status')
  assert.equal(status.status, 200, 'the bridge is still serving')
  assert.equal(((await api(alice, 'GET', '/v1/stats')).json as { total: number }).total, before.total, 'nothing was sent by garbage')
  assert.equal(alice.child.exitCode, null)
})
