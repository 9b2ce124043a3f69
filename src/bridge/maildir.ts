/**
 * Maildir delivery (docs/BRIDGE.md "Maildir"): each mail is written into `tmp/` under a
 * Maildir-unique name, synced, then renamed into `new/` (received) or, for sent mail, into
 * `.Sent/cur/` with the Seen flag (the Maildir++ folder "Sent"). A list of the message keys
 * already delivered, `asmtp-delivered.txt` in the Maildir, keeps a restart from delivering twice.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { appendLine, readIfExists } from '../client/folder.js'

export const SENT_FOLDER = '.Sent'
const DELIVERED_FILE = 'asmtp-delivered.txt'

let counter = 0

/** `<seconds>.M<micro>P<pid>Q<n>R<random>.<host>,S=<size>`: unique per host (maildir(5), Dovecot's S= size). */
export function uniqueName (size: number, now = Date.now()): string {
  const host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072')
  const sec = Math.floor(now / 1000)
  const micro = (now % 1000) * 1000 + Math.floor(Math.random() * 1000)
  return `${sec}.M${micro}P${process.pid}Q${++counter}R${randomBytes(4).toString('hex')}.${host},S=${size}`
}

export class Maildir {
  private delivered = new Set<string>()

  constructor (readonly root: string) {}

  /** Makes the folders (0700) and reads what was delivered before. */
  async open (): Promise<void> {
    for (const base of [this.root, join(this.root, SENT_FOLDER)]) {
      for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(base, sub), { recursive: true, mode: 0o700 })
    }
    const marker = await open(join(this.root, SENT_FOLDER, 'maildirfolder'), 'a', 0o600)
    await marker.close()
    const raw = await readIfExists(join(this.root, DELIVERED_FILE))
    this.delivered = new Set((raw?.toString('utf8') ?? '').split('\n').filter(l => l !== ''))
  }

  has (key: string): boolean {
    return this.delivered.has(key)
  }

  /** Writes one mail (through tmp/ and a rename) and records its key; returns the file's path. */
  async deliver (key: string, mail: Uint8Array, folder: 'inbox' | 'sent'): Promise<string> {
    const base = folder === 'inbox' ? this.root : join(this.root, SENT_FOLDER)
    const name = uniqueName(mail.length)
    const tmp = join(base, 'tmp', name)
    const file = await open(tmp, 'wx', 0o600)
    try {
      await file.writeFile(mail)
      await file.sync()
    } finally {
      await file.close()
    }
    const final = folder === 'inbox' ? join(base, 'new', name) : join(base, 'cur', `${name}:2,S`)
    await rename(tmp, final)
    await appendLine(join(this.root, DELIVERED_FILE), key)
    this.delivered.add(key)
    return final
  }
}
