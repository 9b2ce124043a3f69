/**
 * Private networks (DESIGN.md "Modes from the dead-drop family"): the network key of
 * `network.private_key` / `network.passphrase` as the pre-shared key of @libp2p/pnet. Every
 * libp2p connection is then wrapped, before noise, in XSalsa20 under that key with a nonce
 * from each side: a node without the key (or with another) cannot complete a connection to a
 * node with it, in either direction, and sees nothing but random bytes.
 */
import { randomBytes } from 'node:crypto'
import { preSharedKey } from '@libp2p/pnet'
import { NETWORK_KEY_BYTES, PNET_KEY_HEADER } from '../config/index.js'
import { toHex } from '../bytes.js'

/** How long the nonce exchange of a protected connection may take. */
export const PNET_HANDSHAKE_TIMEOUT_MS = 5_000

/** The pnet key-file text of a network key (the format @libp2p/pnet's generateKey writes). */
export function pnetKeyFile (key: Uint8Array): Uint8Array {
  if (key.length !== NETWORK_KEY_BYTES) throw new RangeError(`a network key is ${NETWORK_KEY_BYTES} bytes, got ${key.length}`)
  return new TextEncoder().encode(PNET_KEY_HEADER + toHex(key))
}

/** libp2p's connectionProtector for a private network. */
export function networkProtector (key: Uint8Array): ReturnType<typeof preSharedKey> {
  return preSharedKey({ psk: pnetKeyFile(key), timeout: PNET_HANDSHAKE_TIMEOUT_MS })
}

/** A new random network key (what `asmtpd-cli new-network` prints). */
export function generateNetworkKey (): Uint8Array {
  return new Uint8Array(randomBytes(NETWORK_KEY_BYTES))
}
