import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Account, isAsmtpError } from '../src/index.js'
import { createTestnet, waitFor, type Testnet } from './helpers/testnet.js'
import { FAST, folders, openOn, remoteOf, syncUntil, textsOf, type Folders } from './helpers/accounts.js'

let net: Testnet
let f: Folders
let laptop: Account
let phone: Account
let bob: Account
let carol: Account

before(async () => {
  f = await folders()
  laptop = await Account.create({ dir: f.dir('laptop'), alias: 'alice', ...FAST })
  const aliceId = (await laptop.identity()).passportId
  phone = await Account.create({ dir: f.dir('phone'), alias: 'phone', join: aliceId, ...FAST })
  bob = await Account.create({ dir: f.dir('bob'), alias: 'bob', ...FAST })
  carol = await Account.create({ dir: f.dir('carol'), alias: 'carol', ...FAST })
  const users = await Promise.all([laptop, phone, bob, carol].map(async a => (await a.identity()).deviceKey))
  // node 0: alice's laptop; node 1: bob and carol; node 2: alice's phone
  net = await createTestnet(3, { users })
  laptop = await openOn(f.dir('laptop'), net.nodes[0])
  bob = await openOn(f.dir('bob'), net.nodes[1])
  carol = await openOn(f.dir('carol'), net.nodes[1])
  phone = await openOn(f.dir('phone'), net.nodes[2])
  await laptop.addContact('bob', { passport: (await bob.passport()).export() })
  await bob.addContact('alice', { passport: (await laptop.passport()).export() })
  await carol.addContact('alice', { passport: (await laptop.passport()).export() })
  await Promise.all([laptop.sync(), bob.sync(), carol.sync()])
})

after(async () => {
  await net?.teardown()
  await f?.remove()
})

test('a second device joins: its first sync brings the passport and every contact (the snapshot)', async () => {
  await assert.rejects(phone.sync(), (err: unknown) => isAsmtpError(err) && /not (in passport|found)/.test(err.message))
  await laptop.addDevice((await phone.identity()).registrationRequest ?? '')
  await laptop.sync()
  await waitFor(async () => {
    try {
      return (await phone.sync()).joined || (await phone.contacts()).length > 0
    } catch (err) {
      if (isAsmtpError(err, 'NOT_FOUND') || isAsmtpError(err, 'ACCOUNT_JOIN_PENDING')) return false
      throw err
    }
  }, 'the phone to join')
  await waitFor(async () => { await phone.sync(); return (await phone.contacts()).some(c => c.alias === 'bob') }, 'the phone to learn bob from the snapshot')
})

test('bob writes: both of alice\'s devices show it', async () => {
  await bob.send('alice', { text: 'to both of your devices' })
  await syncUntil(laptop, 'the laptop to get bob\'s mail', i => textsOf(i, 'in').includes('to both of your devices') ? true : undefined)
  await syncUntil(phone, 'the phone to get bob\'s mail', i => textsOf(i, 'in').includes('to both of your devices') ? true : undefined)
})

test('the laptop writes to bob: the phone shows the sent copy', async () => {
  await laptop.send('bob', { text: 'sent from the laptop' })
  await laptop.sync()
  await syncUntil(phone, 'the sent copy on the phone', i => textsOf(i, 'out').includes('sent from the laptop') ? true : undefined)
  await syncUntil(bob, 'bob to get it', i => textsOf(i, 'in').includes('sent from the laptop') ? true : undefined)
})

test('the phone adds carol: the laptop sees carol after one sync and can write to her', async () => {
  await phone.addContact('carol', { passport: (await carol.passport()).export() })
  const before = net.nodes[0].received.length
  await phone.sync()
  await waitFor(() => net.nodes[0].received.length > before, 'the phone\'s record to reach the laptop\'s node')
  await laptop.sync()
  assert.ok((await laptop.contacts()).some(c => c.alias === 'carol'), 'carol on the laptop after one sync')
  await laptop.send('carol', { text: 'hello carol, from the laptop' })
  await syncUntil(carol, 'carol to get it', i => textsOf(i, 'in').includes('hello carol, from the laptop') ? true : undefined)
})

test('the laptop removes the phone: bob\'s next message reaches the laptop only, and the phone is told', async () => {
  const phoneKey = (await phone.identity()).deviceKey
  await laptop.removeDevice(phoneKey)
  await laptop.sync()
  // bob learns alice's new shared key in-band
  await waitFor(async () => {
    const r = await bob.sync()
    return r.updates.some(u => u.sharedKeyChanged)
  }, 'bob to apply alice\'s new shared key')
  await bob.send('alice', { text: 'after the phone was removed' })
  await syncUntil(laptop, 'the laptop to get it', i => textsOf(i, 'in').includes('after the phone was removed') ? true : undefined)
  await waitFor(async () => {
    try {
      await phone.sync()
      return false
    } catch (err) {
      if (isAsmtpError(err, 'DEVICE_REMOVED')) return true
      throw err
    }
  }, 'the phone to report that it was removed')
  assert.ok(!textsOf(await phone.inbox(), 'in').includes('after the phone was removed'))
  assert.ok(remoteOf(net.nodes[2]).remoteId.length === 64)
})
