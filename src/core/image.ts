/**
 * An ELF object as it sits in memory (or on disk): where it was loaded, its
 * dynamic section, and its GNU build ID.
 *
 * The kernel dumps the first page of every file-backed ELF mapping by default
 * (coredump_filter bit 4), which holds the ELF header, the program headers
 * and, in practice, the build-id note: enough to say exactly which file was
 * loaded, without the file.
 */
import { Decoder, type ByteOrder, type ElfClass } from '../elf/decoder.js';
import { decodeHeader, decodeProgHeaders, ElfFile, type ElfHeader, type ProgHeader } from '../elf/file.js';
import { ELF_LAYOUT } from '../elf/layout.js';
import { FormatError } from '../elf/errors.js';
import { ELFMAG, PT, PN_XNUM } from '../elf/constants.js';
import { findBuildId, parseNotes } from '../elf/notes.js';
import { FileReader } from '../elf/reader.js';
import type { CoreMemory } from './memory.js';

/** Upper bounds on what we read from memory for one image: hostile headers cannot make us read more. */
const MAX_PHDR_BYTES = 64 * 1024;
const MAX_NOTE_BYTES = 64 * 1024;

export interface MemoryImage {
  header: ElfHeader;
  progs: ProgHeader[];
  /** l_addr: difference between run-time and link-time addresses. */
  bias: bigint;
  /** Run-time address range of the image's PT_LOAD segments (end exclusive). */
  start: bigint;
  end: bigint;
  /** Run-time address of PT_DYNAMIC, if any. */
  dynamic: bigint | undefined;
  dynamicSize: bigint;
  buildId: string | undefined;
  buildIdAddr: bigint | undefined;
}

/**
 * Reads the ELF image mapped at `base` (the address of file offset 0) from core
 * memory. Returns undefined when the header is not in the core or is not ELF.
 *
 * `headerAt` reads the headers from another mapping of the same file's first
 * page when the one at `base` was not dumped (old linkers map offset 0 twice);
 * addresses are still computed from `base`.
 */
export async function readImageFromMemory(
  mem: CoreMemory,
  base: bigint,
  expect?: { elfClass: ElfClass; byteOrder: ByteOrder },
  headerAt: bigint = base,
): Promise<MemoryImage | undefined> {
  // Read as much as the larger (ELF64) header: an ELF32 header fits inside it.
  const ident = await mem.read(headerAt, ELF_LAYOUT[64].ehdr.size);
  if (!ident || !ident.subarray(0, ELFMAG.length).equals(ELFMAG)) return undefined;
  let header: ElfHeader;
  try {
    header = decodeHeader(ident, base);
  } catch {
    return undefined;
  }
  if (expect && (header.elfClass !== expect.elfClass || header.byteOrder !== expect.byteOrder)) return undefined;
  const entsize = ELF_LAYOUT[header.elfClass].phdr.size;
  if (header.e_phnum === 0 || header.e_phnum === PN_XNUM || header.e_phentsize < entsize) return undefined;
  const tableSize = header.e_phnum * header.e_phentsize;
  if (tableSize > MAX_PHDR_BYTES) return undefined;
  const wrap = (v: bigint): bigint => BigInt.asUintN(header.elfClass, v);
  const table = await mem.read(wrap(headerAt + header.e_phoff), tableSize);
  if (!table) return undefined;
  const d = new Decoder(table, header.byteOrder, header.elfClass, wrap(headerAt + header.e_phoff), 'program headers in memory');
  const progs = decodeProgHeaders(d, header.e_phnum, header.e_phentsize);

  const loads = progs.filter((p) => p.p_type === PT.PT_LOAD);
  if (loads.length === 0) return undefined;
  const first = loads.reduce((a, b) => (b.p_offset < a.p_offset ? b : a));
  // The mapping of file offset 0 sits at bias + (p_vaddr − p_offset) of the first segment.
  // Addresses wrap at the word size: a vDSO linked high has a "negative" bias.
  const bias = wrap(base - (first.p_vaddr - first.p_offset));
  let end = 0n;
  for (const p of loads) if (p.p_vaddr + p.p_memsz > end) end = p.p_vaddr + p.p_memsz;

  const dyn = progs.find((p) => p.p_type === PT.PT_DYNAMIC);
  let buildId: string | undefined;
  let buildIdAddr: bigint | undefined;
  for (const p of progs) {
    if (p.p_type !== PT.PT_NOTE || buildId) continue;
    const size = Number(p.p_filesz < BigInt(MAX_NOTE_BYTES) ? p.p_filesz : BigInt(MAX_NOTE_BYTES));
    const addr = wrap(bias + p.p_vaddr);
    // The note where the image runs, or else in the header copy's page (same file offsets).
    let bytes = await mem.read(addr, size);
    if (!bytes && headerAt !== base && p.p_offset + BigInt(size) <= 4096n) bytes = await mem.read(wrap(headerAt + p.p_offset), size);
    if (!bytes) continue;
    try {
      const notes = parseNotes(new Decoder(bytes, header.byteOrder, header.elfClass, addr, 'note in memory'), p.p_align === 8n ? 8 : 4);
      const found = findBuildId(notes);
      if (found) {
        buildId = found.id;
        buildIdAddr = BigInt(found.note.descOffset);
      }
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
    }
  }
  return {
    header,
    progs,
    bias,
    start: base,
    end: wrap(bias + end),
    dynamic: dyn ? wrap(bias + dyn.p_vaddr) : undefined,
    dynamicSize: dyn ? dyn.p_memsz : 0n,
    buildId,
    buildIdAddr,
  };
}

export interface FileElfInfo {
  buildId: string | undefined;
  elfClass: ElfClass;
  e_machine: number;
  e_type: number;
}

/**
 * Reads an ELF file's build ID from its PT_NOTE segments on disk. Throws
 * FormatError when the file is not ELF; I/O errors propagate as they are.
 */
export async function readFileElfInfo(path: string): Promise<FileElfInfo> {
  const reader = await FileReader.open(path);
  try {
    const elf = await ElfFile.open(reader);
    let buildId: string | undefined;
    for (const p of elf.progs) {
      if (p.p_type !== PT.PT_NOTE || buildId) continue;
      if (p.p_filesz > BigInt(MAX_NOTE_BYTES)) continue;
      const bytes = await elf.segmentBytes(p, 'PT_NOTE');
      try {
        buildId = findBuildId(parseNotes(elf.decoder(bytes, p.p_offset, 'PT_NOTE'), p.p_align === 8n ? 8 : 4))?.id;
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
      }
    }
    return { buildId, elfClass: elf.elfClass, e_machine: elf.header.e_machine, e_type: elf.header.e_type };
  } finally {
    await reader.close();
  }
}

/** An ELF file's headers as they are on disk, for an object whose headers the core left out. */
export interface FileImage {
  header: ElfHeader;
  progs: ProgHeader[];
  /** The build ID in the file (not what memory held). */
  buildId: string | undefined;
  /** PT_INTERP: the dynamic loader an executable asks for. */
  interp: string | undefined;
}

const MAX_INTERP_BYTES = 4096;

/** Reads the ELF and program headers and the build ID of a file on disk. FormatError when it is not ELF. */
export async function readFileImage(path: string): Promise<FileImage> {
  const reader = await FileReader.open(path);
  try {
    const elf = await ElfFile.open(reader);
    const pt = elf.progs.find((p) => p.p_type === PT.PT_INTERP && p.p_filesz > 0n && p.p_filesz <= BigInt(MAX_INTERP_BYTES));
    const interp = pt ? (await elf.segmentBytes(pt, 'PT_INTERP')).toString('latin1').replace(/\0.*$/s, '') : undefined;
    return { header: elf.header, progs: [...elf.progs], buildId: await fileBuildId(elf), interp };
  } finally {
    await reader.close();
  }
}

/**
 * The image a file on disk makes when loaded with load bias `bias`: the
 * extent and dynamic section come from the file's headers. Its build ID is
 * left undefined, because the core's memory does not vouch for it.
 */
export function imageFromFile(file: FileImage, bias: bigint): MemoryImage | undefined {
  const wrap = (v: bigint): bigint => BigInt.asUintN(file.header.elfClass, v);
  const loads = file.progs.filter((p) => p.p_type === PT.PT_LOAD);
  if (loads.length === 0) return undefined;
  const first = loads.reduce((a, b) => (b.p_offset < a.p_offset ? b : a));
  let end = 0n;
  for (const p of loads) if (p.p_vaddr + p.p_memsz > end) end = p.p_vaddr + p.p_memsz;
  const dyn = file.progs.find((p) => p.p_type === PT.PT_DYNAMIC);
  return {
    header: file.header,
    progs: file.progs,
    bias,
    start: wrap(bias + first.p_vaddr - first.p_offset),
    end: wrap(bias + end),
    dynamic: dyn ? wrap(bias + dyn.p_vaddr) : undefined,
    dynamicSize: dyn ? dyn.p_memsz : 0n,
    buildId: undefined,
    buildIdAddr: undefined,
  };
}

async function fileBuildId(elf: ElfFile): Promise<string | undefined> {
  for (const p of elf.progs) {
    if (p.p_type !== PT.PT_NOTE || p.p_filesz > BigInt(MAX_NOTE_BYTES)) continue;
    const bytes = await elf.segmentBytes(p, 'PT_NOTE');
    try {
      const id = findBuildId(parseNotes(elf.decoder(bytes, p.p_offset, 'PT_NOTE'), p.p_align === 8n ? 8 : 4))?.id;
      if (id) return id;
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
    }
  }
  return undefined;
}

/** The build ID of an ELF file on disk, or undefined when it has none. */
export async function readBuildIdFromFile(path: string): Promise<string | undefined> {
  return (await readFileElfInfo(path)).buildId;
}
