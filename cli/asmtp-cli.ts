#!/usr/bin/env node
/**
 * asmtp-cli: a person's mail client (docs/CLIENT.md). Keeps its identity, contacts and mail in
 * one folder (--dir) and talks to the user's own node over the client channel: init, whoami,
 * passport, contact, send, sync, inbox, delete, watch. A thin layer over the client library
 * (src/client): parse, call, print.
 */
import '../src/polyfill.js'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { Command, Option } from 'commander'
import { AsmtpError, parseHostPort } from '../src/index.js'
import { EXIT_OK, configureCommand, createOutput, run } from './output.js'
import {
  contactAdd, contactList, contactRemove, init, passportAddDevice, passportExport, passportRemoveDevice,
  passportRotate, passportShow, PASSWORD_ENV, whoami, type Globals
} from './client/identity-commands.js'
import { deleteMessage, inbox, send, sync, watch } from './client/mail-commands.js'
import { spool } from './client/spool-command.js'

const output = createOutput('asmtp-cli', {
  hints: { KEY_FILE_PASSWORD: `the password comes from ${PASSWORD_ENV}` }
})

function expandHome (path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : resolve(path)
}

function globals (command: Command): Globals {
  const o = command.optsWithGlobals<{ dir?: string, remoteAddress?: string, remoteId?: string, quiet?: boolean }>()
  if (o.quiet === true) output.level = 'warn'
  if (o.remoteAddress !== undefined) parseHostPort(o.remoteAddress)
  return {
    dir: expandHome(o.dir ?? join(homedir(), '.asmtp')),
    remote: {
      ...(o.remoteAddress === undefined ? {} : { remoteAddress: o.remoteAddress }),
      ...(o.remoteId === undefined ? {} : { remoteId: o.remoteId })
    }
  }
}

async function readStdin (): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new AsmtpError('CONFIG_INVALID', 'no text to send: give it as an argument, on stdin, or send a file with --file')
  const parts: Buffer[] = []
  for await (const chunk of process.stdin) parts.push(chunk as Buffer)
  return new Uint8Array(Buffer.concat(parts))
}

let exitCode: number = EXIT_OK

const program = configureCommand(new Command('asmtp-cli'), output)
  .description('asmtp mail client: your identity, contacts and mail, through your own node')
  .addOption(new Option('--dir <path>', 'the folder holding this device\'s identity and mail (default ~/.asmtp)').env('ASMTP_CLI_DIR'))
  .addOption(new Option('--remote-address <host:port>', 'your node\'s client channel (asmtpd prints it as "client channel:")').env('ASMTP_CLI_REMOTE_ADDRESS'))
  .addOption(new Option('--remote-id <hex>', 'your node\'s public id, pinned (asmtpd-cli public-id prints it)').env('ASMTP_CLI_REMOTE_ID'))
  .option('-q, --quiet', 'print only results, warnings and errors')
  .showHelpAfterError(false)

program.command('init')
  .description('create this device\'s key and a new passport (or, with --join, ask to join an existing passport); never overwrites')
  .requiredOption('--alias <name>', 'your name on this device (1 to 32 bytes), shown in the passport')
  .option('--join <passport id>', 'join an existing passport: prints a registration request for a device of it')
  .option('--json', 'print { "alias", "deviceKey", "passportId" } as JSON')
  .action(async (opts: { alias: string, join?: string, json?: boolean }, cmd: Command) => { await init(output, globals(cmd), opts) })

program.command('whoami')
  .description('print this device\'s alias, device key and passport id')
  .option('--json', 'print { "alias", "deviceKey", "passportId" } as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => { await whoami(output, globals(cmd), opts) })

const passport = program.command('passport').description('your passport: export, show, devices, shared key')

passport.command('export')
  .description('write your passport (binary export) to a file or to stdout, to give to your contacts')
  .option('-o, --output <file>', 'write to this file instead of stdout')
  .action(async (opts: { output?: string }, cmd: Command) => {
    if (opts.output === undefined && process.stdout.isTTY) throw new AsmtpError('CONFIG_INVALID', 'the export is binary: give --output <file> or redirect stdout')
    await passportExport(globals(cmd), opts.output, bytes => { process.stdout.write(bytes) })
  })

passport.command('show [file]')
  .description('show your passport, or the passport in <file>')
  .option('--json', 'print as JSON')
  .action(async (file: string | undefined, opts: { json?: boolean }, cmd: Command) => { await passportShow(output, globals(cmd), file, opts) })

passport.command('add-device <request>')
  .description('add a new device to your passport; <request> is what "init --join" printed on it')
  .action(async (request: string, _opts: unknown, cmd: Command) => { await passportAddDevice(output, globals(cmd), request) })

passport.command('remove-device <key>')
  .description('remove a device (hex key) from your passport; the shared key is rotated')
  .action(async (key: string, _opts: unknown, cmd: Command) => { await passportRemoveDevice(output, globals(cmd), key) })

passport.command('rotate-shared-key')
  .description('replace your shared key: every topic with your contacts changes at the next sync')
  .action(async (_opts: unknown, cmd: Command) => { await passportRotate(output, globals(cmd)) })

const contact = program.command('contact').description('the people you write to')

contact.command('add <alias> [file]')
  .description('add a contact from their passport file, or with --id through your node')
  .option('--id <passport id>', 'fetch the passport through your node from the network')
  .action(async (alias: string, file: string | undefined, opts: { id?: string }, cmd: Command) => { await contactAdd(output, globals(cmd), alias, file, opts) })

contact.command('list')
  .description('list your contacts')
  .option('--json', 'print as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => { await contactList(output, globals(cmd), opts) })

contact.command('remove <alias>')
  .description('forget a contact (its mail stays in your inbox)')
  .action(async (alias: string, _opts: unknown, cmd: Command) => { await contactRemove(output, globals(cmd), alias) })

program.command('send <alias> [text]')
  .description('send a message (the text, or stdin) or a file to a contact; a copy is kept locally')
  .option('-f, --file <path>', 'send this file (split into chunks when larger than one envelope)')
  .option('--ttl <1h|24h|7d>', 'the message expires then: every node drops it, every device deletes it')
  .option('--burn', 'burn after reading: deleted on all the recipient\'s devices after its first read')
  .option('--json', 'print what was sent as JSON')
  .action(async (alias: string, text: string | undefined, opts: { file?: string, json?: boolean, ttl?: string, burn?: boolean }, cmd: Command) => {
    await send(output, globals(cmd), alias, text, opts, readStdin)
  })

program.command('sync')
  .description('exchange with your node: passport changes out and in, new mail in; prints who wrote')
  .option('--json', 'print the result as JSON')
  .action(async (opts: { json?: boolean }, cmd: Command) => { exitCode = await sync(output, globals(cmd), opts) })

program.command('inbox')
  .description('list received and sent mail, newest last')
  .option('--json', 'print as JSON')
  .option('--contact <alias>', 'only mail with this contact')
  .option('--save <dir>', 'write the files into <dir>')
  .option('--unread', 'only mail not yet shown on any of your devices')
  .action(async (opts: { json?: boolean, save?: string, contact?: string, unread?: boolean }, cmd: Command) => { await inbox(output, globals(cmd), opts) })

program.command('delete <message id>')
  .description('delete a message (its id from inbox --json) here and on your other devices')
  .action(async (id: string, _opts: unknown, cmd: Command) => { await deleteMessage(output, globals(cmd), id) })

program.command('watch')
  .description('stay connected and print mail as it arrives, until Ctrl-C')
  .option('--json', 'print one JSON object per message and line')
  .action(async (opts: { json?: boolean }, cmd: Command) => {
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      exitCode = await watch(output, globals(cmd), opts, stop.signal)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  })

program.command('spool [folder]')
  .description('send what is dropped into <folder>/outq/<alias>/ and write received mail into <folder>/inq/ (default folder: <dir>/spool), until Ctrl-C')
  .option('--ttl <1h|24h|7d>', 'every file sent expires then')
  .option('--burn', 'every file sent is burnt after its first read')
  .option('--poll-ms <ms>', 'how often outq is scanned (default 200)')
  .option('--json', 'print one JSON object per event and line')
  .action(async (folder: string | undefined, opts: { json?: boolean, ttl?: string, burn?: boolean, pollMs?: string }, cmd: Command) => {
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      exitCode = await spool(output, globals(cmd), folder === undefined ? undefined : expandHome(folder), opts, stop.signal)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  })

const parseCode = await run(output, async () => { await program.parseAsync(process.argv) })
process.exit(parseCode === EXIT_OK ? exitCode : parseCode)
