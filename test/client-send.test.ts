import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AsmtpError, CONFIG_DEFAULTS } from '../src/index.js'
import { checkContent, NETWORK_MAX_FILE_BYTES } from '../src/client/send.js'

test('a file over the network\'s max_file_bytes is refused before anything is sealed, with an error naming the limit', () => {
  assert.equal(NETWORK_MAX_FILE_BYTES, CONFIG_DEFAULTS.maxFileBytes)
  assert.doesNotThrow(() => { checkContent({ file: { name: 'ok.bin', data: new Uint8Array(NETWORK_MAX_FILE_BYTES) } }) })
  assert.throws(() => { checkContent({ file: { name: 'big.bin', data: new Uint8Array(NETWORK_MAX_FILE_BYTES + 1) } }) }, (err: unknown) => {
    assert.ok(err instanceof AsmtpError)
    assert.equal(err.code, 'FILE_TOO_LARGE')
    assert.match(err.message, /network\.max_file_bytes/)
    assert.match(err.message, new RegExp(String(NETWORK_MAX_FILE_BYTES)))
    return true
  })
})
