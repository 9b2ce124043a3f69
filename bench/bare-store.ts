/**
 * The relay-throughput baseline's storage: one LevelDB (level 10) write per message, grouped
 * the way the node's store groups them (puts that arrive while a batch is written share the
 * next batch, at most 512 of them), and nothing else: no indexes, no quota, no replay filter.
 */
import { Level } from 'level'

const GROUP_MAX = 512

interface Pending { key: Uint8Array, value: Uint8Array, resolve: () => void, reject: (e: unknown) => void }

export class BareStore {
  private readonly db: Level<Uint8Array, Uint8Array>
  private readonly pending: Pending[] = []
  private flushing = false

  constructor (path: string) {
    this.db = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  }

  async open (): Promise<void> { await this.db.open() }
  async close (): Promise<void> { await this.db.close() }

  async put (key: Uint8Array, value: Uint8Array): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ key, value, resolve, reject })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush (): Promise<void> {
    this.flushing = true
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0, GROUP_MAX)
        try {
          await this.db.batch(group.map(p => ({ type: 'put' as const, key: p.key, value: p.value })))
          for (const p of group) p.resolve()
        } catch (err) {
          for (const p of group) p.reject(err)
        }
      }
    } finally {
      this.flushing = false
    }
  }
}
