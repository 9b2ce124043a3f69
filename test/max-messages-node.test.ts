/**
 * storage.max_messages on real asmtpd processes: node D (alice, bob; cap 4) carries bucket 0
 * with node E (carol, dave). carol's mail to dave passes D relayed-only and is evicted at the
 * cap; alice's mail to bob, unread, evicts every relayed frame and is kept past the cap; then
 * D refuses carol's next frames, and its status says so, while bob still gets every message.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Account } from '../src/index.js'
import { FAST, syncUntil, textsOf } from './helpers/accounts.js'
import { cleanEnv, NODE_TOOL, nodeFolder, spawnDaemon, type Daemon } from './helpers/daemon.js'
import { collect, freePort } from './helpers/process.js'
import { waitFor } from './helpers/testnet.js'

/** above what the setup's device-sync records take (a few matched frames) */
const CAP = 12

interface Capped { storage: { evictedFrames: number, refusedFrames: number, refusingRelayed: boolean }, frames: number, matchedFrames: number }

test(`a node with max_messages ${CAP} evicts relayed frames, keeps its users' unread mail past the cap, then refuses relayed frames and says so`, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'asmtp-cap-'))
  const daemons: Daemon[] = []
  t.after(async () => {
    for (const d of daemons) await d.stop().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })
  const accounts = await Promise.all(['alice', 'bob', 'carol', 'dave'].map(async alias => await Account.create({ dir: join(root, alias), alias })))
  const keys = await Promise.all(accounts.map(async a => `'${(await a.identity()).deviceKey}'`))
  const yaml = (users: string[], port: number, extra: string[], bootstrap: string[] = []): string[] => [
    'secret: ./node.key', `users: [${users.join(', ')}]`, 'client:', '  listen: 127.0.0.1:0',
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', `  bootstrap: [${bootstrap.map(b => `'${b}'`).join(', ')}]`, '  bucket_bits: 0',
    'storage:', '  path: ./data', ...extra, 'metrics:', `  listen: 127.0.0.1:${port}`, 'log:', '  level: warn'
  ]
  const dConfig = await nodeFolder(join(root, 'd'), yaml([keys[0] ?? '', keys[1] ?? ''], await freePort(), [`  max_messages: ${CAP}`]))
  const d = await spawnDaemon({ config: dConfig, cwd: root })
  daemons.push(d)
  const e = await spawnDaemon({ config: await nodeFolder(join(root, 'e'), yaml([keys[2] ?? '', keys[3] ?? ''], await freePort(), [], [`${d.listening[0] ?? ''}/p2p/${d.peerId}`])), cwd: root })
  daemons.push(e)
  const on = (n: Daemon): { remote: { remoteAddress: string, remoteId: string } } => ({ remote: { remoteAddress: n.clientAddress, remoteId: n.publicId } })
  const [alice, bob, carol, dave] = await Promise.all([
    Account.open({ dir: join(root, 'alice'), ...on(d), ...FAST }), Account.open({ dir: join(root, 'bob'), ...on(d), ...FAST }),
    Account.open({ dir: join(root, 'carol'), ...on(e), ...FAST }), Account.open({ dir: join(root, 'dave'), ...on(e), ...FAST })
  ])
  for (const [x, y, nx, ny] of [[alice, bob, 'alice', 'bob'], [carol, dave, 'carol', 'dave']] as const) {
    await x.addContact(ny, { passport: (await y.passport()).export() })
    await y.addContact(nx, { passport: (await x.passport()).export() })
    await x.sync()
    await y.sync()
  }
  const capped = async (): Promise<Capped> => await d.status() as unknown as Capped
  const setup = await capped()
  assert.ok(setup.matchedFrames < CAP / 2 && setup.storage.refusedFrames === 0, `the setup leaves room: ${JSON.stringify(setup)}`)

  for (let i = 0; i < CAP + 2; i++) await carol.send('dave', { text: `relayed ${i}` })
  await syncUntil(dave, 'dave to get carol\'s mail', inbox => textsOf(inbox, 'in').length >= CAP + 2 ? true : undefined, 60_000)
  await waitFor(async () => (await capped()).storage.evictedFrames >= 2, 'D to evict relayed frames at the cap')
  assert.ok((await capped()).frames <= CAP, 'D holds at most the cap')

  const unread = CAP
  for (let i = 0; i < unread; i++) await alice.send('bob', { text: `unread ${i}` })
  await waitFor(async () => (await capped()).matchedFrames >= unread, 'D to store alice\'s mail for bob')
  let s = await capped()
  assert.equal(s.frames, s.matchedFrames, 'every relayed frame made room for them')
  assert.ok(s.matchedFrames > CAP, 'the users\' mail is kept past the cap')

  await carol.send('dave', { text: 'refused at D' })
  await syncUntil(dave, 'dave to get it through E', inbox => textsOf(inbox, 'in').includes('refused at D') ? true : undefined, 60_000)
  await waitFor(async () => (await capped()).storage.refusedFrames >= 1, 'D to refuse a relayed frame')
  s = await capped()
  assert.equal(s.storage.refusingRelayed, true)
  const text = await collect(spawn(process.execPath, [NODE_TOOL, 'status', '--config', dConfig], { env: cleanEnv() }), 30_000)
  assert.match(text.stdout, /^WARNING: storage\.max_messages is reached by this node's users' mail: relayed frames are refused/m, text.stdout)

  const got = await syncUntil(bob, 'bob to read everything', inbox => textsOf(inbox, 'in').filter(x => x.startsWith('unread')).length >= unread ? textsOf(inbox, 'in') : undefined, 60_000)
  for (let i = 0; i < unread; i++) assert.ok(got.includes(`unread ${i}`), `bob has unread ${i}`)
})
