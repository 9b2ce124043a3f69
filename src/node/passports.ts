/**
 * Users' passports at a node (DESIGN.md "Passports in the DHT"): every block is validated where
 * it enters, an update must extend the chain held, and the DHT record `/asmtp-passport/<id>`
 * serves first contact by id. Puts to the DHT happen in the background, when a chain changes
 * and on a renewal timer: no client request waits on a DHT put. A lookup of a passport held
 * here answers from the store at once and refreshes from the DHT in the background; only a
 * passport this node has never seen waits (bounded) on the DHT.
 */
import createDebug from 'debug'
import { toHex } from '../bytes.js'
import { AsmtpError } from '../errors.js'
import { Passport, mergePassport } from '../passport/index.js'
import type { Store } from '../store/index.js'
import type { AsmtpLibp2p } from './libp2p.js'
import { decodePassportRecord, passportDhtKey } from './passport-records.js'
import { DHT_TIMEOUT_MS } from './peers.js'
import { withTimeout, type TaskSet } from './tasks.js'

const log = createDebug('asmtp:node:passports')

export const PASSPORT_REPUBLISH_MS = 10 * 60_000

export interface PassportsInit {
  store: () => Store
  host: () => AsmtpLibp2p
  tasks: TaskSet
}

export class Passports {
  private readonly init: PassportsInit
  /** ids whose put is running or queued: one background put per passport at a time */
  private readonly putting = new Map<string, boolean>()

  constructor (init: PassportsInit) {
    this.init = init
  }

  /** Stores a passport after validating every block (a fork or another chain is refused); the DHT put follows in the background. */
  async put (exportBytes: Uint8Array): Promise<Passport> {
    const candidate = Passport.import(exportBytes)
    const held = await this.held(candidate.id)
    const merged = mergePassport(held ?? null, candidate)
    if (held === undefined || merged.blocks.length > held.blocks.length) {
      await this.init.store().putPassport(merged.id, merged.export())
      this.announce(merged)
    }
    return merged
  }

  /** The held chain at once (refreshed from the DHT in the background), or the DHT's record for an id never seen here. */
  async get (id: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Passport> {
    const held = await this.held(id)
    if (held !== undefined) {
      void this.init.tasks.run(`refresh passport ${toHex(id).slice(0, 8)}`, async (signal) => { await this.refresh(id, signal) })
      return held
    }
    const found = await this.lookup(id, withTimeout(DHT_TIMEOUT_MS, options.signal))
    if (found === undefined) throw new AsmtpError('NOT_FOUND', `passport ${toHex(id)} not found`)
    return found
  }

  async held (id: Uint8Array): Promise<Passport | undefined> {
    const bytes = await this.init.store().getPassport(id)
    return bytes === undefined ? undefined : Passport.import(bytes, { expectedId: id })
  }

  /** Puts every held passport again (the renewal timer). */
  async republish (signal: AbortSignal): Promise<void> {
    for (const id of await this.init.store().listPassportIds()) {
      if (signal.aborted) return
      const p = await this.held(id)
      if (p !== undefined) await this.dhtPut(p, signal)
    }
  }

  private announce (p: Passport): void {
    const hex = toHex(p.id)
    if (this.putting.has(hex)) {
      this.putting.set(hex, true)
      return
    }
    this.putting.set(hex, false)
    void this.init.tasks.run(`put passport ${hex.slice(0, 8)}`, async (signal) => {
      try {
        do {
          this.putting.set(hex, false)
          const latest = await this.held(p.id) ?? p
          await this.dhtPut(latest, signal)
        } while (this.putting.get(hex) === true && !signal.aborted)
      } finally {
        this.putting.delete(hex)
      }
    })
  }

  private async dhtPut (p: Passport, signal: AbortSignal): Promise<void> {
    try {
      await this.init.host().contentRouting.put(passportDhtKey(p.id), p.export(), { signal: withTimeout(DHT_TIMEOUT_MS, signal) })
    } catch (err) {
      log('put passport %s in the DHT: %s', toHex(p.id).slice(0, 8), (err as Error).message)
    }
  }

  /** The DHT's best record for an id; LEDGER_FORK propagates, anything else is "not found". */
  private async lookup (id: Uint8Array, signal: AbortSignal): Promise<Passport | undefined> {
    try {
      const key = passportDhtKey(id)
      let value: Uint8Array | undefined
      // the DHT service itself, not contentRouting: that wraps the selector's LEDGER_FORK in an AggregateError
      for await (const event of this.init.host().services.dht.get(key, { signal })) {
        if (event.name === 'VALUE') value = event.value
      }
      return value === undefined ? undefined : decodePassportRecord(key, value)
    } catch (err) {
      if (err instanceof AsmtpError && err.code === 'LEDGER_FORK') throw err
      log('passport %s from the DHT: %s', toHex(id).slice(0, 8), (err as Error).message)
      return undefined
    }
  }

  /** Merges a longer chain from the DHT into the store (a user's other device may have put it). */
  private async refresh (id: Uint8Array, signal: AbortSignal): Promise<void> {
    const found = await this.lookup(id, withTimeout(DHT_TIMEOUT_MS, signal))
    if (found === undefined) return
    const held = await this.held(id)
    const merged = mergePassport(held ?? null, found)
    if (held === undefined || merged.blocks.length > held.blocks.length) await this.init.store().putPassport(merged.id, merged.export())
  }
}
