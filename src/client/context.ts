/**
 * Everything an operation needs about this device, loaded from the folder in one step under its
 * lock: state, device key, own passport, own shared key versions, sync state. Adopting a new own
 * passport (a local change, or one made by another device) goes through here so that the old
 * shared secret is kept before the passport stops opening it.
 */
import { equalBytes, toHex } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import type { Ed25519KeyPair } from '../crypto/index.js'
import type { Passport } from '../passport/index.js'
import { TopicCache } from '../topic/index.js'
import { Mailbox, withCurrentKey, type OwnSharedKey } from './mailbox.js'
import {
  loadDevice, loadOwnPassport, loadSharedKeys, loadState, saveOwnPassport, saveSharedKeys, saveState,
  type Paths, type StateFile
} from './account-files.js'
import { loadSyncState, saveSyncState, type SyncStateFile } from './sync-state.js'

export interface Context {
  paths: Paths
  state: StateFile
  sync: SyncStateFile
  device: Ed25519KeyPair
  /** null while the device waits to join a passport (init --join). */
  passport: Passport | null
  ownKeys: OwnSharedKey[]
  cache: TopicCache
  /** The account's clock (ms): injectable for tests of what happens days later. */
  now: () => number
}

/** One cache per process: topics are derived once, not per operation. */
const sharedCache = new TopicCache()

export async function loadContext (paths: Paths, password: string | undefined, now: () => number, device?: Ed25519KeyPair): Promise<Context> {
  const state = await loadState(paths)
  const key = device ?? await loadDevice(paths, password)
  if (toHex(key.publicKey) !== state.deviceKey) throw new AsmtpError('STORE_ERROR', `${paths.key} is not the key of ${paths.state}`)
  const passport = state.joinRequest === null ? await loadOwnPassport(paths, state) : null
  const ownKeys = await loadSharedKeys(paths, key)
  return { paths, state, sync: await loadSyncState(paths), device: key, passport, ownKeys, cache: sharedCache, now }
}

export function requirePassport (ctx: Context): Passport {
  if (ctx.passport === null) {
    throw new AsmtpError('ACCOUNT_JOIN_PENDING', `this device is not in passport ${ctx.state.passportId} yet: run "asmtp-cli passport add-device ${ctx.state.joinRequest ?? ''}" on a device of it, then "asmtp-cli sync" there and here`)
  }
  return ctx.passport
}

export function mailboxFor (ctx: Context): Mailbox {
  requirePassport(ctx)
  return new Mailbox({ ownKeys: ctx.ownKeys, cache: ctx.cache })
}

export async function saveContext (ctx: Context): Promise<void> {
  await saveState(ctx.paths, ctx.state)
  await saveSyncState(ctx.paths, ctx.sync)
}

/**
 * Makes `passport` this device's passport: checks the device is still one of its master keys
 * (DEVICE_REMOVED otherwise), opens its current shared secret and keeps the previous one as
 * retired. Returns whether the shared key changed.
 */
export async function adoptOwnPassport (ctx: Context, passport: Passport, now = Date.now()): Promise<boolean> {
  if (!passport.isActiveMasterKey(ctx.device.publicKey, now)) {
    throw new AsmtpError('DEVICE_REMOVED', `this device (${ctx.state.deviceKey}) was removed from passport ${toHex(passport.id)} (or has expired): it gets no new mail`)
  }
  const secretKey = passport.openSharedSecret(ctx.device)
  const publicKey = passport.sharedPublicKey
  const current = ctx.ownKeys.find(k => k.retiredAt === null)
  const changed = current === undefined || !equalBytes(current.publicKey, publicKey)
  if (changed) {
    ctx.ownKeys = withCurrentKey(ctx.ownKeys, { publicKey, secretKey, retiredAt: null }, now)
    await saveSharedKeys(ctx.paths, ctx.device, ctx.ownKeys)
  }
  await saveOwnPassport(ctx.paths, passport)
  ctx.passport = passport
  return changed
}
