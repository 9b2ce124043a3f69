/**
 * File helpers of an account folder: atomic writes (temp file, fsync, rename) with an
 * explicit mode, and a lock file so that two processes on one folder (a `watch` and a
 * `sync`) never interleave their writes.
 */
import { randomBytes } from 'node:crypto'
import { open, readFile, rename, unlink } from 'node:fs/promises'
import { AsmtpError } from '../errors.js'

/** Writes `data` to `path` atomically with `mode` (0600 by default: mail and keys are private). */
export async function writeFileAtomic (path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

/** Appends one line (a complete record) with mode 0600 for a new file. */
export async function appendLine (path: string, line: string): Promise<void> {
  const handle = await open(path, 'a', 0o600)
  try {
    await handle.writeFile(line + '\n')
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function readIfExists (path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export const LOCK_WAIT_MS = 15_000
const LOCK_POLL_MS = 50

/**
 * Takes the folder's lock file (created exclusively, holding our pid); a lock left by a process
 * that is gone is taken over. Waits up to `waitMs` for a live holder, then TIMEOUT.
 */
export async function acquireLock (path: string, waitMs = LOCK_WAIT_MS): Promise<() => Promise<void>> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      let released = false
      return async () => {
        if (released) return
        released = true
        await unlink(path).catch(() => {})
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = Number.parseInt((await readIfExists(path))?.toString('utf8') ?? '', 10)
    if (!Number.isSafeInteger(holder) || holder <= 0 || !isAlive(holder)) {
      // empty: the holder may be between create and write; stale: its process is gone
      if (Number.isSafeInteger(holder) && holder > 0) await unlink(path).catch(() => {})
      else await new Promise(resolve => setTimeout(resolve, LOCK_POLL_MS))
      if (Date.now() > deadline) throw new AsmtpError('TIMEOUT', `${path} is held by a process that did not finish writing it; remove it if no asmtp-cli is running`)
      continue
    }
    if (Date.now() > deadline) throw new AsmtpError('TIMEOUT', `another asmtp-cli (pid ${holder}) is using this folder; wait for it or stop it`)
    await new Promise(resolve => setTimeout(resolve, LOCK_POLL_MS))
  }
}
