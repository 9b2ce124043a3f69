/**
 * asmtp-cli commands about who is who: init (a new identity, or a device joining a passport),
 * whoami, passport export/show/add-device/remove-device/rotate-shared-key, contact
 * add/list/remove. Changes are local; `sync` carries them to the node and to contacts.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { equalBytes, fromHex, toHex } from '../../src/bytes.js'
import { Ed25519KeyPair, writeKeyFile } from '../../src/crypto/index.js'
import { AsmtpError } from '../../src/errors.js'
import { createPassport, createRegistrationRequest, decodeRegistrationRequest, encodeAlias, Passport } from '../../src/passport/index.js'
import type { CliOutput } from '../output.js'
import { adoptOwnPassport, loadContext, requirePassport, saveContext, type Context } from './context.js'
import { formatPassport, formatTime, passportJson, safeText } from './format.js'
import { acquireLock, writeFileAtomic } from './fs.js'
import {
  findContact, makeDirs, password, pathsFor, saveContactPassport, saveOwnPassport, saveSharedKeys, saveState,
  STATE_VERSION, type ContactRecord, type Paths, type StateFile
} from './home.js'
import { openConnection, resolveRemote, type RemoteOptions } from './remote.js'

export interface Globals extends RemoteOptions { dir: string }

const MAX_CONTACT_ALIAS_BYTES = 64
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/

/** Runs `fn` holding the folder's lock, with the identity loaded. */
export async function withContext<T> (g: Globals, fn: (ctx: Context) => Promise<T> | T): Promise<T> {
  const paths = pathsFor(g.dir)
  if (!existsSync(paths.state)) throw new AsmtpError('NOT_FOUND', `no identity in ${paths.dir}: run asmtp-cli init --alias <name> (or give --dir)`)
  const release = await acquireLock(paths.lock)
  try {
    return await fn(await loadContext(paths))
  } finally {
    await release()
  }
}

export async function init (out: CliOutput, g: Globals, opts: { alias: string, join?: string, json?: boolean }): Promise<void> {
  const paths: Paths = pathsFor(g.dir)
  for (const p of [paths.state, paths.key]) {
    if (existsSync(p)) throw new AsmtpError('STORE_ERROR', `${paths.dir} already holds an identity (${p}); not overwriting it: use another --dir`)
  }
  encodeAlias(opts.alias)
  const node = g.remoteAddress !== undefined || g.remoteId !== undefined ? resolveRemote(g, null) : null
  const joinId = opts.join === undefined ? null : fromHex(opts.join, 32, 'passport id')
  await makeDirs(paths)
  const release = await acquireLock(paths.lock)
  try {
    const device = Ed25519KeyPair.generate()
    await writeKeyFile(paths.key, 'ed25519', device.secretKey, { password: password() })
    let passportId: Uint8Array
    let joinRequest: string | null = null
    if (joinId === null) {
      const passport = createPassport({ device, alias: opts.alias })
      await saveSharedKeys(paths, device, [{ publicKey: passport.sharedPublicKey, secretKey: passport.openSharedSecret(device), retiredAt: null }])
      await saveOwnPassport(paths, passport)
      passportId = passport.id
    } else {
      joinRequest = toHex(createRegistrationRequest({ device, alias: opts.alias, passportId: joinId }))
      passportId = joinId
    }
    const state: StateFile = {
      version: STATE_VERSION,
      alias: opts.alias,
      deviceKey: toHex(device.publicKey),
      passportId: toHex(passportId),
      joinRequest,
      node: node === null ? null : { address: node.address, remoteId: node.remoteId },
      contacts: [],
      cursors: {},
      registered: {}
    }
    await saveState(paths, state)
    if (opts.json === true) {
      out.printJson({ alias: state.alias, deviceKey: state.deviceKey, passportId: state.passportId, ...(joinRequest === null ? {} : { registrationRequest: joinRequest }) })
    } else {
      out.print(`device key: ${state.deviceKey}`)
      out.print(`passport id: ${state.passportId}`)
      if (joinRequest !== null) out.print(`registration request: ${joinRequest}`)
    }
    out.info('add the device key to users in your node\'s config.yaml (and restart the node)')
    if (joinRequest !== null) {
      out.info(`on a device of passport ${state.passportId}: asmtp-cli passport add-device ${joinRequest} && asmtp-cli sync; then here: asmtp-cli sync`)
    }
  } finally {
    await release()
  }
}

export async function whoami (out: CliOutput, g: Globals, opts: { json?: boolean }): Promise<void> {
  await withContext(g, (ctx) => {
    const s = ctx.state
    const joining = s.joinRequest !== null
    if (opts.json === true) {
      out.printJson({ alias: s.alias, deviceKey: s.deviceKey, passportId: s.passportId, ...(joining ? { joinPending: true } : {}) })
      return
    }
    out.print(`alias: ${safeText(s.alias)}`)
    out.print(`device key: ${s.deviceKey}`)
    out.print(`passport id: ${s.passportId}${joining ? ' (waiting to be added: see init --join)' : ''}`)
    if (s.node !== null) out.print(`node: ${s.node.address} (${s.node.remoteId})`)
  })
}

// ---- passport -------------------------------------------------------------------------------

export async function passportExport (g: Globals, output: string | undefined, write: (bytes: Uint8Array) => void): Promise<void> {
  await withContext(g, async (ctx) => {
    const bytes = requirePassport(ctx).export()
    if (output === undefined) write(bytes)
    else await writeFileAtomic(output, bytes, 0o644)
  })
}

export async function passportShow (out: CliOutput, g: Globals, file: string | undefined, opts: { json?: boolean }): Promise<void> {
  let passport: Passport
  let self: string | undefined
  if (file !== undefined) {
    passport = Passport.import(new Uint8Array(await readFile(file)))
  } else {
    [passport, self] = await withContext(g, (ctx) => [requirePassport(ctx), ctx.state.deviceKey] as const)
  }
  if (opts.json === true) out.printJson(passportJson(passport))
  else for (const line of formatPassport(passport, self)) out.print(line)
}

/** Applies a local change to the own passport; the old shared secret is kept when the key changes. */
async function changePassport (out: CliOutput, g: Globals, change: (ctx: Context, p: Passport) => Passport, done: (p: Passport) => string): Promise<void> {
  await withContext(g, async (ctx) => {
    const next = change(ctx, requirePassport(ctx))
    await adoptOwnPassport(ctx, next)
    out.print(done(next))
    out.info('run asmtp-cli sync to send the change to your node and your contacts')
  })
}

export async function passportAddDevice (out: CliOutput, g: Globals, requestHex: string): Promise<void> {
  const request = fromHex(requestHex, undefined, 'registration request')
  const entry = decodeRegistrationRequest(request)
  await changePassport(out, g, (ctx, p) => p.addDevice(ctx.device, request),
    () => `added device ${safeText(entry.alias)} (${toHex(entry.key)}); it runs asmtp-cli sync once you have synced`)
}

export async function passportRemoveDevice (out: CliOutput, g: Globals, keyHex: string): Promise<void> {
  const key = fromHex(keyHex, 32, 'device key')
  await changePassport(out, g, (ctx, p) => {
    if (equalBytes(key, ctx.device.publicKey)) throw new AsmtpError('LEDGER_UNKNOWN_KEY', 'this device cannot remove itself: remove it from another device of the passport')
    return p.removeDevice(ctx.device, key)
  }, p => `removed device ${keyHex.toLowerCase()}; new shared key ${toHex(p.sharedPublicKey)}`)
}

export async function passportRotate (out: CliOutput, g: Globals): Promise<void> {
  await changePassport(out, g, (ctx, p) => p.rotateSharedKey(ctx.device), p => `new shared key ${toHex(p.sharedPublicKey)} (version ${p.state.sharedKeyVersion})`)
}

// ---- contacts -------------------------------------------------------------------------------

function checkContactAlias (alias: string): void {
  const bytes = Buffer.byteLength(alias, 'utf8')
  if (bytes < 1 || bytes > MAX_CONTACT_ALIAS_BYTES || CONTROL_RE.test(alias) || alias.trim() !== alias || alias.startsWith('-')) {
    throw new AsmtpError('CONFIG_INVALID', `contact alias "${safeText(alias)}" must be 1 to ${MAX_CONTACT_ALIAS_BYTES} bytes, without control characters, surrounding spaces or a leading -`)
  }
}

export async function contactAdd (out: CliOutput, g: Globals, alias: string, file: string | undefined, opts: { id?: string }): Promise<void> {
  checkContactAlias(alias)
  if ((file === undefined) === (opts.id === undefined)) throw new AsmtpError('CONFIG_INVALID', 'contact add needs a passport file or --id <passport id>, not both')
  const fileBytes = file === undefined ? undefined : new Uint8Array(await readFile(file))
  await withContext(g, async (ctx) => {
    const s = ctx.state
    if (s.contacts.some(c => c.alias === alias)) throw new AsmtpError('LEDGER_DUPLICATE_ALIAS', `there is already a contact named ${alias}`)
    let passport: Passport
    if (fileBytes !== undefined) {
      passport = Passport.import(fileBytes)
    } else {
      const id = fromHex(opts.id ?? '', 32, 'passport id')
      const conn = await openConnection(ctx.device, resolveRemote(g, s.node))
      try {
        passport = Passport.import(await conn.getPassport(id), { expectedId: id })
      } finally {
        await conn.close()
      }
    }
    const id = toHex(passport.id)
    if (id === s.passportId) throw new AsmtpError('PASSPORT_WRONG_ID', 'that is your own passport')
    const existing = s.contacts.find(c => c.passportId === id)
    if (existing !== undefined) throw new AsmtpError('LEDGER_DUPLICATE_KEY', `passport ${id} is already your contact ${existing.alias}`)
    const now = Date.now()
    const record: ContactRecord = {
      alias, passportId: id, addedAt: now, updatedAt: now, keys: [{ publicKey: toHex(passport.sharedPublicKey), retiredAt: null }], announcedTip: null
    }
    await saveContactPassport(ctx.paths, passport)
    s.contacts.push(record)
    await saveContext(ctx)
    out.print(`added contact ${safeText(alias)} (passport ${id})`)
    out.info('run asmtp-cli sync to register its topics with your node')
  })
}

export async function contactList (out: CliOutput, g: Globals, opts: { json?: boolean }): Promise<void> {
  await withContext(g, (ctx) => {
    const contacts = ctx.state.contacts
    if (opts.json === true) {
      out.printJson(contacts.map(c => ({
        alias: c.alias,
        passportId: c.passportId,
        sharedKey: c.keys.find(k => k.retiredAt === null)?.publicKey ?? null,
        addedAt: new Date(c.addedAt).toISOString(),
        updatedAt: new Date(c.updatedAt).toISOString()
      })))
      return
    }
    if (contacts.length === 0) out.info('no contacts yet: asmtp-cli contact add <alias> <passport file>')
    for (const c of contacts) out.print(`${safeText(c.alias)}  ${c.passportId}  added ${formatTime(c.addedAt)}`)
  })
}

export async function contactRemove (out: CliOutput, g: Globals, alias: string): Promise<void> {
  await withContext(g, async (ctx) => {
    const c = findContact(ctx.state, alias)
    ctx.state.contacts = ctx.state.contacts.filter(x => x !== c)
    await saveContext(ctx)
    out.print(`removed contact ${safeText(alias)}; its topics are dropped from your node at the next sync`)
  })
}
