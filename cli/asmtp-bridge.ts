#!/usr/bin/env node
/**
 * asmtp-bridge: one account served to standard mail programs, HTTP clients and AI agents
 * (docs/BRIDGE.md, docs/API.md). `serve` runs SMTP submission, Maildir delivery and the HTTP
 * API until Ctrl-C; `mcp` is the MCP server over stdio; `password` sets the SMTP password;
 * `token` prints the HTTP bearer token. A thin layer over src/bridge: parse, call, print.
 */
import '../src/polyfill.js'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { Command, Option } from 'commander'
import {
  Account, AsmtpError, DEFAULT_SMTP_PORT, MailBridge, loadOrCreateToken, loadPasswordCheck, serveMcp, setPassword,
  startHttpApi, startSmtpSubmission, tokenFile, type HttpApi, type SmtpSubmission
} from '../src/index.js'
import { EXIT_OK, configureCommand, createOutput, run } from './output.js'
import { accountInit } from './client/identity-commands.js'

const VERSION = '0.1.0'
const PASSWORD_ENV = 'ASMTP_BRIDGE_PASSWORD'
const output = createOutput('asmtp-bridge')

interface AccountOptions { account?: string, remoteAddress?: string, remoteId?: string }

function expandHome (path: string): string {
  return path === '~' ? homedir() : path.startsWith('~/') ? join(homedir(), path.slice(2)) : resolve(path)
}

function accountDir (o: AccountOptions): string {
  return expandHome(o.account ?? join(homedir(), '.asmtp'))
}

async function openAccount (o: AccountOptions): Promise<Account> {
  return await Account.open(accountInit({
    dir: accountDir(o),
    remote: { ...(o.remoteAddress === undefined ? {} : { remoteAddress: o.remoteAddress }), ...(o.remoteId === undefined ? {} : { remoteId: o.remoteId }) }
  }))
}

/** host:port to listen on; port 0 picks a free one. */
function listenAddress (text: string, what: string): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text.trim())
  const host = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (m === null || host === undefined || port > 65535) throw new AsmtpError('CONFIG_INVALID', `${what} "${text}" is not host:port (an IPv6 host goes in brackets: [::1]:2525)`)
  return { host, port }
}

function withAccountOptions (command: Command): Command {
  return command
    .addOption(new Option('--account <dir>', 'the account folder (made by asmtp-cli init; default ~/.asmtp)').env('ASMTP_CLI_DIR'))
    .addOption(new Option('--remote-address <host:port>', 'the node\'s client channel (default: what init remembered)').env('ASMTP_CLI_REMOTE_ADDRESS'))
    .addOption(new Option('--remote-id <hex>', 'the node\'s public id, pinned (default: what init remembered)').env('ASMTP_CLI_REMOTE_ID'))
}

async function untilSignal (): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => { process.off('SIGINT', done); process.off('SIGTERM', done); resolve() }
    process.on('SIGINT', done)
    process.on('SIGTERM', done)
  })
}

async function readPassword (): Promise<string> {
  const fromEnv = process.env[PASSWORD_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (process.stdin.isTTY) throw new AsmtpError('CONFIG_INVALID', `give the password on stdin (one line) or in ${PASSWORD_ENV}`)
  const parts: Buffer[] = []
  for await (const chunk of process.stdin) parts.push(chunk as Buffer)
  return Buffer.concat(parts).toString('utf8').split(/\r?\n/)[0] ?? ''
}

interface ServeOptions extends AccountOptions { smtp: string | false, maildir?: string, http?: string, fullSyncMs?: string }

async function serve (o: ServeOptions): Promise<void> {
  const smtpAt = o.smtp === false ? null : listenAddress(o.smtp, '--smtp')
  const httpAt = o.http === undefined ? null : listenAddress(o.http, '--http')
  const fullSyncMs = o.fullSyncMs === undefined ? undefined : Number(o.fullSyncMs)
  if (fullSyncMs !== undefined && (!Number.isSafeInteger(fullSyncMs) || fullSyncMs < 1000)) throw new AsmtpError('CONFIG_INVALID', '--full-sync-ms must be a whole number of milliseconds, at least 1000')
  if (smtpAt === null && httpAt === null && o.maildir === undefined) throw new AsmtpError('CONFIG_INVALID', 'nothing to serve: give --smtp, --maildir or --http')
  const dir = accountDir(o)
  const checkPassword = smtpAt === null ? null : await loadPasswordCheck(dir)
  const account = await openAccount(o)
  const bridge = new MailBridge({ account, ...(o.maildir === undefined ? {} : { maildir: expandHome(o.maildir) }), ...(fullSyncMs === undefined ? {} : { fullSyncMs }) })
  await bridge.open()
  let smtp: SmtpSubmission | null = null
  let http: HttpApi | null = null
  try {
    if (smtpAt !== null && checkPassword !== null) {
      smtp = await startSmtpSubmission({ bridge, checkPassword, host: smtpAt.host, port: smtpAt.port })
      output.print(`smtp: ${smtp.address}`)
    }
    if (httpAt !== null) {
      http = await startHttpApi({ bridge, token: await loadOrCreateToken(dir), host: httpAt.host, port: httpAt.port })
      output.print(`http: ${http.address}`)
      output.print(`http token file: ${tokenFile(dir)}`)
    }
    if (o.maildir !== undefined) output.print(`maildir: ${expandHome(o.maildir)}`)
    bridge.startWatching()
    output.print('ready')
    await untilSignal()
    output.info('stopping')
  } finally {
    await smtp?.close()
    await http?.close()
    await bridge.stop()
  }
}

async function mcp (o: AccountOptions): Promise<void> {
  const bridge = new MailBridge({ account: await openAccount(o) })
  await bridge.open()
  const server = await serveMcp(bridge, VERSION)
  await new Promise<void>(resolve => {
    server.server.onclose = () => { resolve() }
    process.stdin.once('end', () => { resolve() })
    process.once('SIGINT', () => { resolve() })
    process.once('SIGTERM', () => { resolve() })
  })
  await server.close()
  await bridge.stop()
}

const program = configureCommand(new Command('asmtp-bridge'), output)
  .description('asmtp for standard mail programs (SMTP submission, Maildir), HTTP clients and MCP agents')
  .version(VERSION)
  .showHelpAfterError(false)

withAccountOptions(program.command('serve'))
  .description('serve the account until Ctrl-C: SMTP submission, Maildir delivery, HTTP API')
  .option('--smtp <host:port>', 'SMTP submission address (port 0: any free port)', `127.0.0.1:${DEFAULT_SMTP_PORT}`)
  .option('--no-smtp', 'no SMTP submission')
  .option('--maildir <dir>', 'write received mail into this Maildir (sent mail into its .Sent folder)')
  .option('--http <host:port>', 'serve the HTTP API here (e.g. 127.0.0.1:8025)')
  .option('--full-sync-ms <ms>', 'a full sync with the node this often, besides what the node pushes (default 60000)')
  .action(async (opts: ServeOptions) => { await serve(opts) })

withAccountOptions(program.command('mcp'))
  .description('the MCP server over stdio: send_message, receive_messages, get_public_key, get_mailbox_stats, delete_message')
  .action(async (opts: AccountOptions) => { await mcp(opts) })

withAccountOptions(program.command('password'))
  .description(`set the SMTP password (read from stdin, one line, or ${PASSWORD_ENV}); kept as an scrypt hash, 0600`)
  .action(async (opts: AccountOptions) => {
    await setPassword(accountDir(opts), await readPassword())
    output.info('SMTP password set; any user name is taken with it')
  })

withAccountOptions(program.command('token'))
  .description('print the HTTP API bearer token (made on first use, 0600)')
  .action(async (opts: AccountOptions) => { output.print(await loadOrCreateToken(accountDir(opts))) })

const code = await run(output, async () => { await program.parseAsync(process.argv) })
process.exit(code === EXIT_OK ? EXIT_OK : code)
