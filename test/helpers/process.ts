/** Running the command-line tools as real child processes in tests. */
import type { ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/**
 * Feeds `input` (if any) to the child's stdin, gathers its output, and resolves when it exits;
 * kills it (and fails) after `timeoutMs`.
 */
export function collect (child: ChildProcess, timeoutMs: number, input?: string): Promise<Result> {
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  child.stdin?.end(input)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`))
    }, timeoutMs)
    child.once('error', err => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

/** A free TCP port on 127.0.0.1 (for a client channel that must keep its port across restarts). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise(resolve => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** What a started asmtpd printed: its public id and client channel address. */
export interface DaemonAddress { remoteAddress: string, remoteId: string }

/** Waits (bounded) until a spawned asmtpd prints `ready`; fails when it exits first. */
export async function readyDaemon (child: ChildProcess, timeoutMs: number): Promise<DaemonAddress> {
  let out = ''
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`asmtpd not ready within ${timeoutMs} ms: ${out} ${err}`)) }, timeoutMs)
    const onExit = (code: number | null): void => { clearTimeout(timer); reject(new Error(`asmtpd exited with ${code}: ${err}`)) }
    child.once('exit', onExit)
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      out += c
      if (!/^ready$/m.test(out)) return
      clearTimeout(timer)
      child.off('exit', onExit)
      const id = /^asmtpd public id: ([0-9a-f]{64})$/m.exec(out)?.[1]
      const client = /^client channel: (\S+)$/m.exec(out)?.[1]
      if (id === undefined || client === undefined) reject(new Error(`asmtpd printed no id or client address: ${out}`))
      else resolve({ remoteAddress: client, remoteId: id })
    })
  })
}

/** Sends `signal` to a child and waits for it to exit (at once when it has). */
export async function stopChild (child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill(signal)
  await exited
}
