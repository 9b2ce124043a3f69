#!/usr/bin/env node
/**
 * npm run bench [-- --quick] [-- --json <file>] [-- --only <name,...>]; `--only steady` is opt-in
 * Every figure is printed beside a baseline measured in the same run, with their ratio: these
 * machines are shared and noisy, so absolute times move and ratios hold.
 */
import '../src/polyfill.js'
import { execSync } from 'node:child_process'
import { cpus } from 'node:os'
import { benchEnvelope, benchTopic } from './micro.js'
import { benchRelayThroughput, benchSteady } from './net.js'
import { benchClientPath } from './client-path.js'
import { benchFirstMessage, benchIdle, benchScale } from './network.js'
import { benchChannel } from './channel.js'
import { benchCatchup, benchNodeStart } from './storage.js'
import { benchMemoryMode } from './memory-mode.js'
import { printTable, writeJson, type ScenarioResult } from './report.js'
import { benchPrivacy } from './privacy/experiment.js'
import { benchDevices } from './devices.js'
import { benchSpool } from './spool.js'
import { benchBridge } from './bridge.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const jsonAt = args.indexOf('--json')
const jsonPath = jsonAt >= 0 ? args[jsonAt + 1] : undefined
const onlyAt = args.indexOf('--only')
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',') : undefined

const SCENARIO_TIMEOUT_MS = 6 * 60_000
const progress = (s: string): void => { process.stderr.write(`[bench] ${s}\n`) }

const scenarios: Array<{ name: string, run: () => Promise<ScenarioResult[]>, optIn?: boolean, timeoutMs?: number }> = [
  { name: 'topic', run: async () => await benchTopic(quick) },
  { name: 'envelope', run: async () => await Promise.resolve(benchEnvelope(quick)) },
  { name: 'channel', run: async () => await benchChannel(quick) },
  { name: 'relay', run: async () => await benchRelayThroughput(quick, progress) },
  { name: 'client', run: async () => await benchClientPath(quick, progress) },
  { name: 'devices', run: async () => await benchDevices(quick, progress) },
  { name: 'spool', run: async () => await benchSpool(quick, progress) },
  { name: 'bridge', run: async () => await benchBridge(quick, progress) },
  { name: 'first-message', run: async () => await benchFirstMessage(quick, progress) },
  { name: 'catchup', run: async () => await benchCatchup(quick, progress) },
  // ASMTP_BENCH_SCALE=25,50 picks the sizes; --quick: 10 nodes, 20 pairs; 50 processes on a busy
  // 2-core machine took more than 6 minutes to start
  ...(process.env.ASMTP_BENCH_SCALE?.split(',').map(Number) ?? (quick ? [10] : [50])).map(size => ({ name: `scale-${size}`, run: async () => await benchScale(size, quick ? 20 : 100, progress), timeoutMs: 15 * 60_000 })),
  { name: 'idle', run: async () => await benchIdle(quick, progress) },
  { name: 'start', run: async () => await benchNodeStart(quick, progress) },
  { name: 'ram', run: async () => await benchMemoryMode(quick, progress) },
  // the spy experiment (bench/privacy/README.md): 26 node processes, --quick 9; up to 20 minutes
  { name: 'privacy', run: async () => await benchPrivacy(quick, progress), timeoutMs: 20 * 60_000 },
  // about 6 minutes, so only when named: --only steady
  { name: 'steady', run: async () => await benchSteady(progress), optIn: true }
]

function commit (): string {
  try {
    return execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return 'unknown'
  }
}

const results: ScenarioResult[] = []
let failed = false
for (const s of scenarios) {
  if (only !== undefined && !only.some(o => s.name === o || s.name.startsWith(`${o}-`))) continue
  if (only === undefined && s.optIn === true) continue
  progress(`${s.name}...`)
  let timer: NodeJS.Timeout | undefined
  try {
    // no scenario may hang the run: each has a bound, and a hung one counts as a failure
    const watchdog = new Promise<never>((_resolve, reject) => {
      const ms = s.timeoutMs ?? SCENARIO_TIMEOUT_MS
      timer = setTimeout(() => { reject(new Error(`did not finish within ${ms / 60_000} minutes`)) }, ms)
    })
    results.push(...await Promise.race([s.run(), watchdog]))
  } catch (err) {
    failed = true
    console.error(`[bench] ${s.name} FAILED: ${(err as Error).message}`)
  } finally {
    clearTimeout(timer)
  }
}
const meta = { date: new Date().toISOString(), commit: commit(), node: process.version, cpus: cpus().length, quick }
console.log(`\nasmtp benchmarks ${meta.date} commit ${meta.commit}, Node ${meta.node}, ${meta.cpus} cores${quick ? ' (quick)' : ''}\n`)
printTable(results)
if (jsonPath !== undefined) await writeJson(jsonPath, results, meta)
process.exit(failed ? 1 : 0)
