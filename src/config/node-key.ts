/**
 * Loading the node key named by the config's `secret`: the key file (0600, optionally encrypted)
 * read into an Ed25519KeyPair. The password comes from the caller (the CLIs read it from
 * ASMTPD_KEY_PASSWORD), never from the config file.
 */
import { Ed25519KeyPair, readKeyFile } from '../crypto/index.js'

/** Environment variable the CLIs read the key file password from. */
export const KEY_PASSWORD_ENV = 'ASMTPD_KEY_PASSWORD'

/** Throws AsmtpError KEY_FILE_INVALID, KEY_FILE_PERMISSIONS or KEY_FILE_PASSWORD naming the file. */
export async function loadNodeKey (secretPath: string, password?: string): Promise<Ed25519KeyPair> {
  return Ed25519KeyPair.fromSecretKey(await readKeyFile(secretPath, 'ed25519', password))
}
