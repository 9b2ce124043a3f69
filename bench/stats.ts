/** Small statistics and timing helpers for the benchmarks (never used by tests). */
export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function summary (values: number[]): { median: number, p99: number, n: number } {
  const sorted = [...values].sort((a, b) => a - b)
  return { median: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length }
}

export function nowMs (): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Runs `fn` repeatedly for about `ms` milliseconds (after a warm-up); returns operations per second. */
export function opsPerSecond (fn: () => void, ms: number): number {
  const warm = nowMs() + Math.min(200, ms / 5)
  while (nowMs() < warm) fn()
  let n = 0
  const start = nowMs()
  let elapsed: number
  do {
    for (let i = 0; i < 8; i++) fn()
    n += 8
    elapsed = nowMs() - start
  } while (elapsed < ms)
  return (n * 1000) / elapsed
}

export async function opsPerSecondAsync (fn: () => Promise<void>, ms: number, concurrency = 1): Promise<number> {
  let n = 0
  const start = nowMs()
  const end = start + ms
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (nowMs() < end) {
      await fn()
      n++
    }
  }))
  return (n * 1000) / (nowMs() - start)
}

export function fmt (x: number, digits = 2): string {
  if (!Number.isFinite(x)) return String(x)
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US')
  return x.toFixed(digits)
}
