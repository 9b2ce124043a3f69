#!/usr/bin/env node
/**
 * asmtpd: the mail node. Loads config.yaml and the node key, starts the node, prints its
 * identity and addresses and then `ready`, and runs until SIGINT/SIGTERM, when it stops the node
 * cleanly and exits 0 (a second signal exits at once with 130).
 */
import '../src/polyfill.js'
import { Command, Option } from 'commander'
import { KEY_PASSWORD_ENV, LOG_LEVELS, loadConfig, loadNodeKey, type LogLevel } from '../src/config/index.js'
import {
  EXIT_INTERRUPTED, EXIT_OK, applyLogLevel, configureCommand, createOutput, run, type CliOutput
} from './output.js'

/** How long a clean shutdown may take before asmtpd gives up and exits 1. */
const STOP_TIMEOUT_MS = 30_000

const output = createOutput('asmtpd', { hints: { KEY_FILE_PASSWORD: `the password comes from ${KEY_PASSWORD_ENV}` } })

interface Options { config: string, logLevel?: LogLevel }

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
  const config = await loadConfig(opts.config)
  output.level = opts.logLevel ?? config.log.level
  applyLogLevel(output.level)
  const password = process.env[KEY_PASSWORD_ENV]
  const nodeKey = await loadNodeKey(config.secret, password === '' ? undefined : password)

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
    output.print(config.network.relay ? `relay: every bucket of ${2 ** config.network.bucketBits}` : `buckets: ${config.network.bucketBits} bits`)
    node.host.addEventListener('peer:connect', (evt) => { output.info(`peer connected: ${evt.detail.toString()}`) })
    node.host.addEventListener('peer:disconnect', (evt) => { output.info(`peer disconnected: ${evt.detail.toString()}`) })
    output.print('ready')
    await signals.signalled
  }
  await stopNode()
  output.info('stopped')
  signals.dispose()
  return EXIT_OK
}

const program = configureCommand(new Command('asmtpd'), output)
  .description('asmtp mail node: runs until SIGINT or SIGTERM')
  .requiredOption('-c, --config <file>', 'path of config.yaml (asmtpd-cli default-config prints one)')
  .addOption(new Option('--log-level <level>', 'what to print on stderr; overrides log.level of the config').choices(LOG_LEVELS))

let exitCode: number = EXIT_OK
program.action(async (opts: Options) => { exitCode = await main(opts) })

const parseCode = await run(output, async () => { await program.parseAsync(process.argv) })
process.exit(parseCode === EXIT_OK ? exitCode : parseCode)
