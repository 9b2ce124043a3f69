/**
 * The passport export format, for files and the wire (docs/PROTOCOL.md section 1, "Export"):
 * each block prefixed by its u32 BE length, in chain order, at most MAX_PASSPORT_BLOCKS blocks
 * and MAX_PASSPORT_EXPORT_BYTES bytes. Only framing is checked here; decodeBlock and the ledger
 * check the blocks.
 */
import { AsmtpError } from '../errors.js'
import { concatBytes, u32be } from '../bytes.js'
import { BLOCK_HEADER_BYTES } from './block.js'

export const MAX_PASSPORT_BLOCKS = 1024
export const MAX_PASSPORT_EXPORT_BYTES = 1024 * 1024

/** Size of the export of blocks of these lengths. */
export function passportExportSize (blockLengths: readonly number[]): number {
  return blockLengths.reduce((sum, n) => sum + 4 + n, 0)
}

/** Throws DECODE_TOO_LARGE when the blocks would not fit in one export. */
export function assertExportLimits (blockLengths: readonly number[]): void {
  if (blockLengths.length > MAX_PASSPORT_BLOCKS) {
    throw new AsmtpError('DECODE_TOO_LARGE', `a passport holds at most ${MAX_PASSPORT_BLOCKS} blocks, got ${blockLengths.length}`)
  }
  const size = passportExportSize(blockLengths)
  if (size > MAX_PASSPORT_EXPORT_BYTES) {
    throw new AsmtpError('DECODE_TOO_LARGE', `a passport export is at most ${MAX_PASSPORT_EXPORT_BYTES} bytes, got ${size}`)
  }
}

export function encodePassportExport (blocks: readonly Uint8Array[]): Uint8Array {
  assertExportLimits(blocks.map(b => b.length))
  return concatBytes(...blocks.flatMap(b => [u32be(b.length), b]))
}

/**
 * Splits an export into its blocks (copies). Throws DECODE_TOO_LARGE (over a limit),
 * DECODE_TRUNCATED (a length or block runs past the end), DECODE_INVALID (a declared length that
 * is not 168 + the block's content size), DECODE_TRAILING_BYTES (1 to 3 bytes after the last block).
 */
export function decodePassportExport (bytes: Uint8Array): Uint8Array[] {
  if (bytes.length > MAX_PASSPORT_EXPORT_BYTES) {
    throw new AsmtpError('DECODE_TOO_LARGE', `a passport export is at most ${MAX_PASSPORT_EXPORT_BYTES} bytes, got ${bytes.length}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const blocks: Uint8Array[] = []
  let offset = 0
  while (offset < bytes.length) {
    const remaining = bytes.length - offset
    if (remaining < 4) throw new AsmtpError('DECODE_TRAILING_BYTES', `passport export has ${remaining} trailing bytes after block ${blocks.length}`)
    if (blocks.length === MAX_PASSPORT_BLOCKS) {
      throw new AsmtpError('DECODE_TOO_LARGE', `a passport export holds at most ${MAX_PASSPORT_BLOCKS} blocks`)
    }
    const length = view.getUint32(offset)
    offset += 4
    if (length > bytes.length - offset) {
      throw new AsmtpError('DECODE_TRUNCATED', `passport export is truncated: block ${blocks.length} declares ${length} bytes, ${bytes.length - offset} remain`)
    }
    if (length < BLOCK_HEADER_BYTES || length !== BLOCK_HEADER_BYTES + view.getUint16(offset + 2)) {
      throw new AsmtpError('DECODE_INVALID', `passport export: block ${blocks.length} declares ${length} bytes, which is not its header (${BLOCK_HEADER_BYTES}) plus its content size`)
    }
    blocks.push(bytes.slice(offset, offset + length))
    offset += length
  }
  return blocks
}
