/**
 * The spy experiment (`npm run bench -- --only privacy`): a network of real nodes from a
 * Delivery; a passive spy connected to all of them, then an active one (sybils, active-spy.ts),
 * each alone through a traffic phase both ways in every pair; each spy's guesses scored against
 * the delivery's ground truth, with the bytes every node read. One row per spy and per b,
 * appended to results.json and plotted.
 */
import { execSync } from 'node:child_process'
import { createScenario, type Scenario, type ScenarioInit } from './scenario.js'
import { v2Delivery, type Delivery, type NetworkHandles, type SentFrame } from './delivery.js'
import { Spy, type Observations } from './spy.js'
import { ActiveSpy, type StemCount, type StemSighting } from './active-spy.js'
import { evaluate, median, type GroundTruth } from './guess.js'
import { appendRows, printRows, printSideBySide, readRows, toScenarioResults, type PrivacyRow } from './report.js'
import { renderPlot } from './plot.js'
import type { ScenarioResult } from '../report.js'

const SPY_CONNECT_TIMEOUT_MS = 180_000
const SPY_DIAL_BATCH = 6
const SPY_SETTLE_MS = 3_000
const SPY_SETTLE_TIMEOUT_MS = 60_000
const DELIVERY_TIMEOUT_MS = 30_000
const REGISTER_CONCURRENCY = 4

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function git (args: string): string {
  try {
    return execSync(`git ${args}`, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return 'unknown'
  }
}

/**
 * The sizes of a run: 48 users on 24 home nodes (one to three each, c of about 2 buckets per
 * node, so m = N·c/2^b is about 3 at b = 4), 26 node processes, one start and two traffic
 * phases (about 5 minutes) per b on a 2-core machine; --quick shrinks it.
 */
export function experimentSize (quick: boolean): ScenarioInit {
  return quick
    ? { nodes: 8, relays: 1, pairs: 6, messagesPerDirection: 2, seed: 1 }
    : { nodes: 24, relays: 2, pairs: 24, messagesPerDirection: 3, seed: 1 }
}

async function until (what: string, timeoutMs: number, done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await done()) {
    if (Date.now() > deadline) throw new Error(`privacy: ${what} within ${timeoutMs / 1000} s`)
    await sleep(250)
  }
}

export type SpyKind = 'passive' | 'active'
/** The spies every run attaches, one after the other, to the same network. */
export const SPIES: SpyKind[] = ['passive', 'active']

/** What the experiment needs of a spy: the passive Spy and the active spy's sybils alike. */
interface Adversary {
  readonly role: string
  readonly hosts: Spy[]
  start: () => Promise<void>
  joinAll: () => number
  topics: () => string[]
  joins: () => number
  observations: () => Observations
  stop: () => Promise<void>
}

// a spy joins topics only once the network is ready: a version 1 node counted any subscriber
// of its pair's topic as its partner (a stall seen at 5 of 16 pairs), and a version 2 mesh
// that holds the spy alone is no sign of readiness
const makeSpy = (kind: SpyKind): Adversary & { stemCounts?: () => StemCount[], stemSightings?: () => StemSighting[] } =>
  kind === 'passive' ? new Spy({ role: 'passive', join: 'on-request' }) : new ActiveSpy({ join: 'on-request' })

interface RunContext {
  delivery: Delivery
  scenario: Scenario
  net: NetworkHandles
  quick: boolean
  seconds: () => number
  progress: (s: string) => void
  phases: Record<string, number>
}

/** One spy on the running network: it connects, joins, watches the traffic phase and guesses. */
async function spyPhase (kind: SpyKind, ctx: RunContext): Promise<PrivacyRow> {
  const { delivery, scenario, net, progress, seconds } = ctx
  const name = `privacy ${delivery.name} b=${delivery.bucketBits ?? '-'}${delivery.stem === true ? ' stems' : ''} ${kind} spy`
  const phases = { ...ctx.phases }
  const spy = makeSpy(kind)
  try {
    await spy.start()
    progress(`${name}: ${spy.hosts.length} host(s) dial all ${net.nodes.length} nodes`)
    // on a loaded machine some handshakes time out: dial the missing ones again, a few at a time
    await until(`the ${kind} spy did not reach every node`, SPY_CONNECT_TIMEOUT_MS, async () => {
      let missing = 0
      for (const host of spy.hosts) {
        const connected = new Set(host.libp2p.getConnections().map(c => c.remotePeer.toString()))
        const left = net.nodes.filter(n => !connected.has(n.peerId))
        missing += left.length
        for (let i = 0; i < left.length; i += SPY_DIAL_BATCH) await host.dial(left.slice(i, i + SPY_DIAL_BATCH).map(n => n.addrs[0]))
      }
      return missing === 0
    })
    phases.spyConnected = seconds()
    await delivery.waitReady({ progress })
    spy.joinAll()
    // the spy has joined what it heard of once its joins stop changing for a while
    let count = -1
    let since = Date.now()
    await until(`the ${kind} spy's topics did not settle`, SPY_SETTLE_TIMEOUT_MS, () => {
      const n = spy.joins()
      if (n !== count) {
        count = n
        since = Date.now()
      }
      return n > 0 && Date.now() - since >= SPY_SETTLE_MS
    })
    progress(`${name} joined ${spy.topics().length} topics; ${scenario.sends.length} envelopes, both ways in every pair`)
    phases.spyJoined = seconds()
    await delivery.resetBytes()
    const frames: SentFrame[] = []
    for (const s of scenario.sends) {
      frames.push(await delivery.send(s.from, s.to))
      if (frames.length % 32 === 0) progress(`${name}: ${frames.length}/${scenario.sends.length} sent`)
      await sleep(s.gapMs)
    }
    phases.sent = seconds()
    const delivered = await delivery.waitDelivered(frames, DELIVERY_TIMEOUT_MS)
    phases.delivered = seconds()
    // frames still in flight to the spy land within a second on loopback
    await sleep(1_000)
    const bytes = await delivery.bytesReceived()
    const obs = spy.observations()
    const peer = (node: number): string => net.nodes[node].peerId
    const partners: Record<string, Set<string>> = {}
    for (const p of scenario.pairs) {
      const [x, y] = [peer(net.userNode[p.a]), peer(net.userNode[p.b])]
      ;(partners[x] ??= new Set()).add(y)
      ;(partners[y] ??= new Set()).add(x)
    }
    const truth: GroundTruth = {
      userServing: net.nodes.filter(n => n.role === 'user').map(n => n.peerId),
      partners: Object.fromEntries(Object.entries(partners).map(([k, v]) => [k, [...v]])),
      origins: Object.fromEntries(frames.map(f => [f.frameId, peer(f.originNode)]))
    }
    const metrics = evaluate(obs, truth)
    const perEnvelope = bytes.map(b => b / Math.max(1, delivered))
    const userBytes = net.nodes.filter(n => n.role === 'user').map(n => perEnvelope[n.index])
    const relayBytes = net.nodes.filter(n => n.role === 'relay').map(n => perEnvelope[n.index])
    const row: PrivacyRow = {
      date: new Date().toISOString(),
      commit: git('rev-parse --short HEAD'),
      delivery: delivery.name,
      b: delivery.bucketBits ?? null,
      spy: kind,
      stem: delivery.stem ?? false,
      N: scenario.nodes,
      R: scenario.relays,
      P: scenario.pairs.length,
      messagesPerDirection: scenario.messagesPerDirection,
      seed: scenario.seed,
      quick: ctx.quick,
      stampBits: delivery.stampBits ?? null,
      processes: `one child process per node on 127.0.0.1; the ${kind === 'passive' ? 'spy' : `${spy.hosts.length} sybils`} in the benchmark process; the spies one after the other on one network per b`,
      m: metrics.anonymitySet,
      partner: metrics.partner,
      origin: metrics.origin,
      partnerChanceBlind: 1 / (scenario.nodes - 1),
      bytesPerNodePerEnvelope: { median: median(userBytes), mean: userBytes.reduce((a, b) => a + b, 0) / Math.max(1, userBytes.length), relaysMedian: median(relayBytes) },
      sent: frames.length,
      delivered,
      phaseSeconds: phases,
      spySaw: { topics: spy.topics().length, announcements: obs.announcements.length, frames: obs.frames.length, providers: obs.providers.length, providerLookups: obs.providerLookups.length, records: obs.records.length, inbound: obs.inbound.length }
    }
    if (spy.stemCounts !== undefined && spy.stemSightings !== undefined) {
      const sightings = spy.stemSightings()
      row.sybils = spy.hosts.length
      row.stemFrames = {
        received: sightings.length,
        ofSent: sightings.filter(x => truth.origins[x.frameId] !== undefined).length,
        fromOrigin: sightings.filter(x => truth.origins[x.frameId] === x.from).length,
        perSybil: spy.stemCounts()
      }
    }
    return row
  } finally {
    await spy.stop().catch(() => {})
  }
}

/**
 * One run of the experiment against one delivery: the network starts once, then each spy in
 * turn connects to it alone, watches its own traffic phase and leaves; one row per spy, handed
 * to `onRow` as soon as it is measured.
 */
export async function runExperiment (delivery: Delivery, init: ScenarioInit, quick: boolean, report: (s: string) => void, onRow: (row: PrivacyRow) => Promise<void> = async () => {}, spies: SpyKind[] = SPIES): Promise<PrivacyRow[]> {
  const t0 = Date.now()
  const seconds = (): number => Math.round((Date.now() - t0) / 100) / 10
  const progress = (s: string): void => { report(`[${seconds()} s] ${s}`) }
  const phases: Record<string, number> = {}
  const scenario = createScenario({ ...init, bucketBits: delivery.bucketBits })
  const rows: PrivacyRow[] = []
  try {
    const net = await delivery.startNetwork(scenario, { progress })
    phases.start = seconds()
    progress(`privacy ${delivery.name}: registering ${scenario.pairs.length} pairs`)
    let next = 0
    await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, async () => {
      while (next < scenario.pairs.length) await delivery.registerPair(scenario.pairs[next++])
    }))
    await delivery.waitReady({ progress })
    phases.ready = seconds()
    for (const kind of spies) {
      const row = await spyPhase(kind, { delivery, scenario, net, quick, seconds, progress, phases })
      rows.push(row)
      await onRow(row)
    }
    return rows
  } finally {
    await delivery.stop()
  }
}

/**
 * The deliveries the experiment runs: version 2 at b = 0, 2, 4, with the network's default
 * stamp_bits, with stems (the node's default). ASMTP_PRIVACY_STEM=off runs part 1's delivery
 * instead (own frames fluffed at once), `both` runs the two (about 24 minutes for a full run:
 * more than the benchmark's 20-minute watchdog, so for --quick). Version 1 (one topic per pair)
 * is gone; its row in results.json is the reference.
 */
export function deliveries (stems = process.env.ASMTP_PRIVACY_STEM ?? 'on'): Array<() => Delivery> {
  if (!['on', 'off', 'both'].includes(stems)) throw new RangeError(`ASMTP_PRIVACY_STEM must be on, off or both, not ${stems}`)
  const modes = stems === 'both' ? [false, true] : [stems === 'on']
  return [0, 2, 4].flatMap(bucketBits => modes.map(stem => () => v2Delivery({ bucketBits, stem })))
}

export async function benchPrivacy (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const rows: PrivacyRow[] = []
  const failed: string[] = []
  // each row is written as soon as it is measured: one failed b or spy must not cost the rows
  // of the others, nor a watchdog the rows measured so far
  const onRow = async (row: PrivacyRow): Promise<void> => {
    rows.push(row)
    const all = await appendRows([row])
    progress(`privacy: ${row.spy} spy row appended to bench/privacy/results.json, plot written to ${await renderPlot(all)}`)
  }
  for (const make of deliveries()) {
    const delivery = make()
    try {
      await runExperiment(delivery, experimentSize(quick), quick, progress, onRow)
    } catch (err) {
      failed.push(`${delivery.name} b=${delivery.bucketBits ?? '-'}${delivery.stem === true ? ' stems' : ''}: ${(err as Error).message}`)
      progress(`privacy ${delivery.name} b=${delivery.bucketBits ?? '-'} FAILED: ${(err as Error).message}`)
    }
  }
  if (rows.length === 0) throw new Error(`privacy: every run failed (${failed.join('; ')})`)
  console.log('\nprivacy: a passive spy, then an active one (sybils that drop stem frames), connected to every node\n')
  printRows(rows)
  console.log('\nprivacy: every row of results.json side by side (newest per delivery, b, stems and spy; q: a quick run)\n')
  printSideBySide(await readRows())
  return toScenarioResults(rows)
}
