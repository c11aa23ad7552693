/**
 * Which memory a mini core keeps (collect --stacks-only): the ranges gdb and
 * libthread_db read to print every thread's backtrace, `info threads` and
 * thread-local variables, and nothing else. In, the summary of the full core
 * and its memory (read by address, a few words at a time); out, a sorted
 * list of {start, end, why}, each inside one segment of the full core and
 * within what the kernel dumped. The heap and anonymous mappings are left
 * out except for the small windows below, so what leaves the site is the
 * threads' stacks, the loader's and libc's state and a few hundred bytes
 * around live pointers, each range saying why it is there.
 *
 * Kept, per the issue (14) and the prototype that measured it (ranges that
 * share a page are then joined, see result()):
 *   - each thread's stack, from SP less the red zone to the end of its
 *     mapping (optionally capped; the SP end, with the crashing frames, stays);
 *   - of each ELF object the kernel dumped: ELF header and program headers,
 *     note segments (build ID), PT_DYNAMIC, PT_GNU_RELRO (GOT) and writable
 *     PT_LOADs (.data/.bss): without RELRO gdb finds no shared library;
 *   - the vDSO image (gdb unwinds through it);
 *   - r_debug, every link_map in the chain and its l_name string, and the
 *     loader's TLS module list (libthread_db checks DTVs against it);
 *   - per thread, struct pthread and the static TLS around its thread
 *     pointer, its DTV (malloc'ed: without it errno fails) and the TLS
 *     blocks of modules loaded at run time that its DTV points to;
 *   - 512 bytes around each register value pointing into writable memory
 *     (as Crashpad does), 256 around each PC (as Breakpad does) and 512
 *     around the fault address.
 */
import type { Decoder, ElfClass } from '../../elf/decoder.js';
import { PF, PT } from '../../elf/constants.js';
import { ELF_LAYOUT } from '../../elf/layout.js';
import type { Note } from '../../elf/notes.js';
import type { CoreSummary } from '../../core/model.js';
import type { CoreMemory, Segment } from '../../core/memory.js';
import { readImageFromMemory } from '../../core/image.js';
import { findRDebug, walkLinkMap } from '../../core/linkmap.js';
import { auxValue, executableDynamic, executableFromAuxv } from '../../core/executable.js';
import { hex } from '../../util/text.js';
import { lastAtOrBelow } from '../../util/search.js';
import { threadArchOf, UNKNOWN_ARCH_RED_ZONE, notesByThread, type ThreadArch } from './arch.js';

export interface KeptRange {
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** Why it is kept, in words a security reviewer can check ("stack of thread 4242"). */
  why: string;
}

export interface SelectInput {
  summary: CoreSummary;
  memory: CoreMemory;
  notes: readonly Note[];
  /** A decoder over a note's descriptor, in the core's byte order and class. */
  decoder(note: Note): Decoder;
  /** Size of the full core file: segments of a truncated core end where the file does. */
  fileSize: number;
}

export interface SelectOptions {
  /** Most bytes kept of one thread's stack; null: the whole used part. */
  stackCap: number | null;
}

export interface MiniCoreSelection {
  /** Sorted by address, disjoint, each inside one segment of the full core. */
  ranges: KeptRange[];
  /** Sum of the ranges' sizes. */
  bytes: number;
  /** What could not be kept and what that costs (no thread-pointer rule for this architecture …). */
  warnings: string[];
}

/** Crashpad keeps 512 bytes around register values that point into memory. */
const POINTER_WINDOW = 256n;
/** Breakpad keeps 256 bytes around the instruction pointer. */
const PC_WINDOW = 128n;
/**
 * Around a thread pointer: glibc's struct pthread is 2368 bytes on x86_64
 * (2.36), the static TLS blocks and their surplus about as much; each side is
 * bounded by the mapping holding the thread pointer.
 */
const TCB_WINDOW = 4096n;
/**
 * glibc's struct link_map runs past l_tls_modid (at 1152 on x86_64 in 2.36),
 * which libthread_db reads for every TLS lookup; gdb itself reads only the
 * first five words.
 */
const LINK_MAP_BYTES = 1536n;
/** struct r_debug_extended: r_version, r_map, r_brk, r_state, r_ldbase, r_next. */
const R_DEBUG_WORDS = 6;
/** A DTV longer than this is not a DTV (glibc starts it at 14 + the modules with TLS). */
const MAX_DTV_ENTRIES = 65536n;
const MAX_NAME = 4096;
/** How far above SP a signal frame is looked for: a handler's own frames are small. */
const SIGFRAME_SCAN = 64n * 1024n;
/** sigaltstack sizes: MINSIGSTKSZ (2048) up to a size nobody gives one. */
const MIN_SIGSTKSZ = 2048n;
const MAX_SIGSTKSZ = 1n << 30n;
const SS_AUTODISARM = 1 << 31;
/** DTV slots looked at, and the largest TLS block kept for one of them. */
const MAX_TLS_MODULES = 1024n;
const MAX_TLS_BLOCK = 1n << 20n;
/** The loader's .data/.bss is a few KiB; a header claiming more is not searched past this. */
const MAX_LOADER_DATA_SCAN = 1 << 20;

export async function selectMiniCoreRanges(input: SelectInput, opts: SelectOptions): Promise<MiniCoreSelection> {
  const sel = new Selector(input);
  // The loader's state first: a thread's DTV is read against its TLS module list.
  await sel.images();
  await sel.loaderState();
  await sel.stacksAndThreads(opts.stackCap);
  sel.faultAddress();
  return sel.result();
}

interface Candidate {
  start: bigint;
  end: bigint;
  why: string;
}

class Selector {
  private readonly wanted: Candidate[] = [];
  private readonly warnings: string[] = [];
  private readonly dumped: Array<Segment & { dumpedEnd: bigint }>;
  private readonly w: number;
  private readonly elfClass: ElfClass;
  /** The dynamic loader's writable data (.data/.bss), where _rtld_global lives. */
  private readonly loaderData: Candidate[] = [];
  /** PT_TLS p_memsz of each image, by its run-time PT_DYNAMIC address (what link_map.l_ld holds). */
  private readonly tlsSizeByDynamic = new Map<bigint, bigint>();
  /** l_ld of each link_map, by the link_map's address. */
  private linkMapLd = new Map<bigint, bigint>();
  /** TLS block size of each module id (the slotinfo list's index), where known. */
  private readonly tlsModuleSize = new Map<bigint, bigint>();

  constructor(private readonly input: SelectInput) {
    const fileSize = BigInt(input.fileSize);
    this.dumped = input.memory.segments
      .map((s) => {
        const inFile = fileSize > s.offset ? fileSize - s.offset : 0n;
        return { ...s, dumpedEnd: s.vaddr + (s.filesz < inFile ? s.filesz : inFile) };
      })
      .filter((s) => s.dumpedEnd > s.vaddr);
    this.elfClass = input.summary.elfClass;
    this.w = ELF_LAYOUT[this.elfClass].wordSize;
  }

  private keep(start: bigint, end: bigint, why: string): void {
    if (end > start) this.wanted.push({ start, end, why });
  }

  /** The dumped segment holding addr. */
  private segmentOf(addr: bigint): (Segment & { dumpedEnd: bigint }) | undefined {
    const s = this.dumped[lastAtOrBelow(this.dumped, (d) => d.vaddr, addr)];
    return s && addr < s.dumpedEnd ? s : undefined;
  }

  /** The parts of [start, end) that are dumped, one per segment. */
  private dumpedPieces(start: bigint, end: bigint): Array<{ start: bigint; end: bigint; seg: number }> {
    const out: Array<{ start: bigint; end: bigint; seg: number }> = [];
    for (let i = Math.max(0, lastAtOrBelow(this.dumped, (d) => d.vaddr, start)); i < this.dumped.length && this.dumped[i]!.vaddr < end; i++) {
      const s = this.dumped[i]!;
      const from = start > s.vaddr ? start : s.vaddr;
      const to = end < s.dumpedEnd ? end : s.dumpedEnd;
      if (to > from) out.push({ start: from, end: to, seg: i });
    }
    return out;
  }

  /** [addr − before, addr + after), bounded by the one mapping holding addr: windows never spill into a neighbour. */
  private keepAround(addr: bigint, before: bigint, after: bigint, why: string, test?: (s: Segment) => boolean): boolean {
    const s = this.segmentOf(addr);
    if (!s || (test && !test(s))) return false;
    const start = addr - before > s.vaddr ? addr - before : s.vaddr;
    const end = addr + after < s.dumpedEnd ? addr + after : s.dumpedEnd;
    this.keep(start, end, why);
    return true;
  }

  private async word(addr: bigint): Promise<bigint | undefined> {
    const b = await this.input.memory.read(addr, this.w);
    if (!b) return undefined;
    const { byteOrder } = this.input.summary;
    return this.w === 8 ? (byteOrder === 'little' ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0)) : BigInt(byteOrder === 'little' ? b.readUInt32LE(0) : b.readUInt32BE(0));
  }

  /** Stacks, the thread data libthread_db reads, and windows around register values. */
  async stacksAndThreads(stackCap: number | null): Promise<void> {
    const { summary, notes, decoder } = this.input;
    const arch = threadArchOf(summary.arch);
    if (!arch) {
      this.warnings.push(
        `no thread-pointer rule for ${summary.arch}: struct pthread, static TLS and DTV were not kept, so info threads may show no thread ids and thread-local variables (errno) may not print; the stacks are kept`,
      );
    }
    const redZone = BigInt(arch?.redZone ?? UNKNOWN_ARCH_RED_ZONE);
    const perThread = notesByThread(notes);
    const withoutTp: number[] = [];
    for (const [i, t] of summary.threads.entries()) {
      const name = `thread ${t.tid}`;
      if (t.sp === undefined || !(await this.stack(t.sp, redZone, stackCap, name, arch?.ucontext))) {
        this.warnings.push(`${name}: its stack pointer ${t.sp === undefined ? '(unknown)' : hex(t.sp)} is not in dumped memory; no stack kept for it`);
      }
      for (const [reg, value] of Object.entries(t.registers)) {
        if (value === t.pc) continue;
        this.keepAround(value, POINTER_WINDOW, POINTER_WINDOW, `512 bytes around ${name}'s ${reg}`, (s) => (s.flags & PF.PF_W) !== 0);
      }
      if (t.pc !== undefined) this.keepAround(t.pc, PC_WINDOW, PC_WINDOW, `256 bytes around ${name}'s pc`);
      if (!arch) continue;
      const tp = arch.threadPointer(t.registers, perThread[i] ?? [], decoder);
      if (tp === undefined || tp === 0n) withoutTp.push(t.tid);
      else await this.threadData(tp, arch.dtvSlot, arch.tcbOffset ?? 0, name);
    }
    if (arch && withoutTp.length > 0) {
      // qemu-user's cores, for one, have no NT_ARM_TLS.
      this.warnings.push(
        `no thread pointer (${arch.source}) in the core for ${withoutTp.length === summary.threads.length ? 'any thread' : `thread${withoutTp.length > 1 ? 's' : ''} ${withoutTp.join(', ')}`}: struct pthread, static TLS and DTV were not kept for ${withoutTp.length > 1 ? 'them' : 'it'}, so info threads may show no thread ids and errno may not print; the stacks are kept`,
      );
    }
  }

  private async stack(sp: bigint, redZone: bigint, cap: number | null, name: string, uc: ThreadArch['ucontext'], depth = 0): Promise<boolean> {
    const s = this.segmentOf(sp) ?? this.segmentOf(sp - redZone);
    if (!s) return false;
    const start = sp - redZone > s.vaddr ? sp - redZone : s.vaddr;
    let end = s.dumpedEnd;
    let why = depth === 0 ? `stack of ${name}` : `stack of ${name} interrupted by a signal handler on its alternate stack`;
    // A handler on an alternate stack (often malloc'ed): keep that stack only up to its
    // end, not the rest of the heap, and the interrupted stack as well.
    const alt = uc && depth < 2 ? await this.signalFrame(sp, start, end, uc) : undefined;
    if (alt) {
      if (alt.end < end) end = alt.end;
      why = `alternate signal stack of ${name}`;
      await this.stack(alt.interruptedSp, redZone, cap, name, uc, depth + 1);
    }
    if (cap !== null && end - start > BigInt(cap)) {
      why += ` (the innermost ${cap} bytes: --stack-cap dropped ${end - start - BigInt(cap)} bytes of outer frames)`;
      end = start + BigInt(cap);
    }
    this.keep(start, end, why);
    return true;
  }

  /**
   * The innermost signal frame on the stack from `from`, when its ucontext
   * says the handler runs on an alternate stack holding `sp` and the
   * interrupted stack pointer lies outside it: the kernel's own record, so a
   * match is checked on every field that has a fixed value.
   */
  private async signalFrame(sp: bigint, from: bigint, to: bigint, uc: NonNullable<ThreadArch['ucontext']>): Promise<{ end: bigint; interruptedSp: bigint } | undefined> {
    const span = to - from < SIGFRAME_SCAN ? to - from : SIGFRAME_SCAN;
    const bytes = await this.input.memory.read(from, Number(span));
    if (!bytes) return undefined;
    const w = this.w;
    const le = this.input.summary.byteOrder === 'little';
    const word = (off: number): bigint | undefined => (off + w > bytes.length ? undefined : w === 8 ? (le ? bytes.readBigUInt64LE(off) : bytes.readBigUInt64BE(off)) : BigInt(le ? bytes.readUInt32LE(off) : bytes.readUInt32BE(off)));
    const isCode = (pc: bigint): boolean => this.input.summary.modules.some((m) => m.start <= pc && pc < m.end);
    for (let at = (w - Number(from % BigInt(w))) % w; at + uc.savedPc + w <= bytes.length; at += w) {
      const flags = word(at);
      if (flags === undefined || flags > BigInt(uc.maxUcFlags) || word(at + w) !== 0n) continue; // uc_flags, uc_link
      const ssSp = word(at + uc.ssSp)!;
      const ssSize = word(at + uc.ssSize)!;
      const ssFlags = Number(word(at + uc.ssFlags)! & 0xffffffffn) & ~SS_AUTODISARM;
      if (ssFlags > 2 || ssSize < MIN_SIGSTKSZ || ssSize > MAX_SIGSTKSZ || sp < ssSp || sp >= ssSp + ssSize) continue;
      const savedSp = word(at + uc.savedSp)!;
      const savedPc = word(at + uc.savedPc)!;
      if (savedSp >= ssSp && savedSp < ssSp + ssSize) continue; // interrupted on the alternate stack itself
      if (!this.segmentOf(savedSp) || !isCode(savedPc)) continue;
      return { end: ssSp + ssSize, interruptedSp: savedSp };
    }
    return undefined;
  }

  private async threadData(tp: bigint, dtvSlot: number, tcbOffset: number, name: string): Promise<void> {
    if (!this.keepAround(tp + BigInt(tcbOffset), TCB_WINDOW, TCB_WINDOW, `struct pthread and static TLS of ${name} (thread pointer ${hex(tp)})`)) {
      this.warnings.push(`${name}: its thread pointer ${hex(tp)} is not in dumped memory`);
      return;
    }
    // tcbhead_t.dtv points at dtv[1]; dtv[-1].counter is the number of module slots after dtv[0] (the generation).
    const dtv = await this.word(tp + BigInt(dtvSlot));
    if (dtv === undefined || dtv === 0n) return;
    const entry = BigInt(2 * this.w);
    const length = await this.word(dtv - entry);
    if (length === undefined || length === 0n || length > MAX_DTV_ENTRIES) {
      this.warnings.push(`${name}: its DTV at ${hex(dtv)} is not readable or implausible; not kept`);
      return;
    }
    const start = dtv - entry;
    const end = dtv + (length + 1n) * entry;
    const s = this.segmentOf(start);
    if (!s) return;
    this.keep(start, end < s.dumpedEnd ? end : s.dumpedEnd, `DTV of ${name} (${length} slots)`);
    // dtv[k].pointer.val: module k's TLS block for this thread. Dynamic ones (modules
    // dlopen'ed with TLS) are malloc'ed; without them their __thread variables do not print.
    const unallocated = BigInt.asUintN(this.w * 8, -1n);
    for (let k = 1n; k <= length && k <= MAX_TLS_MODULES; k++) {
      const block = await this.word(dtv + k * entry);
      if (block === undefined || block === 0n || block === unallocated) continue;
      const size = this.tlsModuleSize.get(k) ?? 2n * POINTER_WINDOW;
      this.keepAround(block, 0n, size > 0n && size <= MAX_TLS_BLOCK ? size : 2n * POINTER_WINDOW, `TLS block of module ${k} for ${name}`);
    }
  }

  /** Of every ELF object in memory: its headers, notes, dynamic section, RELRO and writable segments; the vDSO whole. */
  async images(): Promise<void> {
    const { summary, memory } = this.input;
    const shape = { elfClass: summary.elfClass, byteOrder: summary.byteOrder };
    for (const m of summary.modules) {
      const label = m.path ?? m.linkMapName ?? (m.kind === 'vdso' ? '[vdso]' : hex(m.start));
      if (m.kind === 'vdso') {
        this.keep(m.start, m.end, 'vDSO image');
        continue;
      }
      const image = await readImageFromMemory(memory, m.start, shape);
      if (!image) continue;
      const h = image.header;
      const wrap = (v: bigint): bigint => BigInt.asUintN(h.elfClass, v);
      const headersEnd = BigInt(h.e_ehsize) > h.e_phoff + BigInt(h.e_phnum * h.e_phentsize) ? BigInt(h.e_ehsize) : h.e_phoff + BigInt(h.e_phnum * h.e_phentsize);
      this.keep(m.start, m.start + headersEnd, `ELF header and program headers of ${label}`);
      for (const p of image.progs) {
        const at = wrap(image.bias + p.p_vaddr);
        if (p.p_type === PT.PT_NOTE) this.keep(at, at + p.p_filesz, `notes (build ID) of ${label}`);
        else if (p.p_type === PT.PT_DYNAMIC) this.keep(at, at + p.p_memsz, `dynamic section of ${label}`);
        else if (p.p_type === PT.PT_TLS && image.dynamic !== undefined) this.tlsSizeByDynamic.set(image.dynamic, p.p_memsz);
        else if (p.p_type === PT.PT_GNU_RELRO) this.keep(at, at + p.p_memsz, `RELRO (.dynamic, GOT) of ${label}`);
        else if (p.p_type === PT.PT_LOAD && (p.p_flags & PF.PF_W) !== 0) {
          this.keep(at, at + p.p_memsz, `.data/.bss of ${label}`);
          if (m.kind === 'interpreter') this.loaderData.push({ start: at, end: at + p.p_memsz, why: '' });
        }
      }
    }
  }

  /** r_debug, and the whole link_map chain with the l_name strings, wherever the loader allocated them. */
  async loaderState(): Promise<void> {
    const { summary, memory } = this.input;
    const shape = { elfClass: summary.elfClass, byteOrder: summary.byteOrder };
    const exeModule = summary.modules.find((m) => m.kind === 'executable');
    const exeImage = exeModule ? await readImageFromMemory(memory, exeModule.start, shape) : undefined;
    const fromAuxv = await executableFromAuxv(memory, summary.auxv, shape);
    const dyn = executableDynamic(fromAuxv, exeImage, auxValue(summary.auxv, 'AT_ENTRY'), summary.elfClass);
    if (!dyn) return;
    const ctx = { mem: memory, ...shape };
    const rDebug = await findRDebug(ctx, dyn.addr, dyn.size);
    if (rDebug === undefined) return;
    this.keepAround(rDebug, 0n, BigInt(R_DEBUG_WORDS * this.w), 'r_debug (the loader\'s list of objects)');
    const { entries } = await walkLinkMap(ctx, rDebug);
    this.linkMapLd = new Map(entries.map((e) => [e.addr, e.l_ld]));
    for (const e of entries) {
      const label = e.l_name || '(the executable)';
      this.keepAround(e.addr, 0n, LINK_MAP_BYTES, `link_map of ${label}`);
      const namePtr = await this.word(e.addr + BigInt(this.w));
      if (namePtr === undefined || namePtr === 0n) continue;
      const length = await this.cStringLength(namePtr);
      if (length !== undefined) this.keep(namePtr, namePtr + BigInt(length + 1), `l_name of ${label}`);
    }
    await this.tlsSlotinfo(new Set(entries.map((e) => e.addr)));
  }

  /**
   * _rtld_global._dl_tls_dtv_slotinfo_list: the loader's table of modules
   * with TLS, which libthread_db checks each DTV's generation against before
   * it trusts it (without it errno gives "Cannot find thread-local
   * storage"). The loader allocates it early, outside its own data, and a
   * core has no symbols to find _rtld_global by; so the loader's data is
   * searched for the one pointer to a list { size_t len; next; {gen, map}[len] }
   * whose maps are all link_maps of the chain (and at least one is).
   */
  private async tlsSlotinfo(linkMaps: ReadonlySet<bigint>): Promise<void> {
    const w = BigInt(this.w);
    const isList = async (at: bigint): Promise<bigint | undefined> => {
      const len = await this.word(at);
      const next = await this.word(at + w);
      if (len === undefined || next === undefined || len === 0n || len > MAX_DTV_ENTRIES) return undefined;
      if (next !== 0n && !this.segmentOf(next)) return undefined;
      let known = 0;
      for (let k = 0n; k < len && k < 64n; k++) {
        const map = await this.word(at + 2n * w + k * 2n * w + w);
        if (map === undefined) return undefined;
        if (map === 0n) continue;
        if (!linkMaps.has(map)) return undefined;
        known++;
      }
      return known > 0 ? len : undefined;
    };
    for (const r of this.loaderData.flatMap((d) => this.dumpedPieces(d.start, d.end))) {
      const size = r.end - r.start;
      const bytes = await this.input.memory.read(r.start, Number(size < BigInt(MAX_LOADER_DATA_SCAN) ? size : BigInt(MAX_LOADER_DATA_SCAN)));
      if (!bytes) continue;
      for (let off = 0; off + this.w <= bytes.length; off += this.w) {
        const v = this.w === 8 ? (this.input.summary.byteOrder === 'little' ? bytes.readBigUInt64LE(off) : bytes.readBigUInt64BE(off)) : BigInt(this.input.summary.byteOrder === 'little' ? bytes.readUInt32LE(off) : bytes.readUInt32BE(off));
        if (v === 0n || linkMaps.has(v) || !this.segmentOf(v) || (v >= r.start && v < r.end)) continue;
        const len = await isList(v);
        if (len === undefined) continue;
        // Found: keep it and the lists chained after it; slot k of the chain is module id k.
        let at: bigint | undefined = v;
        let n = len;
        let modid = 0n;
        for (let i = 0; at !== undefined && at !== 0n && i < 64; i++) {
          this.keepAround(at, 0n, 2n * w + n * 2n * w, 'the loader\'s TLS module list (dtv_slotinfo_list)');
          for (let k = 0n; k < n && modid <= MAX_TLS_MODULES; k++, modid++) {
            const map = await this.word(at + 2n * w + k * 2n * w + w);
            const ld = map ? this.linkMapLd.get(map) : undefined;
            const size = ld !== undefined ? this.tlsSizeByDynamic.get(ld) : undefined;
            if (size !== undefined) this.tlsModuleSize.set(modid, size);
          }
          const next: bigint | undefined = await this.word(at + w);
          at = next;
          const l = next ? await this.word(next) : undefined;
          if (l === undefined || l > MAX_DTV_ENTRIES) break;
          n = l;
        }
        return;
      }
    }
    if (this.loaderData.length > 0) this.warnings.push('the loader\'s TLS module list was not found; thread-local variables (errno) may not print');
  }

  private async cStringLength(addr: bigint): Promise<number | undefined> {
    const s = this.segmentOf(addr);
    if (!s) return undefined;
    const avail = s.dumpedEnd - addr;
    const bytes = await this.input.memory.read(addr, Number(avail < BigInt(MAX_NAME) ? avail : BigInt(MAX_NAME)));
    const nul = bytes?.indexOf(0) ?? -1;
    return nul >= 0 ? nul : undefined;
  }

  faultAddress(): void {
    const addr = this.input.summary.signal?.addr;
    if (addr !== undefined && addr !== 0n) this.keepAround(addr, POINTER_WINDOW, POINTER_WINDOW, '512 bytes around the fault address');
  }

  /**
   * The wanted ranges cut to dumped memory, split at segment boundaries, and
   * joined within a segment where they share a page: elfutils (libdwfl)
   * indexes a core's segments by page, so two PT_LOADs on one page hide each
   * other from eu-unstrip and it loses the link_map. The few bytes between
   * two kept ranges of one page are kept with them, and the joined range
   * lists every reason.
   */
  result(): MiniCoreSelection {
    const pageSize = auxValue(this.input.summary.auxv, 'AT_PAGESZ');
    const page = pageSize !== undefined && pageSize > 0n && pageSize <= 1n << 20n ? pageSize : 4096n;
    const pieces: Array<Candidate & { seg: number }> = [];
    for (const c of this.wanted) for (const p of this.dumpedPieces(c.start, c.end)) pieces.push({ ...p, why: c.why });
    pieces.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
    const ranges: Array<KeptRange & { seg: number; whys: Set<string> }> = [];
    for (const p of pieces) {
      const last = ranges[ranges.length - 1];
      if (last && last.seg === p.seg && p.start / page <= (last.end - 1n) / page) {
        if (p.end > last.end) last.end = p.end;
        last.whys.add(p.why);
      } else ranges.push({ start: p.start, end: p.end, why: '', seg: p.seg, whys: new Set([p.why]) });
    }
    let bytes = 0;
    const out = ranges.map((r) => {
      bytes += Number(r.end - r.start);
      return { start: r.start, end: r.end, why: [...r.whys].join('; ') };
    });
    return { ranges: out, bytes, warnings: this.warnings };
  }
}
