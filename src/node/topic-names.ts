/**
 * How a pairwise topic id appears on the network: the gossipsub topic string and the DHT
 * provider key (a CIDv1, raw codec, sha256 of the topic id) under which the two nodes of a
 * pair find each other.
 */
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from '../crypto/hash.js'
import { fromHex, toHex } from '../bytes.js'
import { AsmtpError } from '../errors.js'

export const GOSSIP_TOPIC_PREFIX = 'asmtp/1/'
const SHA256_CODE = 0x12

export function gossipTopic (topic: Uint8Array): string {
  return GOSSIP_TOPIC_PREFIX + toHex(topic)
}

/** Parses a gossipsub topic string; undefined when it is not an asmtp topic. */
export function parseGossipTopic (name: string): Uint8Array | undefined {
  if (!name.startsWith(GOSSIP_TOPIC_PREFIX) || name.length !== GOSSIP_TOPIC_PREFIX.length + 64) return undefined
  try {
    return fromHex(name.slice(GOSSIP_TOPIC_PREFIX.length), 32)
  } catch {
    return undefined
  }
}

export function topicCid (topic: Uint8Array): CID {
  if (topic.length !== 32) throw new AsmtpError('DECODE_INVALID', `topic id must be 32 bytes, got ${topic.length}`)
  return CID.createV1(raw.code, createDigest(SHA256_CODE, sha256(topic)))
}
