/** Shared by the test files: reading test/vectors/*.json, the AsmtpError code predicate, and the published Noise vector shape. */
import { readFileSync } from 'node:fs'
import { AsmtpError } from '../../src/errors.js'

/** Parses test/vectors/<name> (tests run compiled, from dist/test/). */
export function readVectors<T> (name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../test/vectors/${name}`, import.meta.url), 'utf8')) as T
}

/** For assert.throws / assert.rejects: an AsmtpError with this code. */
export const isCode = (code: string) => (e: unknown): boolean => e instanceof AsmtpError && e.code === code

/** A cacophony/snow Noise test vector (test/vectors/noise-x.json, noise-ik.json). */
export interface NoiseVector {
  source: string
  protocol_name: string
  init_prologue: string
  init_static: string
  init_ephemeral: string
  init_remote_static: string
  resp_prologue: string
  resp_static: string
  resp_ephemeral?: string
  handshake_hash?: string
  messages: Array<{ payload: string, ciphertext: string }>
}
