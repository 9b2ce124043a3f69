/**
 * In-process benchmarks: topic derivation against bare PBKDF2, envelope seal+open against bare
 * ChaCha20-Poly1305 on the same bytes. Each figure is measured beside its baseline in the same run.
 */
import { createCipheriv, createDecipheriv, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto'
import { generateX25519 } from '../src/crypto/index.js'
import { deriveTopic, deriveTopicAsync, TOPIC_PBKDF2_ITERATIONS } from '../src/topic/index.js'
import { maxBodyBytes, openEnvelope, sealEnvelope } from '../src/envelope/index.js'
import { nowMs, opsPerSecond } from './stats.js'
import type { ScenarioResult } from './report.js'

export async function benchTopic (quick: boolean): Promise<ScenarioResult[]> {
  const me = generateX25519()
  const peers = Array.from({ length: 64 }, () => generateX25519())
  const ms = quick ? 300 : 3000
  let i = 0
  const password = randomBytes(32)
  const salt = randomBytes(78)
  // interleave ours and the baseline in rounds so machine noise hits both alike
  const ours: number[] = []
  const base: number[] = []
  for (let round = 0; round < 3; round++) {
    ours.push(1000 / opsPerSecond(() => { deriveTopic(me.secretKey, peers[i++ % peers.length].publicKey) }, ms / 3))
    base.push(1000 / opsPerSecond(() => { pbkdf2Sync(password, salt, TOPIC_PBKDF2_ITERATIONS, 64, 'sha512') }, ms / 3))
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const oursMs = med(ours)
  const baseMs = med(base)

  const parallel = 64
  const asyncRun = async (fn: () => Promise<unknown>): Promise<number> => {
    const start = nowMs()
    let n = 0
    while (nowMs() - start < ms) {
      await Promise.all(Array.from({ length: parallel }, async () => { await fn() }))
      n += parallel
    }
    return (n * 1000) / (nowMs() - start)
  }
  const oursAsync = await asyncRun(async () => await deriveTopicAsync(me.secretKey, peers[i++ % peers.length].publicKey, me.publicKey))
  const baseAsync = await asyncRun(async () => await new Promise((resolve, reject) => {
    pbkdf2(password, salt, TOPIC_PBKDF2_ITERATIONS, 64, 'sha512', (err, out) => { if (err !== null) reject(err); else resolve(out) })
  }))
  return [
    { scenario: 'topic derivation (sync)', unit: 'ms/pair', ours: { median: oursMs }, baseline: { name: 'bare PBKDF2-SHA512 10240 (node:crypto)', median: baseMs }, ratio: oursMs / baseMs, better: 'lower', target: '<= 1.2' },
    { scenario: `topic derivation (async, ${parallel} in parallel)`, unit: 'pairs/s', ours: { median: oursAsync }, baseline: { name: 'bare async PBKDF2, same parallelism', median: baseAsync }, ratio: oursAsync / baseAsync, better: 'higher' }
  ]
}

function chachaRoundTrip (key: Buffer, nonce: Buffer, data: Uint8Array): void {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
  const ct = c.update(data)
  c.final()
  const tag = c.getAuthTag()
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
  d.setAuthTag(tag)
  d.update(ct)
  d.final()
}

export function benchEnvelope (quick: boolean): ScenarioResult[] {
  const alice = generateX25519()
  const bob = generateX25519()
  const topic = deriveTopic(alice.secretKey, bob.publicKey)
  const ms = quick ? 250 : 2500
  const out: ScenarioResult[] = []
  for (const bucket of [1024, 65536]) {
    const body = randomBytes(Math.min(maxBodyBytes('text/plain'), bucket - 200))
    const sample = sealEnvelope({ sender: alice, recipientPublic: bob.publicKey, topic, contentType: 'text/plain', body, hour: 0, ttlClass: 0 })
    if (sample.length !== bucket) throw new Error(`expected a ${bucket}-byte envelope, got ${sample.length}`)
    const ours = opsPerSecond(() => {
      const wire = sealEnvelope({ sender: alice, recipientPublic: bob.publicKey, topic, contentType: 'text/plain', body, hour: 0, ttlClass: 0 })
      openEnvelope(wire, { recipient: bob, topic, expectedSender: alice.publicKey, hour: 0, ttlClass: 0 })
    }, ms)
    const key = randomBytes(32)
    const nonce = randomBytes(12)
    const base = opsPerSecond(() => { chachaRoundTrip(key, nonce, sample) }, ms)
    out.push({
      scenario: `envelope seal+open, ${bucket / 1024} KiB`,
      unit: 'envelopes/s',
      ours: { median: ours },
      baseline: { name: 'bare ChaCha20-Poly1305 seal+open of the same bytes (node:crypto)', median: base },
      ratio: ours / base,
      better: 'higher'
    })
  }
  return out
}
