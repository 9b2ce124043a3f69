/**
 * A hostile peer for the flood test (test/nat-flood.test.ts): joins every bucket through the
 * given bootstrap peers and publishes junk frames as fast as gossipsub takes them: frames with
 * bad stamps (random nonces) and, VALID_SHARE of them, well-stamped frames on random topics
 * (MACs no relay can check). Prints JSON lines: {"ev":"ready"}, then every second
 * {"ev":"tick","sent","connections"}, and {"ev":"done","sent"} after the given time.
 * Usage: node flooder-main.js <bootstrap multiaddr,...> <bucket bits> <stamp bits> <ms>
 */
import '../../src/polyfill.js'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { bucketOf, bucketTopic, searchStamp, setFrameNonce } from '../../src/frame/index.js'
import { createAsmtpLibp2p } from '../../src/node/libp2p.js'
import { frameToBob } from './frames.js'
import { makePair } from './pair.js'

const VALID_SHARE = 0.1
const IN_FLIGHT = 64

const [bootstrapList, bitsArg, stampBitsArg, msArg] = process.argv.slice(2)
const bits = Number(bitsArg)
const stampBits = Number(stampBitsArg)
const emit = (ev: Record<string, unknown>): void => { process.stdout.write(JSON.stringify(ev) + '\n') }

async function main (): Promise<void> {
  const host = await createAsmtpLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    datastore: new MemoryDatastore(),
    listen: [],
    dhtServer: false,
    validators: {},
    selectors: {}
  })
  await host.start()
  const topics = Array.from({ length: 2 ** bits }, (_, b) => bucketTopic(bits, b))
  for (const t of topics) host.services.pubsub.subscribe(t)
  for (const a of bootstrapList.split(',')) await host.dial(multiaddr(a)).catch((err: Error) => { emit({ ev: 'dial-error', error: err.message }) })
  // well-stamped frames on random topics, made ahead (stamping is the costly part)
  const valid: Array<{ topic: string, frame: Uint8Array }> = []
  for (let i = 0; i < 200; i++) {
    const pair = makePair()
    const bucket = bucketOf(pair.topic.topic, bits)
    const stamped = searchStamp(frameToBob(pair), { bucketBits: bits, bucket, stampBits }, { startNonce: 0n, maxTries: 1 << 24 })
    if (stamped !== undefined) valid.push({ topic: bucketTopic(bits, bucket), frame: stamped })
  }
  const base = frameToBob(makePair())
  emit({ ev: 'ready', peerId: host.peerId.toString() })
  let sent = 0
  let next = 0
  const end = Date.now() + Number(msArg)
  const tick = setInterval(() => { emit({ ev: 'tick', sent, connections: host.getConnections().length }) }, 1000)
  const one = async (): Promise<void> => {
    while (Date.now() < end) {
      let topic: string
      let data: Uint8Array
      if (Math.random() < VALID_SHARE) {
        const v = valid[next++ % valid.length]
        // a fresh nonce keeps it a new message; its stamp was valid for the old one only now and then
        topic = v.topic
        data = next <= valid.length ? v.frame : setFrameNonce(v.frame, randomBytes(8).readBigUInt64BE())
      } else {
        topic = topics[Math.floor(Math.random() * topics.length)]
        data = setFrameNonce(base, randomBytes(8).readBigUInt64BE())
      }
      try {
        await host.services.pubsub.publish(topic, data)
        sent++
      } catch {
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      // a publish to no peer resolves at once: let timers and I/O run
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, one))
  clearInterval(tick)
  emit({ ev: 'done', sent, connections: host.getConnections().length })
  await host.stop()
}

main().then(() => process.exit(0), (err: Error) => { emit({ ev: 'fatal', error: err.message }); process.exit(1) })
