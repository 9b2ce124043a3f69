/**
 * Dandelion++ stems, `/asmtp/stem/1.0.0` (DESIGN.md "Origin hiding", docs/PROTOCOL.md 4.4):
 * the codec, the successor choice, the embargo table and the stem that wires them to a node.
 */
export * from './protocol.js'
export { decodeStemMessage, encodeStemMessage } from './codec.js'
export { Successors, type SuccessorView, type SuccessorsInit } from './successors.js'
export { Embargo, type EmbargoInit, type HeldFrame } from './embargo.js'
export { Stem, type StemInit, type StemOptions, type StemOutcome, type StemStats } from './stem.js'
