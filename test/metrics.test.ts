/**
 * Status and metrics (issue 16 point 6) with two real asmtpd processes, alice on one and bob
 * on the other: /metrics parses as Prometheus text (parse-prometheus-text-format) and its
 * counters move with mail (frames accepted by verdict, stored frames, stamp times, libp2p's
 * bytes); `asmtpd-cli status --config` prints peers, buckets with mesh sizes, stored frames,
 * errors and versions, and --json the same as data.
 */
import '../src/polyfill.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format'
import { Account, type OperatorStatus } from '../src/index.js'
import { FAST, syncUntil, textsOf } from './helpers/accounts.js'
import { cleanEnv, NODE_TOOL, nodeFolder, spawnDaemon, type Daemon } from './helpers/daemon.js'
import { collect, freePort } from './helpers/process.js'

let root: string
let alice: Account
let bob: Account
const daemons: Daemon[] = []
let bobConfig: string
let bobNode: Daemon

function yaml (users: string, port: number, bootstrap: string[]): string[] {
  return [
    'secret: ./node.key', `users: [${users}]`, 'client:', '  listen: 127.0.0.1:0',
    'network:', '  listen: [/ip4/127.0.0.1/tcp/0]', `  bootstrap: [${bootstrap.map(b => `'${b}'`).join(', ')}]`, '  bucket_bits: 0',
    'storage:', '  path: ./data', 'metrics:', `  listen: 127.0.0.1:${port}`, 'log:', '  level: warn'
  ]
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'asmtp-metrics-'))
  const a = await Account.create({ dir: join(root, 'alice'), alias: 'alice' })
  const b = await Account.create({ dir: join(root, 'bob'), alias: 'bob' })
  const aliceKey = `'${(await a.identity()).deviceKey}'`
  const bobKey = `'${(await b.identity()).deviceKey}'`
  bobConfig = await nodeFolder(join(root, 'node-b'), yaml(bobKey, await freePort(), []))
  bobNode = await spawnDaemon({ config: bobConfig, cwd: root })
  daemons.push(bobNode)
  const aliceConfig = await nodeFolder(join(root, 'node-a'), yaml(aliceKey, await freePort(), [`${bobNode.listening[0] ?? ''}/p2p/${bobNode.peerId}`]))
  const aliceNode = await spawnDaemon({ config: aliceConfig, cwd: root })
  daemons.push(aliceNode)
  alice = await Account.open({ dir: join(root, 'alice'), remote: { remoteAddress: aliceNode.clientAddress, remoteId: aliceNode.publicId }, ...FAST })
  bob = await Account.open({ dir: join(root, 'bob'), remote: { remoteAddress: bobNode.clientAddress, remoteId: bobNode.publicId }, ...FAST })
  await alice.addContact('bob', { passport: (await b.passport()).export() })
  await bob.addContact('alice', { passport: (await a.passport()).export() })
  await alice.sync()
  await bob.sync()
})

after(async () => {
  for (const d of daemons) await d.stop().catch(() => {})
  await rm(root, { recursive: true, force: true })
})

function family (families: PrometheusFamily[], name: string): PrometheusFamily {
  const f = families.find(x => x.name === name)
  assert.ok(f !== undefined, `metric ${name} is exposed`)
  return f
}

/** The sum of a family's samples whose labels include `labels`. */
function sum (families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  return family(families, name).metrics
    .filter(m => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0)
}

test('/metrics parses as Prometheus text and its counters move with mail', async () => {
  const before = parsePrometheusTextFormat(await bobNode.metricsText())
  assert.equal(family(before, 'asmtp_frames_total').type, 'COUNTER')
  const acceptedBefore = sum(before, 'asmtp_frames_total', { verdict: 'accept' })
  const matchedBefore = sum(before, 'asmtp_stored_frames', { kind: 'matched' })
  const bytesBefore = sum(before, 'libp2p_data_transfer_bytes_total')
  const sending = 3
  for (let i = 0; i < sending; i++) await alice.send('bob', { text: `counted ${i}` })
  await syncUntil(bob, 'bob to have the mail', inbox => textsOf(inbox, 'in').filter(t => t.startsWith('counted')).length >= sending ? true : undefined, 60_000)
  const afterText = await bobNode.metricsText()
  const after = parsePrometheusTextFormat(afterText)
  assert.ok(sum(after, 'asmtp_frames_total', { verdict: 'accept' }) >= acceptedBefore + sending, 'frames accepted by the recipient\'s node')
  assert.ok(sum(after, 'asmtp_stored_frames', { kind: 'matched' }) >= matchedBefore + sending, 'frames stored for bob')
  assert.ok(sum(after, 'libp2p_data_transfer_bytes_total') > bytesBefore, 'libp2p\'s own metrics are there and move')
  assert.equal(sum(after, 'asmtp_peers'), 1)
  assert.ok(/^asmtp_frames_total\{verdict="accept",reason="accept",source="(gossip|stem|catchup)"\} [1-9]\d*$/m.test(afterText), afterText.slice(0, 400))
  // the sender's node stamped each message
  const senderMetrics = parsePrometheusTextFormat(await (daemons[1]).metricsText())
  assert.equal(family(senderMetrics, 'asmtp_stamp_seconds').type, 'HISTOGRAM')
  assert.ok(sum(senderMetrics, 'asmtp_stamp_seconds') >= sending, 'one stamp time per frame')
  assert.ok(afterText.length > 1000)
  const endpoint = bobNode.endpoint ?? ''
  assert.equal((await fetch(`${endpoint}/other`)).status, 404, 'only /metrics and /status')
  assert.equal((await fetch(`${endpoint}/metrics`, { method: 'POST', body: 'x'.repeat(100_000) })).status, 405, 'only GET')
  assert.equal((await fetch(`${endpoint}/status`)).headers.get('content-type'), 'application/json')
})

test('asmtpd-cli status --config prints peers, buckets with mesh sizes, stored frames, errors and versions; --json the same', async () => {
  const text = await collect(spawn(process.execPath, [NODE_TOOL, 'status', '--config', bobConfig], { env: cleanEnv() }), 30_000)
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, new RegExp(`^node: ${bobNode.publicId}$`, 'm'))
  assert.match(text.stdout, /^peers: 1 /m)
  assert.match(text.stdout, /^ {2}bucket 0: mesh 1, subscribers 1$/m)
  assert.match(text.stdout, /^stored: \d+ frames \([1-9]\d* for this node's users/m)
  assert.match(text.stdout, /^versions: asmtp \d+\.\d+\.\d+, libp2p \d+\.\d+\.\d+, node v\d+/m)
  assert.match(text.stdout, /^errors: none$/m)
  const json = await collect(spawn(process.execPath, [NODE_TOOL, 'status', '--config', bobConfig, '--json'], { env: cleanEnv() }), 30_000)
  assert.equal(json.code, 0, json.stderr)
  const s = JSON.parse(json.stdout) as OperatorStatus
  assert.equal(s.publicId, bobNode.publicId)
  assert.equal(s.peers.length, 1)
  assert.deepEqual(s.buckets, [{ bucket: 0, meshPeers: 1, subscribers: 1 }])
  assert.ok(s.matchedFrames >= 1 && s.frames >= s.matchedFrames)
  assert.equal(s.storage.memory, false)
  assert.deepEqual(s.errors, [])
  // a node whose config has no metrics.listen: a clear error
  const off = await nodeFolder(join(root, 'no-endpoint'), ['secret: ./node.key'], { key: false })
  const refused = await collect(spawn(process.execPath, [NODE_TOOL, 'status', '--config', off], { env: cleanEnv() }), 30_000)
  assert.notEqual(refused.code, 0)
  assert.match(refused.stderr, /set metrics\.listen/)
})
