/**
 * The mail client as a library (DESIGN.md "One client library, several front-ends";
 * docs/CLIENT.md "The library"): an Account is one device's folder (device key, passport,
 * contacts, mailbox, cursors, lock) and the operations on it. Every operation takes the folder's
 * lock, reads the folder afresh, and writes back before it releases it, so several front-ends
 * (a `watch` and a `send`) can share one folder.
 */
import { existsSync } from 'node:fs'
import { equalBytes, fromHex, toHex } from '../bytes.js'
import { Ed25519KeyPair, writeKeyFile } from '../crypto/index.js'
import type { ClientConnection } from '../channel/index.js'
import { AsmtpError } from '../errors.js'
import { createPassport, createRegistrationRequest, decodeRegistrationRequest, encodeAlias, Passport } from '../passport/index.js'
import {
  findContact, loadContactPassport, makeDirs, pathsFor, saveContactPassport, saveOwnPassport, saveSharedKeys, saveState,
  STATE_VERSION, type ContactRecord, type NodeRecord, type Paths, type StateFile
} from './account-files.js'
import { adoptOwnPassport, loadContext, requirePassport, saveContext, type Context } from './context.js'
import { clockOf, contactsSnapshot, queueRecord, resolveAliases } from './device-records.js'
import { acquireLock, LOCK_WAIT_MS } from './folder.js'
import { markReadOrBurn } from './burn.js'
import { expireDue, type SendMode } from './expiry.js'
import { listInbox, listVanished, type InboxFilter, type InboxMessage } from './inbox.js'
import { deleteMessages, readMessages, type MessageRecord } from './mail-store.js'
import { openConnection, resolveRemote, type Remote, type RemoteOptions } from './remote.js'
import { checkContent, sendContent, type SendContent } from './send.js'
import { MailSession, type SyncReport } from './session.js'
import { FRAME_LIFETIME_MS, type Progress, type SessionOptions } from './session-out.js'
import { messageKey, type VanishedNote } from './sync-state.js'
import { watchAccount, type WatchEvent, type AccountWatchOptions } from './watch.js'

export const DEFAULT_RECORD_DELAY_MS = 30_000
export const DEFAULT_SETTLE_MS = 3000
const MAX_CONTACT_ALIAS_BYTES = 64
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/

export interface AccountInit {
  /** The account's folder. */
  dir: string
  /** Opens (and at create, encrypts) the device key file. */
  password?: string
  /** The node to talk to; by default the one remembered at create. */
  remote?: RemoteOptions
  /** The account's clock (ms since the epoch); decides when unconfirmed mail is sent again. @default Date.now */
  clock?: () => number
  /** Device-sync records and receipts go out at a random time within this (ms). @default 30000 */
  recordDelayMs?: number
  /** How long a sync reads newly registered topics again while the node catches up (ms). @default 3000 */
  settleMs?: number
  /** Sent mail with no receipt after this long is sent again (ms). @default half the frame lifetime, 7 days */
  resendAfterMs?: number
  /** How long an operation waits for another process's lock on the folder (ms). @default 15000 */
  lockWaitMs?: number
}

export interface CreateAccountInit extends AccountInit {
  /** This device's name in the passport (1 to 32 bytes). */
  alias: string
  /** Join this passport (id, hex) instead of making a new one. */
  join?: string
}

export interface Identity {
  alias: string
  deviceKey: string
  passportId: string
  /** Hex, while this device waits to be added to its passport. */
  registrationRequest: string | null
  node: NodeRecord | null
}

export interface ContactInfo { alias: string, passportId: string, sharedKey: string | null, addedAt: number, updatedAt: number }

export type { DeliveryStatus, InboxFilter, InboxMessage } from './inbox.js'
export interface OperationOptions { signal?: AbortSignal }
export interface ProgressOptions extends OperationOptions { onProgress?: (p: Progress) => void }
/** A send's options: progress and signal, and the TTL and burn-after-reading modes. */
export interface SendOptions extends ProgressOptions, SendMode {}

function checkContactAlias (alias: string): void {
  const bytes = Buffer.byteLength(alias, 'utf8')
  if (bytes < 1 || bytes > MAX_CONTACT_ALIAS_BYTES || CONTROL_RE.test(alias) || alias.trim() !== alias || alias.startsWith('-') || alias.includes('~')) {
    throw new AsmtpError('CONFIG_INVALID', `contact alias "${alias}" must be 1 to ${MAX_CONTACT_ALIAS_BYTES} bytes, without control characters, "~", surrounding spaces or a leading -`)
  }
}

export class Account {
  readonly paths: Paths
  private device: Ed25519KeyPair | undefined
  private readonly clock: () => number

  private constructor (private readonly init: AccountInit) {
    this.paths = pathsFor(init.dir)
    this.clock = init.clock ?? Date.now
  }

  /** Makes a new device key and passport in `dir` (or, with `join`, a registration request); never overwrites. */
  static async create (init: CreateAccountInit): Promise<Account> {
    const paths = pathsFor(init.dir)
    for (const p of [paths.state, paths.key]) {
      if (existsSync(p)) throw new AsmtpError('ACCOUNT_EXISTS', `${paths.dir} already holds an identity (${p}); not overwriting it: use another --dir`)
    }
    encodeAlias(init.alias)
    const r = init.remote
    const node = r !== undefined && (r.remoteAddress !== undefined || r.remoteId !== undefined) ? resolveRemote(r, null) : null
    const joinId = init.join === undefined ? null : fromHex(init.join, 32, 'passport id')
    await makeDirs(paths)
    const release = await acquireLock(paths.lock, init.lockWaitMs ?? LOCK_WAIT_MS)
    try {
      const device = Ed25519KeyPair.generate()
      await writeKeyFile(paths.key, 'ed25519', device.secretKey, { password: init.password })
      let passportId: Uint8Array
      let joinRequest: string | null = null
      if (joinId === null) {
        const passport = createPassport({ device, alias: init.alias })
        await saveSharedKeys(paths, device, [{ publicKey: passport.sharedPublicKey, secretKey: passport.openSharedSecret(device), retiredAt: null }])
        await saveOwnPassport(paths, passport)
        passportId = passport.id
      } else {
        joinRequest = toHex(createRegistrationRequest({ device, alias: init.alias, passportId: joinId }))
        passportId = joinId
      }
      const state: StateFile = {
        version: STATE_VERSION,
        alias: init.alias,
        deviceKey: toHex(device.publicKey),
        passportId: toHex(passportId),
        joinRequest,
        node: node === null ? null : { address: node.address, remoteId: node.remoteId },
        contacts: [],
        cursors: {},
        registered: {}
      }
      await saveState(paths, state)
      const account = new Account(init)
      account.device = device
      return account
    } finally {
      await release()
    }
  }

  /** Opens the account in `dir`; ACCOUNT_NOT_FOUND when there is none, KEY_FILE_PASSWORD for a wrong password. */
  static async open (init: AccountInit): Promise<Account> {
    const account = new Account(init)
    if (!existsSync(account.paths.state)) throw new AsmtpError('ACCOUNT_NOT_FOUND', `no identity in ${account.paths.dir}: run asmtp-cli init --alias <name> (or give --dir)`)
    await makeDirs(account.paths)
    await account.locked(() => undefined)
    return account
  }

  /** Runs `fn` holding the folder's lock, with the folder loaded afresh. */
  async locked<T> (fn: (ctx: Context) => Promise<T> | T): Promise<T> {
    const release = await acquireLock(this.paths.lock, this.init.lockWaitMs ?? LOCK_WAIT_MS)
    try {
      const ctx = await loadContext(this.paths, this.init.password, this.clock, this.device)
      this.device = ctx.device
      await expireDue(ctx)
      return await fn(ctx)
    } finally {
      await release()
    }
  }

  /** Runs `fn` under the lock with a connection to the node and a session on it. */
  async online<T> (opts: ProgressOptions, fn: (ctx: Context, session: MailSession, conn: ClientConnection) => Promise<T>): Promise<T> {
    return await this.locked(async (ctx) => {
      const conn = await this.connect(ctx, opts.signal)
      try {
        return await fn(ctx, new MailSession(ctx, conn, this.sessionOptions(this.remoteFor(ctx), opts)), conn)
      } finally {
        await conn.close()
      }
    })
  }

  remoteFor (ctx: Context): Remote {
    return resolveRemote(this.init.remote ?? {}, ctx.state.node)
  }

  async connect (ctx: Context, signal?: AbortSignal): Promise<ClientConnection> {
    return await openConnection(ctx.device, this.remoteFor(ctx), signal)
  }

  sessionOptions (remote: Remote, opts: ProgressOptions = {}): SessionOptions {
    return {
      remoteId: remote.remoteId,
      recordDelayMs: this.init.recordDelayMs ?? DEFAULT_RECORD_DELAY_MS,
      settleMs: this.init.settleMs ?? DEFAULT_SETTLE_MS,
      resendAfterMs: this.init.resendAfterMs ?? FRAME_LIFETIME_MS / 2,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress })
    }
  }

  private get recordDelayMs (): number { return this.init.recordDelayMs ?? DEFAULT_RECORD_DELAY_MS }

  // ---- identity and passport ------------------------------------------------------------------

  async identity (): Promise<Identity> {
    return await this.locked(ctx => ({
      alias: ctx.state.alias, deviceKey: ctx.state.deviceKey, passportId: ctx.state.passportId, registrationRequest: ctx.state.joinRequest, node: ctx.state.node
    }))
  }

  /** The own passport; ACCOUNT_JOIN_PENDING while a join waits. */
  async passport (): Promise<Passport> {
    return await this.locked(ctx => requirePassport(ctx))
  }

  private async changePassport (change: (ctx: Context, p: Passport) => Passport, after?: (ctx: Context) => Promise<void>): Promise<Passport> {
    return await this.locked(async (ctx) => {
      const next = change(ctx, requirePassport(ctx))
      await adoptOwnPassport(ctx, next, ctx.now())
      await after?.(ctx)
      await saveContext(ctx)
      return next
    })
  }

  /** Adds the device that made `request` (hex, from create with join); posts a contacts snapshot for it. */
  async addDevice (requestHex: string): Promise<{ alias: string, key: string }> {
    const request = fromHex(requestHex, undefined, 'registration request')
    const entry = decodeRegistrationRequest(request)
    await this.changePassport((ctx, p) => p.addDevice(ctx.device, request), async (ctx) => {
      queueRecord(ctx, await contactsSnapshot(ctx), 0)
    })
    return { alias: entry.alias, key: toHex(entry.key) }
  }

  /** Removes a device (hex key) and seals a new shared key to the others. A device cannot remove itself. */
  async removeDevice (keyHex: string): Promise<Passport> {
    const key = fromHex(keyHex, 32, 'device key')
    return await this.changePassport((ctx, p) => {
      if (equalBytes(key, ctx.device.publicKey)) throw new AsmtpError('LEDGER_UNKNOWN_KEY', 'this device cannot remove itself: remove it from another device of the passport')
      return p.removeDevice(ctx.device, key)
    })
  }

  async rotateSharedKey (): Promise<Passport> {
    return await this.changePassport((ctx, p) => p.rotateSharedKey(ctx.device))
  }

  // ---- contacts -------------------------------------------------------------------------------

  async contacts (): Promise<ContactInfo[]> {
    return await this.locked(ctx => ctx.state.contacts.map(c => ({
      alias: c.alias, passportId: c.passportId, sharedKey: c.keys.find(k => k.retiredAt === null)?.publicKey ?? null, addedAt: c.addedAt, updatedAt: c.updatedAt
    })))
  }

  /** Adds a contact from a passport export, or by passport id through the node (which asks the DHT). */
  async addContact (alias: string, source: { passport: Uint8Array } | { id: string }, opts: OperationOptions = {}): Promise<ContactInfo> {
    checkContactAlias(alias)
    return await this.locked(async (ctx) => {
      const s = ctx.state
      if (s.contacts.some(c => c.alias === alias)) throw new AsmtpError('CONTACT_EXISTS', `there is already a contact named ${alias}`)
      let passport: Passport
      if ('passport' in source) {
        passport = Passport.import(source.passport)
      } else {
        const id = fromHex(source.id, 32, 'passport id')
        const conn = await this.connect(ctx, opts.signal)
        try {
          passport = Passport.import(await conn.getPassport(id, opts), { expectedId: id })
        } finally {
          await conn.close()
        }
      }
      const id = toHex(passport.id)
      if (id === s.passportId) throw new AsmtpError('PASSPORT_WRONG_ID', 'that is your own passport')
      const existing = s.contacts.find(c => c.passportId === id)
      if (existing !== undefined) throw new AsmtpError('CONTACT_EXISTS', `passport ${id} is already your contact ${existing.alias}`)
      const now = ctx.now()
      const record: ContactRecord = {
        alias, passportId: id, addedAt: now, updatedAt: now, keys: [{ publicKey: toHex(passport.sharedPublicKey), retiredAt: null }], announcedTip: null, at: now, by: s.deviceKey
      }
      await saveContactPassport(ctx.paths, passport)
      s.contacts.push(record)
      delete ctx.sync.removed[id]
      resolveAliases(s.contacts)
      queueRecord(ctx, { type: 'contact-added', at: now, alias, passport: Buffer.from(passport.export()).toString('base64') }, this.recordDelayMs)
      await saveContext(ctx)
      return { alias, passportId: id, sharedKey: record.keys[0]?.publicKey ?? null, addedAt: now, updatedAt: now }
    })
  }

  /** Forgets a contact on every device of the passport; its mail stays. */
  async removeContact (alias: string): Promise<void> {
    await this.locked(async (ctx) => {
      const c = findContact(ctx.state, alias)
      const now = Math.max(ctx.now(), clockOf(c).at + 1)
      ctx.state.contacts = ctx.state.contacts.filter(x => x !== c)
      ctx.sync.removed[c.passportId] = { at: now, by: ctx.state.deviceKey }
      queueRecord(ctx, { type: 'contact-removed', at: now, passportId: c.passportId }, this.recordDelayMs)
      await saveContext(ctx)
    })
  }

  /** A contact's passport as last verified. */
  async contactPassport (alias: string): Promise<Passport> {
    return await this.locked(async ctx => await loadContactPassport(ctx.paths, findContact(ctx.state, alias)))
  }

  // ---- mail -----------------------------------------------------------------------------------

  /** Sends text, a body or a file to a contact; the same send retried after a failure sends the same message again, not a new one. */
  async send (alias: string, content: SendContent, opts: SendOptions = {}): Promise<MessageRecord> {
    checkContent(content)
    return await this.online(opts, async (ctx, session) => await sendContent(ctx, session, alias, content, this.recordDelayMs, { ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }), ...(opts.burn === true ? { burn: true } : {}) }))
  }

  /** One exchange with the node (docs/CLIENT.md "What sync does"). DEVICE_REMOVED when this device left the passport. */
  async sync (opts: ProgressOptions = {}): Promise<SyncReport> {
    return await this.online(opts, async (_ctx, session) => await session.run())
  }

  /** Publishes every device-sync record and receipt now, without waiting for their random time. */
  async flush (opts: OperationOptions = {}): Promise<void> {
    await this.online(opts, async (_ctx, session) => {
      await session.load()
      await session.ensureTopics()
      await session.out.flushOutbox()
      await session.out.flushDue(true)
    })
  }

  /** Received and sent mail, oldest first. */
  async inbox (filter: InboxFilter = {}): Promise<InboxMessage[]> {
    return await this.locked(async (ctx) => await listInbox(ctx, filter))
  }

  /** Notes of mail that expired (its TTL) or was burnt after its first read, oldest first; their content is gone. */
  async vanished (filter: InboxFilter = {}): Promise<VanishedNote[]> {
    return await this.locked(ctx => listVanished(ctx, filter))
  }

  /** Marks received messages read here and, through device sync, on the other devices; a burn-after-reading message is deleted on all of them. */
  async markRead (messages: ReadonlyArray<{ contact: string, id: string }>): Promise<void> {
    await this.locked(async (ctx) => {
      await markReadOrBurn(ctx, messages, this.recordDelayMs)
      await saveContext(ctx)
    })
  }

  /** Deletes a message (by id, hex) here and on the other devices. MESSAGE_NOT_FOUND when none has that id. */
  async delete (id: string): Promise<number> {
    return await this.locked(async (ctx) => {
      const hits = (await readMessages(ctx.paths)).filter(r => r.id === id.toLowerCase())
      if (hits.length === 0) throw new AsmtpError('MESSAGE_NOT_FOUND', `no message with id ${id}`)
      const now = ctx.now()
      const keys = new Set(hits.map(r => messageKey(r.contact, r.id)))
      for (const r of hits) {
        const m = (ctx.sync.marks[messageKey(r.contact, r.id)] ??= {})
        m.deleted = now
        queueRecord(ctx, { type: 'mark', at: now, contact: r.contact, id: r.id, deleted: true }, this.recordDelayMs)
      }
      const n = await deleteMessages(ctx.paths, keys)
      await saveContext(ctx)
      return n
    })
  }

  /** Syncs, then yields mail as it arrives until `signal` aborts; reconnects when the node goes away. */
  watch (opts: AccountWatchOptions): AsyncGenerator<WatchEvent> {
    return watchAccount(this, opts)
  }
}
