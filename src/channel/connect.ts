/**
 * Opening a client channel from a device: TCP to the node, Noise IK as initiator with the
 * pinned node id, and the version check of message 2. The failures a person meets get
 * distinct codes and one clear message each (docs/PROTOCOL.md section 5 "Connection errors").
 */
import { connect as netConnect, type Socket } from 'node:net'
import { fromHex, toHex } from '../bytes.js'
import type { Ed25519KeyPair } from '../crypto/ed25519.js'
import { AsmtpError, isAsmtpError } from '../errors.js'
import { ClientConnection } from './client.js'
import { FrameSocket } from './frame-socket.js'
import { channelStaticKey, IkInitiator, nodeStaticFromId } from './handshake.js'
import { CHANNEL_VERSION, HANDSHAKE_TIMEOUT_MS, MAX_HANDSHAKE_BYTES, resolveLimits, VERSION_REFUSED, type ChannelLimits } from './limits.js'

export interface ConnectClientInit {
  host: string
  port: number
  /** The node's public id: hex Ed25519 key (`--remote-id`). */
  remoteId: string
  device: Ed25519KeyPair
  signal?: AbortSignal
  /** Connect and handshake time limit. @default 10000 */
  timeoutMs?: number
  /** Default time limit of each request. @default 30000 */
  requestTimeoutMs?: number
  /** PING interval while watching. @default 60000 */
  keepAliveMs?: number
  /** Frame, message and in-flight bounds (the node's defaults unless told otherwise). */
  limits?: Partial<ChannelLimits>
}

export const WRONG_NODE_MESSAGE = 'handshake failed: wrong --remote-id or not an asmtp node'

function formatAddress (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

async function openSocket (host: string, port: number, signal: AbortSignal): Promise<Socket> {
  const address = formatAddress(host, port)
  return await new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host, port, noDelay: true })
    const onAbort = (): void => {
      socket.destroy()
      reject(abortError(signal, address))
    }
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort)
      const detail = err.code === undefined || err.code === 'ECONNREFUSED' ? '' : ` (${err.code})`
      reject(new AsmtpError('HANDSHAKE_FAILED', `cannot reach the node at ${address}${detail}`, { cause: err }))
    })
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

function abortError (signal: AbortSignal, address: string): AsmtpError {
  const reason: unknown = signal.reason
  if (isAsmtpError(reason)) return reason
  return new AsmtpError('ABORTED', `connecting to ${address} was aborted`, { cause: reason })
}

/** Connects to a node's client channel and authenticates both sides. */
export async function connectClient (init: ConnectClientInit): Promise<ClientConnection> {
  const limits = resolveLimits(init.limits)
  const remoteStatic = nodeStaticFromId(fromHex(init.remoteId, 32, '--remote-id'))
  const local = channelStaticKey(init.device)
  const address = formatAddress(init.host, init.port)
  const timeoutMs = init.timeoutMs ?? HANDSHAKE_TIMEOUT_MS
  const timeout = new AbortController()
  let connected = false
  const timer = setTimeout(() => {
    timeout.abort(new AsmtpError('HANDSHAKE_FAILED', connected
      ? `handshake failed: no answer from ${address} within ${timeoutMs} ms (not an asmtp node?)`
      : `cannot reach the node at ${address}: no answer within ${timeoutMs} ms`))
  }, timeoutMs)
  const signal = init.signal === undefined ? timeout.signal : AbortSignal.any([init.signal, timeout.signal])
  let frames: FrameSocket | undefined
  const onAbort = (): void => { frames?.destroy(abortError(signal, address)) }
  try {
    signal.throwIfAborted()
    const socket = await openSocket(init.host, init.port, signal)
    connected = true
    frames = new FrameSocket(socket, { min: 1, max: MAX_HANDSHAKE_BYTES })
    signal.addEventListener('abort', onAbort, { once: true })
    const initiator = new IkInitiator(local, remoteStatic)
    frames.write(initiator.writeMessage1(Uint8Array.of(CHANNEL_VERSION)))
    let payload: Uint8Array
    try {
      payload = initiator.readMessage2(await frames.readOne())
    } catch (err) {
      if (signal.aborted) throw abortError(signal, address)
      throw new AsmtpError('HANDSHAKE_FAILED', WRONG_NODE_MESSAGE, { cause: err })
    }
    const chosen = payload[0]
    if (payload.length !== 1 || chosen === undefined) throw new AsmtpError('HANDSHAKE_FAILED', WRONG_NODE_MESSAGE)
    if (chosen === VERSION_REFUSED) {
      throw new AsmtpError('UNAUTHORIZED_DEVICE', `this device is not in the node's users: add ${toHex(init.device.publicKey)} to users in its config`)
    }
    if (chosen > CHANNEL_VERSION) {
      throw new AsmtpError('HANDSHAKE_FAILED', `the node chose protocol version ${chosen}; this client speaks ${CHANNEL_VERSION}`)
    }
    signal.removeEventListener('abort', onAbort)
    return new ClientConnection({ frames, keys: initiator.keys(), limits, requestTimeoutMs: init.requestTimeoutMs, keepAliveMs: init.keepAliveMs })
  } catch (err) {
    signal.removeEventListener('abort', onAbort)
    frames?.destroy(err as Error)
    if (signal.aborted && !isAsmtpError(err)) throw abortError(signal, address)
    throw err
  } finally {
    clearTimeout(timer)
  }
}
