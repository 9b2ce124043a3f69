/** Benchmark results: the table printed for people and the JSON written for tools. */
import { writeFile } from 'node:fs/promises'
import { fmt } from './stats.js'

export interface Figure { median: number, p99?: number, peakRssMb?: number, count?: number, mbPerSecond?: number }

export interface ScenarioResult {
  scenario: string
  unit: string
  ours: Figure
  baseline?: Figure & { name: string }
  /** ours / baseline, oriented as `better` says */
  ratio?: number
  better?: 'higher' | 'lower'
  target?: string
  notes?: string
}

export function printTable (results: ScenarioResult[]): void {
  const rows = results.map(r => [
    r.scenario,
    r.unit,
    fmt(r.ours.median) + (r.ours.p99 !== undefined ? ` (p99 ${fmt(r.ours.p99)})` : ''),
    r.baseline !== undefined ? fmt(r.baseline.median) + (r.baseline.p99 !== undefined ? ` (p99 ${fmt(r.baseline.p99)})` : '') : '-',
    r.ratio !== undefined ? fmt(r.ratio, 3) : '-',
    r.target ?? ''
  ])
  const head = ['scenario', 'unit', 'ours (median)', 'baseline (median)', 'ratio', 'target']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |'
  console.log(line(head))
  console.log('|' + widths.map(w => '-'.repeat(w + 2)).join('|') + '|')
  for (const r of rows) console.log(line(r))
  for (const r of results) {
    if (r.baseline !== undefined) console.log(`  ${r.scenario}: baseline = ${r.baseline.name}${r.notes !== undefined ? `; ${r.notes}` : ''}`)
    else if (r.notes !== undefined) console.log(`  ${r.scenario}: ${r.notes}`)
  }
}

export async function writeJson (path: string, results: ScenarioResult[], meta: Record<string, unknown>): Promise<void> {
  await writeFile(path, JSON.stringify({ ...meta, results }, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v, 2) + '\n')
}
