/**
 * A buffer of fields in one byte order and one ELF class: what Decoder reads
 * (decoder.ts) and Encoder writes (encoder.ts). Both sides must agree on
 * what "little" and a machine word mean, so it is said once.
 */
export type ByteOrder = 'little' | 'big';
export type ElfClass = 32 | 64;

export abstract class FieldBuffer {
  readonly le: boolean;
  /** Bytes in a machine word (long, pointer) for this class. */
  readonly wordSize: 4 | 8;

  constructor(
    readonly buf: Buffer,
    readonly order: ByteOrder,
    readonly elfClass: ElfClass,
  ) {
    this.le = order === 'little';
    this.wordSize = elfClass === 64 ? 8 : 4;
  }

  get length(): number {
    return this.buf.length;
  }
}
