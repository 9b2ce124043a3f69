/**
 * The digest of one hour of a bucket, as SUMMARY carries it: SHA-256 of the hour's 32-byte frame
 * hashes sorted ascending and concatenated (docs/PROTOCOL.md 4.3). Two nodes holding the same
 * frames of an hour have the same digest, whatever the order in which the frames arrived.
 */
import { compareBytes, concatBytes } from '../../bytes.js'
import { sha256 } from '../../crypto/hash.js'

export function hourDigest (hashes: Uint8Array[]): Uint8Array {
  return sha256(concatBytes(...[...hashes].sort(compareBytes)))
}
