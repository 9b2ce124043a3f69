import '../src/polyfill.js'
import { isCode, readVectors } from './helpers/vectors.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  AsmtpError, Ed25519KeyPair, createPassport, createRegistrationRequest, deriveTopic, fromHex, generateX25519, maxBodyBytes,
  openFrame, sealEnvelope, sealFrame, sha256, toHex, type Passport
} from '../src/index.js'
import {
  applyPassportUpdate, assembleFile, chunkDataBytes, decodeFileChunk, encodeFileChunk, encodePassportUpdate, FILE_CHUNK_HEADER_BYTES, FILE_CONTENT_TYPE,
  liveKeys, Mailbox, MAX_FILE_BYTES, OLD_KEY_RETENTION_MS, PASSPORT_UPDATE_CONTENT_TYPE, splitFile, TEXT_CONTENT_TYPE, withCurrentKey,
  type FileChunk, type MailboxContact, type OwnSharedKey
} from '../src/client/index.js'

interface ChunkVectors {
  valid: Array<{ note: string, body: string, fileId: string, index: number, count: number, totalSize: number, name: string, data: string }>
  invalid: Array<{ note: string, body: string, code: string }>
}
const vectors = readVectors<ChunkVectors>('file-chunk.json')


function shuffle<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

// ---- file chunks ----------------------------------------------------------------------------

test('file chunk vectors: decode gives the fields, encode gives the body back', () => {
  for (const v of vectors.valid) {
    const c = decodeFileChunk(fromHex(v.body))
    assert.equal(toHex(c.fileId), v.fileId, v.note)
    assert.deepEqual([c.index, c.count, c.totalSize, c.name, toHex(c.data)], [v.index, v.count, v.totalSize, v.name, v.data], v.note)
    assert.equal(toHex(encodeFileChunk(c)), v.body, v.note)
  }
})

test('file chunk invalid vectors: each is an AsmtpError with its code', () => {
  assert.ok(vectors.invalid.length >= 15)
  for (const v of vectors.invalid) {
    assert.throws(() => decodeFileChunk(fromHex(v.body)), isCode(v.code), v.note)
  }
})

test('file chunks: random and truncated bodies give AsmtpError, never another exception', () => {
  const good = encodeFileChunk(splitFile({ name: 'a.bin', data: new Uint8Array(100) })[0])
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (body) => {
    try {
      decodeFileChunk(body)
    } catch (err) {
      assert.ok(err instanceof AsmtpError, String(err))
    }
  }), { numRuns: 2000 })
  const header = FILE_CHUNK_HEADER_BYTES + 'a.bin'.length
  for (let n = 0; n <= header; n++) {
    assert.throws(() => decodeFileChunk(good.subarray(0, n)), (e: unknown) => e instanceof AsmtpError, `cut at ${n}`)
  }
  // a chunk cut inside its data still decodes; the file it belongs to no longer assembles
  const cut = decodeFileChunk(good.subarray(0, header + 1))
  assert.throws(() => assembleFile([cut]), isCode('DECODE_INVALID'))
})

test('file chunks: split then assemble in any order gives the file back (property)', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 1, max: 700 }), fc.nat(), (data, chunkBytes, seed) => {
    const chunks = splitFile({ name: 'f.bin', data, chunkBytes })
    assert.equal(chunks.length, Math.max(1, Math.ceil(data.length / chunkBytes)))
    const decoded = shuffle(chunks, seed).map(c => decodeFileChunk(encodeFileChunk(c)))
    const { description, data: back } = assembleFile([...decoded, decoded[0]])
    assert.deepEqual(back, data)
    assert.equal(description.totalSize, data.length)
    assert.deepEqual(description.sha256, sha256(data))
  }), { numRuns: 200 })
})

test('file chunks: the largest chunk fits one envelope, one byte more does not', () => {
  const name = 'x'.repeat(40)
  const max = chunkDataBytes(name)
  const [chunk] = splitFile({ name, data: new Uint8Array(max + 1) })
  assert.equal(chunk.data.length, max)
  const body = encodeFileChunk(chunk)
  assert.equal(body.length, maxBodyBytes(FILE_CONTENT_TYPE))
  const a = generateX25519()
  const b = generateX25519()
  const topic = deriveTopic(a.secretKey, b.publicKey)
  const wire = sealEnvelope({ sender: a, recipientPublic: b.publicKey, topic, contentType: FILE_CONTENT_TYPE, body, hour: 0, ttlClass: 0 })
  assert.equal(wire.length, 65536)
  assert.throws(() => sealEnvelope({ sender: a, recipientPublic: b.publicKey, topic, contentType: FILE_CONTENT_TYPE, body: new Uint8Array(body.length + 1), hour: 0, ttlClass: 0 }), isCode('ENVELOPE_BODY_TOO_LARGE'))
  assert.throws(() => splitFile({ name, data: new Uint8Array(10), chunkBytes: max + 1 }), RangeError)
})

test('file chunks: assembly refuses missing, disagreeing, oversized and altered chunks', () => {
  const data = new Uint8Array(3000).map((_, i) => i & 0xff)
  const chunks = splitFile({ name: 'f.bin', data, chunkBytes: 1000 })
  assert.throws(() => assembleFile([]), isCode('DECODE_INVALID'))
  assert.throws(() => assembleFile(chunks.slice(0, 2)), isCode('DECODE_INVALID'), 'a missing chunk')
  const renamed: FileChunk = { ...chunks[1], name: 'g.bin' }
  assert.throws(() => assembleFile([chunks[0], renamed, chunks[2]]), isCode('DECODE_INVALID'), 'another name')
  const flipped: FileChunk = { ...chunks[2], data: chunks[2].data.map((b, i) => i === 0 ? b ^ 1 : b) }
  assert.throws(() => assembleFile([chunks[0], chunks[1], flipped]), isCode('DECODE_INVALID'), 'altered data: hash')
  const twice: FileChunk = { ...chunks[1], data: chunks[2].data }
  assert.throws(() => assembleFile([...chunks, twice]), isCode('DECODE_INVALID'), 'two different chunks with one index')
  const longer: FileChunk = { ...chunks[2], data: new Uint8Array(1001) }
  assert.throws(() => assembleFile([chunks[0], chunks[1], longer]), isCode('DECODE_INVALID'), 'more bytes than the size')
  assert.throws(() => splitFile({ name: 'a/b', data }), isCode('DECODE_INVALID'))
  assert.throws(() => splitFile({ name: 'big', data: { length: MAX_FILE_BYTES + 1 } as Uint8Array }), isCode('DECODE_TOO_LARGE'))
})

// ---- passport updates -----------------------------------------------------------------------

function person (alias: string): { device: Ed25519KeyPair, passport: Passport } {
  const device = Ed25519KeyPair.generate()
  return { device, passport: createPassport({ device, alias }) }
}

test('passport update: an extension is applied, with or without a new shared key; equal and older chains change nothing', () => {
  const bob = person('bob')
  const rotated = bob.passport.rotateSharedKey(bob.device)
  const r1 = applyPassportUpdate(bob.passport, encodePassportUpdate(rotated))
  assert.deepEqual([r1.extended, r1.sharedKeyChanged], [true, true])
  assert.deepEqual(r1.passport.sharedPublicKey, rotated.sharedPublicKey)

  const phone = Ed25519KeyPair.generate()
  const added = rotated.addDevice(bob.device, createRegistrationRequest({ device: phone, alias: 'phone', passportId: rotated.id }))
  const r2 = applyPassportUpdate(rotated, encodePassportUpdate(added))
  assert.deepEqual([r2.extended, r2.sharedKeyChanged], [true, false])

  const same = applyPassportUpdate(added, encodePassportUpdate(added))
  assert.deepEqual([same.extended, same.sharedKeyChanged], [false, false])
  const older = applyPassportUpdate(added, encodePassportUpdate(bob.passport))
  assert.equal(older.extended, false)
  assert.equal(older.passport, added, 'the held, longer chain is kept')
})

test('passport update: a fork, another passport and garbage are refused with their codes', () => {
  const bob = person('bob')
  const a = bob.passport.rotateSharedKey(bob.device)
  const b = bob.passport.rotateSharedKey(bob.device)
  assert.throws(() => applyPassportUpdate(a, encodePassportUpdate(b)), isCode('LEDGER_FORK'))
  assert.throws(() => applyPassportUpdate(a, encodePassportUpdate(person('eve').passport)), isCode('PASSPORT_WRONG_ID'))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (body) => {
    assert.throws(() => applyPassportUpdate(a, body), (e: unknown) => e instanceof AsmtpError)
  }), { numRuns: 300 })
  const bytes = encodePassportUpdate(a)
  const tampered = new Uint8Array(bytes)
  tampered[tampered.length - 1] ^= 1
  assert.throws(() => applyPassportUpdate(bob.passport, tampered), (e: unknown) => e instanceof AsmtpError)
})

// ---- mailbox --------------------------------------------------------------------------------

interface Side { person: { device: Ed25519KeyPair, passport: Passport }, keys: OwnSharedKey[] }

function side (alias: string): Side {
  const p = person(alias)
  return { person: p, keys: [{ publicKey: p.passport.sharedPublicKey, secretKey: p.passport.openSharedSecret(p.device), retiredAt: null }] }
}

function asContact (s: Side): MailboxContact {
  return { alias: 'peer', passportId: s.person.passport.id, keys: s.keys.map(k => ({ publicKey: k.publicKey, retiredAt: k.retiredAt })) }
}

test('mailbox: both sides derive the same current topic; a message opens only with the sender as the contact', () => {
  const alice = side('alice')
  const bob = side('bob')
  const am = new Mailbox({ ownKeys: alice.keys })
  const bm = new Mailbox({ ownKeys: bob.keys })
  const aTopic = am.currentTopic(asContact(bob))
  const bTopic = bm.currentTopic(asContact(alice))
  assert.deepEqual(aTopic.topic, bTopic.topic)
  assert.deepEqual(am.topicsFor(asContact(bob)).map(t => toHex(t.topic.topic)), [toHex(aTopic.topic.topic)])

  const sealed = am.sealMessage(asContact(bob), { contentType: TEXT_CONTENT_TYPE, body: new TextEncoder().encode('hi bob') })
  const opened = bm.open(bTopic, sealed.envelope)
  assert.equal(opened.kind, 'message')
  if (opened.kind === 'message') assert.equal(new TextDecoder().decode(opened.message.body), 'hi bob')

  // the sender cannot reopen its own envelope (Noise X is one-way): it is known by its hash
  assert.equal(am.open(aTopic, sealed.envelope, new Set([toHex(sealed.hash)])).kind, 'own')
  const notOwn = am.open(aTopic, sealed.envelope)
  assert.ok(notOwn.kind === 'rejected' && notOwn.error.code === 'ENVELOPE_DECRYPT_FAILED')
})

test('mailbox: an envelope on the topic sealed by any key but the contact\'s is rejected as ENVELOPE_WRONG_SENDER', () => {
  const alice = side('alice')
  const bob = side('bob')
  const bm = new Mailbox({ ownKeys: bob.keys })
  const bTopic = bm.currentTopic(asContact(alice))
  const mallory = generateX25519()
  const forged = sealFrame({ sender: mallory, recipientPublic: bob.keys[0].publicKey, topic: bTopic.topic, contentType: TEXT_CONTENT_TYPE, body: new TextEncoder().encode('I am alice') })
  assert.ok(openFrame(forged, { recipient: bTopic.mine, topic: bTopic.topic }), 'the envelope itself is well formed')
  const r = bm.open(bTopic, forged)
  assert.ok(r.kind === 'rejected' && r.error.code === 'ENVELOPE_WRONG_SENDER', JSON.stringify(r))
  const junk = bm.open(bTopic, new Uint8Array(1024))
  assert.equal(junk.kind, 'rejected')
  fc.assert(fc.property(fc.uint8Array({ minLength: 1024, maxLength: 1024 }), (data) => {
    assert.equal(bm.open(bTopic, data).kind, 'rejected')
  }), { numRuns: 50 })
})

test('mailbox: after a rotation both sides register old and new topics, and the update opens under the old key', () => {
  const alice = side('alice')
  const bob = side('bob')
  const t0 = 1_800_000_000_000
  // bob rotates: he keeps his old secret as retired
  const rotated = bob.person.passport.rotateSharedKey(bob.person.device)
  const bobKeys = withCurrentKey(bob.keys, { publicKey: rotated.sharedPublicKey, secretKey: rotated.openSharedSecret(bob.person.device), retiredAt: null }, t0)
  assert.deepEqual(bobKeys.map(k => k.retiredAt), [t0, null])
  const bm = new Mailbox({ ownKeys: bobKeys })
  const am = new Mailbox({ ownKeys: alice.keys })
  const bobTopics = bm.topicsFor(asContact(alice), t0 + 1)
  assert.equal(bobTopics.length, 2)
  assert.equal(bobTopics[0].current, true)

  // one update per live key of bob; alice (who knows the old key) opens the one sealed by it
  const updates = bm.sealPassportUpdates(asContact(alice), rotated, t0 + 1)
  assert.equal(updates.length, 2)
  const aliceOld = am.currentTopic(asContact(bob))
  const mine = updates.find(u => toHex(u.topic.topic.topic) === toHex(aliceOld.topic.topic))
  assert.ok(mine, 'one update is on the topic alice already reads')
  const opened = am.open(aliceOld, mine.envelope)
  assert.ok(opened.kind === 'message' && opened.message.contentType === PASSPORT_UPDATE_CONTENT_TYPE)
  const applied = applyPassportUpdate(bob.person.passport, opened.message.body)
  assert.ok(applied.sharedKeyChanged)

  // alice now knows both of bob's keys: her topics are exactly bob's
  const bobAsContact: MailboxContact = { alias: 'bob', passportId: rotated.id, keys: withCurrentKey(asContact(bob).keys, { publicKey: applied.passport.sharedPublicKey, retiredAt: null }, t0 + 2) }
  const aliceTopics = am.topicsFor(bobAsContact, t0 + 3).map(t => toHex(t.topic.topic)).sort()
  assert.deepEqual(aliceTopics, bobTopics.map(t => toHex(t.topic.topic)).sort())

  // a message on the new topic from bob opens at alice; one on the old topic still does too
  const fresh = bm.sealMessage(asContact(alice), { contentType: TEXT_CONTENT_TYPE, body: new Uint8Array([1]) })
  const aliceNew = am.currentTopic(bobAsContact)
  assert.equal(toHex(aliceNew.topic.topic), toHex(fresh.topic.topic.topic))
  assert.equal(am.open(aliceNew, fresh.envelope).kind, 'message')
  const stale = am.sealMessage(asContact(bob), { contentType: TEXT_CONTENT_TYPE, body: new Uint8Array([2]) })
  const bobOld = bobTopics.find(t => toHex(t.topic.topic) === toHex(stale.topic.topic.topic))
  assert.ok(bobOld, 'alice\'s message on the old topic is on a topic bob reads')
  assert.equal(bm.open(bobOld, stale.envelope).kind, 'message')
})

test('mailbox: keys retired longer than the retention are dropped; one current key is required', () => {
  const a = generateX25519()
  const b = generateX25519()
  const c = generateX25519()
  let keys: OwnSharedKey[] = [{ ...a, retiredAt: null }]
  keys = withCurrentKey(keys, { ...b, retiredAt: null }, 1000)
  assert.equal(liveKeys(keys, 1000 + OLD_KEY_RETENTION_MS - 1).length, 2)
  assert.equal(liveKeys(keys, 1000 + OLD_KEY_RETENTION_MS).length, 1)
  keys = withCurrentKey(keys, { ...c, retiredAt: null }, 1000 + OLD_KEY_RETENTION_MS)
  assert.deepEqual(keys.map(k => toHex(k.publicKey)), [toHex(b.publicKey), toHex(c.publicKey)], 'a is gone, b retired, c current')
  keys = withCurrentKey(keys, { ...b, retiredAt: null }, 2000 + OLD_KEY_RETENTION_MS)
  assert.deepEqual(keys.map(k => [toHex(k.publicKey), k.retiredAt]), [[toHex(c.publicKey), 2000 + OLD_KEY_RETENTION_MS], [toHex(b.publicKey), null]], 'a key seen before becomes current again, once')
  assert.throws(() => new Mailbox({ ownKeys: [] }), isCode('KEY_INVALID'))
  assert.throws(() => new Mailbox({ ownKeys: [{ ...a, retiredAt: null }, { ...b, retiredAt: null }] }), isCode('KEY_INVALID'))
})

test('passport update: a passport too large for one envelope is refused before sealing', () => {
  let bob = person('bob')
  let p = bob.passport
  while (p.export().length <= maxBodyBytes(PASSPORT_UPDATE_CONTENT_TYPE)) p = p.rotateSharedKey(bob.device)
  assert.throws(() => encodePassportUpdate(p), isCode('ENVELOPE_BODY_TOO_LARGE'))
  bob = { ...bob, passport: p }
  assert.ok(bob.passport.blocks.length > 100)
})
