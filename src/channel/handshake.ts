/**
 * The Noise IK handshake of the client channel (docs/PROTOCOL.md section 5 "Handshake") on
 * noise-handshake: `Noise_IK_25519_ChaChaPoly_BLAKE2b`, prologue `asmtp/client/1`.
 *   -> e, es, s, ss   payload: the version the client speaks (0x01)
 *   <- e, ee, se      payload: the version the node chose (0x01), or 0x00 "device not in users"
 * The device is the initiator with its Ed25519 key converted to X25519; it pins the node's
 * X25519 static, converted from the node's public id. noise-handshake's failures (plain Errors)
 * become AsmtpError HANDSHAKE_FAILED here.
 */
import NoiseState from 'noise-handshake'
import { ed25519PublicToX25519, ed25519SecretToX25519, x25519KeyPairFromSecret, type X25519KeyPair } from '../crypto/x25519.js'
import type { Ed25519KeyPair } from '../crypto/ed25519.js'
import { AsmtpError } from '../errors.js'
import { CHANNEL_PROLOGUE, CHANNEL_PROTOCOL_NAME } from './limits.js'

export interface TransportKeys {
  /** Key of the sending direction (initiator tx = responder rx). */
  tx: Uint8Array
  rx: Uint8Array
  /** Noise handshake hash h (64 bytes, BLAKE2b). */
  hash: Uint8Array
}

export interface IkOptions {
  prologue?: Uint8Array
  /** Fixed ephemeral key pair: only for test vectors. */
  ephemeral?: X25519KeyPair
}

/** The channel's Noise static key for an Ed25519 key pair (device or node key). */
export function channelStaticKey (key: Ed25519KeyPair): X25519KeyPair {
  return x25519KeyPairFromSecret(ed25519SecretToX25519(key.secretKey))
}

/** The node's Noise static public key from its public id (hex or bytes of its Ed25519 key). */
export function nodeStaticFromId (publicId: Uint8Array): Uint8Array {
  return ed25519PublicToX25519(publicId)
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b)

function failed (message: string, err: unknown): AsmtpError {
  return new AsmtpError('HANDSHAKE_FAILED', `${message}: ${(err as Error).message}`, { cause: err })
}

function newState (initiator: boolean, local: X25519KeyPair, options: IkOptions): NoiseState {
  const state = new NoiseState('IK', initiator, { publicKey: buf(local.publicKey), secretKey: buf(local.secretKey) })
  if (new TextDecoder().decode(state.protocol) !== CHANNEL_PROTOCOL_NAME) throw new Error('noise-handshake changed its protocol name')
  if (options.ephemeral !== undefined) state.e = { publicKey: buf(options.ephemeral.publicKey), secretKey: buf(options.ephemeral.secretKey) }
  return state
}

function keysOf (state: NoiseState): TransportKeys {
  if (!state.complete || state.tx === null || state.rx === null || state.hash === null) throw new AsmtpError('HANDSHAKE_FAILED', 'handshake not complete')
  return { tx: new Uint8Array(state.tx), rx: new Uint8Array(state.rx), hash: new Uint8Array(state.hash) }
}

export class IkInitiator {
  private readonly state: NoiseState

  constructor (local: X25519KeyPair, remoteStatic: Uint8Array, options: IkOptions = {}) {
    this.state = newState(true, local, options)
    this.state.initialise(buf(options.prologue ?? CHANNEL_PROLOGUE), buf(remoteStatic))
  }

  writeMessage1 (payload: Uint8Array): Uint8Array {
    try {
      return new Uint8Array(this.state.send(buf(payload)))
    } catch (err) {
      throw failed('cannot write handshake message 1 (is the node id a valid key?)', err)
    }
  }

  /** The responder's payload; throws HANDSHAKE_FAILED when message 2 does not decrypt. */
  readMessage2 (message: Uint8Array): Uint8Array {
    try {
      return new Uint8Array(this.state.recv(buf(message)))
    } catch (err) {
      throw failed('handshake message 2 is invalid', err)
    }
  }

  keys (): TransportKeys {
    return keysOf(this.state)
  }
}

export class IkResponder {
  private readonly state: NoiseState

  constructor (local: X25519KeyPair, options: IkOptions = {}) {
    this.state = newState(false, local, options)
    this.state.initialise(buf(options.prologue ?? CHANNEL_PROLOGUE))
  }

  /** The initiator's payload; throws HANDSHAKE_FAILED when message 1 does not decrypt (wrong pinned key). */
  readMessage1 (message: Uint8Array): Uint8Array {
    try {
      return new Uint8Array(this.state.recv(buf(message)))
    } catch (err) {
      throw failed('handshake message 1 is invalid', err)
    }
  }

  /** The initiator's static X25519 key, known after message 1. */
  get remoteStatic (): Uint8Array {
    if (this.state.rs === null) throw new AsmtpError('HANDSHAKE_FAILED', 'message 1 not read yet')
    return new Uint8Array(this.state.rs)
  }

  writeMessage2 (payload: Uint8Array): Uint8Array {
    try {
      return new Uint8Array(this.state.send(buf(payload)))
    } catch (err) {
      throw failed('cannot write handshake message 2', err)
    }
  }

  keys (): TransportKeys {
    return keysOf(this.state)
  }
}
