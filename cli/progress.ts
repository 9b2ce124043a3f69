/**
 * Progress bars for long work (a file being sent, a sync that brings many messages): drawn on
 * stderr with cli-progress when stderr is a terminal, and never with --quiet or --json.
 */
import cliProgress from 'cli-progress'
import type { CliOutput } from './output.js'

export interface ProgressBar {
  update: (done: number, total: number, extra?: Record<string, number>) => void
  stop: () => void
}

/** null when no bar is to be drawn. */
export function createProgress (out: CliOutput, json: boolean, label: string, detail = '{value}/{total}'): ProgressBar | null {
  if (json || out.level === 'warn' || out.level === 'error' || process.stderr.isTTY !== true) return null
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% ${detail}`,
    hideCursor: true,
    clearOnComplete: true
  }, cliProgress.Presets.shades_classic)
  let started = false
  return {
    update: (done, total, extra = {}) => {
      if (!started) {
        bar.start(total, done, extra)
        started = true
        return
      }
      bar.setTotal(total)
      bar.update(done, extra)
    },
    stop: () => { if (started) bar.stop() }
  }
}
