/**
 * The bridge's MCP server over stdio, driven by the SDK's own client: two real `asmtp-bridge
 * mcp` processes (alice, bob) on two real nodes. The client lists the five tools, alice sends,
 * bob receives and deletes; arguments that fail the zod schemas are refused.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { BRIDGE, startMailNet, type MailNet, type NetUser } from './helpers/bridge-net.js'

const ARRIVAL_MS = 60_000
let net: MailNet
const clients: Client[] = []

async function connect (u: NetUser): Promise<Client> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('ASMTP') && k !== 'DEBUG') env[k] = v
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BRIDGE, 'mcp', '--account', u.dir, '--remote-address', u.node.remoteAddress, '--remote-id', u.node.remoteId],
    env: { ...env, ASMTP_CLI_RECORD_DELAY_MS: '0' },
    stderr: 'pipe'
  })
  const client = new Client({ name: 'asmtp-test', version: '1.0.0' })
  await client.connect(transport)
  clients.push(client)
  return client
}

type ToolResult = { content: Array<{ type: string, text?: string }>, isError?: boolean }

async function call<T> (client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const r = await client.callTool({ name, arguments: args }, undefined, { timeout: 90_000 }) as ToolResult
  const text = r.content[0]?.text ?? ''
  assert.notEqual(r.isError, true, `${name}: ${text}`)
  return JSON.parse(text) as T
}

before(async () => {
  net = await startMailNet('bridge-mcp')
})

after(async () => {
  for (const c of clients) await c.close()
  await net?.close()
})

test('the SDK client lists the five tools, sends between two accounts, receives and deletes', async () => {
  const alice = await connect(net.alice)
  const bob = await connect(net.bob)
  const tools = (await alice.listTools()).tools.map(t => t.name).sort()
  assert.deepEqual(tools, ['delete_message', 'get_mailbox_stats', 'get_public_key', 'receive_messages', 'send_message'])

  const key = await call<{ passportId: string, passport: string }>(bob, 'get_public_key')
  assert.equal(key.passportId, net.bob.passportId)
  assert.deepEqual(new Uint8Array(Buffer.from(key.passport, 'base64')), (await net.bob.account.passport()).export())

  const sent = await call<{ messageId: string }>(alice, 'send_message', { to: 'bob@asmtp', text: 'hello from an agent' })
  assert.match(sent.messageId, /^[0-9a-f]{32}$/)

  const deadline = Date.now() + ARRIVAL_MS
  let got: { messageId: string, text?: string, contact: string } | undefined
  while (got === undefined) {
    assert.ok(Date.now() < deadline, 'the message reached bob in time')
    const r = await call<{ messages: Array<{ messageId: string, text?: string, contact: string }> }>(bob, 'receive_messages', {})
    got = r.messages.find(m => m.messageId === sent.messageId)
  }
  assert.equal(got.text, 'hello from an agent')
  assert.equal(got.contact, 'alice')
  const unread = await call<{ messages: unknown[] }>(bob, 'receive_messages', {})
  assert.deepEqual(unread.messages, [], 'received messages are marked read')

  const stats = await call<{ received: number, unread: number }>(bob, 'get_mailbox_stats')
  assert.equal(stats.received, 1)
  assert.equal(stats.unread, 0)
  assert.deepEqual(await call(bob, 'delete_message', { message_id: sent.messageId }), { deleted: 1 })
  assert.equal((await call<{ received: number }>(bob, 'get_mailbox_stats')).received, 0)
  assert.equal((await net.bob.account.inbox()).length, 0, 'gone from the account')

  const again = await bob.callTool({ name: 'delete_message', arguments: { message_id: sent.messageId } }) as ToolResult
  assert.equal(again.isError, true)
  assert.match(again.content[0]?.text ?? '', /MESSAGE_NOT_FOUND/)
})

test('arguments that fail the schemas are refused with a clear error', async () => {
  const alice = clients[0] ?? await connect(net.alice)
  for (const [name, args] of [
    ['send_message', { to: 5, text: 'x' }], ['send_message', { to: 'bob' }], ['delete_message', { message_id: 'nope' }],
    ['receive_messages', { limit: 0 }], ['receive_messages', { since: -1 }]
  ] as const) {
    const r = await alice.callTool({ name, arguments: args }).catch((err: Error) => ({ isError: true, content: [{ type: 'text', text: err.message }] })) as ToolResult
    assert.equal(r.isError, true, `${name} ${JSON.stringify(args)}`)
    assert.match(r.content[0]?.text ?? '', /invalid|Input validation|expected|too small|hex/i)
  }
  const unknown = await alice.callTool({ name: 'send_message', arguments: { to: 'carol@asmtp', text: 'x' } }) as ToolResult
  assert.equal(unknown.isError, true)
  assert.match(unknown.content[0]?.text ?? '', /CONTACT_UNKNOWN/)
})
