/**
 * An ELF file opened over a random-access reader: its header and program
 * headers, decoded once. Sections are not needed for cores (only section
 * header 0, for the PN_XNUM escape).
 */
import { Decoder, toOffset, type ByteOrder, type ElfClass } from './decoder.js';
import { FormatError } from './errors.js';
import { EI, ELFCLASS, ELFDATA, ELFMAG, ET, EM, PN_XNUM, nameOf } from './constants.js';
import type { RandomAccessReader } from './reader.js';

export interface ElfHeader {
  elfClass: ElfClass;
  byteOrder: ByteOrder;
  ei_osabi: number;
  e_type: number;
  e_machine: number;
  e_version: number;
  e_entry: bigint;
  e_phoff: bigint;
  e_shoff: bigint;
  e_flags: number;
  e_ehsize: number;
  e_phentsize: number;
  /** As stored; see ElfFile.phnum for the real count. */
  e_phnum: number;
  e_shentsize: number;
  e_shnum: number;
  e_shstrndx: number;
}

export interface ProgHeader {
  /** Index in the program header table. */
  index: number;
  p_type: number;
  p_flags: number;
  p_offset: bigint;
  p_vaddr: bigint;
  p_paddr: bigint;
  p_filesz: bigint;
  p_memsz: bigint;
  p_align: bigint;
}

const EHDR_SIZE = { 32: 52, 64: 64 } as const;
const PHDR_SIZE = { 32: 32, 64: 56 } as const;
const SHDR_SIZE = { 32: 40, 64: 64 } as const;

/** Decodes an ELF header from its first bytes (at least 52 or 64). */
export function decodeHeader(buf: Buffer, base: number | bigint = 0): ElfHeader {
  if (buf.length < 16 || !buf.subarray(0, 4).equals(ELFMAG)) {
    throw new FormatError('not an ELF file (no \\x7fELF magic)', base);
  }
  const cls = buf[EI.EI_CLASS];
  const data = buf[EI.EI_DATA];
  if (cls !== ELFCLASS.ELFCLASS32 && cls !== ELFCLASS.ELFCLASS64) {
    throw new FormatError(`unknown ELF class ${cls}`, typeof base === 'bigint' ? base + 4n : base + 4);
  }
  if (data !== ELFDATA.ELFDATA2LSB && data !== ELFDATA.ELFDATA2MSB) {
    throw new FormatError(`unknown ELF data encoding ${data}`, typeof base === 'bigint' ? base + 5n : base + 5);
  }
  const elfClass: ElfClass = cls === ELFCLASS.ELFCLASS64 ? 64 : 32;
  const d = new Decoder(buf, data === ELFDATA.ELFDATA2LSB ? 'little' : 'big', elfClass, base, 'ELF header');
  d.need(0, EHDR_SIZE[elfClass]);
  const w = elfClass === 64 ? 8 : 4;
  // Field offsets after e_entry shift by the word size; computing them keeps
  // one decoder for both classes.
  const o = 24 + w * 3; // after e_entry, e_phoff, e_shoff
  return {
    elfClass,
    byteOrder: d.order,
    ei_osabi: d.u8(EI.EI_OSABI),
    e_type: d.u16(16),
    e_machine: d.u16(18),
    e_version: d.u32(20),
    e_entry: d.word(24),
    e_phoff: d.word(24 + w),
    e_shoff: d.word(24 + 2 * w),
    e_flags: d.u32(o),
    e_ehsize: d.u16(o + 4),
    e_phentsize: d.u16(o + 6),
    e_phnum: d.u16(o + 8),
    e_shentsize: d.u16(o + 10),
    e_shnum: d.u16(o + 12),
    e_shstrndx: d.u16(o + 14),
  };
}

/** Decodes one program header from its bytes. */
export function decodeProgHeader(d: Decoder, off: number, index: number): ProgHeader {
  if (d.elfClass === 64) {
    return {
      index,
      p_type: d.u32(off),
      p_flags: d.u32(off + 4),
      p_offset: d.u64(off + 8),
      p_vaddr: d.u64(off + 16),
      p_paddr: d.u64(off + 24),
      p_filesz: d.u64(off + 32),
      p_memsz: d.u64(off + 40),
      p_align: d.u64(off + 48),
    };
  }
  return {
    index,
    p_type: d.u32(off),
    p_offset: BigInt(d.u32(off + 4)),
    p_vaddr: BigInt(d.u32(off + 8)),
    p_paddr: BigInt(d.u32(off + 12)),
    p_filesz: BigInt(d.u32(off + 16)),
    p_memsz: BigInt(d.u32(off + 20)),
    p_flags: d.u32(off + 24),
    p_align: BigInt(d.u32(off + 28)),
  };
}

export class ElfFile {
  private constructor(
    readonly reader: RandomAccessReader,
    readonly header: ElfHeader,
    /** The real number of program headers (PN_XNUM resolved). */
    readonly phnum: number,
    readonly progs: readonly ProgHeader[],
  ) {}

  get elfClass(): ElfClass {
    return this.header.elfClass;
  }

  get byteOrder(): ByteOrder {
    return this.header.byteOrder;
  }

  get typeName(): string {
    return nameOf(ET, this.header.e_type);
  }

  get machineName(): string {
    return nameOf(EM, this.header.e_machine);
  }

  decoder(buf: Buffer, base: number | bigint, what: string): Decoder {
    return new Decoder(buf, this.byteOrder, this.elfClass, base, what);
  }

  static async open(reader: RandomAccessReader): Promise<ElfFile> {
    if (reader.size === 0) throw new FormatError('the file is empty', 0);
    if (reader.size < 16) throw new FormatError(`not an ELF file (only ${reader.size} bytes)`, 0);
    const ident = await reader.read(0, 16, 'ELF identification');
    if (!ident.subarray(0, 4).equals(ELFMAG)) throw new FormatError('not an ELF file (no \\x7fELF magic)', 0);
    const size = ident[EI.EI_CLASS] === ELFCLASS.ELFCLASS64 ? 64 : 52;
    const header = decodeHeader(await reader.read(0, size, 'ELF header'));

    let phnum = header.e_phnum;
    if (phnum === PN_XNUM) phnum = await readXnum(reader, header);
    if (phnum === 0) return new ElfFile(reader, header, 0, []);

    const entsize = PHDR_SIZE[header.elfClass];
    if (header.e_phentsize < entsize) {
      throw new FormatError(`e_phentsize ${header.e_phentsize} is smaller than a program header (${entsize})`, header.elfClass === 64 ? 54 : 42);
    }
    const phoff = toOffset(header.e_phoff, 'e_phoff', header.elfClass === 64 ? 32 : 28);
    const tableSize = header.e_phentsize * phnum;
    if (phoff + tableSize > reader.size) {
      throw new FormatError(
        `program header table (${phnum} entries of ${header.e_phentsize} bytes at ${phoff}) runs past the end of the file (${reader.size} bytes): the file is truncated`,
        phoff,
      );
    }
    const table = await reader.read(phoff, tableSize, 'program header table');
    const d = new Decoder(table, header.byteOrder, header.elfClass, phoff, 'program header table');
    const progs: ProgHeader[] = [];
    for (let i = 0; i < phnum; i++) progs.push(decodeProgHeader(d, i * header.e_phentsize, i));
    return new ElfFile(reader, header, phnum, progs);
  }

  /** Reads a segment's bytes from the file, bounds-checked against the file size. */
  async segmentBytes(ph: ProgHeader, what: string): Promise<Buffer> {
    const off = toOffset(ph.p_offset, `${what} p_offset`, ph.p_offset);
    const len = toOffset(ph.p_filesz, `${what} p_filesz`, ph.p_offset);
    if (off + len > this.reader.size) {
      throw new FormatError(
        `${what} (program header ${ph.index}, ${len} bytes at ${off}) runs past the end of the file (${this.reader.size} bytes): the file is truncated or p_filesz lies`,
        off,
      );
    }
    return this.reader.read(off, len, what);
  }
}

/** With e_phnum == PN_XNUM the real count is sh_info of section header 0. */
async function readXnum(reader: RandomAccessReader, h: ElfHeader): Promise<number> {
  const shoff = toOffset(h.e_shoff, 'e_shoff', h.elfClass === 64 ? 40 : 32);
  if (shoff === 0) throw new FormatError('e_phnum is PN_XNUM but there is no section header 0 to hold the count', h.elfClass === 64 ? 56 : 44);
  const shdr = await reader.read(shoff, SHDR_SIZE[h.elfClass], 'section header 0');
  const d = new Decoder(shdr, h.byteOrder, h.elfClass, shoff, 'section header 0');
  return d.u32(h.elfClass === 64 ? 44 : 28);
}
