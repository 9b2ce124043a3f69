/**
 * Store-and-forward and start-up benchmarks: the time from a recipient node's restart until all
 * N envelopes queued while it was down are delivered (against iterating the same N envelopes in
 * its LevelDB), and asmtpd's time from process start to `ready` with an empty store and with
 * 100,000 stored envelopes.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes, createHash } from 'node:crypto'
import { DEFAULT_CONFIG_YAML, Ed25519KeyPair, writeKeyFile } from '../src/index.js'
import { openStore } from '../src/store/index.js'
import { nowMs } from './stats.js'
import type { ScenarioResult } from './report.js'
import { startPair } from './net.js'

export async function benchStoreAndForward (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = []
  for (const n of quick ? [1000] : [1000, 10_000]) {
    const net = await startPair()
    try {
      const [sender, recipient] = net.workers as [typeof net.workers[0], typeof net.workers[0]]
      progress(`store-and-forward N=${n}: recipient node down, sender publishes`)
      await recipient.call('pause')
      await sender.call('prepare', { n, size: 1024, ...net.pair })
      const flood = await sender.call<{ sent: number }>('flood', { durationMs: 600_000, window: 64 })
      if (flood.sent !== n) throw new Error(`store-and-forward: only ${flood.sent} of ${n} published`)
      await recipient.call('reset')
      progress(`store-and-forward N=${n}: recipient node restarts and catches up`)
      const { t0 } = await recipient.call<{ t0: number }>('resume', { bootstrap: [sender.addrs[0]] })
      const deadline = Date.now() + 300_000
      let stats = { receivedCount: 0, lastReceived: 0 }
      while (stats.receivedCount < n) {
        if (Date.now() > deadline) throw new Error(`store-and-forward: ${stats.receivedCount} of ${n} arrived`)
        await new Promise(resolve => setTimeout(resolve, 100))
        stats = await recipient.call<{ receivedCount: number, lastReceived: number }>('stats')
      }
      const ms = stats.lastReceived - t0
      const it = await recipient.call<{ n: number, ms: number }>('iterate')
      if (it.n !== n) throw new Error(`store-and-forward: the recipient holds ${it.n} envelopes, expected ${n}`)
      out.push({
        scenario: `store-and-forward: restart to all ${n.toLocaleString('en-US')} delivered`,
        unit: 'ms',
        ours: { median: ms },
        baseline: { name: `iterating the same ${n} envelopes in the recipient's LevelDB`, median: it.ms },
        ratio: ms / it.ms,
        better: 'lower',
        notes: 'includes the node start, DHT rendezvous with the sender node and catch-up in pages of 256'
      })
    } finally {
      await Promise.all(net.workers.map(async w => { await w.stop() }))
    }
  }
  return out
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
    progress(`node start: filling the store with ${n.toLocaleString('en-US')} envelopes`)
    const store = await openStore({ path: join(dir, 'data') })
    const topic = new Uint8Array(randomBytes(32))
    for (let i = 0; i < n; i += 1000) {
      await Promise.all(Array.from({ length: 1000 }, async () => {
        const data = new Uint8Array(randomBytes(1024))
        await store.putEnvelope(topic, data, new Uint8Array(createHash('sha256').update(data).digest()))
      }))
    }
    await store.close()
    progress(`node start: store with ${n.toLocaleString('en-US')} envelopes`)
    const full: number[] = []
    for (let i = 0; i < runs; i++) full.push(await timeToReady(config))
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    return [{
      scenario: `node start to ready, store with ${n.toLocaleString('en-US')} envelopes`,
      unit: 'ms',
      ours: { median: med(full) },
      baseline: { name: 'the same node with an empty store', median: med(empty) },
      ratio: med(full) / med(empty),
      better: 'lower',
      notes: 'process spawn to the `ready` line of asmtpd, Node start-up and module loading included'
    }]
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
