/**
 * The core the kernel is writing, before it has been written: its head
 * (ELF header, program headers, notes) read from the stream, and every
 * segment's bytes read from the crashed process's own memory
 * (/proc/PID/mem), which is frozen while the kernel dumps it and stays so
 * while the handler runs (core_pipe_limit > 0).
 *
 * The kernel writes a core in file order: the ELF header, the program
 * headers, the notes, then each segment page-aligned. So the head is small
 * and comes first, and the core's size is known from the program headers
 * before any memory is read. LiveCoreReader is a RandomAccessReader over
 * that not-yet-written file: the core reader (src/core) reads it exactly as
 * it would read the finished core, without a byte of it on disk.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { decodeHeader, decodeProgHeaders, type ElfHeader, type ProgHeader } from '../elf/file.js';
import { Decoder } from '../elf/decoder.js';
import { EI, ELFCLASS, ET, PN_XNUM, PT } from '../elf/constants.js';
import { ELF_LAYOUT } from '../elf/layout.js';
import { FormatError } from '../elf/errors.js';
import { MAX_READ, type RandomAccessReader } from '../elf/reader.js';
import { CoreStreamError } from './errors.js';

/** A head (header, program headers, notes) larger than this is not a core we stream: the notes of 10,000 threads fit. */
export const MAX_HEAD_BYTES = 64 * 1024 * 1024;

export interface CoreHead {
  header: ElfHeader;
  progs: ProgHeader[];
  /** Bytes [0, head.length) of the core, through the end of its last note. */
  bytes: Buffer;
  /** The size the core will have: the end of its last segment. */
  size: number;
}

/** How many bytes of the core's start are needed before its head can be decoded, given what has come so far; 0 when it is complete. */
export function headBytesNeeded(have: Buffer): number {
  if (have.length < EI.EI_NIDENT) return EI.EI_NIDENT;
  const ehdrSize = ELF_LAYOUT[have[EI.EI_CLASS] === ELFCLASS.ELFCLASS64 ? 64 : 32].ehdr.size;
  if (have.length < ehdrSize) return ehdrSize;
  const h = decodeHeader(have);
  if (h.e_type !== ET.ET_CORE) throw new CoreStreamError(`the stream is not an ELF core (e_type ${h.e_type})`);
  if (h.e_phnum === PN_XNUM) throw new CoreStreamError('the core has more than 65534 program headers (PN_XNUM): its count comes after the memory, so it cannot be streamed');
  const phEnd = Number(h.e_phoff) + h.e_phnum * h.e_phentsize;
  if (phEnd > MAX_HEAD_BYTES) throw new CoreStreamError(`the program headers end at ${phEnd} bytes: not a core the kernel wrote`);
  if (have.length < phEnd) return phEnd;
  const notesEnd = Math.max(phEnd, ...progsOf(have, h).filter((p) => p.p_type === PT.PT_NOTE).map((p) => Number(p.p_offset + p.p_filesz)));
  if (notesEnd > MAX_HEAD_BYTES) throw new CoreStreamError(`the notes end at ${notesEnd} bytes, beyond the ${MAX_HEAD_BYTES}-byte limit`);
  return have.length < notesEnd ? notesEnd : 0;
}

function progsOf(bytes: Buffer, h: ElfHeader): ProgHeader[] {
  if (h.e_phentsize < ELF_LAYOUT[h.elfClass].phdr.size) throw new FormatError(`e_phentsize ${h.e_phentsize} is smaller than a program header`, 0);
  const off = Number(h.e_phoff);
  const d = new Decoder(bytes.subarray(off, off + h.e_phnum * h.e_phentsize), h.byteOrder, h.elfClass, off, 'program header table');
  return decodeProgHeaders(d, h.e_phnum, h.e_phentsize);
}

/** The decoded head of a core whose first bytes are `bytes` (headBytesNeeded(bytes) === 0). */
export function decodeCoreHead(bytes: Buffer): CoreHead {
  const header = decodeHeader(bytes);
  const progs = progsOf(bytes, header);
  const notesEnd = Math.max(0, ...progs.filter((p) => p.p_type === PT.PT_NOTE).map((p) => Number(p.p_offset + p.p_filesz)));
  const size = Math.max(bytes.length, ...progs.map((p) => Number(p.p_offset + p.p_filesz)));
  // Memory must come after the notes, or the stream is not in file order.
  for (const p of progs) {
    if (p.p_type === PT.PT_LOAD && p.p_filesz > 0n && Number(p.p_offset) < notesEnd) throw new CoreStreamError(`segment ${p.index} lies inside the head (at ${p.p_offset}): the core is not in the kernel's file order`);
  }
  return { header, progs, bytes: bytes.subarray(0, notesEnd || bytes.length), size };
}

interface LoadRange {
  offset: number;
  end: number;
  vaddr: bigint;
}

/**
 * The core as a random-access file: head bytes from the stream, segment
 * bytes from /proc/PID/mem, zeros between (the page padding the kernel
 * writes). A page the kernel could not read either (a hole) reads as zeros,
 * as the kernel writes it.
 */
export class LiveCoreReader implements RandomAccessReader {
  private readonly loads: LoadRange[];

  private constructor(
    private readonly head: CoreHead,
    private readonly mem: FileHandle,
  ) {
    this.loads = head.progs
      .filter((p) => p.p_type === PT.PT_LOAD && p.p_filesz > 0n)
      .map((p) => ({ offset: Number(p.p_offset), end: Number(p.p_offset + p.p_filesz), vaddr: p.p_vaddr }))
      .sort((a, b) => a.offset - b.offset);
  }

  get size(): number {
    return this.head.size;
  }

  /** Opens the memory of `pid` (as seen from this PID namespace) behind `head`. */
  static async open(head: CoreHead, pid: number, procDir = '/proc'): Promise<LiveCoreReader> {
    const mem = await open(`${procDir}/${pid}/mem`, 'r');
    return new LiveCoreReader(head, mem);
  }

  async read(offset: number, length: number, what = 'read'): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || length > MAX_READ) throw new FormatError(`${what}: invalid range (offset ${offset}, length ${length})`, offset);
    if (offset + length > this.size) throw new FormatError(`${what} runs past the end of the core (needs bytes ${offset}..${offset + length}, it has ${this.size})`, offset);
    const out = Buffer.alloc(length);
    await this.fill(out, offset);
    return out;
  }

  /** Fills `out` with the core's bytes from `offset` on. */
  async fill(out: Buffer, offset: number): Promise<void> {
    const length = out.length;
    const headLen = this.head.bytes.length;
    if (offset < headLen) this.head.bytes.copy(out, 0, offset, Math.min(headLen, offset + length));
    for (const l of this.loadsOverlapping(offset, offset + length)) {
      const from = Math.max(offset, l.offset);
      const to = Math.min(offset + length, l.end);
      await this.readMemory(out.subarray(from - offset, to - offset), l.vaddr + BigInt(from - l.offset));
    }
  }

  private loadsOverlapping(start: number, end: number): LoadRange[] {
    // Binary search for the first segment ending after start: a core has thousands.
    let lo = 0;
    let hi = this.loads.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.loads[mid]!.end <= start) lo = mid + 1;
      else hi = mid;
    }
    const out: LoadRange[] = [];
    for (let i = lo; i < this.loads.length && this.loads[i]!.offset < end; i++) out.push(this.loads[i]!);
    return out;
  }

  private async readMemory(into: Buffer, addr: bigint): Promise<void> {
    let done = 0;
    while (done < into.length) {
      let n: number;
      try {
        // Positions above 2^53 (the kernel's half of the address space) cannot be dumped memory of a user process.
        ({ bytesRead: n } = await this.mem.read(into, done, into.length - done, Number(addr + BigInt(done))));
      } catch {
        n = 0;
      }
      if (n > 0) {
        done += n;
        continue;
      }
      // An unreadable page: skip to the next page boundary, leaving zeros.
      const next = Number(((addr + BigInt(done)) | 0xfffn) + 1n - addr);
      done = Math.min(into.length, next);
    }
  }

  async close(): Promise<void> {
    await this.mem.close();
  }
}
