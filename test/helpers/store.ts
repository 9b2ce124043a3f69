/** Store test helpers: temp folders, a store with a settable clock, frame records. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AsmtpError, sha256 } from '../../src/index.js'
import { openStore, type FrameRecord, type Store, type StoreInit } from '../../src/store/index.js'

export const T0 = 1_700_000_000_000
export const HOUR_MS = 3_600_000
export const DAY_MS = 24 * HOUR_MS
/** A network expiry 14 days after T0. */
export const EXPIRES = T0 + 14 * DAY_MS

export async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'asmtp-store-'))
  try {
    await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export interface StoreHarness {
  store: Store
  dir: string
  path: string
  clock: { t: number }
  /** closes the store and opens the same path again */
  reopen: () => Promise<Store>
}

/** A store with a settable clock in a temp folder, closed and removed after `fn`. */
export async function withStore (fn: (s: StoreHarness) => Promise<void>, init: Partial<StoreInit> = {}): Promise<void> {
  await withDir(async (dir) => {
    const clock = { t: T0 }
    const path = join(dir, 'db')
    const open = async (): Promise<Store> => await openStore({ path, now: () => clock.t, ...init })
    let store = await open()
    try {
      await fn({
        store,
        dir,
        path,
        clock,
        reopen: async () => {
          await store.close()
          store = await open()
          return store
        }
      })
    } finally {
      await store.close()
    }
  })
}

/** A frame of `size` bytes (at least the label's) named by `label`. */
export function frameRec (label: string, o: { bucket?: number, hour?: number, expiresAt?: number, size?: number } = {}): FrameRecord {
  const text = new TextEncoder().encode(`frame ${label}`)
  const frame = new Uint8Array(Math.max(o.size ?? 0, text.length))
  frame.set(text)
  return { hash: sha256(frame), bucket: o.bucket ?? 1, hour: o.hour ?? 1000, expiresAt: o.expiresAt ?? EXPIRES, frame }
}

export function topicId (n: number): Uint8Array {
  const t = new Uint8Array(32).fill(0xa0)
  t[31] = n
  return t
}

export function isStoreError (e: unknown): boolean {
  return e instanceof AsmtpError && e.code === 'STORE_ERROR'
}

/** A store status without its since-open counters (evicted, refused), for comparing what is held. */
export function heldCounts (s: { frames: number, matchedFrames: number, relayedBytes: number, unfetchedPastRetention: number }): { frames: number, matchedFrames: number, relayedBytes: number, unfetchedPastRetention: number } {
  return { frames: s.frames, matchedFrames: s.matchedFrames, relayedBytes: s.relayedBytes, unfetchedPastRetention: s.unfetchedPastRetention }
}
