/**
 * asmtpd-cli's new-network and status commands. The package root (and with it libp2p) is loaded
 * only when one of them runs, so the tool's other commands start as fast as before.
 */
import type { NodeConfig, OperatorStatus } from '../src/index.js'
import type { CliOutput } from './output.js'

const root = async (): Promise<typeof import('../src/index.js')> => await import('../src/index.js')

/** How long `status` waits for the node's answer. */
const STATUS_TIMEOUT_MS = 10_000

export async function printNewNetwork (out: CliOutput, json: boolean): Promise<void> {
  const { generateNetworkKey, toHex } = await root()
  const key = toHex(generateNetworkKey())
  const configLines = ['network:', `  private_key: '${key}'`]
  if (json) {
    out.printJson({ privateKey: key, configLines })
    return
  }
  out.print('A new private network. Every node of it adds these lines to its config.yaml (merge them')
  out.print('into its network section; keep the file mode 0600: whoever has the key can join):')
  out.print('')
  for (const line of configLines) out.print(`  ${line}`)
  out.print('')
  out.print('and lists at least one other node of the network under network.bootstrap (or sets')
  out.print('network.mdns: true on a LAN). Nodes without this key cannot connect to these nodes at all.')
  out.print('Hand the key over in person or over an encrypted channel. On a node already set up, e.g.:')
  out.print(`  printf "network:\\n  private_key: '${key}'\\n" >> config.yaml   # if it has no network section yet`)
  out.print('then restart asmtpd (systemctl restart asmtpd).')
}

/** The address to reach an endpoint that listens on a wildcard address. */
function reachable (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '[::1]'
  return host.includes(':') ? `[${host}]` : host
}

export async function printStatus (out: CliOutput, config: NodeConfig, json: boolean): Promise<void> {
  const { AsmtpError, formatStatus } = await root()
  const listen = config.metrics.listen
  if (listen === null) {
    throw new AsmtpError('CONFIG_INVALID', 'status reads the node\'s operator endpoint: set metrics.listen (for example 127.0.0.1:9802) in its config and restart it')
  }
  const url = `http://${reachable(listen.host)}:${listen.port}/status`
  let status: OperatorStatus
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) })
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).trim()}`)
    status = await res.json() as OperatorStatus
  } catch (err) {
    throw new AsmtpError('NOT_FOUND', `no status from ${url}: ${(err as Error).message} (is asmtpd running with this config?)`, { cause: err })
  }
  if (json) out.printJson(status)
  else for (const line of formatStatus(status)) out.print(line)
}
