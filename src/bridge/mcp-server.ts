/**
 * The bridge's MCP server over stdio (docs/API.md "MCP"), on @modelcontextprotocol/sdk, with
 * the five tools send_message, receive_messages, get_public_key, get_mailbox_stats and
 * delete_message. Arguments are checked with zod by the SDK; every answer is one JSON text,
 * an error `{ "error": { "code", "message" } }` with isError set.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { isAsmtpError } from '../errors.js'
import { addressOf } from './address.js'
import type { MailBridge } from './bridge.js'

export const MCP_TOOLS = ['send_message', 'receive_messages', 'get_public_key', 'get_mailbox_stats', 'delete_message'] as const
const MAX_TEXT_CHARS = 65_352

interface ToolResult { [key: string]: unknown, content: Array<{ type: 'text', text: string }>, isError?: boolean }

function ok (value: unknown): ToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] }
}

function failed (err: unknown): ToolResult {
  const code = isAsmtpError(err) ? err.code : 'INTERNAL'
  const message = err instanceof Error ? err.message : String(err)
  return { content: [{ type: 'text', text: JSON.stringify({ error: { code, message } }) }], isError: true }
}

async function guarded (work: () => Promise<unknown>): Promise<ToolResult> {
  try {
    return ok(await work())
  } catch (err) {
    return failed(err)
  }
}

export async function createMcpServer (bridge: MailBridge, version: string): Promise<McpServer> {
  // the SDK and zod are loaded here, not with the package root that every CLI imports
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js')
  const { z } = await import('zod')
  const server = new McpServer({ name: 'asmtp-bridge', version })

  server.registerTool('send_message', {
    description: 'Send a text message to a contact: to is the contact\'s alias, <alias>@asmtp or <passport id>@asmtp. Resolves once the node has taken it.',
    inputSchema: { to: z.string().min(1).max(320), text: z.string().max(MAX_TEXT_CHARS) }
  }, async ({ to, text }) => await guarded(async () => await bridge.send(to, { text })))

  server.registerTool('receive_messages', {
    description: 'Fetch new mail from the node and return received messages after a cursor (seq). By default only unread ones, which are then marked read.',
    inputSchema: {
      since: z.number().int().min(0).optional().describe('return messages with seq greater than this (default 0)'),
      limit: z.number().int().min(1).max(100).optional().describe('at most this many (default 20)'),
      unread_only: z.boolean().optional().describe('only messages not read yet (default true)'),
      mark_read: z.boolean().optional().describe('mark the returned messages read (default true)')
    }
  }, async ({ since, limit, unread_only: unreadOnly, mark_read: markRead }) => await guarded(async () => {
    let warning: string | undefined
    try {
      await bridge.probe(AbortSignal.timeout(60_000))
    } catch (err) {
      warning = `the node was not reachable (${err instanceof Error ? err.message : String(err)}); showing mail held here`
    }
    const messages = await bridge.list({ since: since ?? 0, limit: limit ?? 20, direction: 'in', unread: unreadOnly ?? true })
    if (markRead ?? true) await bridge.markRead(messages)
    return { messages, cursor: messages.at(-1)?.seq ?? since ?? 0, ...(warning === undefined ? {} : { warning }) }
  }))

  server.registerTool('get_public_key', {
    description: 'This account\'s identity: alias, address, passport id (what contacts add), device key and the passport export (base64).',
    inputSchema: {}
  }, async () => await guarded(async () => {
    const id = await bridge.account.identity()
    const passport = id.registrationRequest === null ? Buffer.from((await bridge.account.passport()).export()).toString('base64') : null
    return { alias: id.alias, address: addressOf(id.alias), passportId: id.passportId, deviceKey: id.deviceKey, passport }
  }))

  server.registerTool('get_mailbox_stats', {
    description: 'Counts of mail (total, received, sent, unread), the last cursor, and whether the node was reachable.',
    inputSchema: {}
  }, async () => await guarded(async () => ({ ...(await bridge.stats()), status: bridge.status() })))

  server.registerTool('delete_message', {
    description: 'Delete a message by its messageId (32 hex digits), here and on this account\'s other devices.',
    inputSchema: { message_id: z.string().regex(/^[0-9a-fA-F]{32}$/, 'a message id is 32 hex digits') }
  }, async ({ message_id: id }) => await guarded(async () => ({ deleted: await bridge.delete(id) })))

  return server
}

/** Serves the tools on stdin/stdout (or another transport) until it closes. */
export async function serveMcp (bridge: MailBridge, version: string, transport?: Transport): Promise<McpServer> {
  const server = await createMcpServer(bridge, version)
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js')
  await server.connect(transport ?? new StdioServerTransport())
  return server
}
