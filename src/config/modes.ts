/**
 * The config fields of the dead-drop modes (DESIGN.md "Modes from the dead-drop family"):
 * a private network's key (`network.private_key`, or `network.passphrase` turned into one),
 * LAN discovery (`network.mdns`), RAM-only storage and the cap on stored frames
 * (`storage.memory`, `storage.max_messages`), and the operator's endpoint (`metrics.listen`).
 */
import { scryptSync } from 'node:crypto'
import { fromHex } from '../bytes.js'
import { configInvalid, describeType, expectBoolean, expectHostPort, expectInteger, expectString, fieldOf, isUnset } from './fields.js'
import { CONFIG_BOUNDS, CONFIG_DEFAULTS, type HostPort } from './schema.js'

/** Bytes of a private network key (the pre-shared key of @libp2p/pnet). */
export const NETWORK_KEY_BYTES = 32
/**
 * The passphrase KDF: scrypt with a fixed salt that names this use, so the same passphrase
 * gives the same key on every node (that is the point) and no other key of the project.
 */
export const PASSPHRASE_SALT = 'asmtp/pnet/v1'
export const PASSPHRASE_SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const
/** The header of the key files @libp2p/pnet's generateKey writes. */
export const PNET_KEY_HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'
/** A passphrase shorter than this is refused: anybody who guesses it joins the network. */
export const MIN_PASSPHRASE_CHARS = 12

/** The network key of a passphrase: scrypt(passphrase, "asmtp/pnet/v1", N = 2^15, r = 8, p = 1, 32 bytes). */
export function networkKeyFromPassphrase (passphrase: string): Uint8Array {
  return new Uint8Array(scryptSync(passphrase.normalize('NFC'), PASSPHRASE_SALT, NETWORK_KEY_BYTES, PASSPHRASE_SCRYPT))
}

/** `network.private_key` (64 hex digits) or `network.passphrase`, at most one of them; null when neither. */
export function parseNetworkKey (network: Record<string, unknown>): Uint8Array | null {
  const keyValue = fieldOf(network, 'private_key')
  const passValue = fieldOf(network, 'passphrase')
  if (!isUnset(keyValue) && !isUnset(passValue)) {
    throw configInvalid('network.passphrase', 'set either network.private_key or network.passphrase, not both')
  }
  if (!isUnset(keyValue)) {
    const text = expectString(keyValue, 'network.private_key', 'a private network key: 64 hex digits, as printed by asmtpd-cli new-network (quoted)')
    // the swarm.key format of @libp2p/pnet's generateKey is accepted too: its last line is the key
    const hex = text.trim().startsWith(PNET_KEY_HEADER) ? text.trim().slice(PNET_KEY_HEADER.length) : text
    try {
      return fromHex(hex.trim(), NETWORK_KEY_BYTES, 'the key')
    } catch (err) {
      throw configInvalid('network.private_key', `not a private network key (64 hex digits, as printed by asmtpd-cli new-network): ${(err as Error).message}`, err)
    }
  }
  if (!isUnset(passValue)) {
    if (typeof passValue !== 'string') throw configInvalid('network.passphrase', `must be a string (quoted); got ${describeType(passValue)}`)
    if ([...passValue].length < MIN_PASSPHRASE_CHARS) {
      throw configInvalid('network.passphrase', `must be at least ${MIN_PASSPHRASE_CHARS} characters: whoever guesses it joins the network`)
    }
    return networkKeyFromPassphrase(passValue)
  }
  return null
}

export function parseMdns (network: Record<string, unknown>): boolean {
  const value = fieldOf(network, 'mdns')
  return isUnset(value) ? CONFIG_DEFAULTS.mdns : expectBoolean(value, 'network.mdns')
}

export function parseStorageModes (storage: Record<string, unknown>): { memory: boolean, maxMessages: number } {
  const memory = fieldOf(storage, 'memory')
  const max = fieldOf(storage, 'max_messages')
  return {
    memory: isUnset(memory) ? CONFIG_DEFAULTS.memory : expectBoolean(memory, 'storage.memory'),
    maxMessages: isUnset(max) ? CONFIG_DEFAULTS.maxMessages : expectInteger(max, 'storage.max_messages', CONFIG_BOUNDS.maxMessages)
  }
}

/** `metrics.listen`: host:port, or empty for off. */
export function parseMetricsListen (metrics: Record<string, unknown>): HostPort | null {
  const value = fieldOf(metrics, 'listen')
  return isUnset(value) || value === false ? null : expectHostPort(value, 'metrics.listen')
}
