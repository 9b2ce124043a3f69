import '../src/polyfill.js'
import { isCode } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Ed25519KeyPair, toHex } from '../src/index.js'
import { Passport, createPassport, encodePassportExport } from '../src/passport/index.js'
import { passportDhtKey, selectPassportRecord } from '../src/node/passport-records.js'
import { createTestnet, waitFor, type TestNode } from './helpers/testnet.js'


function tip (p: Passport): string {
  return toHex(p.state.tipId)
}

/** The export with one byte of the last block's signature flipped: a forged block. */
function forgeLastBlock (p: Passport): Uint8Array {
  const blocks = p.blocks.map(b => new Uint8Array(b.bytes))
  const last = blocks[blocks.length - 1]
  last[150] = last[150] ^ 0x40
  return encodePassportExport(blocks)
}

test('passports through the DHT: found by id from another node, updated to the longer chain, forged and forked chains never served', async () => {
  const net = await createTestnet(4, { topology: 'star' })
  try {
    const [, home, looker, mallory] = net.nodes as [TestNode, TestNode, TestNode, TestNode]
    await waitFor(() => net.nodes.every(t => t.node.host.getPeers().length >= 1), 'bootstrap connections')
    const device = Ed25519KeyPair.generate()
    const t0 = Date.now() - 60_000
    const v1 = createPassport({ device, alias: 'alice', time: t0 })

    await home.node.putPassport(v1.export())
    // the DHT put runs in the background (no client request waits on it): wait for the record
    let found1: Awaited<ReturnType<typeof looker.node.getPassport>> | undefined
    await waitFor(async () => {
      found1 = await looker.node.getPassport(v1.id).catch(() => undefined)
      return found1 !== undefined
    }, 'the passport to reach the DHT')
    if (found1 === undefined) throw new Error('unreachable')
    assert.equal(tip(found1), tip(v1))
    assert.equal(found1.blocks.length, 1)

    const v2 = v1.rotateSharedKey(device, { time: t0 + 1000 })
    await home.node.putPassport(v2.export())
    await waitFor(async () => (await looker.node.getPassport(v1.id)).blocks.length === 2, 'the DHT to return the longer chain')
    assert.equal(tip(await looker.node.getPassport(v1.id)), tip(v2))

    // a forged block: refused by the home node, by the DHT validators, and never returned
    const forged = forgeLastBlock(v2)
    await assert.rejects(home.node.putPassport(forged), isCode('PASSPORT_BAD_SIGNATURE'))
    await mallory.node.host.contentRouting.put(passportDhtKey(v1.id), forged, { signal: AbortSignal.timeout(5000) }).catch(() => {})
    assert.equal(tip(await looker.node.getPassport(v1.id)), tip(v2))

    // a fork (a second block on the genesis): refused by the home node, and never served by it
    const fork = v1.rotateSharedKey(device, { time: t0 + 2000 })
    assert.equal(fork.blocks.length, v2.blocks.length)
    await assert.rejects(home.node.putPassport(fork.export()), isCode('LEDGER_FORK'))
    await mallory.node.host.contentRouting.put(passportDhtKey(v1.id), fork.export(), { signal: AbortSignal.timeout(5000) }).catch(() => {})
    assert.equal(tip(await home.node.getPassport(v1.id)), tip(v2), 'the home node serves its own chain only')
    // another node that sees two chains of equal length reports the fork (LEDGER_FORK); if the
    // fork record never reached the nodes it asks, it must answer with the valid chain. Either
    // way the fork is never served.
    const seen = await looker.node.getPassport(v1.id).then(p => tip(p), (err: unknown) => err)
    if (typeof seen === 'string') assert.equal(seen, tip(v2), 'the fork was served')
    else assert.ok(isCode('LEDGER_FORK')(seen), `expected LEDGER_FORK, got ${String(seen)}`)

    // the owner extends the valid chain: everyone converges on it
    const v3 = v2.rotateSharedKey(device, { time: t0 + 3000 })
    await home.node.putPassport(v3.export())
    await waitFor(async () => {
      try {
        return tip(await looker.node.getPassport(v1.id)) === tip(v3)
      } catch {
        return false
      }
    }, 'the longer valid chain to win over the fork')
  } finally {
    await net.teardown()
  }
})

test('passport record selector: longest valid chain; forged records skipped; equal-length forks reported', () => {
  const device = Ed25519KeyPair.generate()
  const t0 = Date.now() - 60_000
  const v1 = createPassport({ device, alias: 'bob', time: t0 })
  const v2 = v1.rotateSharedKey(device, { time: t0 + 1000 })
  const fork = v1.rotateSharedKey(device, { time: t0 + 2000 })
  const key = passportDhtKey(v1.id)
  assert.equal(selectPassportRecord(key, [v1.export(), v2.export()]), 1)
  assert.equal(selectPassportRecord(key, [v2.export(), v1.export()]), 0)
  assert.equal(selectPassportRecord(key, [forgeLastBlock(v2), v1.export()]), 1)
  assert.throws(() => selectPassportRecord(key, [v2.export(), fork.export()]), isCode('LEDGER_FORK'))
  const other = createPassport({ device, alias: 'carol', time: t0 })
  assert.equal(selectPassportRecord(key, [other.export(), v1.export()]), 1, 'a record under the wrong id is invalid')
})
