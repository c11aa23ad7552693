/**
 * An ELF file opened over a random-access reader: its header and program
 * headers, decoded once. Sections are not needed for cores (only section
 * header 0, for the PN_XNUM escape).
 */
import { Decoder, toOffset, type ByteOrder, type ElfClass } from './decoder.js';
import { FormatError } from './errors.js';
import { EI, ELFCLASS, ELFDATA, ELFMAG, ET, EM, PN_XNUM, nameOf } from './constants.js';
import { ELF_LAYOUT, decodeStruct, fieldOffset, type EhdrFields, type PhdrFields, type ShdrFields } from './layout.js';
import type { RandomAccessReader } from './reader.js';

/** The ELF header. e_phnum is as stored; see ElfFile.phnum for the real count. */
export interface ElfHeader extends EhdrFields {
  elfClass: ElfClass;
  byteOrder: ByteOrder;
  ei_osabi: number;
}

export interface ProgHeader extends PhdrFields {
  /** Index in the program header table. */
  index: number;
}

/** A section header as stored, with its index; sections.ts adds the name. */
export interface SectionHeaderFields extends ShdrFields {
  index: number;
}

/** Decodes an ELF header from its first bytes (at least 52 or 64). */
export function decodeHeader(buf: Buffer, base: number | bigint = 0): ElfHeader {
  if (buf.length < EI.EI_NIDENT || !buf.subarray(0, 4).equals(ELFMAG)) {
    throw new FormatError('not an ELF file (no \\x7fELF magic)', base);
  }
  const cls = buf[EI.EI_CLASS];
  const data = buf[EI.EI_DATA];
  if (cls !== ELFCLASS.ELFCLASS32 && cls !== ELFCLASS.ELFCLASS64) {
    throw new FormatError(`unknown ELF class ${cls}`, typeof base === 'bigint' ? base + BigInt(EI.EI_CLASS) : base + EI.EI_CLASS);
  }
  if (data !== ELFDATA.ELFDATA2LSB && data !== ELFDATA.ELFDATA2MSB) {
    throw new FormatError(`unknown ELF data encoding ${data}`, typeof base === 'bigint' ? base + BigInt(EI.EI_DATA) : base + EI.EI_DATA);
  }
  const elfClass: ElfClass = cls === ELFCLASS.ELFCLASS64 ? 64 : 32;
  const d = new Decoder(buf, data === ELFDATA.ELFDATA2LSB ? 'little' : 'big', elfClass, base, 'ELF header');
  return { elfClass, byteOrder: d.order, ei_osabi: d.u8(EI.EI_OSABI), ...decodeStruct(d, ELF_LAYOUT[elfClass].ehdr, 0) };
}

/** Decodes one program header from its bytes. */
export function decodeProgHeader(d: Decoder, off: number, index: number): ProgHeader {
  return { index, ...decodeStruct(d, ELF_LAYOUT[d.elfClass].phdr, off) };
}

/**
 * Decodes a program header table of `count` entries `entsize` bytes apart
 * (e_phentsize / AT_PHENT may exceed sizeof(Elf_Phdr); the extra is skipped).
 * The one loop the file reader, the in-memory image reader and the auxv
 * executable lookup share.
 */
export function decodeProgHeaders(d: Decoder, count: number, entsize: number): ProgHeader[] {
  const progs: ProgHeader[] = [];
  for (let i = 0; i < count; i++) progs.push(decodeProgHeader(d, i * entsize, i));
  return progs;
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
    const size = ELF_LAYOUT[ident[EI.EI_CLASS] === ELFCLASS.ELFCLASS64 ? 64 : 32].ehdr.size;
    const header = decodeHeader(await reader.read(0, size, 'ELF header'));
    const at = (field: keyof EhdrFields): number => fieldOffset(header.elfClass, 'ehdr', field);

    let phnum = header.e_phnum;
    if (phnum === PN_XNUM) phnum = await readXnum(reader, header);
    if (phnum === 0) return new ElfFile(reader, header, 0, []);

    const entsize = ELF_LAYOUT[header.elfClass].phdr.size;
    if (header.e_phentsize < entsize) {
      throw new FormatError(`e_phentsize ${header.e_phentsize} is smaller than a program header (${entsize})`, at('e_phentsize'));
    }
    const phoff = toOffset(header.e_phoff, 'e_phoff', at('e_phoff'));
    const tableSize = header.e_phentsize * phnum;
    if (phoff + tableSize > reader.size) {
      throw new FormatError(
        `program header table (${phnum} entries of ${header.e_phentsize} bytes at ${phoff}) runs past the end of the file (${reader.size} bytes): the file is truncated`,
        phoff,
      );
    }
    const table = await reader.read(phoff, tableSize, 'program header table');
    const d = new Decoder(table, header.byteOrder, header.elfClass, phoff, 'program header table');
    return new ElfFile(reader, header, phnum, decodeProgHeaders(d, phnum, header.e_phentsize));
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
  const shoff = toOffset(h.e_shoff, 'e_shoff', fieldOffset(h.elfClass, 'ehdr', 'e_shoff'));
  if (shoff === 0) throw new FormatError('e_phnum is PN_XNUM but there is no section header 0 to hold the count', fieldOffset(h.elfClass, 'ehdr', 'e_phnum'));
  return (await readSectionHeaderZero(reader, h, shoff)).sh_info;
}

/**
 * Section header 0, which holds the escapes for counts that overflow the ELF
 * header (PN_XNUM in sh_info, a large e_shnum in sh_size, SHN_XINDEX in sh_link).
 */
export async function readSectionHeaderZero(reader: RandomAccessReader, h: ElfHeader, shoff: number): Promise<SectionHeaderFields> {
  const size = ELF_LAYOUT[h.elfClass].shdr.size;
  const d = new Decoder(await reader.read(shoff, size, 'section header 0'), h.byteOrder, h.elfClass, shoff, 'section header 0');
  return decodeSectionHeader(d, 0, 0);
}

/** Decodes one section header (without its name, which needs .shstrtab). */
export function decodeSectionHeader(d: Decoder, off: number, index: number): SectionHeaderFields {
  return { index, ...decodeStruct(d, ELF_LAYOUT[d.elfClass].shdr, off) };
}
