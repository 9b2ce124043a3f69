/**
 * Client channel benchmarks: the transport with a rekey after every frame (our CipherState on
 * node:crypto) against noise-handshake's transport cipher (libsodium) without our framing or
 * rekey, in the same run; and PING round trips through a real node-side server over TCP.
 */
import CipherStateNH from 'noise-handshake/cipher.js'
import { randomBytes } from 'node:crypto'
import { CipherState } from '../src/channel/transport-cipher.js'
import { connectClient, createClientServer, type ClientBackend } from '../src/channel/index.js'
import { AsmtpError, Ed25519KeyPair, toHex } from '../src/index.js'
import { nowMs, opsPerSecond } from './stats.js'
import type { ScenarioResult } from './report.js'

const SIZES = [1024, 64 * 1024 - 16 - 5 - 1]

function ours (size: number, ms: number): number {
  const key = new Uint8Array(randomBytes(32))
  const tx = new CipherState(key)
  const rx = new CipherState(key)
  const frame = new Uint8Array(randomBytes(size))
  return opsPerSecond(() => {
    const ct = tx.encrypt(frame)
    tx.rekey()
    if (rx.decrypt(ct) === null) throw new Error('decrypt failed')
    rx.rekey()
  }, ms)
}

function raw (size: number, ms: number): number {
  const key = new Uint8Array(randomBytes(32))
  const tx = new CipherStateNH(key)
  const rx = new CipherStateNH(key)
  const frame = new Uint8Array(randomBytes(size))
  return opsPerSecond(() => {
    rx.decrypt(tx.encrypt(frame))
  }, ms)
}

const backend: ClientBackend = {
  putPassport: async () => await Promise.reject(new AsmtpError('NOT_FOUND', 'bench')),
  getPassport: async () => await Promise.reject(new AsmtpError('NOT_FOUND', 'bench')),
  registerTopic: async () => {},
  deregisterTopic: async () => {},
  isTopicOwner: () => false,
  publish: async () => await Promise.resolve({ stored: false, seq: 0n }),
  query: async () => await Promise.resolve({ envelopes: [], cursor: 0n, more: false }),
  onEnvelope: () => () => {}
}

async function pingOverTcp (size: number, ms: number, window: number): Promise<number> {
  const nodeKey = Ed25519KeyPair.generate()
  const device = Ed25519KeyPair.generate()
  const server = createClientServer({ backend, nodeKey, users: [toHex(device.publicKey)], host: '127.0.0.1', port: 0 })
  const { host, port } = await server.start()
  const client = await connectClient({ host, port, remoteId: toHex(nodeKey.publicKey), device })
  try {
    const body = new Uint8Array(randomBytes(size))
    let n = 0
    const start = nowMs()
    await Promise.all(Array.from({ length: window }, async () => {
      while (nowMs() - start < ms) {
        await client.ping(body)
        n++
      }
    }))
    return (n * 1000) / (nowMs() - start)
  } finally {
    await client.close()
    await server.stop()
  }
}

export async function benchChannel (quick: boolean): Promise<ScenarioResult[]> {
  const ms = quick ? 500 : 2500
  const out: ScenarioResult[] = []
  for (const size of SIZES) {
    // alternate to spread machine noise over both
    const o: number[] = []
    const r: number[] = []
    for (let i = 0; i < 3; i++) {
      o.push(ours(size, ms / 3))
      r.push(raw(size, ms / 3))
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[1]
    const label = size < 4096 ? '1 KiB' : '64 KiB'
    const oursFps = med(o)
    const rawFps = med(r)
    out.push({
      scenario: `client channel transport, rekey every frame, ${label} frames`,
      unit: 'frames/s',
      ours: { median: oursFps, mbPerSecond: (oursFps * size) / 1e6 },
      baseline: { name: 'noise-handshake transport cipher (libsodium), no rekey, no framing', median: rawFps, mbPerSecond: (rawFps * size) / 1e6 },
      ratio: oursFps / rawFps,
      better: 'higher',
      target: '>= 0.7',
      notes: `MB/s ours ${((oursFps * size) / 1e6).toFixed(0)}, baseline ${((rawFps * size) / 1e6).toFixed(0)} (encrypt + decrypt of each frame)`
    })
    const tcp = await pingOverTcp(size, ms, 16)
    out.push({
      scenario: `client channel PING over TCP, ${label} bodies, 16 in flight`,
      unit: 'round trips/s',
      ours: { median: tcp, mbPerSecond: (tcp * size * 2) / 1e6 },
      baseline: { name: 'the same frames through noise-handshake transport in memory (above)', median: rawFps / 2 },
      ratio: tcp / (rawFps / 2),
      better: 'higher',
      notes: `a round trip is two frames each way through both cipher states; ${((tcp * size * 2) / 1e6).toFixed(0)} MB/s both directions`
    })
  }
  return out
}
