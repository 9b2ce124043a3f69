/** Passports: signed append-only chains of device keys and the sealed shared key (docs/PROTOCOL.md section 1). */
export * from './time.js'
export * from './entries.js'
export * from './seal.js'
export * from './block.js'
export * from './ledger.js'
export * from './export.js'
export * from './passport.js'
