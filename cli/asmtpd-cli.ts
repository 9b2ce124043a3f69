#!/usr/bin/env node
/**
 * asmtpd-cli: the node operator's tool. Prints the default config, makes a node key, prints
 * a node's public id (what clients pin with --remote-id) and libp2p PeerId, makes a private
 * network's key (new-network), and prints a running node's status (from its metrics.listen).
 */
import '../src/polyfill.js'
import { Command, Option } from 'commander'
import { Ed25519KeyPair, writeKeyFile } from '../src/crypto/index.js'
import { nodeIdentity } from '../src/node/identity.js'
import { DEFAULT_CONFIG_YAML, KEY_PASSWORD_ENV, loadConfig, loadNodeKey } from '../src/config/index.js'
import { configureCommand, createOutput, run, type CliOutput } from './output.js'
import { printNewNetwork, printStatus } from './node-tools.js'

const output = createOutput('asmtpd-cli', { hints: { KEY_FILE_PASSWORD: `the password comes from ${KEY_PASSWORD_ENV}` } })

function printIdentity (out: CliOutput, nodeKey: Ed25519KeyPair, json: boolean): void {
  const identity = nodeIdentity(nodeKey)
  const publicId = identity.publicId
  const peerId = identity.peerId.toString()
  if (json) {
    out.printJson({ publicId, peerId })
  } else {
    out.print(`public id: ${publicId}`)
    out.print(`peer id: ${peerId}`)
  }
}

function passwordOption (): Option {
  return new Option('--password <password>', 'encrypt the key file with this password (visible to other local users in the process list: prefer the environment variable)')
    .env(KEY_PASSWORD_ENV)
}

const program = configureCommand(new Command('asmtpd-cli'), output)
  .description('asmtp mail node tool: default config, node keys, public id')

program.command('default-config')
  .description('print the complete, commented default config.yaml')
  .action(() => {
    output.write(DEFAULT_CONFIG_YAML)
  })

program.command('generate-new-key')
  .description('write a new Ed25519 node key file (mode 0600; never overwrites) and print its public id and PeerId')
  .requiredOption('-o, --output <file>', 'path of the new key file')
  .addOption(passwordOption())
  .option('--json', 'print { "publicId", "peerId" } as JSON')
  .action(async (opts: { output: string, password?: string, json?: boolean }) => {
    const nodeKey = Ed25519KeyPair.generate()
    await writeKeyFile(opts.output, 'ed25519', nodeKey.secretKey, { password: opts.password })
    printIdentity(output, nodeKey, opts.json === true)
  })

program.command('public-id')
  .description(`print the public id and PeerId of a node (the key password, if any, from ${KEY_PASSWORD_ENV})`)
  .addOption(new Option('-c, --config <file>', 'the node\'s config.yaml').conflicts('key'))
  .option('-k, --key <file>', 'a node key file, instead of --config')
  .option('--json', 'print { "publicId", "peerId" } as JSON')
  .action(async (opts: { config?: string, key?: string, json?: boolean }) => {
    let keyPath = opts.key
    if (opts.config !== undefined) keyPath = (await loadConfig(opts.config)).secret ?? undefined
    if (keyPath === undefined) {
      program.error('public-id needs --config <file> or --key <file>')
      return
    }
    const password = process.env[KEY_PASSWORD_ENV]
    printIdentity(output, await loadNodeKey(keyPath, password === '' ? undefined : password), opts.json === true)
  })

program.command('new-network')
  .description('make a new private network key and print the config lines (and the command) every node of the network adds')
  .option('--json', 'print { "privateKey", "configLines" } as JSON')
  .action(async (opts: { json?: boolean }) => { await printNewNetwork(output, opts.json === true) })

program.command('status')
  .description('print a running node\'s status: peers, buckets and mesh sizes, stored frames, storage cap, last errors, versions (needs metrics.listen in its config)')
  .requiredOption('-c, --config <file>', 'the node\'s config.yaml')
  .option('--json', 'print the status as JSON')
  .action(async (opts: { config: string, json?: boolean }) => { await printStatus(output, await loadConfig(opts.config), opts.json === true) })

process.exitCode = await run(output, async () => { await program.parseAsync(process.argv) })
