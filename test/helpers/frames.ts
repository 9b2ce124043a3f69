/** Frames between the two users of a test pair, and raw stamping for tests that forge frames. */
import { randomBytes } from 'node:crypto'
import { sealFrame, searchStamp, type TtlClass } from '../../src/frame/index.js'
import type { AsmtpNode } from '../../src/node/index.js'
import type { X25519KeyPair } from '../../src/crypto/index.js'
import type { Pair } from './pair.js'

export interface FrameInit {
  text?: string
  ttlClass?: TtlClass
  /** ms since the epoch the frame is sealed at @default now */
  time?: number
}

/** An unstamped frame between the pair's two users, as a device hands it to its node (distinct bytes every call). */
function frameFrom (sender: X25519KeyPair, recipient: X25519KeyPair, pair: Pair, init: FrameInit): Uint8Array {
  return sealFrame({
    sender,
    recipientPublic: recipient.publicKey,
    topic: pair.topic,
    contentType: 'text/plain',
    body: new TextEncoder().encode(init.text ?? `hello ${randomBytes(8).toString('hex')}`),
    ...(init.ttlClass === undefined ? {} : { ttlClass: init.ttlClass }),
    ...(init.time === undefined ? {} : { time: init.time })
  })
}

export function frameToBob (pair: Pair, init: FrameInit = {}): Uint8Array {
  return frameFrom(pair.alice, pair.bob, pair, init)
}

export function frameToAlice (pair: Pair, init: FrameInit = {}): Uint8Array {
  return frameFrom(pair.bob, pair.alice, pair, init)
}

/** Stamps `frame` for `bucket` with the node's network parameters, in this thread. */
export function stampFor (node: AsmtpNode, frame: Uint8Array, bucket: number): Uint8Array {
  const { bucketBits, stampBits } = node.config.network
  const stamped = searchStamp(frame, { bucketBits, bucket, stampBits }, { startNonce: 0n, maxTries: 1 << 24 })
  if (stamped === undefined) throw new Error('no stamp found')
  return stamped
}
