/**
 * SIGHUP (issue 16 point 7) with a real asmtpd: adding a device key to `users` in the config
 * file and sending SIGHUP lets that device in without a restart (same process, same peer id);
 * removing one shuts it out; a broken config on SIGHUP changes nothing. SIGTERM stops it cleanly.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Account, isAsmtpError } from '../src/index.js'
import { FAST } from './helpers/accounts.js'
import { nodeFolder, spawnDaemon, type Daemon } from './helpers/daemon.js'

function config (users: string[]): string[] {
  return [
    'secret: ./node.key', `users: [${users.map(u => `'${u}'`).join(', ')}]`, 'client:', '  listen: 127.0.0.1:0',
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', 'storage:', '  path: ./data', 'log:', '  level: info'
  ]
}

test('SIGHUP reloads users: an added device gets in without a restart, a removed one is shut out', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'asmtp-sighup-'))
  let node: Daemon | undefined
  t.after(async () => {
    await node?.stop()
    await rm(root, { recursive: true, force: true })
  })
  const alice = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
  const bob = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
  const aliceKey = (await alice.identity()).deviceKey
  const bobKey = (await bob.identity()).deviceKey
  const path = await nodeFolder(join(root, 'node'), config([aliceKey]))
  node = await spawnDaemon({ config: path, cwd: root })
  const remote = { remoteAddress: node.clientAddress, remoteId: node.publicId }
  const a = await Account.open({ dir: join(root, 'alice'), remote, ...FAST })
  const b = await Account.open({ dir: join(root, 'bob'), remote, ...FAST })
  await a.sync()
  const refused = (err: unknown): boolean => isAsmtpError(err) && err.code === 'UNAUTHORIZED_DEVICE'
  await assert.rejects(b.sync(), refused, 'bob is not in users yet')

  await writeFile(path, config([aliceKey, bobKey]).join('\n') + '\n')
  node.child.kill('SIGHUP')
  await node.waitForOutput(/^reloaded users: 2 devices \(1 added, 0 removed\)$/m, 'the reload')
  await b.sync()
  await b.addContact('alice', { passport: (await a.passport()).export() })
  await a.addContact('bob', { passport: (await b.passport()).export() })
  await a.send('bob', { text: 'welcome' })

  await writeFile(path, 'users: [this is not yaml\n')
  node.child.kill('SIGHUP')
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no complaint about the broken config: ${node?.stderr ?? ''}`)) }, 20_000)
    const check = setInterval(() => {
      if (node?.stderr.includes('SIGHUP: the config was not reloaded') === true) { clearTimeout(timer); clearInterval(check); resolve() }
    }, 50)
  })
  await b.sync()

  await writeFile(path, config([bobKey]).join('\n') + '\n')
  node.child.kill('SIGHUP')
  await node.waitForOutput(/^reloaded users: 1 devices \(0 added, 1 removed\)$/m, 'the second reload')
  await assert.rejects(a.sync(), refused, 'alice was removed')
  assert.equal(node.child.exitCode, null, 'the same process all along')
  const exit = await node.stop()
  assert.equal(exit.code, 0, 'SIGTERM stops it cleanly')
  node = undefined
})
