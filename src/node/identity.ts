/**
 * A node's identity: the Ed25519 node key as hex public id (what clients pin with --remote-id),
 * as libp2p private key and PeerId, and as the X25519 static of the client channel.
 */
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { concatBytes, toHex } from '../bytes.js'
import { ed25519SecretToX25519, x25519KeyPairFromSecret, type Ed25519KeyPair, type X25519KeyPair } from '../crypto/index.js'

export interface NodeIdentity {
  publicId: string
  peerId: PeerId
  privateKey: PrivateKey
  noiseStatic: X25519KeyPair
}

export function nodeIdentity (nodeKey: Ed25519KeyPair): NodeIdentity {
  const privateKey = privateKeyFromRaw(concatBytes(nodeKey.secretKey, nodeKey.publicKey))
  return {
    publicId: toHex(nodeKey.publicKey),
    peerId: peerIdFromPrivateKey(privateKey),
    privateKey,
    noiseStatic: x25519KeyPairFromSecret(ed25519SecretToX25519(nodeKey.secretKey))
  }
}
