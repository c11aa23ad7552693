/**
 * ELF section headers and their names, for the questions replay asks about a
 * bundled library: does it carry DWARF (.debug_info), does it name a separate
 * debug file (.gnu_debuglink), does it still have a symbol table (.symtab)?
 *
 * Cores need no sections, so src/elf/file.ts does not decode them; this file
 * does, over the same RandomAccessReader, with every read bounded: a library
 * from an untrusted bundle may lie in any field.
 */
import { Decoder, toOffset } from './decoder.js';
import { FormatError } from './errors.js';
import { ElfFile, decodeSectionHeader, readSectionHeaderZero, type SectionHeaderFields } from './file.js';
import { ELF_LAYOUT, fieldOffset, type EhdrFields } from './layout.js';

export { decodeSectionHeader };
import type { RandomAccessReader } from './reader.js';

export const SHT = {
  SHT_NULL: 0,
  SHT_PROGBITS: 1,
  SHT_SYMTAB: 2,
  SHT_STRTAB: 3,
  SHT_RELA: 4,
  SHT_HASH: 5,
  SHT_DYNAMIC: 6,
  SHT_NOTE: 7,
  SHT_NOBITS: 8,
  SHT_REL: 9,
  SHT_DYNSYM: 11,
} as const;

/** sh_flags bit: the section's data is compressed (Elf_Chdr + zlib/zstd). */
export const SHF_COMPRESSED = 0x800;
/** e_shstrndx escape: the real index is in section header 0's sh_link. */
export const SHN_XINDEX = 0xffff;
/** Section indexes from here up are reserved, not real sections. */
export const SHN_LORESERVE = 0xff00;

/** More sections than any real object has; a larger count is a lie. */
const MAX_SECTIONS = 1 << 20;
/** .shstrtab is a few KiB in practice; C++ objects with -ffunction-sections reach MiBs. */
const MAX_SHSTRTAB = 64 * 1024 * 1024;
/** .gnu_debuglink holds a file name, padding and a CRC: tiny. */
const MAX_DEBUGLINK = 64 * 1024;

export interface SectionHeader extends SectionHeaderFields {
  /** Decoded from .shstrtab; "" when the object has no section name table. */
  name: string;
}

/**
 * The section headers of an ELF object, with names. An object without a
 * section header table (e_shoff 0, as `sstrip` leaves it) has none: that is
 * not an error, it just answers "no debug info" to every question.
 */
export async function readSections(elf: ElfFile): Promise<SectionHeader[]> {
  const h = elf.header;
  const reader = elf.reader;
  const at = (field: keyof EhdrFields): number => fieldOffset(h.elfClass, 'ehdr', field);
  const shoff = toOffset(h.e_shoff, 'e_shoff', at('e_shoff'));
  if (shoff === 0) return [];
  const entsize = ELF_LAYOUT[h.elfClass].shdr.size;
  if (h.e_shentsize < entsize) {
    throw new FormatError(`e_shentsize ${h.e_shentsize} is smaller than a section header (${entsize})`, at('e_shentsize'));
  }
  // Section 0 holds the escapes for counts that do not fit the ELF header.
  if (shoff + entsize > reader.size) throw new FormatError(`section header 0 at ${shoff} is past the end of the file (${reader.size} bytes): the file is truncated`, at('e_shoff'));
  const zero = await readSectionHeaderZero(reader, h, shoff);
  let shnum = h.e_shnum;
  if (shnum === 0) shnum = toOffset(zero.sh_size, 'section count in section header 0', shoff);
  if (shnum === 0) return [];
  if (shnum > MAX_SECTIONS) throw new FormatError(`implausible section count ${shnum}`, shoff);
  const tableSize = shnum * h.e_shentsize;
  if (shoff + tableSize > reader.size) {
    throw new FormatError(
      `section header table (${shnum} entries of ${h.e_shentsize} bytes at ${shoff}) runs past the end of the file (${reader.size} bytes): the file is truncated`,
      shoff,
    );
  }
  const d = new Decoder(await reader.read(shoff, tableSize, 'section header table'), h.byteOrder, h.elfClass, shoff, 'section header table');
  const raw: SectionHeaderFields[] = [];
  for (let i = 0; i < shnum; i++) raw.push(decodeSectionHeader(d, i * h.e_shentsize, i));

  // SHN_UNDEF (0) or another reserved index: the object has no name table.
  const strndx = h.e_shstrndx === SHN_XINDEX ? zero.sh_link : h.e_shstrndx >= SHN_LORESERVE ? 0 : h.e_shstrndx;
  if (strndx === 0) return raw.map((s) => ({ ...s, name: '' }));
  const strtab = raw[strndx];
  if (!strtab) throw new FormatError(`e_shstrndx ${strndx} names no section (there are ${shnum})`, at('e_shstrndx'));
  if (strtab.sh_type === SHT.SHT_NOBITS) return raw.map((s) => ({ ...s, name: '' }));
  const names = await readSectionData(elf, { ...strtab, name: '.shstrtab' }, MAX_SHSTRTAB);
  const nd = elf.decoder(names, strtab.sh_offset, 'section name string table');
  return raw.map((s) => {
    if (s.sh_name >= names.length && !(s.sh_name === 0 && names.length === 0)) {
      throw new FormatError(`section ${s.index}: name offset ${s.sh_name} is past the end of the section name table (${names.length} bytes)`, shoff + s.index * h.e_shentsize);
    }
    return { ...s, name: names.length === 0 ? '' : nd.cstring(s.sh_name) };
  });
}

/** A section's bytes from the file; refuses NOBITS sections and sizes over `max`. */
export async function readSectionData(elf: ElfFile, s: SectionHeader, max: number): Promise<Buffer> {
  if (s.sh_type === SHT.SHT_NOBITS) throw new FormatError(`section ${s.name || s.index} has no data in the file (SHT_NOBITS)`);
  const what = `section ${s.name || s.index}`;
  const off = toOffset(s.sh_offset, `${what} sh_offset`, s.sh_offset);
  const len = toOffset(s.sh_size, `${what} sh_size`, s.sh_offset);
  if (len > max) throw new FormatError(`${what} is implausibly large (${len} bytes)`, off);
  if (off + len > elf.reader.size) {
    throw new FormatError(`${what} (${len} bytes at ${off}) runs past the end of the file (${elf.reader.size} bytes): the file is truncated`, off);
  }
  return elf.reader.read(off, len, what);
}

export interface DebugLink {
  /** The separate debug file's name (no directory). */
  file: string;
  /** CRC-32 of the debug file's contents, as gdb checks it. */
  crc: number;
}

/** Decodes .gnu_debuglink: a NUL-terminated name, padding to 4, then a 4-byte CRC. */
export function decodeDebugLink(d: Decoder): DebugLink {
  const nul = d.buf.indexOf(0);
  if (nul <= 0) throw new FormatError('.gnu_debuglink holds no file name', d.at(0));
  const crcAt = (nul + 4) & ~3;
  const file = d.buf.toString('utf8', 0, nul);
  // A link naming a path would send gdb (and us) outside the debug directories.
  if (file.includes('/') || file === '.' || file === '..') throw new FormatError(`.gnu_debuglink names ${JSON.stringify(file)}, not a plain file name`, d.at(0));
  return { file, crc: d.u32(crcAt) };
}

export interface DebugSummary {
  /** .debug_info (or the old .zdebug_info) with data in this file. */
  hasDebugInfo: boolean;
  /** .symtab present: function names, but no lines or variables, without debug info. */
  hasSymtab: boolean;
  debugLink: DebugLink | undefined;
  /** MiniDebugInfo (Fedora): an xz-compressed symbol table for backtraces. */
  hasMiniDebugInfo: boolean;
}

/** What an ELF object offers a debugger, from its section headers alone. */
export async function summarizeDebugSections(reader: RandomAccessReader): Promise<DebugSummary> {
  const elf = await ElfFile.open(reader);
  const sections = await readSections(elf);
  const find = (name: string) => sections.find((s) => s.name === name);
  const withData = (s: SectionHeader | undefined) => s !== undefined && s.sh_type !== SHT.SHT_NOBITS && s.sh_size > 0n;
  const link = find('.gnu_debuglink');
  return {
    hasDebugInfo: withData(find('.debug_info')) || withData(find('.zdebug_info')),
    hasSymtab: sections.some((s) => s.sh_type === SHT.SHT_SYMTAB && s.sh_size > 0n),
    debugLink: withData(link) ? decodeDebugLink(elf.decoder(await readSectionData(elf, link!, MAX_DEBUGLINK), link!.sh_offset, '.gnu_debuglink')) : undefined,
    hasMiniDebugInfo: withData(find('.gnu_debugdata')),
  };
}
