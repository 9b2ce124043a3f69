/**
 * Tests that need root (network namespaces, iptables, Dovecot). Outside CI they skip with a
 * reason when the process is not root; `.ci/run` sets ASMTP_REQUIRE_ROOT=1, which turns that
 * skip into a failure, because CI runs as root and must run them.
 */
import { execFileSync } from 'node:child_process'

export const REQUIRE_ROOT_ENV = 'ASMTP_REQUIRE_ROOT'

/** True when a root-only test must not be skipped (CI). */
export function rootRequired (): boolean {
  return process.env[REQUIRE_ROOT_ENV] === '1'
}

/** True when this process runs as root. */
export function isRoot (): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

/** True when `command` is on PATH. */
export function hasCommand (command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * The reason to skip a test that needs root and the given commands, or undefined when it can
 * run. Throws instead of returning a reason when ASMTP_REQUIRE_ROOT=1, so CI fails rather than
 * skips. Use as `test('...', { skip: needsRoot('ip', 'iptables') }, ...)`.
 */
export function needsRoot (...commands: string[]): string | undefined {
  const missing = commands.filter(c => !hasCommand(c))
  let reason: string | undefined
  if (!isRoot()) reason = 'needs root (network namespaces, iptables or a private Dovecot); run as root or in CI'
  else if (missing.length > 0) reason = `needs ${missing.join(', ')} on PATH (.ci/run installs them with apt-get)`
  if (reason !== undefined && rootRequired()) {
    throw new Error(`${REQUIRE_ROOT_ENV}=1 but this test cannot run: ${reason}`)
  }
  return reason
}

/**
 * The reason to skip a test that needs the given commands (but not root), or undefined when
 * they are all on PATH. Like needsRoot, it throws under ASMTP_REQUIRE_ROOT=1 instead of
 * skipping, so CI (which installs them) fails rather than skips.
 */
export function needsCommands (...commands: string[]): string | undefined {
  const missing = commands.filter(c => !hasCommand(c))
  if (missing.length === 0) return undefined
  const reason = `needs ${missing.join(', ')} on PATH (.ci/run installs them with apt-get)`
  if (rootRequired()) throw new Error(`${REQUIRE_ROOT_ENV}=1 but this test cannot run: ${reason}`)
  return reason
}
