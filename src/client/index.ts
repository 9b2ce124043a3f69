/** Client logic shared by asmtp-cli and other clients: topics per contact, files, passport updates (docs/CLIENT.md). */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8'
export * from './file-chunks.js'
export * from './passport-update.js'
export * from './mailbox.js'
