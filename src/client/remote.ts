/**
 * Which node an account talks to and how it connects: the address and public id given (by the
 * front-end's options, or what `init` remembered), parsed once, and the client channel opened
 * with a bounded time limit.
 */
import { fromHex } from '../bytes.js'
import type { Ed25519KeyPair } from '../crypto/index.js'
import { AsmtpError } from '../errors.js'
import { connectClient, type ClientConnection } from '../channel/index.js'
import type { NodeRecord } from './account-files.js'

export const CONNECT_TIMEOUT_MS = 10_000
export const REQUEST_TIMEOUT_MS = 30_000

export interface RemoteOptions {
  remoteAddress?: string
  remoteId?: string
}

export interface Remote {
  host: string
  port: number
  /** The node's public id, lowercase hex. */
  remoteId: string
  address: string
}

function bad (message: string): AsmtpError {
  return new AsmtpError('CONFIG_INVALID', message)
}

/** host:port, [v6]:port. */
export function parseHostPort (text: string, what = '--remote-address'): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim())
  const port = Number(m?.[3])
  const host = m?.[1] ?? m?.[2]
  if (m === null || host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw bad(`${what} "${text}" is not host:port (an IPv6 host goes in brackets: [::1]:9800)`)
  }
  return { host, port }
}

/** Options first (commander already folded the environment variables in), then what init remembered. */
export function resolveRemote (opts: RemoteOptions, remembered: NodeRecord | null): Remote {
  const address = opts.remoteAddress ?? remembered?.address
  const id = opts.remoteId ?? remembered?.remoteId
  if (address === undefined || id === undefined) {
    throw bad('no node to talk to: give --remote-address <host:port> and --remote-id <node public id> (or ASMTP_CLI_REMOTE_ADDRESS and ASMTP_CLI_REMOTE_ID)')
  }
  let remoteId: string
  try {
    remoteId = Buffer.from(fromHex(id, 32, '--remote-id')).toString('hex')
  } catch (err) {
    throw bad((err as Error).message)
  }
  const { host, port } = parseHostPort(address)
  return { host, port, remoteId, address: address.trim() }
}

export async function openConnection (device: Ed25519KeyPair, remote: Remote, signal?: AbortSignal): Promise<ClientConnection> {
  return await connectClient({
    host: remote.host,
    port: remote.port,
    remoteId: remote.remoteId,
    device,
    timeoutMs: CONNECT_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    ...(signal === undefined ? {} : { signal })
  })
}
