// Types for noise-handshake 4.2 (CommonJS, ships none; @types/noise-handshake describes v3).
declare module 'noise-handshake' {
  interface KeyPair {
    publicKey: Uint8Array
    secretKey: Uint8Array
  }

  interface NoiseStateOptions {
    psk?: Uint8Array
    curve?: unknown
  }

  /** Noise handshake state: patterns NN, NNpsk0, XX, XXpsk0, IK, XK; suite 25519_ChaChaPoly_BLAKE2b. */
  class NoiseState {
    constructor (pattern: 'NN' | 'NNpsk0' | 'XX' | 'XXpsk0' | 'IK' | 'XK', initiator: boolean, staticKeypair?: KeyPair | null, opts?: NoiseStateOptions)
    /** Protocol name hashed by initialise(); replaceable before it. */
    protocol: Uint8Array
    initiator: boolean
    complete: boolean
    s: KeyPair
    /** Ephemeral key pair; null until the `e` token unless set beforehand. */
    e: KeyPair | null
    rs: Uint8Array | null
    re: Uint8Array | null
    /** After completion: the sending and receiving keys and the handshake hash. */
    tx: Uint8Array | null
    rx: Uint8Array | null
    hash: Uint8Array | null
    digest: Uint8Array
    initialise (prologue: Uint8Array, remoteStatic?: Uint8Array): void
    send (payload?: Uint8Array): Uint8Array
    recv (message: Uint8Array): Uint8Array
  }

  export = NoiseState
}

declare module 'noise-handshake/cipher.js' {
  class CipherState {
    constructor (key?: Uint8Array)
    key: Uint8Array | null
    nonce: number
    initialiseKey (key: Uint8Array): void
    setNonce (nonce: number): void
    encrypt (plaintext: Uint8Array, ad?: Uint8Array): Uint8Array
    decrypt (ciphertext: Uint8Array, ad?: Uint8Array): Uint8Array
    readonly hasKey: boolean
    static readonly MACBYTES: number
    static readonly NONCEBYTES: number
    static readonly KEYBYTES: number
  }

  export = CipherState
}

declare module 'noise-handshake/dh.js' {
  interface KeyPair {
    publicKey: Uint8Array
    secretKey: Uint8Array
  }
  export const DHLEN: number
  export const PKLEN: number
  export const SKLEN: number
  export const ALG: string
  export function generateKeyPair (privKey?: Uint8Array): KeyPair
  export function generateSeedKeyPair (seed: Uint8Array): KeyPair
  export function dh (publicKey: Uint8Array, keyPair: { secretKey: Uint8Array }): Uint8Array
}
