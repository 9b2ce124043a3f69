/** Gossip frames, frame time, buckets and stamps (DESIGN.md "Node network (version 2: buckets)"). */
export {
  FRAME_EPOCH_MS, HOUR_MS, DEFAULT_FRAME_LIFETIME_MS, MAX_FRAME_HOUR, TTL_CLASSES,
  frameHour, ttlMs, frameExpiresAt, checkFrameTime, isTtlClass,
  type TtlClass, type FrameTimeCheck
} from './time.js'
export {
  FRAME_VERSION, GOSSIP_FRAME_HEADER_BYTES, FRAME_NONCE_OFFSET, MAX_GOSSIP_FRAME_BYTES, MAX_NONCE,
  encodeFrame, decodeFrame, frameHash, envelopeSizeClass, setFrameNonce, sealFrame, openFrame, verifyFrameMac,
  type Frame, type DecodeFrameInit, type SealFrameInit, type OpenedFrame
} from './frame.js'
export { MAX_BUCKET_BITS, BUCKET_LABEL, bucketOf, bucketTopic, parseBucketTopic, type BucketRef } from './bucket.js'
export {
  STAMP_SALT, STAMP_SCRYPT_N, STAMP_SCRYPT_R, STAMP_SCRYPT_P, DEFAULT_STAMP_BITS, MAX_STAMP_BITS,
  stampInput, stampDigest, leadingZeroBits, stampTarget, verifyStamp, searchStamp,
  type StampParams, type StampInputInit, type SearchStampInit
} from './stamp.js'
export { createStampPool, type StampPool, type StampPoolInit, type StampOptions } from './stamp-pool.js'
