/**
 * Field encoding for one byte order and one ELF class: the writer's
 * counterpart of Decoder. Every write is bounds-checked, and a value that
 * does not fit its field is refused rather than silently truncated, so a
 * mini core can never carry a wrapped offset.
 */
import { EncodeError } from './errors.js';
import { FieldBuffer } from './fields.js';
import { hex } from '../util/text.js';

export class Encoder extends FieldBuffer {

  private room(offset: number, length: number, what: string): void {
    if (!(offset >= 0 && offset + length <= this.buf.length)) throw new EncodeError(`${what}: a write of ${length} bytes at ${offset} is outside the ${this.buf.length}-byte buffer`, what, offset);
  }

  private fits(value: bigint, bits: number, what: string): void {
    if (value < 0n || value >= 1n << BigInt(bits)) throw new EncodeError(`${what} ${hex(value)} does not fit its ${bits}-bit field`, what, value);
  }

  u8(offset: number, value: number, what = 'value'): void {
    this.fits(BigInt(value), 8, what);
    this.room(offset, 1, what);
    this.buf[offset] = value;
  }

  u16(offset: number, value: number, what = 'value'): void {
    this.fits(BigInt(value), 16, what);
    this.room(offset, 2, what);
    if (this.le) this.buf.writeUInt16LE(value, offset);
    else this.buf.writeUInt16BE(value, offset);
  }

  u32(offset: number, value: number, what = 'value'): void {
    this.fits(BigInt(value), 32, what);
    this.room(offset, 4, what);
    if (this.le) this.buf.writeUInt32LE(value, offset);
    else this.buf.writeUInt32BE(value, offset);
  }

  u64(offset: number, value: bigint, what = 'value'): void {
    this.fits(value, 64, what);
    this.room(offset, 8, what);
    if (this.le) this.buf.writeBigUInt64LE(value, offset);
    else this.buf.writeBigUInt64BE(value, offset);
  }

  /** An unsigned integer of `size` bytes (4 or 8). */
  uint(offset: number, size: 4 | 8, value: bigint, what = 'value'): void {
    if (size === 8) this.u64(offset, value, what);
    else {
      this.fits(value, 32, what);
      this.u32(offset, Number(value), what);
    }
  }

  /** A machine word (unsigned long / pointer) for this ELF class. */
  word(offset: number, value: bigint, what = 'value'): void {
    this.uint(offset, this.wordSize, value, what);
  }

  bytes(offset: number, src: Uint8Array, what = 'bytes'): void {
    this.room(offset, src.length, what);
    this.buf.set(src, offset);
  }
}
