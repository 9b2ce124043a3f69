/** Accounts of the client library on real in-process nodes (createTestnet), for the device and delivery tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Account, type AccountInit, type InboxMessage } from '../../src/index.js'
import type { TestNode } from './testnet.js'

export interface Folders { root: string, dir: (name: string) => string, remove: () => Promise<void> }

export async function folders (): Promise<Folders> {
  const root = await mkdtemp(join(tmpdir(), 'asmtp-accounts-'))
  return { root, dir: (name) => join(root, name), remove: async () => { await rm(root, { recursive: true, force: true }) } }
}

export function remoteOf (n: TestNode): { remoteAddress: string, remoteId: string } {
  const address = n.node.clientAddress
  if (address === null) throw new Error(`node ${n.index} has no client channel`)
  return { remoteAddress: address, remoteId: n.node.publicId }
}

/** Fast device sync for tests: records and receipts due at once, short settle. */
export const FAST: Partial<AccountInit> = { recordDelayMs: 0, settleMs: 1500 }

export async function openOn (dir: string, n: TestNode, extra: Partial<AccountInit> = {}): Promise<Account> {
  return await Account.open({ dir, remote: remoteOf(n), ...FAST, ...extra })
}

/** Syncs `account` until `probe` on its inbox finds something; bounded. */
export async function syncUntil<T> (account: Account, what: string, probe: (inbox: InboxMessage[]) => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
    await account.sync()
    const found = probe(await account.inbox())
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, wait))
  }
}

export const textsOf = (inbox: InboxMessage[], direction: 'in' | 'out'): string[] => inbox.filter(m => m.direction === direction).map(m => m.text ?? '')
