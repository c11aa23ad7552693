/**
 * A FormatError says what was wrong with an input file and where.
 *
 * Like Go's debug/elf FormatError it carries the byte offset of the offending
 * field, so a user (or a fuzzer report) can go straight to the byte with a hex
 * viewer. Every parser in src/elf throws only this type for bad input.
 */
import { hex } from '../util/text.js';
export class FormatError extends Error {
  override readonly name = 'FormatError';
  /** Byte offset in the file, or undefined when no single offset is to blame. */
  readonly offset: number | bigint | undefined;

  constructor(
    readonly problem: string,
    offset?: number | bigint,
  ) {
    super(offset === undefined ? problem : `${problem} (at byte offset ${hex(offset)})`);
    // Offsets that fit a number are numbers, so callers can compare them plainly.
    this.offset = typeof offset === 'bigint' && offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(offset) : offset;
  }
}

export function isFormatError(err: unknown): err is FormatError {
  return err instanceof FormatError;
}

/**
 * An ELF writer was asked for something the format cannot hold: a value wider
 * than its field (an offset past 4 GiB in an ELF32 file), or a write outside
 * the structure being built. It names the field and the value.
 */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';

  constructor(
    readonly problem: string,
    readonly field: string,
    readonly value: bigint | number | undefined,
  ) {
    super(problem);
  }
}
