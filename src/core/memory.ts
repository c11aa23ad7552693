/**
 * The dead process's memory, as the core's PT_LOAD segments record it.
 *
 * Reads go straight to the file at p_offset + (addr − p_vaddr). A byte that
 * lies outside every segment, or past a segment's p_filesz (the kernel left
 * it out: a page never touched, or filtered by coredump_filter), is "not in
 * the core", which is different from a zero byte.
 */
import type { ElfFile, ProgHeader } from '../elf/file.js';
import { PT } from '../elf/constants.js';
import { lastAtOrBelow } from '../util/search.js';
import { hex } from '../util/text.js';

const byVaddr = (s: { vaddr: bigint }): bigint => s.vaddr;

export interface Segment {
  vaddr: bigint;
  memsz: bigint;
  filesz: bigint;
  offset: bigint;
  flags: number;
}

export class CoreMemory {
  /** PT_LOAD segments sorted by address. */
  readonly segments: readonly Segment[];

  constructor(private readonly elf: ElfFile) {
    this.segments = elf.progs
      .filter((p: ProgHeader) => p.p_type === PT.PT_LOAD)
      .map((p) => ({ vaddr: p.p_vaddr, memsz: p.p_memsz, filesz: p.p_filesz, offset: p.p_offset, flags: p.p_flags }))
      .sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  }

  /** The segment holding `addr`, by binary search (a core can have 65535+ segments). */
  segmentAt(addr: bigint): Segment | undefined {
    const found = this.segments[lastAtOrBelow(this.segments, byVaddr, addr)];
    // Overlapping segments are possible in hostile files; the last one starting
    // at or before addr may not cover it while an earlier one does.
    if (found && addr < found.vaddr + found.memsz) return found;
    return this.segments.find((s) => s.vaddr <= addr && addr < s.vaddr + s.memsz);
  }

  /** True when all of [addr, addr+length) is mapped and its bytes were dumped. */
  contains(addr: bigint, length: number): boolean {
    return this.dumpedRun(addr, length) >= length;
  }

  /** How many bytes from addr on are readable (dumped), up to `length`. */
  private dumpedRun(addr: bigint, length: number): number {
    let done = 0;
    while (done < length) {
      const a = addr + BigInt(done);
      const s = this.segmentAt(a);
      if (!s || a >= s.vaddr + s.filesz) break;
      const avail = s.vaddr + s.filesz - a;
      const take = avail < BigInt(length - done) ? Number(avail) : length - done;
      if (s.offset + (a - s.vaddr) + BigInt(take) > BigInt(this.elf.reader.size)) break; // truncated core
      done += take;
    }
    return done;
  }

  /**
   * Reads `length` bytes at virtual address `addr`, or returns undefined when
   * any of them is not in the core. Reads may span adjacent segments.
   */
  async read(addr: bigint, length: number): Promise<Buffer | undefined> {
    if (length === 0) return Buffer.alloc(0);
    if (this.dumpedRun(addr, length) < length) return undefined;
    const parts: Buffer[] = [];
    let done = 0;
    while (done < length) {
      const a = addr + BigInt(done);
      const s = this.segmentAt(a)!;
      const avail = s.vaddr + s.filesz - a;
      const take = avail < BigInt(length - done) ? Number(avail) : length - done;
      parts.push(await this.elf.reader.read(Number(s.offset + (a - s.vaddr)), take, `memory at ${hex(a)}`));
      done += take;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Reads a NUL-terminated string of at most `max` bytes; undefined when not in the core. */
  async readCString(addr: bigint, max = 4096): Promise<string | undefined> {
    const chunk = 256;
    const bytes: Buffer[] = [];
    for (let got = 0; got < max; got += chunk) {
      const want = Math.min(chunk, max - got);
      // Near the end of a segment a full chunk may not be there; read what is.
      const avail = this.dumpedRun(addr + BigInt(got), want);
      if (avail === 0) return got === 0 ? undefined : Buffer.concat(bytes).toString('utf8');
      const buf = (await this.read(addr + BigInt(got), avail))!;
      const nul = buf.indexOf(0);
      if (nul >= 0) {
        bytes.push(buf.subarray(0, nul));
        return Buffer.concat(bytes).toString('utf8');
      }
      bytes.push(buf);
      if (avail < want) break;
    }
    return Buffer.concat(bytes).toString('utf8');
  }
}
