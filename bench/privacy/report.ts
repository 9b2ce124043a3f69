/**
 * The spy experiment's results: one row per run of a delivery (version 1, or version 2 at one
 * value of b), printed as a table, as ScenarioResult lines for the benchmark's own table, and
 * appended to bench/privacy/results.json, which is kept in git so that the version 1 row stays
 * after version 1 is gone.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { fmt } from '../stats.js'
import type { ScenarioResult } from '../report.js'
import type { Score } from './guess.js'

/** bench/privacy/results.json in the source tree (this file runs from dist/bench/privacy). */
export const RESULTS_PATH = fileURLToPath(new URL('../../../bench/privacy/results.json', import.meta.url))

export interface PrivacyRow {
  date: string
  commit: string
  delivery: string
  /** bucket bits; null for version 1 (one topic per pair) */
  b: number | null
  /** user-serving nodes, relays, user pairs, messages per direction */
  N: number
  R: number
  P: number
  messagesPerDirection: number
  seed: number
  quick: boolean
  /** the network's stamp_bits when the run set it; null (or absent, in older rows) for the default */
  stampBits?: number | null
  /** how the nodes ran (absent in the version 1 row: one process per node) */
  processes?: string
  /** median anonymity set: user-serving nodes per topic or bucket */
  m: number
  partner: Score
  origin: Score
  /** blind chance of a partner guess, without any observation: 1 / (N - 1) */
  partnerChanceBlind: number
  /** bytes each node read from the network per envelope delivered in the network */
  bytesPerNodePerEnvelope: { median: number, mean: number, relaysMedian: number }
  sent: number
  delivered: number
  /** seconds from the start of the run at the end of each phase (absent in the version 1 row) */
  phaseSeconds?: Record<string, number>
  spySaw: { topics: number, announcements: number, frames: number, providers: number, providerLookups: number, records: number, inbound: number }
}

const pct = (x: number): string => Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-'

export function printRows (rows: PrivacyRow[]): void {
  const head = ['delivery', 'b', 'N', 'P', 'm', 'partner P/R (chance)', 'origin P/R (chance)', 'bytes/node/envelope']
  const cells = rows.map(r => [
    r.delivery, r.b === null ? '-' : String(r.b), String(r.N), String(r.P), fmt(r.m, 1),
    `${pct(r.partner.precision)}/${pct(r.partner.recall)} (${pct(r.partner.chance)})`,
    `${pct(r.origin.precision)}/${pct(r.origin.recall)} (${pct(r.origin.chance)})`,
    fmt(r.bytesPerNodePerEnvelope.median, 0)
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)))
  const line = (c: string[]): string => '| ' + c.map((x, i) => x.padEnd(widths[i])).join(' | ') + ' |'
  console.log(line(head))
  console.log('|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|')
  for (const c of cells) console.log(line(c))
}

/** The rows as lines of the benchmark's table: the spy's precision against chance, bytes. */
export function toScenarioResults (rows: PrivacyRow[]): ScenarioResult[] {
  return rows.flatMap(r => {
    const label = `privacy ${r.delivery}${r.b === null ? '' : ` b=${r.b}`} (${r.N} nodes, ${r.P} pairs, m ${fmt(r.m, 1)})`
    return [
      { scenario: `${label}: spy partner precision`, unit: '%', ours: { median: r.partner.precision * 100, count: r.partner.guessed }, baseline: { name: 'chance 1/(m-1)', median: r.partner.chance * 100 }, ratio: r.partner.precision / r.partner.chance, better: 'lower' as const, notes: `recall ${pct(r.partner.recall)}; blind chance 1/(N-1) ${pct(r.partnerChanceBlind)}` },
      { scenario: `${label}: spy origin precision`, unit: '%', ours: { median: r.origin.precision * 100, count: r.origin.guessed }, baseline: { name: 'chance 1/m', median: r.origin.chance * 100 }, ratio: r.origin.precision / r.origin.chance, better: 'lower' as const, notes: `recall ${pct(r.origin.recall)}; ${r.delivered}/${r.sent} delivered` },
      { scenario: `${label}: bytes per node per delivered envelope`, unit: 'B', ours: { median: r.bytesPerNodePerEnvelope.median }, notes: `mean ${fmt(r.bytesPerNodePerEnvelope.mean, 0)}, relays' median ${fmt(r.bytesPerNodePerEnvelope.relaysMedian, 0)}; TCP bytes read` }
    ]
  })
}

export async function readRows (path = RESULTS_PATH): Promise<PrivacyRow[]> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PrivacyRow[]
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Appends the rows to results.json and returns every row it now holds. */
export async function appendRows (rows: PrivacyRow[], path = RESULTS_PATH): Promise<PrivacyRow[]> {
  const all = [...await readRows(path), ...rows]
  await writeFile(path, JSON.stringify(all, (_k, v: unknown) => typeof v === 'number' && !Number.isFinite(v) ? null : v, 2) + '\n')
  return all
}
