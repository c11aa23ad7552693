/**
 * Field decoding for one byte order and one ELF class.
 *
 * Every structure in a core (headers, notes, kernel records) is decoded from
 * a Buffer through a Decoder, which bounds-checks each access and reports the
 * *file* offset of a field that is not there, so a lying size field becomes a
 * FormatError naming the byte rather than a RangeError from deep in Node.
 */
import { FormatError } from './errors.js';
import { FieldBuffer, type ByteOrder, type ElfClass } from './fields.js';
import { hex } from '../util/text.js';

export type { ByteOrder, ElfClass } from './fields.js';

export class Decoder extends FieldBuffer {
  constructor(
    buf: Buffer,
    order: ByteOrder,
    elfClass: ElfClass,
    /** File offset of buf[0], for error messages. */
    readonly base: number | bigint = 0,
    /** What is being decoded, for error messages ("NT_PRSTATUS note"). */
    readonly what = 'structure',
  ) {
    super(buf, order, elfClass);
  }

  /** A decoder over a sub-range, sharing byte order, class and offset bookkeeping. */
  sub(offset: number, length: number, what = this.what): Decoder {
    this.need(offset, length);
    return new Decoder(this.buf.subarray(offset, offset + length), this.order, this.elfClass, this.at(offset), what);
  }

  /** The file offset of position `offset` in this buffer. */
  at(offset: number): number | bigint {
    return typeof this.base === 'bigint' ? this.base + BigInt(offset) : this.base + offset;
  }

  has(offset: number, length: number): boolean {
    return offset >= 0 && length >= 0 && offset + length <= this.buf.length;
  }

  need(offset: number, length: number): void {
    if (!this.has(offset, length)) {
      throw new FormatError(
        `${this.what} is too short: needs ${offset + length} bytes, has ${this.buf.length}`,
        this.at(Math.min(Math.max(offset, 0), this.buf.length)),
      );
    }
  }

  u8(offset: number): number {
    this.need(offset, 1);
    return this.buf[offset]!;
  }

  u16(offset: number): number {
    this.need(offset, 2);
    return this.le ? this.buf.readUInt16LE(offset) : this.buf.readUInt16BE(offset);
  }

  i16(offset: number): number {
    this.need(offset, 2);
    return this.le ? this.buf.readInt16LE(offset) : this.buf.readInt16BE(offset);
  }

  u32(offset: number): number {
    this.need(offset, 4);
    return this.le ? this.buf.readUInt32LE(offset) : this.buf.readUInt32BE(offset);
  }

  i32(offset: number): number {
    this.need(offset, 4);
    return this.le ? this.buf.readInt32LE(offset) : this.buf.readInt32BE(offset);
  }

  u64(offset: number): bigint {
    this.need(offset, 8);
    return this.le ? this.buf.readBigUInt64LE(offset) : this.buf.readBigUInt64BE(offset);
  }

  /** An unsigned integer of `size` bytes (4 or 8) as a bigint. */
  uint(offset: number, size: number): bigint {
    return size === 8 ? this.u64(offset) : BigInt(this.u32(offset));
  }

  /** A machine word (unsigned long / pointer) for this ELF class. */
  word(offset: number): bigint {
    return this.uint(offset, this.wordSize);
  }

  /**
   * A NUL-terminated string inside [offset, offset+max). An unterminated string
   * ends at the field's end, as C code reading a fixed char[] would see it.
   */
  cstring(offset: number, max = this.buf.length - offset): string {
    const end = Math.min(this.buf.length, offset + Math.max(0, max));
    if (offset < 0 || offset > end) throw new FormatError(`${this.what}: string outside the structure`, this.at(0));
    let nul = this.buf.indexOf(0, offset);
    if (nul < 0 || nul > end) nul = end;
    return this.buf.toString('utf8', offset, nul);
  }
}

/** Converts a file offset or size from the file into a safe JS number, or throws. */
export function toOffset(value: bigint, what: string, at: number | bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`${what} is out of range (${hex(value)})`, at);
  return Number(value);
}
