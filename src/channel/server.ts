/**
 * The node side of the client channel: a TCP listener that runs the Noise IK handshake as
 * responder, admits only the device keys in `users` (refusing the others with version 0x00
 * before reading anything else), and serves each admitted device through a ClientSession.
 * One bad or slow connection never affects the others or the node.
 */
import { createServer, type Server, type Socket } from 'node:net'
import createDebug from 'debug'
import { fromHex, toHex } from '../bytes.js'
import type { Ed25519KeyPair } from '../crypto/ed25519.js'
import { ed25519PublicToX25519, type X25519KeyPair } from '../crypto/x25519.js'
import { AsmtpError } from '../errors.js'
import type { ClientBackend } from './backend.js'
import { ErrorCode } from './error-codes.js'
import { FrameSocket } from './frame-socket.js'
import { channelStaticKey, IkResponder } from './handshake.js'
import { CHANNEL_VERSION, MAX_HANDSHAKE_BYTES, resolveLimits, VERSION_REFUSED, type ChannelLimits } from './limits.js'
import { ClientSession } from './session.js'

const log = createDebug('asmtp:channel')

export interface ClientServerInit {
  backend: ClientBackend
  nodeKey: Ed25519KeyPair
  /** Device keys allowed in: hex Ed25519 public keys. */
  users: string[]
  host: string
  /** 0 picks a free port. */
  port: number
  limits?: Partial<ChannelLimits>
}

export interface ClientServer {
  /** Listens; resolves to the bound address. Idempotent. */
  start: () => Promise<{ host: string, port: number }>
  /** Closes the listener and every connection (each told UNAVAILABLE). Idempotent. */
  stop: () => Promise<void>
  /** host:port or [v6]:port while listening, else null. */
  readonly address: string | null
  /** Open connections, handshaking or established. */
  readonly connections: number
  /**
   * Replaces the devices allowed in (a reload of `users`): new ones may connect at once; the
   * sessions of devices no longer listed are closed. Returns how many were added and removed.
   */
  setUsers: (users: string[]) => { added: number, removed: number }
}

function formatAddress (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

class ChannelServer implements ClientServer {
  private readonly init: ClientServerInit
  private readonly limits: ChannelLimits
  private readonly nodeStatic: X25519KeyPair
  /** X25519 static (hex) -> device key (hex Ed25519), the `owner` the backend sees. */
  private readonly users = new Map<string, string>()
  private readonly handshaking = new Set<FrameSocket>()
  private readonly sessions = new Set<ClientSession>()
  private readonly watchers = new Set<ClientSession>()
  private server: Server | null = null
  private starting: Promise<{ host: string, port: number }> | null = null
  private stopping: Promise<void> | null = null
  private bound: { host: string, port: number } | null = null
  private unsubscribe: (() => void) | null = null

  constructor (init: ClientServerInit) {
    this.init = init
    this.limits = resolveLimits(init.limits)
    this.nodeStatic = channelStaticKey(init.nodeKey)
    this.setUsers(init.users)
  }

  setUsers (users: string[]): { added: number, removed: number } {
    const next = new Map<string, string>()
    for (const user of users) {
      const key = fromHex(user, 32, `user key ${user}`)
      next.set(toHex(ed25519PublicToX25519(key)), toHex(key))
    }
    const kept = new Set(next.values())
    const removed = [...this.users.values()].filter(u => !kept.has(u))
    const added = [...next.values()].filter(u => ![...this.users.values()].includes(u)).length
    this.users.clear()
    for (const [x, ed] of next) this.users.set(x, ed)
    for (const s of this.sessions) {
      if (!kept.has(s.owner)) s.channel.close({ code: ErrorCode.UNAUTHORIZED, message: 'UNAUTHORIZED_DEVICE: this device was removed from the node\'s users' })
    }
    if (removed.length > 0 || added > 0) log('users reloaded: %d added, %d removed', added, removed.length)
    return { added, removed: removed.length }
  }

  get address (): string | null {
    return this.bound === null ? null : formatAddress(this.bound.host, this.bound.port)
  }

  get connections (): number {
    return this.handshaking.size + this.sessions.size
  }

  async start (): Promise<{ host: string, port: number }> {
    if (this.stopping !== null) throw new AsmtpError('NOT_STARTED', 'the client channel was stopped')
    this.starting ??= this.listen()
    return await this.starting
  }

  private async listen (): Promise<{ host: string, port: number }> {
    const server = createServer({ noDelay: true }, (socket) => { this.accept(socket) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.init.port, this.init.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => { log.extend('error')('listener: %s', err.message) })
    const a = server.address()
    if (a === null || typeof a === 'string') throw new AsmtpError('NOT_STARTED', 'the client channel has no TCP address')
    this.bound = { host: a.address, port: a.port }
    this.unsubscribe = this.init.backend.onEnvelope((e) => {
      for (const s of this.watchers) s.push(e)
    })
    log('client channel listening on %s', this.address)
    return this.bound
  }

  async stop (): Promise<void> {
    this.stopping ??= this.shutdown()
    await this.stopping
  }

  private async shutdown (): Promise<void> {
    await this.starting?.catch(() => {})
    this.unsubscribe?.()
    this.unsubscribe = null
    const server = this.server
    const closing = server === null ? Promise.resolve() : new Promise<void>(resolve => { server.close(() => { resolve() }) })
    const waits: Array<Promise<unknown>> = []
    for (const f of this.handshaking) {
      f.destroy(new AsmtpError('NOT_STARTED', 'the node is stopping'))
      waits.push(f.closed)
    }
    for (const s of this.sessions) {
      s.channel.close({ code: ErrorCode.UNAVAILABLE, message: 'NOT_STARTED: the node is shutting down' })
      waits.push(s.channel.closed)
    }
    await Promise.all([closing, ...waits])
    this.bound = null
    log('client channel stopped')
  }

  private accept (socket: Socket): void {
    if (this.stopping !== null || this.connections >= this.limits.maxConnections) {
      log('refusing a connection from %s: %s', socket.remoteAddress, this.stopping !== null ? 'stopping' : 'too many connections')
      socket.destroy()
      return
    }
    const frames = new FrameSocket(socket, { min: 1, max: MAX_HANDSHAKE_BYTES })
    this.handshaking.add(frames)
    const ms = this.limits.handshakeTimeoutMs
    const timer = setTimeout(() => { frames.destroy(new AsmtpError('TIMEOUT', `no handshake within ${ms} ms`)) }, ms)
    void frames.closed.then(() => { this.handshaking.delete(frames) })
    void this.handshake(frames).finally(() => {
      clearTimeout(timer)
      this.handshaking.delete(frames)
    })
  }

  /**
   * Noise IK as responder (docs/PROTOCOL.md section 5 "Handshake"). A message 1 that does not
   * decrypt (the client pinned another node) or carries no version is dropped without an answer.
   */
  private async handshake (frames: FrameSocket): Promise<void> {
    const peer = `${frames.socket.remoteAddress ?? '?'}:${frames.socket.remotePort ?? '?'}`
    try {
      const message1 = await frames.readOne()
      const responder = new IkResponder(this.nodeStatic)
      const payload = responder.readMessage1(message1)
      const spoken = payload[0]
      if (payload.length !== 1 || spoken === undefined || spoken === VERSION_REFUSED) {
        throw new AsmtpError('HANDSHAKE_FAILED', 'handshake message 1 does not carry a protocol version')
      }
      const owner = this.users.get(toHex(responder.remoteStatic))
      if (owner === undefined) {
        log('refused device (X25519 %s) from %s: not in users', toHex(responder.remoteStatic).slice(0, 16), peer)
        frames.end([responder.writeMessage2(Uint8Array.of(VERSION_REFUSED))], new AsmtpError('UNAUTHORIZED_DEVICE', 'device not in users'))
        return
      }
      if (this.stopping !== null) throw new AsmtpError('NOT_STARTED', 'the node is stopping')
      frames.write(responder.writeMessage2(Uint8Array.of(Math.min(spoken, CHANNEL_VERSION))))
      const session = new ClientSession({
        frames,
        keys: responder.keys(),
        limits: this.limits,
        backend: this.init.backend,
        owner,
        onWatch: (s, watching) => {
          if (watching) this.watchers.add(s)
          else this.watchers.delete(s)
        }
      })
      this.sessions.add(session)
      void session.channel.closed.then(() => {
        this.sessions.delete(session)
        this.watchers.delete(session)
      })
      log('device %s connected from %s', owner.slice(0, 8), peer)
    } catch (err) {
      log('handshake with %s failed: %s', peer, (err as Error).message)
      frames.destroy(err as Error)
    }
  }
}

export function createClientServer (init: ClientServerInit): ClientServer {
  return new ChannelServer(init)
}
