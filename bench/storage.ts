/**
 * Catch-up and start-up benchmarks: the time a home node that starts empty takes to hold all N
 * frames of its bucket that a relay holds (against iterating the same N frames in its own
 * LevelDB afterwards), and asmtpd's time from process start to `ready` with an empty store and
 * with 100,000 stored frames.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes, createHash } from 'node:crypto'
import { DEFAULT_CONFIG_YAML, Ed25519KeyPair, writeKeyFile } from '../src/index.js'
import { openStore } from '../src/store/index.js'
import { frameHour, HOUR_MS } from '../src/frame/index.js'
import { nowMs } from './stats.js'
import type { ScenarioResult } from './report.js'
import { newPair } from './net.js'
import { NodeProcess, sleep, stopAll, waitFor } from './worker-client.js'

export async function benchCatchup (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const n = quick ? 2000 : 10_000
  const nodes: NodeProcess[] = []
  try {
    progress(`catch-up: a relay takes ${n.toLocaleString('en-US')} frames of one bucket from a sender`)
    const [relay, sender, home] = await Promise.all([NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp')])
    nodes.push(relay, sender, home)
    // stamp_bits 0, so that the frames are stamped before the run in no time; the home node's
    // check of each is the same one scrypt evaluation at any stamp_bits
    await relay.start({ relay: true, stampBits: 0 })
    await sender.start({ stampBits: 0, bootstrap: [relay.addrs[0]] })
    const pair = newPair()
    await sender.call('join', { topic: pair.topic, key: pair.key })
    await waitFor(async () => (await sender.call<string[]>('mesh-peers')).includes(relay.peerId), 60_000, 'catch-up: the sender never meshed with the relay')
    await sender.call('prepare', { n, ...pair })
    const flood = await sender.call<{ sent: number }>('flood', { durationMs: 120_000 })
    if (flood.sent !== n) throw new Error(`catch-up: only ${flood.sent} of ${n} published`)
    await waitFor(async () => (await relay.call<{ frames: number }>('status')).frames >= n, 60_000, `catch-up: the relay does not hold ${n} frames`, 200)
    await sender.stop()
    nodes.splice(nodes.indexOf(sender), 1)
    progress('catch-up: an empty home node of that bucket starts')
    const t0 = nowMs()
    await home.start({ stampBits: 0, bootstrap: [relay.addrs[0]] })
    await home.call('join', { topic: pair.topic, key: pair.key })
    const started = nowMs() - t0
    let stats = { receivedCount: 0, lastReceived: 0 }
    const deadline = Date.now() + 120_000
    while (stats.receivedCount < n) {
      if (Date.now() > deadline) throw new Error(`catch-up: ${stats.receivedCount} of ${n} arrived within 120 s`)
      await sleep(100)
      stats = await home.call<{ receivedCount: number, lastReceived: number }>('stats')
    }
    const ms = stats.lastReceived - t0
    const it = await home.call<{ n: number, ms: number }>('iterate')
    if (it.n !== n) throw new Error(`catch-up: the home node holds ${it.n} frames, expected ${n}`)
    return [{
      scenario: `catch-up: empty home node start to all ${n.toLocaleString('en-US')} frames held`,
      unit: 'ms',
      ours: { median: ms },
      baseline: { name: `iterating the same ${n} frames in the home node's LevelDB`, median: it.ms },
      ratio: ms / it.ms,
      better: 'lower',
      target: '< 5000',
      notes: `from the node's start (libp2p, store; ${started.toFixed(0)} ms to started and registered) to the last frame stored and matched; inventory catch-up from the relay, every frame's stamp checked`
    }]
  } finally {
    await stopAll(nodes)
  }
}

async function timeToReady (configPath: string): Promise<number> {
  const asmtpd = fileURLToPath(new URL('../cli/asmtpd.js', import.meta.url))
  const t0 = nowMs()
  const child = spawn(process.execPath, [asmtpd, '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('asmtpd did not print ready within 120 s')) }, 120_000)
      let buf = ''
      child.stdout.on('data', (chunk: Buffer) => {
        buf += chunk.toString()
        if (/^ready$/m.test(buf)) {
          clearTimeout(timer)
          resolve(nowMs() - t0)
        }
      })
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`asmtpd exited with ${code}`)) })
    })
  } finally {
    child.kill('SIGTERM')
    await new Promise(resolve => child.once('exit', resolve))
  }
}

export async function benchNodeStart (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-bench-start-'))
  try {
    const config = join(dir, 'config.yaml')
    await writeFile(config, DEFAULT_CONFIG_YAML.replace(/\/tcp\/9801/g, '/tcp/0').replace('127.0.0.1:9800', '127.0.0.1:0').replace('/ip4/0.0.0.0/', '/ip4/127.0.0.1/').replace(/\n\s+- \/ip6\/::\/tcp\/0/, ''))
    await writeKeyFile(join(dir, 'node.key'), 'ed25519', Ed25519KeyPair.generate().secretKey)
    progress('node start: empty store')
    const runs = quick ? 1 : 3
    const empty: number[] = []
    for (let i = 0; i < runs; i++) empty.push(await timeToReady(config))
    const n = quick ? 20_000 : 100_000
    progress(`node start: filling the store with ${n.toLocaleString('en-US')} frames`)
    const store = await openStore({ path: join(dir, 'data') })
    const topic = new Uint8Array(randomBytes(32))
    const hour = frameHour(Date.now())
    for (let i = 0; i < n; i += 1000) {
      await Promise.all(Array.from({ length: 1000 }, async () => {
        const frame = new Uint8Array(randomBytes(1038))
        const hash = new Uint8Array(createHash('sha256').update(frame).digest())
        await store.putFrame({ hash, bucket: 0, hour, expiresAt: Date.now() + 24 * HOUR_MS, frame }, { bucketQuotaBytes: 1024 ** 3, topic })
      }))
    }
    await store.close()
    progress(`node start: store with ${n.toLocaleString('en-US')} frames`)
    const full: number[] = []
    for (let i = 0; i < runs; i++) full.push(await timeToReady(config))
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    return [{
      scenario: `node start to ready, store with ${n.toLocaleString('en-US')} frames`,
      unit: 'ms',
      ours: { median: med(full) },
      baseline: { name: 'the same node with an empty store', median: med(empty) },
      ratio: med(full) / med(empty),
      better: 'lower',
      notes: 'process spawn to the `ready` line of asmtpd, Node start-up and module loading included; the frames are matched mail of one topic'
    }]
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
