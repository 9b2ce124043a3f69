/**
 * Catch-up v2 by inventory, `/asmtp/catchup/2.0.0` (DESIGN.md "Store-and-forward per bucket",
 * docs/PROTOCOL.md 4.3): a responder serving a node's store, a requester catching one bucket up
 * from one peer, their codec and the hour digest both sides compute.
 */
export * from './protocol.js'
export * from './codec.js'
export { hourDigest } from './digest.js'
export { ByteBudget, type ByteBudgetInit } from './budget.js'
export {
  createCatchupResponder, DEFAULT_BUDGET_BYTES_PER_MINUTE, DEFAULT_MAX_CONCURRENT, DEFAULT_RESPONDER_TIMEOUT_MS,
  type CatchupResponder, type CatchupResponderInit, type CatchupResponderStats
} from './responder.js'
export {
  catchUpBucket, DEFAULT_MAX_BYTES, DEFAULT_REQUESTER_TIMEOUT_MS,
  type AcceptResult, type CatchUpBucketInit, type CatchUpResult, type CatchupStop
} from './requester.js'
