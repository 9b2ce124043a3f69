/**
 * The plot for docs/PRIVACY.md: the partner and origin precision of the passive spy and of the
 * active spy (each its own series, and again with stems once rows have them), and the bytes
 * each node read per delivered envelope, against b, drawn with vega-lite and rendered to SVG
 * headless (vega's 'none' renderer, no canvas). Version 1 has no b: it is drawn as dashed
 * reference lines. The newest full (not quick) row of each delivery, b, spy and stems is used.
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import * as vega from 'vega'
import * as vl from 'vega-lite'
import type { TopLevelSpec } from 'vega-lite'
import type { PrivacyRow } from './report.js'

export const PLOT_PATH = fileURLToPath(new URL('../../../docs/privacy-plot.svg', import.meta.url))

interface Point { b: number | null, delivery: string, series: string, value: number }

/** a spy and stem class of rows: 'passive spy', 'active spy', 'passive spy, stems' ... */
const classOf = (r: PrivacyRow): string => `${r.spy ?? 'passive'} spy${r.stem === true ? ', stems' : ''}`

/**
 * The newest row of each delivery, b, spy and stems; full rows only within a class that has
 * any, quick ones (marked so in the series name) otherwise.
 */
function latest (rows: PrivacyRow[]): PrivacyRow[] {
  const pick = new Map<string, PrivacyRow>()
  const fullClasses = new Set(rows.filter(r => !r.quick).map(classOf))
  for (const r of rows) {
    if (r.quick && fullClasses.has(classOf(r))) continue
    pick.set(`${r.delivery}/${r.b ?? '-'}/${classOf(r)}`, r)
  }
  return [...pick.values()]
}

export function plotSpec (rows: PrivacyRow[]): TopLevelSpec {
  const points: Point[] = latest(rows).flatMap(r => {
    // the passive spy without stems keeps the series names of part 1; other classes are named
    const cls = classOf(r)
    const tag = (cls === 'passive spy' ? '' : `, ${cls}`) + (r.quick ? ' (quick)' : '')
    const out: Point[] = [
      { b: r.b, delivery: r.delivery, series: `partner precision${tag}`, value: r.partner.precision },
      { b: r.b, delivery: r.delivery, series: `origin precision${tag}`, value: r.origin.precision }
    ]
    // chance and bytes once per network: from the passive spy's rows (the sybils' own traffic
    // is in the active rows' bytes)
    if ((r.spy ?? 'passive') === 'passive') {
      const net = (r.stem === true ? ', stems' : '') + (r.quick ? ' (quick)' : '')
      out.push(
        { b: r.b, delivery: r.delivery, series: `partner chance${net}`, value: r.partner.chance },
        { b: r.b, delivery: r.delivery, series: `origin chance${net}`, value: r.origin.chance },
        { b: r.b, delivery: r.delivery, series: `bytes/node/envelope${net}`, value: r.bytesPerNodePerEnvelope.median }
      )
    }
    return out
  }).filter(p => Number.isFinite(p.value))
  const bucketed = points.filter(p => p.b !== null)
  const reference = points.filter(p => p.b === null).map(p => ({ ...p, series: `${p.series} (${p.delivery})` }))
  const x = { field: 'b', type: 'quantitative' as const, title: 'bucket bits b', scale: { domain: [0, 4] }, axis: { values: [0, 2, 4] } }
  // series names run long ('origin precision, active spy, stems'): legends keep them whole
  const color = { field: 'series', type: 'nominal', legend: { labelLimit: 280 } }
  const panel = (title: string, filter: (s: string) => boolean, y: Record<string, unknown>): Record<string, unknown> => ({
    title,
    width: 320,
    height: 220,
    layer: [
      { data: { values: bucketed.filter(p => filter(p.series)) }, mark: { type: 'line', point: true }, encoding: { x, y: { field: 'value', type: 'quantitative', ...y }, color } },
      { data: { values: reference.filter(p => filter(p.series)) }, mark: { type: 'rule', strokeDash: [6, 4] }, encoding: { y: { field: 'value', type: 'quantitative', ...y }, color } }
    ],
    resolve: { scale: { color: 'independent' } }
  })
  const precision = (s: string): boolean => s.includes('precision') || s.includes('chance')
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'What a passive spy and an active one (sybils) connected to every node guess, and what each node carries',
    hconcat: [
      panel('spy precision (dashed: version 1)', precision, { title: 'precision', axis: { format: '%' }, scale: { domain: [0, 1] } }),
      panel('bytes read per node per delivered envelope', s => s.startsWith('bytes'), { title: 'bytes' })
    ],
    resolve: { scale: { color: 'independent' } }
  } as unknown as TopLevelSpec
}

export async function renderPlot (rows: PrivacyRow[], path = PLOT_PATH): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(plotSpec(rows)).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  await writeFile(path, svg + '\n')
  return path
}
