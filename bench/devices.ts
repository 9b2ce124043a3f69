/**
 * Device sync (docs/CLIENT.md "Device sync"): alice has a laptop and a phone, bob one device,
 * all on one real node in this process (real TCP client channel, real LevelDB).
 * - The phone's sync after it missed N messages from bob, against iterating the same N
 *   envelopes in the node's store.
 * - The work device sync adds to each sent message: the envelopes and bytes the laptop
 *   publishes on its self topic for M sends to bob, beside the M messages themselves, with the
 *   default random record delay (records batch) and with no delay (a batch per send).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Account, Ed25519KeyPair, isAsmtpError, toHex, type AccountInit } from '../src/index.js'
import { loadDevice, loadSharedKeys, pathsFor } from '../src/client/account-files.js'
import { selfTopics } from '../src/client/self-topic.js'
import { loopbackConfig } from '../src/config/index.js'
import { AsmtpNode, type EnvelopeEvent } from '../src/node/index.js'
import { decodeFrame } from '../src/frame/index.js'
import { envelopeHash } from '../src/envelope/index.js'
import { nowMs } from './stats.js'
import type { ScenarioResult } from './report.js'
import { waitFor } from './worker-client.js'

const envelopeKey = (frame: Uint8Array): string => toHex(envelopeHash(decodeFrame(frame).envelope))

/** Hashes (hex) of the envelopes `dir` published, from its sent-envelopes.txt. */
async function published (dir: string): Promise<string[]> {
  return (await readFile(pathsFor(dir).sent, 'utf8')).split('\n').filter(l => l !== '')
}

interface Added { messages: number, messageBytes: number, records: number, recordBytes: number }

/** Splits what `dir` published after the first `skip` lines into device-sync batches (on its self topics) and the rest (the messages). */
async function addedWork (dir: string, skip: number, events: Map<string, EnvelopeEvent>): Promise<Added> {
  const paths = pathsFor(dir)
  const self = new Set(selfTopics(await loadSharedKeys(paths, await loadDevice(paths)), Date.now()).map(t => toHex(t.topic.topic)))
  const out: Added = { messages: 0, messageBytes: 0, records: 0, recordBytes: 0 }
  for (const h of (await published(dir)).slice(skip)) {
    const e = events.get(h)
    if (e === undefined) throw new Error(`devices: envelope ${h} never reached the node`)
    if (self.has(toHex(e.topic))) {
      out.records++
      out.recordBytes += e.data.length
    } else {
      out.messages++
      out.messageBytes += e.data.length
    }
  }
  return out
}

export async function benchDevices (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const missed = quick ? 200 : 1000
  const sends = quick ? 20 : 100
  const root = await mkdtemp(join(tmpdir(), 'asmtp-bench-devices-'))
  let node: AsmtpNode | undefined
  try {
    const fast: Partial<AccountInit> = { settleMs: 500 }
    const laptop0 = await Account.create({ dir: join(root, 'laptop'), alias: 'alice' })
    const phone0 = await Account.create({ dir: join(root, 'phone'), alias: 'phone', join: (await laptop0.identity()).passportId })
    const bob0 = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
    const users = await Promise.all([laptop0, phone0, bob0].map(async a => (await a.identity()).deviceKey))
    const nodeDir = join(root, 'node')
    node = new AsmtpNode({ config: loopbackConfig({ dir: nodeDir, users }), nodeKey: Ed25519KeyPair.generate() })
    const events = new Map<string, EnvelopeEvent>()
    node.on('envelope', (e) => { events.set(envelopeKey(e.data), e) })
    await node.start()
    const remote = { remoteAddress: node.clientAddress ?? '', remoteId: node.publicId }
    const open = async (name: string, extra: Partial<AccountInit> = {}): Promise<Account> => await Account.open({ dir: join(root, name), remote, ...fast, ...extra })
    const laptop = await open('laptop')
    const phone = await open('phone')
    const bob = await open('bob')
    await laptop.addContact('bob', { passport: (await bob.passport()).export() })
    await bob.addContact('alice', { passport: (await laptop.passport()).export() })
    await laptop.addDevice((await phone.identity()).registrationRequest ?? '')
    await Promise.all([laptop.sync(), bob.sync()])
    await waitFor(async () => {
      try {
        await phone.sync()
        return (await phone.contacts()).some(c => c.alias === 'bob')
      } catch (err) {
        if (isAsmtpError(err, 'NOT_FOUND') || isAsmtpError(err, 'ACCOUNT_JOIN_PENDING')) return false
        throw err
      }
    }, 30_000, 'devices: the phone never joined')
    await laptop.sync()

    progress(`devices: bob sends ${missed} messages while the phone is away`)
    const bobSkip = (await published(join(root, 'bob'))).length
    for (let i = 0; i < missed; i++) await bob.send('alice', { text: `message ${i} from bob, about the length of a short mail line` })
    const bobHashes = (await published(join(root, 'bob'))).slice(bobSkip)
    await waitFor(async () => await Promise.resolve(bobHashes.every(h => events.has(h))), 60_000, 'devices: bob\'s mail never reached the node')
    const t0 = nowMs()
    const report = await phone.sync()
    const syncMs = nowMs() - t0
    const got = (await phone.inbox()).filter(m => m.direction === 'in').length
    if (got < missed) throw new Error(`devices: the phone's sync brought ${got} of ${missed}`)
    // the baseline: the same envelopes read in pages straight from the node's store
    // (a contact's topics change with time, so bob's mail may sit under more than one)
    const topics = new Map(bobHashes.map(h => { const t = events.get(h)!.topic; return [toHex(t), t] }))
    const t1 = nowMs()
    let iterated = 0
    for (const topic of topics.values()) {
      let cursor = 0n
      for (;;) {
        const page = await node.query(topic, cursor, 256)
        iterated += page.envelopes.length
        cursor = page.cursor
        if (!page.more) break
      }
    }
    const iterateMs = nowMs() - t1
    if (iterated < missed) throw new Error(`devices: the store holds ${iterated} of ${missed} under ${topics.size} topics`)

    progress(`devices: the laptop sends ${sends} messages to bob, records batched at a random delay`)
    const results: ScenarioResult[] = [{
      scenario: `device sync: a phone that missed ${missed.toLocaleString('en-US')} messages, one sync`,
      unit: 'ms',
      ours: { median: syncMs },
      baseline: { name: `iterating the same ${iterated} envelopes in the node's store (pages of 256)`, median: iterateMs },
      ratio: syncMs / iterateMs,
      better: 'lower',
      notes: `bob's mail under ${topics.size} topic(s); client channel, open and check every envelope, write the local mailbox (${report.received.length} received); receipts queued, not sent`
    }]
    const laptopDir = join(root, 'laptop')
    for (const delayed of [true, false]) {
      const sender = delayed ? laptop : await open('laptop', { recordDelayMs: 0 })
      const skip = (await published(laptopDir)).length
      for (let i = 0; i < sends; i++) await sender.send('bob', { text: `message ${i} from the laptop, about the length of a short mail line` })
      await sender.flush()
      const hashes = (await published(laptopDir)).slice(skip)
      await waitFor(async () => await Promise.resolve(hashes.every(h => events.has(h))), 60_000, 'devices: the laptop\'s envelopes never reached the node')
      const w = await addedWork(laptopDir, skip, events)
      if (w.messages !== sends) throw new Error(`devices: ${w.messages} of ${sends} messages counted`)
      results.push({
        scenario: `device sync: added bytes per sent message (${sends} sends, ${delayed ? 'default random delay, then flush' : 'record delay 0'})`,
        unit: 'B/message',
        ours: { median: w.recordBytes / sends, count: w.records },
        baseline: { name: 'the message\'s own frame', median: w.messageBytes / sends },
        ratio: w.recordBytes / w.messageBytes,
        better: 'lower',
        notes: `${w.records} self-topic envelopes for ${sends} messages (${(w.records / sends).toFixed(2)} per message); frame bytes as published`
      })
    }
    return results
  } finally {
    await node?.stop()
    await rm(root, { recursive: true, force: true })
  }
}
