/** Two users' shared keys, their pairwise topic, and real sealed envelopes between them. */
import { randomBytes } from 'node:crypto'
import { generateX25519, type X25519KeyPair } from '../../src/crypto/index.js'
import { deriveTopic, type TopicKeys } from '../../src/topic/index.js'
import { sealFrame } from '../../src/frame/index.js'

export interface Pair { alice: X25519KeyPair, bob: X25519KeyPair, topic: TopicKeys }

export function makePair (): Pair {
  const alice = generateX25519()
  const bob = generateX25519()
  return { alice, bob, topic: deriveTopic(alice.secretKey, bob.publicKey) }
}

/** An unstamped frame from alice to bob with a random text body (distinct bytes every call). */
export function aliceToBob (pair: Pair, text = `hello ${randomBytes(8).toString('hex')}`): Uint8Array {
  return sealFrame({ sender: pair.alice, recipientPublic: pair.bob.publicKey, topic: pair.topic, contentType: 'text/plain', body: new TextEncoder().encode(text) })
}
