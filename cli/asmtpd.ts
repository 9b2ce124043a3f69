#!/usr/bin/env node
/**
 * asmtpd: the mail node. Loads config.yaml and the node key, starts the node, prints its
 * identity and addresses and then `ready`, and runs until SIGINT/SIGTERM, when it stops the node
 * cleanly and exits 0 (a second signal exits at once with 130). SIGHUP re-reads the config
 * file and applies its `users` without a restart (other changed fields need one, it says so).
 * `--key-stdin` reads the node key file's text from stdin instead of `secret` (RAM-only nodes
 * that keep no key on disk); in RAM-only mode without `secret` the node makes a new key.
 */
import '../src/polyfill.js'
import { Command, Option } from 'commander'
import { KEY_PASSWORD_ENV, LOG_LEVELS, loadConfig, loadNodeKey, type LogLevel, type NodeConfig } from '../src/config/index.js'
import { Ed25519KeyPair, decodeKeyFile } from '../src/crypto/index.js'
import {
  EXIT_INTERRUPTED, EXIT_OK, applyLogLevel, configureCommand, createOutput, run, type CliOutput
} from './output.js'

/** How long a clean shutdown may take before asmtpd gives up and exits 1. */
const STOP_TIMEOUT_MS = 30_000

const output = createOutput('asmtpd', { hints: { KEY_FILE_PASSWORD: `the password comes from ${KEY_PASSWORD_ENV}` } })

interface Options { config: string, logLevel?: LogLevel, keyStdin?: boolean }

/** Largest key file text read from stdin. */
const MAX_KEY_STDIN_BYTES = 64 * 1024

async function readStdin (): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) {
    text += String(chunk)
    if (text.length > MAX_KEY_STDIN_BYTES) throw new Error(`--key-stdin: more than ${MAX_KEY_STDIN_BYTES} bytes on stdin`)
  }
  return text
}

/** The node key: from stdin (--key-stdin), from the `secret` file, or new (RAM only without `secret`). */
async function nodeKeyFor (config: NodeConfig, opts: Options, out: CliOutput): Promise<Ed25519KeyPair> {
  const password = process.env[KEY_PASSWORD_ENV]
  const pw = password === '' ? undefined : password
  if (opts.keyStdin === true) return Ed25519KeyPair.fromSecretKey(decodeKeyFile(await readStdin(), 'ed25519', pw, 'the key file on stdin'))
  if (config.secret !== null) return await loadNodeKey(config.secret, pw)
  out.info('RAM only without secret: a new node key for this run (a new public id at every start)')
  return Ed25519KeyPair.generate()
}

/** SIGHUP: re-reads the config and applies `users`; a bad config changes nothing. */
function reloadOnHangup (configPath: string, apply: (users: string[]) => { added: number, removed: number }, out: CliOutput): () => void {
  let reloading = false
  const onHangup = (): void => {
    if (reloading) return
    reloading = true
    loadConfig(configPath)
      .then((config) => {
        const r = apply(config.users)
        out.print(`reloaded users: ${config.users.length} devices (${r.added} added, ${r.removed} removed)`)
      })
      .catch((err: Error) => { out.error(`SIGHUP: the config was not reloaded, nothing changed: ${err.message}`) })
      .finally(() => { reloading = false })
  }
  process.on('SIGHUP', onHangup)
  return () => { process.off('SIGHUP', onHangup) }
}

function waitForSignal (out: CliOutput): { signalled: Promise<NodeJS.Signals>, dispose: () => void } {
  let resolveSignal: (signal: NodeJS.Signals) => void = () => {}
  const signalled = new Promise<NodeJS.Signals>(resolve => { resolveSignal = resolve })
  let received = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (received) {
      out.error(`${signal} again: exiting without a clean shutdown`)
      process.exit(EXIT_INTERRUPTED)
    }
    received = true
    out.info(`${signal}: stopping (send it again to exit at once)`)
    resolveSignal(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signalled,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }
}

async function stopWithin (stop: () => Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`the node did not stop within ${ms / 1000} s`)) }, ms)
  })
  try {
    await Promise.race([stop(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function main (opts: Options): Promise<number> {
  // Signals are handled from here on, so one that arrives while starting still stops cleanly.
  const signals = waitForSignal(output)
  // SIGHUP would end the process by default: until the node is up there is nothing to reload
  const hangupWhileStarting = (): void => { output.info('SIGHUP while starting: nothing to reload yet') }
  process.on('SIGHUP', hangupWhileStarting)
  const config = await loadConfig(opts.config)
  output.level = opts.logLevel ?? config.log.level
  applyLogLevel(output.level)
  const nodeKey = await nodeKeyFor(config, opts, output)

  // libp2p is loaded only once the config and key are known good, so a bad config fails fast.
  const { createAsmtpNode } = await import('../src/node/index.js')
  const node = await createAsmtpNode({ config, nodeKey })
  const stopNode = async (): Promise<void> => { await stopWithin(async () => { await node.stop() }, STOP_TIMEOUT_MS) }
  const started = node.start()
  let first: NodeJS.Signals | null
  try {
    first = await Promise.race([started.then(() => null), signals.signalled])
  } catch (err) {
    await stopNode().catch(() => {})
    throw err
  }
  if (first !== null) {
    await started.catch(() => {})
  } else {
    output.print(`asmtpd public id: ${node.publicId}`)
    output.print(`peer id: ${node.peerId}`)
    for (const addr of node.getMultiaddrs()) output.print(`listening: ${addr}`)
    if (node.clientAddress !== null) output.print(`client channel: ${node.clientAddress}`)
    if (node.operator.address !== null) output.print(`metrics: http://${node.operator.address}/metrics`)
    if (config.storage.memory) output.print('storage: RAM only (a restart forgets everything)')
    const stopReload = reloadOnHangup(opts.config, (users) => node.setUsers(users), output)
    process.off('SIGHUP', hangupWhileStarting)
    output.print(config.network.relay ? `relay: every bucket of ${2 ** config.network.bucketBits}` : `buckets: ${config.network.bucketBits} bits`)
    node.host.addEventListener('peer:connect', (evt) => { output.info(`peer connected: ${evt.detail.toString()}`) })
    node.host.addEventListener('peer:disconnect', (evt) => { output.info(`peer disconnected: ${evt.detail.toString()}`) })
    output.print('ready')
    await signals.signalled
    stopReload()
  }
  await stopNode()
  output.info('stopped')
  process.off('SIGHUP', hangupWhileStarting)
  signals.dispose()
  return EXIT_OK
}

const program = configureCommand(new Command('asmtpd'), output)
  .description('asmtp mail node: runs until SIGINT or SIGTERM')
  .requiredOption('-c, --config <file>', 'path of config.yaml (asmtpd-cli default-config prints one)')
  .addOption(new Option('--log-level <level>', 'what to print on stderr; overrides log.level of the config').choices(LOG_LEVELS))
  .option('--key-stdin', 'read the node key file from stdin instead of the config\'s secret (nothing on disk)')

let exitCode: number = EXIT_OK
program.action(async (opts: Options) => { exitCode = await main(opts) })

const parseCode = await run(output, async () => { await program.parseAsync(process.argv) })
process.exit(parseCode === EXIT_OK ? exitCode : parseCode)
