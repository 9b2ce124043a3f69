/**
 * asmtp: the package root. `cli/` imports only from here.
 */
export { AsmtpError, isAsmtpError, type AsmtpErrorCode } from './errors.js'
export * from './bytes.js'
export * from './crypto/index.js'
export * from './topic/index.js'
export * from './passport/index.js'
export * from './store/index.js'
export * from './envelope/index.js'
export * from './frame/index.js'
export * from './config/index.js'
export * from './node/index.js'
export * from './channel/index.js'
export * from './client/index.js'
export * from './bridge/index.js'
