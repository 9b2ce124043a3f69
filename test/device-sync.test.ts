import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  createPassport, createRegistrationRequest, decodeDeviceSyncBatch, decodeReceipt, Ed25519KeyPair, encodeDeviceSyncBatch, encodeReceipt,
  isAsmtpError, parseRecord, verifyDeviceSyncBatch, type AsmtpErrorCode
} from '../src/index.js'

const laptop = Ed25519KeyPair.generate()
const phone = Ed25519KeyPair.generate()
const base = createPassport({ device: laptop, alias: 'laptop' })
const withPhone = base.addDevice(laptop, createRegistrationRequest({ device: phone, alias: 'phone', passportId: base.id }))

function throwsOnlyAsmtp (fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    assert.ok(isAsmtpError(err), `not an AsmtpError: ${String(err)}`)
  }
}

test('device-sync decoder: random and truncated bytes return or throw AsmtpError', () => {
  const p = createPassport({ device: laptop, alias: 'laptop' })
  const good = encodeDeviceSyncBatch([{ type: 'contact-removed', at: 1, passportId: 'ab'.repeat(32) }], { device: laptop, passportId: p.id, sharedKey: p.sharedPublicKey, time: 5 })
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => { throwsOnlyAsmtp(() => decodeDeviceSyncBatch(bytes)) }), { numRuns: 2000 })
  for (let n = 0; n < good.length; n++) throwsOnlyAsmtp(() => decodeDeviceSyncBatch(good.subarray(0, n)))
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => { throwsOnlyAsmtp(() => decodeReceipt(bytes)) }), { numRuns: 2000 })
  assert.equal(decodeReceipt(encodeReceipt([new Uint8Array(16).fill(7)])).length, 1)
  fc.assert(fc.property(fc.jsonValue(), (v) => { assert.ok(['unknown', 'contact-added', 'contact-removed', 'contacts', 'sent', 'mark'].includes(parseRecord(v).type)) }), { numRuns: 2000 })
})

test('device-sync: a batch of an active device verifies; unknown record types are kept, not fatal', () => {
  const p = createPassport({ device: laptop, alias: 'laptop' })
  const body = encodeDeviceSyncBatch([{ type: 'from-the-future', at: 3, x: 1 }, { type: 'contact-removed', at: 2, passportId: 'cd'.repeat(32) }],
    { device: laptop, passportId: p.id, sharedKey: p.sharedPublicKey, time: Date.now() })
  const batch = decodeDeviceSyncBatch(body)
  verifyDeviceSyncBatch(batch, { passport: p, sealedWith: p.sharedPublicKey, retiredAt: null })
  assert.deepEqual(batch.records.map(r => r.type), ['unknown', 'contact-removed'])
})

function refused (fn: () => void, code: AsmtpErrorCode): void {
  assert.throws(fn, (err: unknown) => isAsmtpError(err, code))
}

test('device-sync: forged batches are refused (another key, a removed device, a bad signature, an old key after a rotation)', () => {
  const p = createPassport({ device: laptop, alias: 'laptop' })
  const stranger = Ed25519KeyPair.generate()
  const now = Date.now()
  const init = { passportId: p.id, sharedKey: p.sharedPublicKey, time: now }
  // sealed by a key that is not the passport's own: the batch names another shared key
  const other = createPassport({ device: stranger, alias: 's' })
  refused(() => { verifyDeviceSyncBatch(decodeDeviceSyncBatch(encodeDeviceSyncBatch([], { ...init, device: laptop })), { passport: p, sealedWith: other.sharedPublicKey, retiredAt: null }) }, 'DEVICE_SYNC_STALE_KEY')
  // signed by a device that is not (or no longer) in the passport
  refused(() => { verifyDeviceSyncBatch(decodeDeviceSyncBatch(encodeDeviceSyncBatch([], { ...init, device: stranger })), { passport: p, sealedWith: p.sharedPublicKey, retiredAt: null }) }, 'DEVICE_SYNC_UNKNOWN_SIGNER')
  const removed = withPhone.removeDevice(laptop, phone.publicKey)
  const byPhone = decodeDeviceSyncBatch(encodeDeviceSyncBatch([], { passportId: removed.id, sharedKey: removed.sharedPublicKey, time: now, device: phone }))
  refused(() => { verifyDeviceSyncBatch(byPhone, { passport: removed, sealedWith: removed.sharedPublicKey, retiredAt: null }) }, 'DEVICE_SYNC_UNKNOWN_SIGNER')
  // a signature that does not verify
  const body = encodeDeviceSyncBatch([], { ...init, device: laptop })
  body[40] = (body[40] ?? 0) ^ 1
  refused(() => { verifyDeviceSyncBatch(decodeDeviceSyncBatch(body), { passport: p, sealedWith: p.sharedPublicKey, retiredAt: null }) }, 'DEVICE_SYNC_BAD_SIGNATURE')
  // replayed under the old shared key after a rotation: written after that key was retired
  const late = decodeDeviceSyncBatch(encodeDeviceSyncBatch([], { ...init, device: laptop, time: now }))
  refused(() => { verifyDeviceSyncBatch(late, { passport: p, sealedWith: p.sharedPublicKey, retiredAt: now - 3600_000 }) }, 'DEVICE_SYNC_STALE_KEY')
  verifyDeviceSyncBatch(late, { passport: p, sealedWith: p.sharedPublicKey, retiredAt: now + 1000 })
})
