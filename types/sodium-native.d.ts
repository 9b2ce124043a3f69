// The part of sodium-native 5 that asmtp uses (it ships no types; @types/sodium-native is for v2).
declare module 'sodium-native' {
  export const crypto_aead_chacha20poly1305_ietf_ABYTES: number
  /** c.length must be m.length + ABYTES; returns the number of bytes written. */
  export function crypto_aead_chacha20poly1305_ietf_encrypt (c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number
  /** m.length must be c.length - ABYTES; throws when authentication fails. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt (m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number
}
