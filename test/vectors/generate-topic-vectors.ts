/**
 * Generates test/vectors/topic.json with @noble (pure JS), an implementation independent of the
 * node:crypto code under test. Run: node dist/test/vectors/generate-topic-vectors.js > test/vectors/topic.json
 */
import { x25519 } from '@noble/curves/ed25519.js'
import { pbkdf2 } from '@noble/hashes/pbkdf2.js'
import { sha512 } from '@noble/hashes/sha2.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

function derive (secret: Uint8Array, theirs: Uint8Array): { topic: string, key: string } {
  const mine = x25519.getPublicKey(secret)
  const [lo, hi] = Buffer.compare(mine, theirs) <= 0 ? [mine, theirs] : [theirs, mine]
  const salt = new Uint8Array([...new TextEncoder().encode('asmtp/topic/v1'), ...lo, ...hi])
  const out = pbkdf2(sha512, x25519.getSharedSecret(secret, theirs), salt, { c: 10240, dkLen: 64 })
  return { topic: hex(out.slice(0, 32)), key: hex(out.slice(32)) }
}

const pairs = [
  {
    note: 'RFC 7748 section 6.1 Alice and Bob',
    a: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
    b: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'
  },
  { note: 'fixed keys 0x01.. and 0x02..', a: '01'.repeat(32), b: '02'.repeat(32) },
  { note: 'fixed keys, public keys in the other byte order', a: 'a5'.repeat(32), b: '5a'.repeat(32) }
]

const valid = pairs.map(p => {
  const A = x25519.getPublicKey(unhex(p.a))
  const B = x25519.getPublicKey(unhex(p.b))
  const t = derive(unhex(p.a), B)
  return { note: p.note, aSecret: p.a, aPublic: hex(A), bSecret: p.b, bPublic: hex(B), topic: t.topic, key: t.key }
})

const invalid = [
  { note: 'their public key is all zero (low order, X25519 output is zero)', mySecret: '01'.repeat(32), theirPublic: '00'.repeat(32), code: 'KEY_INVALID' },
  { note: 'their public key is the order-8 point e0eb7a7c...', mySecret: '01'.repeat(32), theirPublic: 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', code: 'KEY_INVALID' },
  { note: 'their public key is 31 bytes', mySecret: '01'.repeat(32), theirPublic: '09'.repeat(31), code: 'KEY_INVALID' },
  { note: 'my secret is 33 bytes', mySecret: '01'.repeat(33), theirPublic: '09'.repeat(32), code: 'KEY_INVALID' }
]

console.log(JSON.stringify({ description: 'Pairwise topic derivation (DESIGN.md); expected values computed with @noble/curves + @noble/hashes', valid, invalid }, null, 2))
