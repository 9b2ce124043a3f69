/** Crypto primitives: the leaf of the dependency graph (STYLE.md). */
export * from './ed25519.js'
export * from './x25519.js'
export * from './hash.js'
export * from './aead.js'
export * from './key-file.js'
