/**
 * Writing ELF files, cores first, from the same layout tables the readers
 * decode with (layout.ts).
 *
 * A core can be many GiB, so writing is split in two:
 *   1. planElf() takes only the segments' *sizes* and lays the file out the
 *      way the kernels do: Elf_Ehdr, the program headers (PT_NOTE first),
 *      section header 0 when the count needs PN_XNUM, the notes, then each
 *      segment's data on its own alignment boundary. It returns every
 *      program header with its p_offset and the encoded head (everything
 *      before the first segment's data), all pure and in memory, small.
 *   2. writeElf() writes the head and then streams each segment's bytes from
 *      a source the caller supplies (typically ranges of another core),
 *      padding between them, checking each segment gets exactly p_filesz
 *      bytes. No segment's contents need be in memory at once.
 * The single-structure encoders (encodeElfHeader, encodeProgHeaders,
 * encodeSectionHeader, encodeNote) serve callers that place things by hand.
 */
import { EI, ELFCLASS, ELFDATA, ELFMAG, ET, PN_XNUM, PT, PF } from './constants.js';
import type { ByteOrder, ElfClass } from './decoder.js';
import { Encoder } from './encoder.js';
import { EncodeError } from './errors.js';
import type { ElfHeader, ProgHeader } from './file.js';
import { ELF_LAYOUT, alignUp, encodeStruct, type PhdrFields, type ShdrFields } from './layout.js';

/** The ELF version every file carries (EV_CURRENT). */
const EV_CURRENT = 1;
/** Note names and descriptors are padded to 4 bytes in cores, in both classes, as the kernels write them. */
const NOTE_ALIGN = 4;
/** Zero padding is written in blocks of at most this size. */
const PAD_BLOCK = 64 * 1024;

export interface ElfShape {
  elfClass: ElfClass;
  byteOrder: ByteOrder;
}

// ---------------------------------------------------------------------------
// Single structures
// ---------------------------------------------------------------------------

/** Elf_Ehdr with e_ident filled from elfClass, byteOrder and ei_osabi (EI_ABIVERSION 0). */
export function encodeElfHeader(h: ElfHeader): Buffer {
  const L = ELF_LAYOUT[h.elfClass].ehdr;
  const e = new Encoder(Buffer.alloc(L.size), h.byteOrder, h.elfClass);
  e.bytes(0, ELFMAG, 'EI_MAG');
  e.u8(EI.EI_CLASS, h.elfClass === 64 ? ELFCLASS.ELFCLASS64 : ELFCLASS.ELFCLASS32, 'EI_CLASS');
  e.u8(EI.EI_DATA, h.byteOrder === 'little' ? ELFDATA.ELFDATA2LSB : ELFDATA.ELFDATA2MSB, 'EI_DATA');
  e.u8(EI.EI_VERSION, EV_CURRENT, 'EI_VERSION');
  e.u8(EI.EI_OSABI, h.ei_osabi, 'EI_OSABI');
  encodeStruct(e, L, 0, h);
  return e.buf;
}

/** A program header table: each entry sizeof(Elf_Phdr) bytes, back to back. */
export function encodeProgHeaders(shape: ElfShape, progs: readonly PhdrFields[]): Buffer {
  const L = ELF_LAYOUT[shape.elfClass].phdr;
  const e = new Encoder(Buffer.alloc(L.size * progs.length), shape.byteOrder, shape.elfClass);
  progs.forEach((p, i) => encodeStruct(e, L, i * L.size, p));
  return e.buf;
}

export function encodeSectionHeader(shape: ElfShape, sh: ShdrFields): Buffer {
  const L = ELF_LAYOUT[shape.elfClass].shdr;
  const e = new Encoder(Buffer.alloc(L.size), shape.byteOrder, shape.elfClass);
  encodeStruct(e, L, 0, sh);
  return e.buf;
}

export interface NoteSpec {
  /** Owner name without its NUL ("CORE", "FreeBSD", "GNU"); the NUL is added. */
  name: string;
  n_type: number;
  desc: Uint8Array;
}

/** Bytes one note takes: Elf_Nhdr, the name with its NUL and the descriptor, each padded to 4. */
export function noteSize(note: NoteSpec): number {
  return ELF_LAYOUT[32].nhdr.size + alignUp(Buffer.byteLength(note.name, 'latin1') + 1, NOTE_ALIGN) + alignUp(note.desc.length, NOTE_ALIGN);
}

/** One note as the kernel writes it (namesz counts the NUL; padding is zero). */
export function encodeNote(shape: ElfShape, note: NoteSpec): Buffer {
  const L = ELF_LAYOUT[shape.elfClass].nhdr;
  const name = Buffer.from(`${note.name}\0`, 'latin1');
  const e = new Encoder(Buffer.alloc(noteSize(note)), shape.byteOrder, shape.elfClass);
  encodeStruct(e, L, 0, { n_namesz: name.length, n_descsz: note.desc.length, n_type: note.n_type >>> 0 });
  e.bytes(L.size, name, 'note name');
  e.bytes(L.size + alignUp(name.length, NOTE_ALIGN), note.desc, 'note descriptor');
  return e.buf;
}

/** A PT_NOTE segment's contents: the notes back to back. */
export function encodeNotes(shape: ElfShape, notes: readonly NoteSpec[]): Buffer {
  return Buffer.concat(notes.map((n) => encodeNote(shape, n)));
}

// ---------------------------------------------------------------------------
// Whole files: plan, then stream
// ---------------------------------------------------------------------------

/** A segment whose data the caller streams: its program header without p_offset. */
export interface SegmentSpec {
  p_type: number;
  p_flags: number;
  p_vaddr: bigint;
  /** Default 0. */
  p_paddr?: bigint;
  /** Bytes the caller will stream for this segment (0 for memory not in the file). */
  p_filesz: bigint;
  p_memsz: bigint;
  p_align: bigint;
}

export interface ElfPlanInput extends ElfShape {
  e_machine: number;
  /** Default ET_CORE. */
  e_type?: number;
  /** Default 0 (ELFOSABI_NONE, what Linux writes; FreeBSD writes 9, NetBSD 2). */
  ei_osabi?: number;
  /** Default 0. */
  e_flags?: number;
  /** Default 0. */
  e_entry?: bigint;
  /**
   * The PT_NOTE segment's contents, written right after the headers as the
   * first program header: notes to encode, or bytes already encoded (a note
   * segment copied from another core). Omitted: no PT_NOTE.
   */
  notes?: readonly NoteSpec[] | Uint8Array;
  /** The streamed segments, in file order; their program headers follow PT_NOTE in this order. */
  segments: readonly SegmentSpec[];
  /**
   * File-offset alignment of every streamed segment's data. Default 4096
   * (ELF_EXEC_PAGESIZE): the kernels start each dumped segment on a page.
   */
  segmentAlign?: number;
}

/** Where one streamed segment goes. */
export interface PlannedSegment {
  /** Index of its program header (the PT_NOTE, when present, is 0). */
  index: number;
  /** Index into ElfPlanInput.segments. */
  segment: number;
  p_offset: bigint;
  p_filesz: bigint;
}

export interface ElfPlan extends ElfShape {
  header: ElfHeader;
  /** The real program header count (header.e_phnum is PN_XNUM when this is ≥ PN_XNUM). */
  phnum: number;
  /** Every program header, p_offset filled in, PT_NOTE first when there are notes. */
  progs: readonly ProgHeader[];
  /** Bytes 0 .. head.length of the file: headers, section header 0 (PN_XNUM only), notes. */
  head: Buffer;
  /** The streamed segments in file order, each after the previous one's end (offsets never decrease). */
  segments: readonly PlannedSegment[];
  /** Size of the whole file. */
  fileSize: bigint;
}

/**
 * Lays out an ELF file from segment sizes alone. With PN_XNUM or more
 * program headers, e_phnum is PN_XNUM and the real count goes in section
 * header 0's sh_info (e_shnum 1, sh_size 1, as Linux's fill_extnum_info
 * writes it); that header sits right after the program headers so the whole
 * head is written before any segment.
 */
export function planElf(input: ElfPlanInput): ElfPlan {
  const { elfClass, byteOrder } = input;
  const shape: ElfShape = { elfClass, byteOrder };
  const L = ELF_LAYOUT[elfClass];
  const segmentAlign = input.segmentAlign ?? 4096;
  if (!Number.isSafeInteger(segmentAlign) || segmentAlign < 1) throw new EncodeError(`segment alignment ${segmentAlign} is not a positive integer`, 'segmentAlign', segmentAlign);

  const noteBytes = input.notes === undefined ? undefined : input.notes instanceof Uint8Array ? input.notes : encodeNotes(shape, input.notes);
  const phnum = input.segments.length + (noteBytes ? 1 : 0);
  const xnum = phnum >= PN_XNUM;
  const phoff = L.ehdr.size;
  const shoff = phoff + phnum * L.phdr.size;
  const notesAt = shoff + (xnum ? L.shdr.size : 0);
  const headSize = notesAt + (noteBytes?.length ?? 0);

  const progs: ProgHeader[] = [];
  if (noteBytes) {
    const size = BigInt(noteBytes.length);
    progs.push({ index: 0, p_type: PT.PT_NOTE, p_flags: PF.PF_R, p_offset: BigInt(notesAt), p_vaddr: 0n, p_paddr: 0n, p_filesz: size, p_memsz: 0n, p_align: BigInt(NOTE_ALIGN) });
  }
  const segments: PlannedSegment[] = [];
  const step = BigInt(segmentAlign);
  const alignBig = (n: bigint): bigint => ((n + step - 1n) / step) * step;
  let end = BigInt(headSize);
  input.segments.forEach((s, i) => {
    if (s.p_filesz < 0n) throw new EncodeError(`segment ${i}: p_filesz ${s.p_filesz} is negative`, 'p_filesz', s.p_filesz);
    const p_offset = alignBig(end);
    const index = progs.length;
    progs.push({ index, p_type: s.p_type, p_flags: s.p_flags, p_offset, p_vaddr: s.p_vaddr, p_paddr: s.p_paddr ?? 0n, p_filesz: s.p_filesz, p_memsz: s.p_memsz, p_align: s.p_align });
    segments.push({ index, segment: i, p_offset, p_filesz: s.p_filesz });
    end = p_offset + s.p_filesz;
  });

  const header: ElfHeader = {
    elfClass,
    byteOrder,
    ei_osabi: input.ei_osabi ?? 0,
    e_type: input.e_type ?? ET.ET_CORE,
    e_machine: input.e_machine,
    e_version: EV_CURRENT,
    e_entry: input.e_entry ?? 0n,
    e_phoff: phnum > 0 ? BigInt(phoff) : 0n,
    e_shoff: xnum ? BigInt(shoff) : 0n,
    e_flags: input.e_flags ?? 0,
    e_ehsize: L.ehdr.size,
    e_phentsize: L.phdr.size,
    e_phnum: xnum ? PN_XNUM : phnum,
    e_shentsize: L.shdr.size,
    e_shnum: xnum ? 1 : 0,
    e_shstrndx: 0,
  };
  const parts = [encodeElfHeader(header), encodeProgHeaders(shape, progs)];
  if (xnum) {
    parts.push(encodeSectionHeader(shape, { sh_name: 0, sh_type: 0, sh_flags: 0n, sh_addr: 0n, sh_offset: 0n, sh_size: 1n, sh_link: 0, sh_info: phnum, sh_addralign: 0n, sh_entsize: 0n }));
  }
  if (noteBytes) parts.push(Buffer.from(noteBytes.buffer, noteBytes.byteOffset, noteBytes.byteLength));
  return { elfClass, byteOrder, header, phnum, progs, head: Buffer.concat(parts), segments, fileSize: end };
}

/** Where writeElf puts bytes, in order: a file handle's write, a stream's write with backpressure, a test's array. */
export type ByteSink = (chunk: Uint8Array) => Promise<void>;

/** A segment's data, in order, exactly p_filesz bytes in all, in chunks of any size. */
export type SegmentSource = (segment: PlannedSegment) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Writes a planned file: the head, then each segment's bytes from `source`,
 * with zero padding up to every p_offset. Memory stays flat: only one chunk
 * of `source` and one padding block are held at a time. A source that yields
 * more or fewer bytes than p_filesz is an EncodeError naming the segment,
 * raised before anything past that segment is written.
 */
export async function writeElf(plan: ElfPlan, sink: ByteSink, source: SegmentSource): Promise<void> {
  await sink(plan.head);
  let at = BigInt(plan.head.length);
  for (const seg of plan.segments) {
    await pad(sink, seg.p_offset - at);
    let got = 0n;
    if (seg.p_filesz > 0n) {
      for await (const chunk of source(seg)) {
        got += BigInt(chunk.length);
        if (got > seg.p_filesz) throw new EncodeError(`segment ${seg.index}: the source gave more than p_filesz ${seg.p_filesz} bytes`, 'p_filesz', got);
        if (chunk.length > 0) await sink(chunk);
      }
    }
    if (got !== seg.p_filesz) throw new EncodeError(`segment ${seg.index}: the source gave ${got} bytes, p_filesz is ${seg.p_filesz}`, 'p_filesz', got);
    at = seg.p_offset + seg.p_filesz;
  }
}

async function pad(sink: ByteSink, n: bigint): Promise<void> {
  const zeros = Buffer.alloc(Number(n < BigInt(PAD_BLOCK) ? n : BigInt(PAD_BLOCK)));
  for (let left = n; left > 0n; left -= BigInt(zeros.length)) {
    await sink(left >= BigInt(zeros.length) ? zeros : zeros.subarray(0, Number(left)));
  }
}
