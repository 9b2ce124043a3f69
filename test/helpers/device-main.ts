/**
 * A user's device as a process (for tests that run it inside a network namespace): opens an
 * account folder against a node and obeys JSON commands, one per stdin line, answering with
 * JSON events on stdout:
 *   {"op":"send","to":"bob","prefix":"m","from":0,"count":50,"retryMs":60000}
 *       sends "<prefix> <i>" in order, each retried until acknowledged (the library's sends
 *       are idempotent); prints {"ev":"ack","text","id","at"} for each acknowledgement, then
 *       {"ev":"sent","acked":n,"retries":r}
 *   {"op":"watch"}   prints {"ev":"msg","text","at"} for every message received, until quit
 *   {"op":"inbox"}   syncs once, prints {"ev":"inbox","texts":[...]} (received, with repeats)
 *   {"op":"quit"}
 * Usage: node device-main.js <account dir> <node host:port> <node public id>
 */
import '../../src/polyfill.js'
import { createInterface } from 'node:readline'
import { Account } from '../../src/index.js'

interface Command { op: string, to?: string, prefix?: string, from?: number, count?: number, retryMs?: number }

const [dir, remoteAddress, remoteId] = process.argv.slice(2)
const stop = new AbortController()

function emit (ev: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(ev) + '\n')
}

const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function send (account: Account, c: Command): Promise<void> {
  let retries = 0
  let acked = 0
  const from = c.from ?? 0
  for (let i = from; i < from + (c.count ?? 1); i++) {
    const text = `${c.prefix ?? 'm'} ${i}`
    const deadline = Date.now() + (c.retryMs ?? 60_000)
    for (;;) {
      try {
        const r = await account.send(c.to ?? '', { text })
        emit({ ev: 'ack', text, id: r.id, at: Date.now() })
        acked++
        break
      } catch (err) {
        retries++
        if (Date.now() > deadline) {
          emit({ ev: 'error', text, error: (err as Error).message })
          return
        }
        await pause(250)
      }
    }
  }
  emit({ ev: 'sent', acked, retries })
}

async function watch (account: Account): Promise<void> {
  for await (const e of account.watch({ signal: stop.signal, fullSyncMs: 5_000, reconnectMaxMs: 2_000 })) {
    if (e.type === 'message' && e.message.direction === 'in') emit({ ev: 'msg', text: e.message.text ?? '', at: Date.now() })
    else if (e.type === 'disconnected') emit({ ev: 'disconnected' })
    else if (e.type === 'connected') emit({ ev: 'connected' })
  }
}

async function main (): Promise<void> {
  const account = await Account.open({ dir, remote: { remoteAddress, remoteId }, recordDelayMs: 0, settleMs: 1500 })
  const work: Array<Promise<void>> = []
  emit({ ev: 'ready' })
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() === '') continue
    const c = JSON.parse(line) as Command
    if (c.op === 'quit') break
    if (c.op === 'send') work.push(send(account, c))
    else if (c.op === 'watch') work.push(watch(account).catch(err => { emit({ ev: 'error', error: (err as Error).message }) }))
    else if (c.op === 'inbox') {
      work.push((async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            await account.sync()
            break
          } catch (err) {
            if (attempt >= 20) { emit({ ev: 'error', error: (err as Error).message }); return }
            await pause(500)
          }
        }
        const texts = (await account.inbox()).filter(m => m.direction === 'in').map(m => m.text ?? '')
        emit({ ev: 'inbox', texts })
      })())
    } else emit({ ev: 'error', error: `unknown op ${c.op}` })
  }
  stop.abort()
  await Promise.allSettled(work)
}

main().then(() => process.exit(0), (err: Error) => {
  emit({ ev: 'fatal', error: err.message })
  process.exit(1)
})
