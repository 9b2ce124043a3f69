#!/usr/bin/env node
/**
 * npm start: runs a mail node on the embedded defaults. On first run it writes the default
 * configuration (config.yaml.example's content) and a new node key (0600) under ./.asmtpd/ and
 * says so; then it runs asmtpd on that configuration until Ctrl-C.
 */
import '../src/polyfill.js'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { join, relative, resolve } from 'node:path'
import { DEFAULT_CONFIG_YAML, Ed25519KeyPair, nodeIdentity, writeKeyFile } from '../src/index.js'

const STATE_DIR = resolve(process.env.ASMTPD_HOME ?? '.asmtpd')
const CONFIG = join(STATE_DIR, 'config.yaml')
const KEY = join(STATE_DIR, 'node.key')
const show = (p: string): string => relative(process.cwd(), p) || '.'

await mkdir(STATE_DIR, { recursive: true, mode: 0o700 })
if (!existsSync(CONFIG)) {
  await writeFile(CONFIG, DEFAULT_CONFIG_YAML, { mode: 0o600 })
  console.log(`asmtp: first run: wrote the default configuration to ${show(CONFIG)}`)
}
if (!existsSync(KEY)) {
  const key = Ed25519KeyPair.generate()
  await writeKeyFile(KEY, 'ed25519', key.secretKey)
  console.log(`asmtp: first run: created a new node key in ${show(KEY)} (mode 0600; keep it secret, back it up)`)
  console.log(`asmtp: this node's public id is ${nodeIdentity(key).publicId}`)
}
console.log(`asmtp: starting asmtpd --config ${show(CONFIG)} (Ctrl-C stops it cleanly)`)
console.log('asmtp: next, in another terminal:')
console.log(`  node dist/cli/asmtpd-cli.js public-id --config ${show(CONFIG)}   # the id your devices pin`)
console.log(`  edit ${show(CONFIG)}: add your device keys to users, other nodes to network.bootstrap`)
console.log('  node dist/cli/asmtp-cli.js init --alias <you>                # your device key and passport (README: two people, two machines)')
console.log('  npm run demo                                              # two users and three nodes on this machine')
console.log('  npm test                                                  # the test suite')

const asmtpd = fileURLToPath(new URL('./asmtpd.js', import.meta.url))
// its own process group: a terminal's Ctrl-C reaches this process only, which passes it on once
const child = spawn(process.execPath, [asmtpd, '--config', CONFIG], { stdio: 'inherit', detached: true })
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => { child.kill(signal) })
}
process.on('exit', () => { if (child.exitCode === null) child.kill('SIGKILL') })
child.on('exit', (code, signal) => { process.exit(code ?? (signal !== null ? 130 : 1)) })
