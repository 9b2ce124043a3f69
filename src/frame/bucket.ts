/**
 * Buckets (DESIGN.md "Buckets"): the bucket of a topic is the first b bits of
 * SHA-256("asmtp/bucket/v1" ‖ topic id); its gossipsub topic is asmtp/2/<b>/<bucket hex>.
 */
import { createHash } from 'node:crypto'

export const MAX_BUCKET_BITS = 16
export const BUCKET_LABEL = new TextEncoder().encode('asmtp/bucket/v1')
const TOPIC_NAME = /^asmtp\/2\/(0|[1-9][0-9]?)\/(0|[1-9a-f][0-9a-f]{0,3})$/

export interface BucketRef {
  bits: number
  bucket: number
}

function assertBits (bits: number): void {
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_BUCKET_BITS) throw new RangeError(`bucket bits must be an integer in 0..${MAX_BUCKET_BITS}, got ${bits}`)
}

function assertBucket (bits: number, bucket: number): void {
  assertBits(bits)
  if (!Number.isInteger(bucket) || bucket < 0 || bucket >= 2 ** bits) throw new RangeError(`bucket ${bucket} is outside 0..2^${bits}-1`)
}

export function bucketOf (topicId: Uint8Array, bits: number): number {
  assertBits(bits)
  if (topicId.length !== 32) throw new RangeError(`topic id must be 32 bytes, got ${topicId.length}`)
  if (bits === 0) return 0
  const digest = createHash('sha256').update(BUCKET_LABEL).update(topicId).digest()
  return digest.readUInt32BE(0) >>> (32 - bits)
}

export function bucketTopic (bits: number, bucket: number): string {
  assertBucket(bits, bucket)
  return `asmtp/2/${bits}/${bucket.toString(16)}`
}

/** The bits and bucket of a bucket topic name; undefined for anything else (padding, uppercase, out of range). */
export function parseBucketTopic (name: string): BucketRef | undefined {
  const m = TOPIC_NAME.exec(name)
  if (m === null) return undefined
  const bits = Number(m[1])
  const bucket = parseInt(m[2] ?? '', 16)
  if (bits > MAX_BUCKET_BITS || bucket >= 2 ** bits) return undefined
  return { bits, bucket }
}
