/**
 * The stamp pool's worker thread: searches nonces in slices of SLICE_TRIES and checks the
 * shared cancel word between slices, so an aborted job stops within one slice.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { searchStamp, type StampParams } from './stamp.js'

const SLICE_TRIES = 32
const cancel = new Int32Array((workerData as { cancel: SharedArrayBuffer }).cancel)

interface Job extends StampParams { id: number, frame: Uint8Array }

parentPort?.on('message', (job: Job) => {
  try {
    let start = 0n
    for (;;) {
      if (Atomics.load(cancel, 0) === job.id) return
      const stamped = searchStamp(job.frame, job, { startNonce: start, maxTries: SLICE_TRIES })
      if (stamped !== undefined) { parentPort?.postMessage({ id: job.id, stamped }); return }
      start += BigInt(SLICE_TRIES)
    }
  } catch (err) {
    parentPort?.postMessage({ id: job.id, error: (err as Error).message, code: (err as { code?: string }).code })
  }
})
