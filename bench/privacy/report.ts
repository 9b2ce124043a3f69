/**
 * The spy experiment's results: one row per run of a delivery (version 1, or version 2 at one
 * value of b, with or without stems) and spy (passive, or the active spy's sybils), printed as
 * a table and side by side per delivery and b, as ScenarioResult lines for the benchmark's own
 * table, and appended to bench/privacy/results.json, which is kept in git so that the version 1
 * row stays after version 1 is gone.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { fmt } from '../stats.js'
import type { ScenarioResult } from '../report.js'
import type { Score } from './guess.js'
import type { StemCount } from './active-spy.js'

/** bench/privacy/results.json in the source tree (this file runs from dist/bench/privacy). */
export const RESULTS_PATH = fileURLToPath(new URL('../../../bench/privacy/results.json', import.meta.url))

export interface PrivacyRow {
  date: string
  commit: string
  delivery: string
  /** bucket bits; null for version 1 (one topic per pair) */
  b: number | null
  /** which spy watched: the passive one, or the active one's sybils (absent in older rows: passive) */
  spy?: 'passive' | 'active'
  /** whether the delivery sent frames along stems first (absent in older rows: no stems) */
  stem?: boolean
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
  /** the active spy: how many sybils */
  sybils?: number
  /**
   * the active spy: stem frames its sybils received and dropped, how many were frames of this
   * traffic phase, how many came straight from their origin, and per sybil who sent them
   */
  stemFrames?: { received: number, ofSent: number, fromOrigin: number, perSybil: StemCount[] }
}

const spyOf = (r: PrivacyRow): 'passive' | 'active' => r.spy ?? 'passive'
const stemOf = (r: PrivacyRow): boolean => r.stem ?? false

const pct = (x: number): string => Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-'

function printTable (head: string[], cells: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map(c => c[i].length)))
  const line = (c: string[]): string => '| ' + c.map((x, i) => x.padEnd(widths[i])).join(' | ') + ' |'
  console.log(line(head))
  console.log('|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|')
  for (const c of cells) console.log(line(c))
}

const stemFramesCell = (r: PrivacyRow | undefined): string =>
  r?.stemFrames === undefined ? '-' : `${r.stemFrames.received} (${r.stemFrames.fromOrigin} from origin) by ${r.sybils ?? r.stemFrames.perSybil.length} sybils`

export function printRows (rows: PrivacyRow[]): void {
  const head = ['delivery', 'b', 'stems', 'spy', 'N', 'P', 'm', 'partner P/R (chance)', 'origin P/R (chance)', 'bytes/node/envelope', 'stem frames dropped']
  printTable(head, rows.map(r => [
    r.delivery, r.b === null ? '-' : String(r.b), stemOf(r) ? 'yes' : 'no', spyOf(r), String(r.N), String(r.P), fmt(r.m, 1),
    `${pct(r.partner.precision)}/${pct(r.partner.recall)} (${pct(r.partner.chance)})`,
    `${pct(r.origin.precision)}/${pct(r.origin.recall)} (${pct(r.origin.chance)})`,
    fmt(r.bytesPerNodePerEnvelope.median, 0),
    stemFramesCell(r)
  ]))
}

/** One line of the side-by-side table: a delivery, b and stems, with its newest row per spy. */
export interface SideBySide { delivery: string, b: number | null, stem: boolean, passive?: PrivacyRow, active?: PrivacyRow }

/**
 * Every row of results.json grouped by delivery, b and stems (version 1 first, then rows
 * without stems, then with), each group with its newest full row per spy, or its newest quick
 * row when it has no full one.
 */
export function sideBySide (rows: PrivacyRow[]): SideBySide[] {
  const groups = new Map<string, SideBySide>()
  for (const r of rows) {
    const key = `${r.delivery}/${r.b ?? '-'}/${stemOf(r)}`
    const g = groups.get(key) ?? { delivery: r.delivery, b: r.b, stem: stemOf(r) }
    groups.set(key, g)
    // rows are in the order they were measured: a later row wins unless it is quick and a full one is held
    const held = g[spyOf(r)]
    if (held === undefined || !r.quick || held.quick) g[spyOf(r)] = r
  }
  return [...groups.values()].sort((x, y) =>
    (x.b === null ? -1 : 0) - (y.b === null ? -1 : 0) || Number(x.stem) - Number(y.stem) || (x.b ?? 0) - (y.b ?? 0) || (x.delivery < y.delivery ? -1 : 1))
}

const pct1 = (x: number): string => Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '-'
const scoreCell = (r: PrivacyRow | undefined, which: 'partner' | 'origin'): string =>
  r === undefined ? '-' : `${pct1(r[which].precision)} / ${pct1(r[which].recall)}${r.quick ? ' q' : ''}`
const whenCell = (r: PrivacyRow | undefined): string => r === undefined ? '-' : `${r.date.slice(0, 16).replace('T', ' ')}, ${r.commit.slice(0, 7)}${r.quick ? ' (quick)' : ''}`

/** The side-by-side table, as markdown for docs/PRIVACY.md: precision / recall, chance apart. */
export function printSideBySide (rows: PrivacyRow[]): void {
  const head = ['delivery', 'b', 'stems', 'm', 'partner passive', 'partner active', 'partner chance', 'origin passive', 'origin active', 'origin chance', 'stem frames the sybils dropped', 'passive: date, commit', 'active: date, commit']
  printTable(head, sideBySide(rows).map(g => {
    const ref = g.passive ?? g.active!
    return [
      g.delivery, g.b === null ? '-' : String(g.b), g.stem ? 'yes' : 'no', fmt(ref.m, 1),
      scoreCell(g.passive, 'partner'), scoreCell(g.active, 'partner'), pct1(ref.partner.chance),
      scoreCell(g.passive, 'origin'), scoreCell(g.active, 'origin'), pct1(ref.origin.chance),
      stemFramesCell(g.active), whenCell(g.passive), whenCell(g.active)
    ]
  }))
}

/** The rows as lines of the benchmark's table: the spy's precision against chance, bytes. */
export function toScenarioResults (rows: PrivacyRow[]): ScenarioResult[] {
  return rows.flatMap(r => {
    const label = `privacy ${r.delivery}${r.b === null ? '' : ` b=${r.b}`}${stemOf(r) ? ' stems' : ''} ${spyOf(r)} spy (${r.N} nodes, ${r.P} pairs, m ${fmt(r.m, 1)})`
    return [
      { scenario: `${label}: spy partner precision`, unit: '%', ours: { median: r.partner.precision * 100, count: r.partner.guessed }, baseline: { name: 'chance 1/(m-1)', median: r.partner.chance * 100 }, ratio: r.partner.precision / r.partner.chance, better: 'lower' as const, notes: `recall ${pct(r.partner.recall)}; blind chance 1/(N-1) ${pct(r.partnerChanceBlind)}` },
      { scenario: `${label}: spy origin precision`, unit: '%', ours: { median: r.origin.precision * 100, count: r.origin.guessed }, baseline: { name: 'chance 1/m', median: r.origin.chance * 100 }, ratio: r.origin.precision / r.origin.chance, better: 'lower' as const, notes: `recall ${pct(r.origin.recall)}; ${r.delivered}/${r.sent} delivered${r.stemFrames === undefined ? '' : `; stem frames dropped ${stemFramesCell(r)}`}` },
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
