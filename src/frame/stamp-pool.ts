/**
 * A worker_threads pool that computes stamps off the event loop (DESIGN.md: the sender's node
 * stamps, never the device). Bounded queue, abort by signal, close rejects what is pending.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { AsmtpError, type AsmtpErrorCode } from '../errors.js'
import type { StampParams } from './stamp.js'

export interface StampPoolInit {
  /** @default max(1, cpus - 1) */
  threads?: number
  /** Jobs queued or running before stamp() rejects with STAMP_QUEUE_FULL. @default 256 */
  maxQueue?: number
}

export interface StampOptions extends StampParams { signal?: AbortSignal }

export interface StampPool {
  /** Resolves to a stamped copy of the frame. */
  stamp: (frameBytes: Uint8Array, options: StampOptions) => Promise<Uint8Array>
  close: () => Promise<void>
}

interface Job {
  id: number
  frame: Uint8Array
  params: StampParams
  resolve: (b: Uint8Array) => void
  reject: (e: Error) => void
  signal?: AbortSignal
  onAbort?: () => void
}

interface Slot { worker: Worker, cancel: Int32Array, job?: Job }

export function createStampPool (init: StampPoolInit = {}): StampPool {
  const threads = init.threads ?? Math.max(1, availableParallelism() - 1)
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError('threads must be a positive integer')
  const maxQueue = init.maxQueue ?? 256
  const queue: Job[] = []
  const slots: Slot[] = []
  let nextId = 1
  let closed = false

  const finish = (job: Job): void => { if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort) }

  const spawn = (): Slot => {
    const shared = new SharedArrayBuffer(4)
    const slot: Slot = { worker: new Worker(new URL('./stamp-worker.js', import.meta.url), { workerData: { cancel: shared } }), cancel: new Int32Array(shared) }
    slot.worker.unref()
    slot.worker.on('message', (m: { id: number, stamped?: Uint8Array, error?: string, code?: AsmtpErrorCode }) => {
      const job = slot.job
      if (job === undefined || job.id !== m.id) return
      slot.job = undefined
      finish(job)
      if (m.stamped !== undefined) job.resolve(new Uint8Array(m.stamped))
      else job.reject(new AsmtpError(m.code ?? 'INTERNAL', m.error ?? 'stamp failed'))
      pump()
    })
    slot.worker.on('error', (err) => {
      const job = slot.job
      slot.job = undefined
      if (job !== undefined) { finish(job); job.reject(new AsmtpError('INTERNAL', `stamp worker failed: ${err.message}`, { cause: err })) }
      if (!closed) { slots[slots.indexOf(slot)] = spawn(); pump() }
    })
    return slot
  }

  const pump = (): void => {
    for (const slot of slots) {
      if (slot.job !== undefined) continue
      const job = queue.shift()
      if (job === undefined) return
      slot.job = job
      slot.worker.postMessage({ id: job.id, frame: job.frame, ...job.params })
    }
  }

  for (let i = 0; i < threads; i++) slots.push(spawn())

  return {
    async stamp (frameBytes, options) {
      if (closed) throw new AsmtpError('STAMP_POOL_CLOSED', 'the stamp pool is closed')
      options.signal?.throwIfAborted()
      const running = slots.filter(s => s.job !== undefined).length
      if (queue.length + running >= maxQueue) throw new AsmtpError('STAMP_QUEUE_FULL', `stamp queue is full (${maxQueue})`)
      const { bucketBits, bucket, stampBits } = options
      return await new Promise<Uint8Array>((resolve, reject) => {
        const job: Job = { id: nextId++, frame: new Uint8Array(frameBytes), params: { bucketBits, bucket, stampBits }, resolve, reject }
        if (options.signal !== undefined) {
          job.signal = options.signal
          job.onAbort = () => {
            const q = queue.indexOf(job)
            if (q >= 0) queue.splice(q, 1)
            const slot = slots.find(s => s.job === job)
            if (slot !== undefined) { Atomics.store(slot.cancel, 0, job.id); slot.job = undefined; pump() }
            finish(job)
            reject(new AsmtpError('ABORTED', 'stamp aborted', { cause: options.signal?.reason }))
          }
          options.signal.addEventListener('abort', job.onAbort, { once: true })
        }
        queue.push(job)
        pump()
      })
    },
    async close () {
      if (closed) return
      closed = true
      const err = new AsmtpError('STAMP_POOL_CLOSED', 'the stamp pool closed')
      for (const job of queue.splice(0)) { finish(job); job.reject(err) }
      for (const slot of slots) { if (slot.job !== undefined) { finish(slot.job); slot.job.reject(err); slot.job = undefined } }
      await Promise.all(slots.map(async s => await s.worker.terminate()))
    }
  }
}
