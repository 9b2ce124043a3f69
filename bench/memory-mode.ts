/**
 * RAM-only memory (issue 16): the live heap and anonymous RSS of a relay on `storage.memory`
 * holding N frames, beside the same relay on LevelDB holding the same N frames in the same run
 * (one sender floods both), each after a full GC.
 */
import type { ScenarioResult } from './report.js'
import { newPair } from './net.js'
import { NodeProcess, stopAll, waitFor } from './worker-client.js'

export async function benchMemoryMode (quick: boolean, progress: (s: string) => void): Promise<ScenarioResult[]> {
  const n = quick ? 2000 : 10_000
  const nodes: NodeProcess[] = []
  try {
    const [ram, disk, sender] = await Promise.all([NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp'), NodeProcess.spawn('asmtp')])
    nodes.push(ram, disk, sender)
    await ram.start({ relay: true, stampBits: 0, memory: true })
    await disk.start({ relay: true, stampBits: 0 })
    const idle = { ram: await ram.call<{ heapMb: number, anonMb: number }>('live-memory'), disk: await disk.call<{ heapMb: number, anonMb: number }>('live-memory') }
    await sender.start({ stampBits: 0, bootstrap: [ram.addrs[0], disk.addrs[0]] })
    const pair = newPair()
    await sender.call('join', { topic: pair.topic, key: pair.key })
    await waitFor(async () => {
      const mesh = await sender.call<string[]>('mesh-peers')
      return mesh.includes(ram.peerId) && mesh.includes(disk.peerId)
    }, 60_000, 'memory: the sender never meshed with both relays')
    progress(`memory: ${n.toLocaleString('en-US')} frames to a RAM-only relay and a LevelDB relay`)
    await sender.call('prepare', { n, ...pair })
    const flood = await sender.call<{ sent: number }>('flood', { durationMs: 180_000 })
    if (flood.sent !== n) throw new Error(`memory: only ${flood.sent} of ${n} published`)
    for (const r of [ram, disk]) {
      await waitFor(async () => (await r.call<{ frames: number }>('status')).frames >= n, 120_000, `memory: a relay does not hold ${n} frames`, 200)
    }
    const full = { ram: await ram.call<{ heapMb: number, anonMb: number }>('live-memory'), disk: await disk.call<{ heapMb: number, anonMb: number }>('live-memory') }
    const notes = (what: string): string => `${what} after a full GC, ${n} frames of about 1 KiB; idle before: RAM-only ${idle.ram[what === 'heap' ? 'heapMb' : 'anonMb'].toFixed(1)} MB, LevelDB ${idle.disk[what === 'heap' ? 'heapMb' : 'anonMb'].toFixed(1)} MB`
    return [{
      scenario: `RAM-only relay holding ${n.toLocaleString('en-US')} frames: live heap`,
      unit: 'MB',
      ours: { median: full.ram.heapMb },
      baseline: { name: 'the same relay on LevelDB holding the same frames', median: full.disk.heapMb },
      ratio: full.ram.heapMb / full.disk.heapMb,
      better: 'lower',
      notes: notes('heap')
    }, {
      scenario: `RAM-only relay holding ${n.toLocaleString('en-US')} frames: anonymous RSS`,
      unit: 'MB',
      ours: { median: full.ram.anonMb },
      baseline: { name: 'the same relay on LevelDB holding the same frames', median: full.disk.anonMb },
      ratio: full.ram.anonMb / full.disk.anonMb,
      better: 'lower',
      notes: notes('RSS (RssAnon)')
    }]
  } finally {
    await stopAll(nodes)
  }
}
