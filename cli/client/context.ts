/**
 * Everything a command needs about this device, loaded from the folder in one step: state,
 * device key, own passport, own shared key versions. Adopting a new own passport (a local
 * change, or one made by another device) goes through here so that the old shared secret is
 * kept before the passport stops opening it.
 */
import { equalBytes, toHex } from '../../src/bytes.js'
import { AsmtpError } from '../../src/errors.js'
import type { Ed25519KeyPair } from '../../src/crypto/index.js'
import type { Passport } from '../../src/passport/index.js'
import { TopicCache } from '../../src/topic/index.js'
import { Mailbox, withCurrentKey, type OwnSharedKey } from '../../src/client/index.js'
import {
  loadDevice, loadOwnPassport, loadSharedKeys, loadState, saveOwnPassport, saveSharedKeys, saveState,
  type Paths, type StateFile
} from './home.js'

export interface Context {
  paths: Paths
  state: StateFile
  device: Ed25519KeyPair
  /** null while the device waits to join a passport (init --join). */
  passport: Passport | null
  ownKeys: OwnSharedKey[]
  cache: TopicCache
}

/** One cache per process: topics are derived once, not per command step. */
const sharedCache = new TopicCache()

export async function loadContext (paths: Paths): Promise<Context> {
  const state = await loadState(paths)
  const device = await loadDevice(paths)
  if (toHex(device.publicKey) !== state.deviceKey) throw new AsmtpError('STORE_ERROR', `${paths.key} is not the key of ${paths.state}`)
  const passport = state.joinRequest === null ? await loadOwnPassport(paths, state) : null
  const ownKeys = await loadSharedKeys(paths, device)
  return { paths, state, device, passport, ownKeys, cache: sharedCache }
}

export function requirePassport (ctx: Context): Passport {
  if (ctx.passport === null) {
    throw new AsmtpError('NOT_FOUND', `this device is not in passport ${ctx.state.passportId} yet: run "asmtp-cli passport add-device ${ctx.state.joinRequest ?? ''}" on a device of it, then "asmtp-cli sync" there and here`)
  }
  return ctx.passport
}

export function mailboxFor (ctx: Context): Mailbox {
  requirePassport(ctx)
  return new Mailbox({ ownKeys: ctx.ownKeys, cache: ctx.cache })
}

export async function saveContext (ctx: Context): Promise<void> {
  await saveState(ctx.paths, ctx.state)
}

/**
 * Makes `passport` this device's passport: checks the device is still one of its master keys,
 * opens its current shared secret and keeps the previous one as retired. Returns whether the
 * shared key changed.
 */
export async function adoptOwnPassport (ctx: Context, passport: Passport, now = Date.now()): Promise<boolean> {
  if (!passport.isActiveMasterKey(ctx.device.publicKey, now)) {
    throw new AsmtpError('LEDGER_UNKNOWN_KEY', `this device (${ctx.state.deviceKey}) is no longer a device of passport ${toHex(passport.id)}: it was removed or has expired`)
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
