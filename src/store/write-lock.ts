/**
 * A small FIFO mutex: the store's read-modify-write operations (frame puts with their seqs,
 * evictions and replay checks, topic owner lists, fetched cursors, sweeps) run one at a time,
 * so concurrent callers never get the same seq or store the same hash twice.
 */
export class WriteLock {
  private tail: Promise<void> = Promise.resolve()

  async run<T> (fn: () => Promise<T> | T): Promise<T> {
    const previous = this.tail
    let release!: () => void
    this.tail = new Promise<void>((resolve) => { release = resolve })
    await previous
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
