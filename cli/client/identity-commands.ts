/**
 * asmtp-cli commands about who is who, over the client library: init, whoami, passport
 * export/show/add-device/remove-device/rotate-shared-key, contact add/list/remove. Changes are
 * local; `sync` carries them to the node, to contacts and to this passport's other devices.
 */
import { readFile } from 'node:fs/promises'
import { Account, AsmtpError, decodeRegistrationRequest, fromHex, Passport, writeFileAtomic, type AccountInit, type RemoteOptions } from '../../src/index.js'
import type { CliOutput } from '../output.js'
import { formatPassport, formatTime, passportJson, safeText } from './format.js'

export const PASSWORD_ENV = 'ASMTP_CLI_PASSWORD'
/** For scripts and tests: the longest random wait (ms) of device-sync records and receipts. */
export const RECORD_DELAY_ENV = 'ASMTP_CLI_RECORD_DELAY_MS'

export interface Globals { dir: string, remote: RemoteOptions }

function envMs (name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new AsmtpError('CONFIG_INVALID', `${name} must be a whole number of milliseconds, got "${v}"`)
  return n
}

export function accountInit (g: Globals): AccountInit {
  const password = process.env[PASSWORD_ENV]
  const recordDelayMs = envMs(RECORD_DELAY_ENV)
  return {
    dir: g.dir,
    remote: g.remote,
    ...(password === undefined || password === '' ? {} : { password }),
    ...(recordDelayMs === undefined ? {} : { recordDelayMs })
  }
}

export async function openAccount (g: Globals): Promise<Account> {
  return await Account.open(accountInit(g))
}

export async function init (out: CliOutput, g: Globals, opts: { alias: string, join?: string, json?: boolean }): Promise<void> {
  const account = await Account.create({ ...accountInit(g), alias: opts.alias, ...(opts.join === undefined ? {} : { join: opts.join }) })
  const id = await account.identity()
  const joinRequest = id.registrationRequest
  if (opts.json === true) {
    out.printJson({ alias: id.alias, deviceKey: id.deviceKey, passportId: id.passportId, ...(joinRequest === null ? {} : { registrationRequest: joinRequest }) })
  } else {
    out.print(`device key: ${id.deviceKey}`)
    out.print(`passport id: ${id.passportId}`)
    if (joinRequest !== null) out.print(`registration request: ${joinRequest}`)
  }
  out.info('add the device key to users in your node\'s config.yaml (and restart the node)')
  if (joinRequest !== null) {
    out.info(`on a device of passport ${id.passportId}: asmtp-cli passport add-device ${joinRequest} && asmtp-cli sync; then here: asmtp-cli sync`)
  }
}

export async function whoami (out: CliOutput, g: Globals, opts: { json?: boolean }): Promise<void> {
  const id = await (await openAccount(g)).identity()
  const joining = id.registrationRequest !== null
  if (opts.json === true) {
    out.printJson({ alias: id.alias, deviceKey: id.deviceKey, passportId: id.passportId, ...(joining ? { joinPending: true } : {}) })
    return
  }
  out.print(`alias: ${safeText(id.alias)}`)
  out.print(`device key: ${id.deviceKey}`)
  out.print(`passport id: ${id.passportId}${joining ? ' (waiting to be added: see init --join)' : ''}`)
  if (id.node !== null) out.print(`node: ${id.node.address} (${id.node.remoteId})`)
}

// ---- passport -------------------------------------------------------------------------------

export async function passportExport (g: Globals, output: string | undefined, write: (bytes: Uint8Array) => void): Promise<void> {
  const bytes = (await (await openAccount(g)).passport()).export()
  if (output === undefined) write(bytes)
  else await writeFileAtomic(output, bytes, 0o644)
}

export async function passportShow (out: CliOutput, g: Globals, file: string | undefined, opts: { json?: boolean }): Promise<void> {
  let passport: Passport
  let self: string | undefined
  if (file !== undefined) {
    passport = Passport.import(new Uint8Array(await readFile(file)))
  } else {
    const account = await openAccount(g)
    passport = await account.passport()
    self = (await account.identity()).deviceKey
  }
  if (opts.json === true) out.printJson(passportJson(passport))
  else for (const line of formatPassport(passport, self)) out.print(line)
}

const SYNC_HINT = 'run asmtp-cli sync to send the change to your node, your contacts and your other devices'

export async function passportAddDevice (out: CliOutput, g: Globals, requestHex: string): Promise<void> {
  decodeRegistrationRequest(fromHex(requestHex, undefined, 'registration request'))
  const added = await (await openAccount(g)).addDevice(requestHex)
  out.print(`added device ${safeText(added.alias)} (${added.key}); it runs asmtp-cli sync once you have synced`)
  out.info(SYNC_HINT)
}

export async function passportRemoveDevice (out: CliOutput, g: Globals, keyHex: string): Promise<void> {
  const p = await (await openAccount(g)).removeDevice(keyHex)
  out.print(`removed device ${keyHex.toLowerCase()}; new shared key ${Buffer.from(p.sharedPublicKey).toString('hex')}`)
  out.info(SYNC_HINT)
}

export async function passportRotate (out: CliOutput, g: Globals): Promise<void> {
  const p = await (await openAccount(g)).rotateSharedKey()
  out.print(`new shared key ${Buffer.from(p.sharedPublicKey).toString('hex')} (version ${p.state.sharedKeyVersion})`)
  out.info(SYNC_HINT)
}

// ---- contacts -------------------------------------------------------------------------------

export async function contactAdd (out: CliOutput, g: Globals, alias: string, file: string | undefined, opts: { id?: string }): Promise<void> {
  if ((file === undefined) === (opts.id === undefined)) throw new AsmtpError('CONFIG_INVALID', 'contact add needs a passport file or --id <passport id>, not both')
  const source = file === undefined ? { id: opts.id ?? '' } : { passport: new Uint8Array(await readFile(file)) }
  const added = await (await openAccount(g)).addContact(alias, source)
  out.print(`added contact ${safeText(added.alias)} (passport ${added.passportId})`)
  out.info('run asmtp-cli sync to register its topics with your node')
}

export async function contactList (out: CliOutput, g: Globals, opts: { json?: boolean }): Promise<void> {
  const contacts = await (await openAccount(g)).contacts()
  if (opts.json === true) {
    out.printJson(contacts.map(c => ({
      alias: c.alias,
      passportId: c.passportId,
      sharedKey: c.sharedKey,
      addedAt: new Date(c.addedAt).toISOString(),
      updatedAt: new Date(c.updatedAt).toISOString()
    })))
    return
  }
  if (contacts.length === 0) out.info('no contacts yet: asmtp-cli contact add <alias> <passport file>')
  for (const c of contacts) out.print(`${safeText(c.alias)}  ${c.passportId}  added ${formatTime(c.addedAt)}`)
}

export async function contactRemove (out: CliOutput, g: Globals, alias: string): Promise<void> {
  await (await openAccount(g)).removeContact(alias)
  out.print(`removed contact ${safeText(alias)}; its topics are dropped from your node at the next sync`)
}
