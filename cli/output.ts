/**
 * The one output helper of the CLIs: results on stdout (text or --json), one-line messages on
 * stderr prefixed with the program name and filtered by log level, the mapping from errors
 * (AsmtpError codes, system errors, commander usage errors) to one message line and an exit code,
 * and the mapping from a log level to the `debug` namespaces (asmtp:*) that are switched on.
 */
import { CommanderError, type Command } from 'commander'
import debug from 'debug'
import { AsmtpError, type AsmtpErrorCode } from '../src/errors.js'
import { LOG_LEVELS, type LogLevel } from '../src/config/index.js'

export const EXIT_OK = 0
/** Any failure that is not the operator's configuration: key files, ports in use, crashes. */
export const EXIT_FAILURE = 1
/** A bad configuration or command line. */
export const EXIT_CONFIG = 2
/** A second SIGINT/SIGTERM while shutting down. */
export const EXIT_INTERRUPTED = 130

const EXIT_BY_CODE: Partial<Record<AsmtpErrorCode, number>> = {
  CONFIG_INVALID: EXIT_CONFIG
}

export type ErrorHints = Partial<Record<AsmtpErrorCode, string>>

interface SystemError extends Error {
  code?: string
  syscall?: string
  path?: string
  address?: string
  port?: number
}

const SYSTEM_PROBLEMS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system'
}

/** The first system error (with an errno code) in an error's cause chain, if any. */
function findSystemError (err: unknown, depth = 0): SystemError | undefined {
  if (!(err instanceof Error) || depth > 8) return undefined
  const sys = err as SystemError
  if (typeof sys.code === 'string' && /^E[A-Z]+$/.test(sys.code) && (sys.syscall !== undefined || sys.path !== undefined)) return sys
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const found = findSystemError(inner, depth + 1)
      if (found !== undefined) return found
    }
  }
  return findSystemError(err.cause, depth + 1)
}

function describeSystemError (sys: SystemError): string {
  const problem = `${SYSTEM_PROBLEMS[sys.code ?? ''] ?? sys.message} (${sys.code})`
  if (sys.code === 'EEXIST' && sys.path !== undefined) return `${sys.path} already exists; not overwriting it`
  const verb = sys.syscall === 'listen' ? 'listen on' : sys.syscall === 'connect' ? 'connect to' : 'use'
  if (sys.address !== undefined) return `cannot ${verb} ${sys.address}${sys.port === undefined ? '' : `:${sys.port}`}: ${problem}`
  if (sys.path !== undefined) return `${sys.path}: ${problem}`
  return problem
}

/**
 * libp2p reports listen failures as one UnsupportedListenAddressesError whose message lists
 * "<multiaddr>: <error with stack>" lines; keep the first address and its errno.
 */
function describeListenFailure (err: Error): string | undefined {
  if (err.name !== 'UnsupportedListenAddressesError') return undefined
  const m = /^\s*(\/\S+): (?:\w*Error: )?(.*)$/m.exec(err.message)
  if (m === null) return undefined
  const [, addr, detail] = m
  const errno = /\b(E[A-Z]{3,})\b/.exec(detail ?? '')?.[1]
  const problem = errno === undefined ? detail : `${SYSTEM_PROBLEMS[errno] ?? errno} (${errno})`
  return `network.listen ${addr}: cannot listen: ${problem}`
}

function oneLine (text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

/** One line that says what went wrong, naming the field, file or address when known. */
export function describeError (err: unknown, hints: ErrorHints = {}): string {
  if (err instanceof AsmtpError) {
    const hint = hints[err.code]
    return oneLine(hint === undefined ? err.message : `${err.message} (${hint})`)
  }
  const sys = findSystemError(err)
  if (sys !== undefined) return oneLine(describeSystemError(sys))
  if (err instanceof Error) return oneLine(describeListenFailure(err) ?? (err.message === '' ? err.name : err.message))
  return oneLine(String(err))
}

export function exitCodeFor (err: unknown): number {
  if (err instanceof AsmtpError) return EXIT_BY_CODE[err.code] ?? EXIT_FAILURE
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_CONFIG
  return EXIT_FAILURE
}

export function isLogLevel (value: unknown): value is LogLevel {
  return (LOG_LEVELS as readonly unknown[]).includes(value)
}

/**
 * The `debug` namespaces a level switches on: asmtp:*:error, then :warn, then :info, and every
 * asmtp:* namespace at debug. An operator's DEBUG variable takes precedence.
 */
export function debugNamespacesFor (level: LogLevel): string {
  if (level === 'debug') return 'asmtp:*'
  const upTo = LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1)
  return upTo.map(l => `asmtp:*:${l}`).join(',')
}

export function applyLogLevel (level: LogLevel, env: NodeJS.ProcessEnv = process.env): void {
  if (env.DEBUG !== undefined && env.DEBUG !== '') return
  debug.enable(debugNamespacesFor(level))
}

export interface CliOutput {
  readonly program: string
  level: LogLevel
  /** A result line on stdout, printed at every level. */
  print: (line: string) => void
  /** Raw text on stdout, as is. */
  write: (text: string) => void
  /** A result as JSON on stdout (for --json). */
  printJson: (value: unknown) => void
  error: (message: string) => void
  warn: (message: string) => void
  info: (message: string) => void
  debug: (message: string) => void
  /** Prints the one line describing `err` on stderr and returns its exit code. */
  fail: (err: unknown) => number
}

export interface CliOutputInit {
  level?: LogLevel
  hints?: ErrorHints
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
}

export function createOutput (program: string, init: CliOutputInit = {}): CliOutput {
  const stdout = init.stdout ?? process.stdout
  const stderr = init.stderr ?? process.stderr
  const hints = init.hints ?? {}
  const output: CliOutput = {
    program,
    level: init.level ?? 'info',
    print: line => { stdout.write(line + '\n') },
    write: text => { stdout.write(text) },
    printJson: value => { stdout.write(JSON.stringify(value, null, 2) + '\n') },
    error: message => { log('error', message) },
    warn: message => { log('warn', message) },
    info: message => { log('info', message) },
    debug: message => { log('debug', message) },
    fail: err => {
      const code = exitCodeFor(err)
      if (!(err instanceof CommanderError)) stderr.write(`${program}: ${describeError(err, hints)}\n`)
      return code
    }
  }
  function log (level: LogLevel, message: string): void {
    if (LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(output.level)) stderr.write(`${program}: ${oneLine(message)}\n`)
  }
  return output
}

/**
 * Makes commander report usage errors as one `program: ...` line and throw instead of exiting,
 * so that `run` maps them to exit code 2 like any configuration error.
 */
export function configureCommand (command: Command, output: CliOutput): Command {
  return command
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => { write(`${output.program}: ${oneLine(text.replace(/^error: /, ''))} (see ${output.program} --help)\n`) }
    })
}

/** Runs a CLI's main function; any error becomes one stderr line and an exit code. */
export async function run (output: CliOutput, main: () => Promise<number | undefined | void>): Promise<number> {
  try {
    return (await main()) ?? EXIT_OK
  } catch (err) {
    return output.fail(err)
  }
}
