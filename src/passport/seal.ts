/**
 * Sealing the passport's shared secret to one master key, "as in Noise N": one ephemeral X25519
 * DH with the master key converted to X25519, then ChaCha20-Poly1305
 * (docs/PROTOCOL.md section 1, "Seals").
 *
 *   M  = ed25519PublicToX25519(master key)
 *   k  = BLAKE2b-256("asmtp/passport/seal/v1" ‖ X25519(e, M) ‖ e.pub ‖ M)
 *   ct = ChaCha20-Poly1305(k, nonce = 12 zero bytes, ad = shared public key ‖ master key, shared secret)
 */
import { AsmtpError } from '../errors.js'
import { concatBytes, equalBytes } from '../bytes.js'
import {
  blake2b256, chachaOpen, chachaSeal, ed25519PublicToX25519, ed25519SecretToX25519, generateX25519,
  x25519, x25519PublicKey, type Ed25519KeyPair
} from '../crypto/index.js'
import type { Seal } from './entries.js'

const SEAL_DOMAIN = new TextEncoder().encode('asmtp/passport/seal/v1')
const ZERO_NONCE = new Uint8Array(12)

function sealKey (dh: Uint8Array, ephemeral: Uint8Array, masterX25519: Uint8Array): Uint8Array {
  return blake2b256(concatBytes(SEAL_DOMAIN, dh, ephemeral, masterX25519))
}

/** Seals `sharedSecret` (whose public key is `sharedPublicKey`) to an Ed25519 master key. */
export function sealSharedSecret (sharedSecret: Uint8Array, sharedPublicKey: Uint8Array, masterKey: Uint8Array): Seal {
  const m = ed25519PublicToX25519(masterKey)
  const e = generateX25519()
  const k = sealKey(x25519(e.secretKey, m), e.publicKey, m)
  return { masterKey, ephemeral: e.publicKey, ciphertext: chachaSeal(k, ZERO_NONCE, sharedSecret, concatBytes(sharedPublicKey, masterKey)) }
}

/**
 * Opens a seal with the device's Ed25519 key and checks that the secret belongs to
 * `sharedPublicKey`. Throws AsmtpError PASSPORT_BAD_ENTRY when the seal does not open to it.
 */
export function openSeal (seal: Seal, sharedPublicKey: Uint8Array, device: Ed25519KeyPair): Uint8Array {
  if (!equalBytes(seal.masterKey, device.publicKey)) throw new RangeError('this seal belongs to another master key')
  const secret = ed25519SecretToX25519(device.secretKey)
  const m = x25519PublicKey(secret)
  let plain: Uint8Array | null = null
  try {
    plain = chachaOpen(sealKey(x25519(secret, seal.ephemeral), seal.ephemeral, m), ZERO_NONCE, seal.ciphertext, concatBytes(sharedPublicKey, seal.masterKey))
  } catch (err) {
    if (!(err instanceof AsmtpError)) throw err
  }
  if (plain === null || plain.length !== 32 || !equalBytes(x25519PublicKey(plain), sharedPublicKey)) {
    throw new AsmtpError('PASSPORT_BAD_ENTRY', 'the shared key seal of this device does not open to the passport\'s shared key')
  }
  return plain
}
