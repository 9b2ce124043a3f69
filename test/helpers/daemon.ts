/**
 * Real asmtpd processes for the mode tests: a node folder with a config.yaml and a key, the
 * daemon spawned (optionally under a wrapper such as `strace` or `ip netns exec`), its printed
 * addresses, a bounded wait for any later line it prints, and its /status and /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { collect } from './process.js'

export const DAEMON = fileURLToPath(new URL('../../cli/asmtpd.js', import.meta.url))
export const NODE_TOOL = fileURLToPath(new URL('../../cli/asmtpd-cli.js', import.meta.url))
export const READY_MS = 60_000

/** The environment without the caller's asmtp variables or debug switches. */
export function cleanEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ASMTP') || k === 'DEBUG') delete e[k]
  return { ...e, ...extra }
}

/** Writes `dir/config.yaml` (and, unless `key: false`, a new node key `dir/node.key`). */
export async function nodeFolder (dir: string, yaml: string[], options: { key?: boolean } = {}): Promise<string> {
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'config.yaml')
  await writeFile(config, yaml.join('\n') + '\n', { mode: 0o600 })
  if (options.key !== false) {
    const r = await collect(spawn(process.execPath, [NODE_TOOL, 'generate-new-key', '--output', join(dir, 'node.key'), '--json'], { env: cleanEnv() }), 30_000)
    if (r.code !== 0) throw new Error(`generate-new-key failed: ${r.stderr}`)
  }
  return config
}

export interface Daemon {
  child: ChildProcess
  publicId: string
  peerId: string
  clientAddress: string
  listening: string[]
  /** http://host:port of metrics.listen, when set */
  endpoint: string | null
  /** everything printed so far */
  readonly stdout: string
  readonly stderr: string
  /** Resolves with the first match of `re` in stdout (from the start), bounded. */
  waitForOutput: (re: RegExp, what: string, timeoutMs?: number) => Promise<RegExpExecArray>
  status: () => Promise<Record<string, unknown> & { pid: number, peers: Array<{ peerId: string }>, frames: number, matchedFrames: number }>
  metricsText: () => Promise<string>
  /** SIGTERM (SIGKILL after 30 s); resolves when it exited. */
  stop: () => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface SpawnDaemonInit {
  config: string
  cwd: string
  env?: NodeJS.ProcessEnv
  /** a command and its arguments that run the daemon, e.g. ['strace', '-f', ...] */
  wrapper?: string[]
  args?: string[]
  stdin?: string
}

export async function spawnDaemon (init: SpawnDaemonInit): Promise<Daemon> {
  const argv = [...(init.wrapper ?? []), process.execPath, DAEMON, '--config', init.config, ...(init.args ?? [])]
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), { cwd: init.cwd, env: cleanEnv(init.env), stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const waiters = new Set<() => void>()
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; for (const w of waiters) w() })
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
  child.stdin.end(init.stdin)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => { resolve({ code, signal }); for (const w of waiters) w() })
  })
  const waitForOutput = async (re: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> => {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(stdout)
        if (m !== null) { done(); resolve(m); return }
        if (child.exitCode !== null || child.signalCode !== null) { done(); reject(new Error(`asmtpd exited before ${what}: ${stdout} ${stderr}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stdout: ${stdout} stderr: ${stderr}`)) }, timeoutMs)
      const done = (): void => { clearTimeout(timer); waiters.delete(check) }
      waiters.add(check)
      check()
    })
  }
  try {
    await waitForOutput(/^ready$/m, 'ready', READY_MS)
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  const line = (re: RegExp): string | undefined => re.exec(stdout)?.[1]
  const endpoint = line(/^metrics: (http:\/\/\S+)\/metrics$/m) ?? null
  const get = async (path: string): Promise<Response> => {
    if (endpoint === null) throw new Error('this daemon has no metrics.listen')
    const res = await fetch(endpoint + path, { signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
    return res
  }
  return {
    child,
    publicId: line(/^asmtpd public id: ([0-9a-f]{64})$/m) ?? '',
    peerId: line(/^peer id: (\S+)$/m) ?? '',
    clientAddress: line(/^client channel: (\S+)$/m) ?? '',
    listening: [...stdout.matchAll(/^listening: (\S+)$/gm)].map(m => m[1] ?? ''),
    endpoint,
    get stdout () { return stdout },
    get stderr () { return stderr },
    waitForOutput,
    status: async () => await (await get('/status')).json() as Awaited<ReturnType<Daemon['status']>>,
    metricsText: async () => await (await get('/metrics')).text(),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => { child.kill('SIGKILL') }, 30_000)
        const r = await exited
        clearTimeout(timer)
        return r
      }
      return await exited
    }
  }
}

/**
 * The config lines of one node on 127.0.0.1 with no peers, for these device keys (hex), its
 * client channel on `clientPort` (fixed, so that a restarted node is found where it was).
 */
export function soloNodeYaml (users: string[], clientPort: number): string[] {
  return [
    'secret: ./node.key', `users: [${users.map(k => `'${k}'`).join(', ')}]`, 'client:', `  listen: 127.0.0.1:${clientPort}`,
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', '  bootstrap: []', 'storage:', '  path: ./data', 'log:', '  level: error'
  ]
}
