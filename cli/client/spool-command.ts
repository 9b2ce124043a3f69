/**
 * asmtp-cli spool: runs the spool folders of docs/CLIENT.md "Spool folders" until Ctrl-C or
 * SIGTERM, printing one line (or one JSON object) per file sent, failed or received.
 */
import { join } from 'node:path'
import { runSpool, type SpoolEvent, type TtlName } from '../../src/index.js'
import type { CliOutput } from '../output.js'
import { safeText } from './format.js'
import { openAccount, type Globals } from './identity-commands.js'

export interface SpoolOptions { json?: boolean, ttl?: string, burn?: boolean, pollMs?: string }

function line (e: SpoolEvent): string {
  switch (e.type) {
    case 'sent': return `sent ${safeText(e.name)} to ${safeText(e.alias)}`
    case 'failed': return `not sent: ${safeText(e.name)} to ${safeText(e.alias)}: ${e.error.message} (moved to failed/)`
    case 'received': return `received from ${safeText(e.alias)}: ${e.path}`
    case 'expired': return `expired and deleted: ${e.path}`
    case 'error': return `error: ${e.error.message}`
  }
}

export async function spool (out: CliOutput, g: Globals, folder: string | undefined, opts: SpoolOptions, stop: AbortSignal): Promise<number> {
  const dir = folder ?? join(g.dir, 'spool')
  const account = await openAccount(g)
  const pollMs = opts.pollMs === undefined ? undefined : Number(opts.pollMs)
  let exitCode = 0
  out.info(`spooling in ${dir}: drop files into outq/<alias>/ (write name.part, then rename); mail arrives in inq/ (Ctrl-C to stop)`)
  await runSpool({
    account,
    dir,
    signal: stop,
    ...(pollMs === undefined || !Number.isSafeInteger(pollMs) || pollMs <= 0 ? {} : { pollMs }),
    mode: { ...(opts.ttl === undefined ? {} : { ttl: opts.ttl as TtlName }), ...(opts.burn === true ? { burn: true } : {}) },
    onEvent: (e) => {
      if (e.type === 'error' || e.type === 'failed') exitCode = 1
      if (opts.json === true) out.print(JSON.stringify(e.type === 'error' || e.type === 'failed' ? { ...e, error: e.error.message } : e))
      else if (e.type === 'error' || e.type === 'failed') out.warn(line(e))
      else out.print(line(e))
    }
  })
  return exitCode
}
