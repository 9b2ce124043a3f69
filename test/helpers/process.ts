/** Running the command-line tools as real child processes in tests. */
import type { ChildProcess } from 'node:child_process'

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
