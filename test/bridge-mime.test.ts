/**
 * The bridge's decoders of what mail programs and clients send: recipient addresses, mail
 * headers and the re-wrapping of a submitted mail, fed valid, truncated, oversized and random
 * input. A bad input is an AsmtpError (or a mail without that header), never a crash.
 */
import '../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { isAsmtpError, parseMail, readHeaders, renderMail, resolveRecipient, uniqueName, type ContactInfo } from '../src/index.js'

const contacts: ContactInfo[] = [
  { alias: 'Bob', passportId: 'ab'.repeat(32), sharedKey: null, addedAt: 0, updatedAt: 0 },
  { alias: 'carol', passportId: 'cd'.repeat(32), sharedKey: null, addedAt: 0, updatedAt: 0 }
]

test('recipients: alias or passport id at asmtp, any letter case; anything else is a clear error', () => {
  assert.equal(resolveRecipient('bob@asmtp', contacts).alias, 'Bob')
  assert.equal(resolveRecipient('BOB@ASMTP', contacts).alias, 'Bob')
  assert.equal(resolveRecipient('Carol', contacts).alias, 'carol')
  assert.equal(resolveRecipient(`${'AB'.repeat(32)}@asmtp`, contacts).alias, 'Bob')
  assert.throws(() => resolveRecipient('dave@asmtp', contacts), (e: unknown) => isAsmtpError(e, 'CONTACT_UNKNOWN') && /contacts: Bob@asmtp, carol@asmtp/.test(e.message))
  assert.throws(() => resolveRecipient('bob@example.org', contacts), (e: unknown) => isAsmtpError(e, 'CONTACT_UNKNOWN'))
  assert.throws(() => resolveRecipient('', contacts), (e: unknown) => isAsmtpError(e, 'DECODE_INVALID'))
  assert.throws(() => resolveRecipient('x'.repeat(400), contacts), (e: unknown) => isAsmtpError(e, 'DECODE_INVALID'))
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
    try {
      const c = resolveRecipient(s, contacts)
      assert.ok(contacts.includes(c))
    } catch (e) {
      assert.ok(isAsmtpError(e), String(e))
    }
  }), { numRuns: 2000 })
})

const MAIL = Buffer.from('From: someone@else\r\nSubject: Hi\r\n there\r\nMessage-ID: <x@y>\r\nBcc: secret@asmtp\r\nTo: bob@asmtp\r\n\r\nbody\r\n')
const source = { direction: 'in' as const, alias: 'alice', contact: 'ef'.repeat(32), id: '01'.repeat(16), time: Date.UTC(2025, 0, 2, 3, 4, 5), contentType: 'message/rfc822' }

test('a submitted mail is kept as it was under the trace headers: From is the proven sender, Bcc is dropped', async () => {
  const out = await renderMail({ ...source, body: MAIL }, { self: 'bob' })
  const text = out.toString('latin1')
  assert.ok(text.endsWith('\r\n\r\nbody\r\n'), 'the body as it was')
  const h = readHeaders(out)
  assert.equal(h.get('from'), 'alice@asmtp')
  assert.equal(h.get('message-id'), `<${'01'.repeat(16)}@asmtp>`)
  assert.equal(h.get('date'), 'Thu, 02 Jan 2025 03:04:05 +0000')
  assert.equal(h.get('subject'), 'Hi there')
  assert.equal(h.get('bcc'), undefined)
  assert.equal((text.match(/^From:/gm) ?? []).length, 1)
  assert.equal((await parseMail(out)).subject, 'Hi there')
})

test('texts and files are composed as MIME; files become attachments', async () => {
  const t = await parseMail(await renderMail({ ...source, contentType: 'text/plain; charset=utf-8', text: 'first line\nsecond' }, { self: 'bob' }))
  assert.equal(t.subject, 'first line')
  assert.match(t.text ?? '', /second/)
  const data = new Uint8Array([0, 1, 2, 250, 255])
  const f = await parseMail(await renderMail({ ...source, contentType: 'application/x-asmtp-file', file: { name: 'a.bin', data } }, { self: 'bob' }))
  assert.deepEqual(new Uint8Array(f.attachments[0]?.content ?? []), data)
})

test('mail headers: truncated, oversized and random input is DECODE_INVALID or read, never a crash', async () => {
  for (let cut = 0; cut < MAIL.length; cut += 7) {
    try {
      readHeaders(MAIL.subarray(0, cut))
    } catch (e) {
      assert.ok(isAsmtpError(e, 'DECODE_INVALID'))
    }
  }
  assert.throws(() => readHeaders(Buffer.alloc(300 * 1024, 0x41)), (e: unknown) => isAsmtpError(e, 'DECODE_INVALID'))
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
    try {
      readHeaders(bytes)
      await renderMail({ ...source, body: bytes }, { self: 'bob' })
    } catch (e) {
      assert.ok(isAsmtpError(e, 'DECODE_INVALID'), String(e))
    }
  }), { numRuns: 500 })
})

test('Maildir names are unique and carry the size', () => {
  const names = new Set(Array.from({ length: 1000 }, () => uniqueName(123, 1_700_000_000_000)))
  assert.equal(names.size, 1000)
  for (const n of names) assert.match(n, /^1700000000\.M\d+P\d+Q\d+R[0-9a-f]{8}\.[^/:]+,S=123$/)
})
