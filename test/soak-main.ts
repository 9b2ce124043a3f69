/**
 * The soak (not part of `npm test`): `npm run soak -- --minutes N` (root; network namespaces).
 * Mixed mail both ways on the namespace testbed (test/helpers/nat-net.ts) while, every round,
 * a random fault strikes: a node SIGKILLed and restarted, a home router cut off for a while, or
 * nothing. At the end every fault is healed and the soak waits for the mail; it prints what was
 * lost, duplicated and late, and the RSS of each node over time. Exit code 1 when anything was
 * lost or duplicated.
 */
import '../src/polyfill.js'
import { parseArgs } from 'node:util'
import { latencies, MailNet, percentiles, tally, type Device, type NodeHost } from './helpers/nat-net.js'
import { needsRoot } from './helpers/root.js'

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, batch: { type: 'string', default: '10' } } })
const minutes = Number(values.minutes)
const batch = Number(values.batch)
if (!(minutes > 0) || !(batch > 0)) {
  console.error('usage: npm run soak -- --minutes N [--batch M]')
  process.exit(2)
}
const NODES: NodeHost[] = ['relay1', 'relay2', 'home1', 'home2']
/** Later than this after its acknowledgement, a message counts as late. */
const LATE_MS = 60_000
const ROUND_MS = 20_000

const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]

async function main (): Promise<number> {
  const reason = needsRoot('ip', 'iptables', 'ss')
  if (reason !== undefined) {
    console.error(`soak: ${reason}`)
    return 2
  }
  const net = await MailNet.create()
  const rss: Array<{ at: number, mib: number[] }> = []
  const t0 = Date.now()
  const sampler = setInterval(() => {
    void Promise.all(NODES.map(async h => await net.rss(h))).then(r => { rss.push({ at: Date.now() - t0, mib: r.map(b => Math.round(b / 1048576)) }) })
  }, 10_000)
  const faults: string[] = []
  try {
    const alice = net.device('alice')
    const bob = net.device('bob')
    await Promise.all([alice.watch(), bob.watch()])
    const sent: Record<'alice' | 'bob', string[]> = { alice: [], bob: [] }
    const end = t0 + minutes * 60_000
    let round = 0
    while (Date.now() < end) {
      for (const [d, to] of [[alice, 'bob'], [bob, 'alice']] as const) {
        const prefix = `${d.user}-r${round}`
        d.command({ op: 'send', to, prefix, count: batch, retryMs: 300_000 })
        for (let i = 0; i < batch; i++) sent[d.user].push(`${prefix} ${i}`)
      }
      const fault = pick(['kill', 'kill', 'cut', 'none'] as const)
      const at = Math.round((Date.now() - t0) / 1000)
      if (fault === 'kill') {
        const victim = pick(NODES)
        await pause(Math.random() * 5000)
        await net.stop(victim, 'SIGKILL')
        await pause(Math.random() * 5000)
        await net.start(victim)
        faults.push(`${at}s kill ${victim}`)
      } else if (fault === 'cut') {
        const router = pick(['router1', 'router2'] as const)
        const ms = 10_000 + Math.random() * 30_000
        net.bed.partition(router, true)
        await pause(ms)
        net.bed.partition(router, false)
        faults.push(`${at}s cut ${router} ${Math.round(ms / 1000)}s`)
      }
      await pause(Math.max(0, ROUND_MS - (Date.now() - t0 - at * 1000)))
      round++
    }
    console.log(`soak: ${round} rounds, faults: ${faults.join('; ')}`)
    const report = async (from: Device, to: Device, expected: string[]): Promise<{ lost: number, dup: number, late: number }> => {
      await from.until('every send acknowledged', evs => evs.filter(e => e.ev === 'sent' || e.ev === 'error').length >= round ? true : undefined, 600_000)
      const got = await to.inboxWith(expected, 180_000)
      const t = tally(expected, got)
      const acked = new Set(from.acks().map(a => a.text ?? ''))
      const lat = latencies(from, to)
      const { p50, p99 } = percentiles(lat)
      const late = lat.filter(x => x > LATE_MS).length
      const errors = from.events.filter(e => e.ev === 'error').length
      console.log(`${from.user} → ${to.user}: ${expected.length} sent, ${acked.size} accepted, ${errors} sends given up, ${expected.length - t.missing.length} delivered, ${t.missing.length} lost, ${t.duplicated.length} duplicated, ${late} late (> ${LATE_MS / 1000} s); latency p50 ${p50} ms, p99 ${p99} ms`)
      if (t.missing.length > 0) console.log(`  lost: ${t.missing.slice(0, 10).join(', ')}`)
      return { lost: t.missing.length, dup: t.duplicated.length, late }
    }
    const a = await report(alice, bob, sent.alice)
    const b = await report(bob, alice, sent.bob)
    console.log(`RSS (MiB) over time: t(s) ${NODES.join(' ')}`)
    for (const r of rss) console.log(`  ${Math.round(r.at / 1000)} ${r.mib.join(' ')}`)
    return a.lost + a.dup + b.lost + b.dup === 0 ? 0 : 1
  } finally {
    clearInterval(sampler)
    await net.destroy()
  }
}

main().then(code => process.exit(code), (err: Error) => {
  console.error(`soak: ${err.stack ?? err.message}`)
  process.exit(1)
})
