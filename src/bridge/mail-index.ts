/**
 * The bridge's cursor over an account's mail (docs/API.md "Cursors"): every message the bridge
 * has seen gets the next sequence number, once, kept in `<account>/bridge/index.txt` (one
 * `<seq> <contact>:<id>` line each). Polls and server-sent events resume from a number; a
 * deleted message keeps its number, so no cursor ever moves backwards.
 */
import { mkdir } from 'node:fs/promises'
import { appendLine, readIfExists } from '../client/folder.js'

export class MailIndex {
  private readonly seqs = new Map<string, number>()
  private last = 0

  constructor (private readonly path: string, private readonly dir: string) {}

  async open (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const raw = await readIfExists(this.path)
    for (const line of (raw?.toString('utf8') ?? '').split('\n')) {
      const m = /^(\d{1,15}) (\S+)$/.exec(line)
      if (m === null) continue
      const seq = Number(m[1])
      this.seqs.set(m[2] ?? '', seq)
      this.last = Math.max(this.last, seq)
    }
  }

  get lastSeq (): number { return this.last }

  seqOf (key: string): number | undefined {
    return this.seqs.get(key)
  }

  /** Numbers a new message; its number, or the one it already had. */
  async add (key: string): Promise<number> {
    const known = this.seqs.get(key)
    if (known !== undefined) return known
    const seq = this.last + 1
    await appendLine(this.path, `${seq} ${key}`)
    this.seqs.set(key, seq)
    this.last = seq
    return seq
  }
}
