/**
 * The node's Prometheus metrics (`metrics.listen`, docs/OPERATIONS.md "Metrics"): libp2p's own
 * (@libp2p/prometheus-metrics: connections, streams, bytes per protocol, process memory) and
 * the node's counters: frames by verdict and reason, frames stored, evicted and refused,
 * catch-up runs and requests served, and the time stamps take. Counters that other parts
 * already keep are read when scraped; verdicts and stamp times are counted as they happen.
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { IntakeSource, IntakeVerdict } from './intake.js'

/** The short reason label of a verdict: a fixed set, so that a peer cannot grow the label space. */
export function verdictReason (v: IntakeVerdict): string {
  if (v.result === 'accept' || v.result === 'duplicate') return v.result
  const r = v.reason
  if (r.startsWith('stamp')) return 'stamp'
  if (r.startsWith('rate')) return 'rate'
  if (r.startsWith('frame time')) return 'time'
  if (r.startsWith('storage full')) return 'full'
  if (r.startsWith('bucket')) return 'not_carried'
  return v.result === 'reject' ? 'shape' : 'other'
}

/** What the scrape reads from the node at that moment. */
export interface MetricsSources {
  store: () => Promise<{ frames: number, matchedFrames: number, relayedBytes: number, evictedFrames: number, refusedFrames: number }>
  catchup: () => Promise<{ runs: number, failed: number, frames: number }>
  catchupServed: () => { requests: Record<string, number> } | undefined
  peers: () => number
}

interface Snapshot {
  store: Awaited<ReturnType<MetricsSources['store']>>
  catchup: Awaited<ReturnType<MetricsSources['catchup']>>
  served: Record<string, number>
  peers: number
}

/** Metrics read at scrape time: every one of them awaits the same snapshot of the sources. */
const SNAPSHOT_REUSE_MS = 250

export class NodeMetrics {
  /** the node's own metrics */
  readonly registry = new Registry()
  /** libp2p's, kept apart so that its names never clash with ours */
  readonly libp2pRegistry = new Registry()
  private readonly frames: Counter
  private readonly stampSeconds: Histogram

  constructor (sources: MetricsSources) {
    const registers = [this.registry]
    this.frames = new Counter({
      name: 'asmtp_frames_total',
      help: 'Frames that reached this node, by verdict (accept, duplicate, ignore, reject), reason and source',
      labelNames: ['verdict', 'reason', 'source'],
      registers
    })
    this.stampSeconds = new Histogram({
      name: 'asmtp_stamp_seconds',
      help: 'Time to compute the stamp of one of our users\' frames',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers
    })
    let taken: { at: number, snapshot: Promise<Snapshot> } | undefined
    const snapshot = async (): Promise<Snapshot> => {
      if (taken === undefined || Date.now() - taken.at > SNAPSHOT_REUSE_MS) {
        taken = {
          at: Date.now(),
          snapshot: Promise.all([sources.store(), sources.catchup()]).then(([store, catchup]) => ({
            store, catchup, served: sources.catchupServed()?.requests ?? {}, peers: sources.peers()
          }))
        }
      }
      return await taken.snapshot
    }
    /** A counter or gauge whose value(s) come from the snapshot: totals kept elsewhere, monotonic while the node runs. */
    const read = (kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], values: (s: Snapshot) => Array<[Record<string, string>, number]>): void => {
      const Metric = kind === 'counter' ? Counter : Gauge
      new Metric({
        name,
        help,
        labelNames,
        registers,
        async collect () {
          const s = await snapshot()
          this.reset()
          for (const [labels, value] of values(s)) this.inc(labels, value)
        }
      })
    }
    read('gauge', 'asmtp_stored_frames', 'Frames held now, by kind (relayed, matched)', ['kind'], s => [[{ kind: 'relayed' }, s.store.frames - s.store.matchedFrames], [{ kind: 'matched' }, s.store.matchedFrames]])
    read('gauge', 'asmtp_stored_relayed_bytes', 'Bytes of relayed-only frames held now', [], s => [[{}, s.store.relayedBytes]])
    read('counter', 'asmtp_frames_evicted_total', 'Relayed-only frames evicted (relay quota or storage.max_messages) since start', [], s => [[{}, s.store.evictedFrames]])
    read('counter', 'asmtp_frames_refused_total', 'Relayed-only frames refused since start: storage.max_messages is reached by our users\' mail', [], s => [[{}, s.store.refusedFrames]])
    read('counter', 'asmtp_catchup_runs_total', 'Catch-up runs with bucket peers, by outcome', ['outcome'], s => [[{ outcome: 'done' }, s.catchup.runs - s.catchup.failed], [{ outcome: 'failed' }, s.catchup.failed]])
    read('counter', 'asmtp_catchup_frames_total', 'Frames stored from catch-up', [], s => [[{}, s.catchup.frames]])
    read('counter', 'asmtp_catchup_requests_served_total', 'Catch-up requests answered (summary, inventory pages, frame fetches), by type', ['type'], s => Object.entries(s.served).map(([type, n]) => [{ type }, n]))
    read('gauge', 'asmtp_peers', 'Connected libp2p peers', [], s => [[{}, s.peers]])
  }

  /** libp2p's `metrics` option. */
  libp2p (): ReturnType<typeof prometheusMetrics> {
    return prometheusMetrics({ registry: this.libp2pRegistry })
  }

  onVerdict (v: IntakeVerdict, source: IntakeSource): void {
    this.frames.inc({ verdict: v.result, reason: verdictReason(v), source })
  }

  /** Times one stamp. */
  async timeStamp<T> (stamp: () => Promise<T>): Promise<T> {
    const end = this.stampSeconds.startTimer()
    try {
      return await stamp()
    } finally {
      end()
    }
  }

  /** The Prometheus text of both registries. */
  async text (): Promise<string> {
    return await Registry.merge([this.registry, this.libp2pRegistry]).metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }
}
