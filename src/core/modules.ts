/**
 * The module table: which ELF objects the process had loaded, joined from
 * the kernel's file mappings (NT_FILE, kinfo_vmentry), the loader's link_map
 * and the images found in core memory.
 */
import { Decoder } from '../elf/decoder.js';
import { decodeProgHeader, type ElfFile, type ProgHeader } from '../elf/file.js';
import { PT } from '../elf/constants.js';
import { readImageFromMemory, type MemoryImage } from './image.js';
import { findRDebug, walkLinkMap, type LinkMapEntry } from './linkmap.js';
import type { CoreMemory } from './memory.js';
import type { AuxvEntry, FileMapping, Module, ModuleSource, OsName } from './model.js';

interface Input {
  elf: ElfFile;
  memory: CoreMemory;
  os: OsName;
  auxv: AuxvEntry[];
  mappings: FileMapping[];
}

interface Candidate {
  path: string | undefined;
  deleted: boolean;
  ranges: Array<{ start: bigint; end: bigint }>;
  /** Address where file offset 0 is mapped. */
  base: bigint | undefined;
  /** Every mapping of file offset 0 (old linkers map the first page twice). */
  zeroStarts: bigint[];
  image: MemoryImage | undefined;
  linkMap: LinkMapEntry | undefined;
  kind: Module['kind'];
  sources: ModuleSource[];
}

/** Names that are shared objects even when nothing in the core proves it. */
const SHARED_OBJECT_NAME = /\.so(\.[0-9][^/]*)?$/;
/** How far below l_ld a backward search for a module's ELF header may go. */
const MAX_IMAGE_SPAN = 1n << 30n;
/** Total ELF-header probes for objects no mapping names: bounds hostile link_map chains. */
const MAX_IMAGE_PROBES = 2048;
/** Segment starts probed for unnamed images: bounds cores with 65535+ segments. */
const MAX_SEGMENT_PROBES = 4096;

function covers(c: Candidate, addr: bigint): boolean {
  return c.ranges.some((r) => r.start <= addr && addr < r.end);
}

/**
 * Finds the candidate whose mapping holds an address by binary search: a
 * hostile core may list a hundred thousand mappings and thousands of link_map
 * entries, and a linear scan per entry would take minutes.
 */
class RangeIndex {
  private readonly ranges: Array<{ start: bigint; end: bigint; c: Candidate }> = [];

  add(c: Candidate): void {
    for (const r of c.ranges) this.ranges.push({ ...r, c });
    this.ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  static of(cs: Candidate[]): RangeIndex {
    const idx = new RangeIndex();
    for (const c of cs) for (const r of c.ranges) idx.ranges.push({ ...r, c });
    idx.ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    return idx;
  }

  find(addr: bigint): Candidate | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]!.start <= addr) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Mappings do not overlap in a sane core; look back a little for ones that do.
    for (let i = best; i >= 0 && i > best - 8; i--) {
      const r = this.ranges[i]!;
      if (addr < r.end) return r.c;
    }
    return undefined;
  }
}

export async function buildModules(input: Input): Promise<{ modules: Module[]; executable: string | undefined; warnings: string[] }> {
  const { elf, memory } = input;
  const warnings: string[] = [];
  const shape = { elfClass: elf.elfClass, byteOrder: elf.byteOrder };
  const aux = (name: string): bigint | undefined => input.auxv.find((e) => e.name === name)?.a_val;

  // One candidate per mapped path; a library's segments need not be contiguous.
  const byPath = new Map<string, Candidate>();
  for (const m of input.mappings) {
    let c = byPath.get(m.path);
    if (!c) {
      c = { path: m.path, deleted: m.deleted, ranges: [], base: undefined, zeroStarts: [], image: undefined, linkMap: undefined, kind: 'library', sources: [input.os === 'freebsd' ? 'vmmap' : 'nt_file'] };
      byPath.set(m.path, c);
    }
    c.ranges.push({ start: m.start, end: m.end });
    c.deleted ||= m.deleted;
    if (m.fileOffset === 0n) {
      c.zeroStarts.push(m.start);
      if (c.base === undefined || m.start < c.base) c.base = m.start;
    }
  }
  const candidates = [...byPath.values()];
  for (const c of candidates) {
    if (c.base === undefined) continue;
    // The headers where the image starts or, if that page was not dumped, in
    // another mapping of the file's first page; addresses still count from base.
    for (const at of [c.base, ...c.zeroStarts.filter((z) => z !== c.base)]) {
      c.image = await readImageFromMemory(memory, c.base, shape, at);
      if (c.image) break;
    }
  }
  const exeAux = await executableFromAuxv(input);

  const phdr = aux('AT_PHDR');
  const interpBase = aux('AT_BASE');
  let exe = phdr !== undefined ? candidates.find((c) => covers(c, phdr)) : undefined;
  const execfnPtr = aux('AT_EXECFN') ?? aux('AT_EXECPATH');
  const execfn = execfnPtr ? await memory.readCString(execfnPtr, 4096) : undefined;
  if (!exe && execfn) exe = candidates.find((c) => c.path === execfn);
  if (exe) exe.kind = 'executable';
  const isInterp = (c: Candidate): boolean =>
    interpBase !== undefined && interpBase !== 0n && (covers(c, interpBase) || c.image?.bias === interpBase);
  if (interpBase) {
    const interp = candidates.find((c) => c !== exe && isInterp(c));
    if (interp) interp.kind = 'interpreter';
  }

  const vdsoAddr = aux('AT_SYSINFO_EHDR');
  if (vdsoAddr) {
    const image = await readImageFromMemory(memory, vdsoAddr, shape);
    if (image) {
      candidates.push({ path: undefined, deleted: false, ranges: [{ start: image.start, end: image.end }], base: vdsoAddr, zeroStarts: [], image, linkMap: undefined, kind: 'vdso', sources: ['ehdr_scan'] });
    }
  }

  // Images no mapping names: cores without NT_FILE, or whose NT_FILE lacks the
  // executable (gcore of old kernels, NetBSD). Every image starts a segment.
  const found = RangeIndex.of(candidates);
  const knownIds = new Set(candidates.map((c) => c.image?.buildId).filter((id): id is string => id !== undefined));
  let segmentProbes = MAX_SEGMENT_PROBES;
  for (const seg of memory.segments) {
    if (seg.filesz === 0n || found.find(seg.vaddr) || segmentProbes-- <= 0) continue;
    let image = await readImageFromMemory(memory, seg.vaddr, shape);
    if (image && !exe) image = (await relocatedExecutableCopy(input, image, seg.vaddr)) ?? image;
    // A second copy of a known image's first page is not another module.
    if (!image || (image.buildId !== undefined && knownIds.has(image.buildId))) continue;
    const c: Candidate = { path: undefined, deleted: false, ranges: [{ start: image.start, end: image.end }], base: image.start, zeroStarts: [], image, linkMap: undefined, kind: 'library', sources: ['ehdr_scan'] };
    // The executable is the image whose bias matches where AT_PHDR says it runs.
    const isExe = !exe && (exeAux.bias !== undefined ? image.bias === exeAux.bias : phdr !== undefined && covers(c, phdr));
    if (isExe) {
      c.kind = 'executable';
      exe = c;
    } else if (isInterp(c)) c.kind = 'interpreter';
    candidates.push(c);
    found.add(c);
    if (image.buildId) knownIds.add(image.buildId);
  }

  // The loader's list, found through the executable's dynamic section.
  const dyn = await executableDynamic(input, exe);
  let entries: LinkMapEntry[] = [];
  if (dyn) {
    const rDebug = await findRDebug({ mem: memory, ...shape }, dyn.addr, dyn.size);
    if (rDebug !== undefined) {
      const walked = await walkLinkMap({ mem: memory, ...shape }, rDebug);
      entries = walked.entries;
      warnings.push(...walked.warnings);
    } else if (input.mappings.length > 0 || phdr !== undefined) {
      warnings.push('no r_debug found through DT_DEBUG (static executable, or the loader had not run yet): link_map names unavailable');
    }
  }

  const probes = { left: MAX_IMAGE_PROBES };
  const byAddress = RangeIndex.of(candidates);
  const byDynamic = new Map<bigint, Candidate>();
  const byBias = new Map<bigint, Candidate>();
  for (const c of candidates) {
    if (c.image?.dynamic !== undefined && !byDynamic.has(c.image.dynamic)) byDynamic.set(c.image.dynamic, c);
    if (c.image && !byBias.has(c.image.bias)) byBias.set(c.image.bias, c);
  }
  for (const [i, e] of entries.entries()) {
    let c: Candidate | undefined;
    if (i === 0 && e.l_name === '' && exe) c = exe;
    c ??= e.l_ld !== 0n ? (byAddress.find(e.l_ld) ?? byDynamic.get(e.l_ld)) : undefined;
    c ??= e.l_addr !== 0n ? byBias.get(e.l_addr) : undefined;
    if (!c && e.l_ld !== 0n) {
      // No kernel mapping names this object (no NT_FILE, or it was cut): find its ELF header in memory.
      const image = await findImageBelow(memory, e.l_ld, shape, probes);
      if (image) {
        c = { path: undefined, deleted: false, ranges: [{ start: image.start, end: image.end }], base: image.start, zeroStarts: [], image, linkMap: undefined, kind: 'library', sources: [] };
        if (i === 0 && !exe) {
          c.kind = 'executable';
          exe = c;
        } else if (isInterp(c)) c.kind = 'interpreter';
        candidates.push(c);
        byAddress.add(c);
      }
    }
    if (!c && i === 0 && !exe && phdr !== undefined && e.l_ld !== 0n) {
      // The executable's first pages were not dumped (NetBSD and FreeBSD leave
      // read-only file pages out): it spans from the page holding its program
      // headers to the end of the segment holding its dynamic section.
      const seg = memory.segmentAt(e.l_ld);
      const pageSize = aux('AT_PAGESZ') ?? 4096n;
      const start = phdr - (pageSize > 0n ? phdr % pageSize : 0n);
      if (seg && start <= e.l_ld) {
        c = { path: undefined, deleted: false, ranges: [{ start, end: seg.vaddr + seg.memsz }], base: start, zeroStarts: [], image: undefined, linkMap: undefined, kind: 'executable', sources: [] };
        exe = c;
        candidates.push(c);
        byAddress.add(c);
      }
    }
    if (!c) {
      warnings.push(`link_map entry "${e.l_name}" (l_addr 0x${e.l_addr.toString(16)}) matches no mapping in the core`);
      continue;
    }
    c.linkMap ??= e;
    if (!c.sources.includes('link_map')) c.sources.push('link_map');
  }

  // Like eu-unstrip, report whole pages: a module occupies the pages it maps.
  const pageSize = aux('AT_PAGESZ') ?? 4096n;
  const pageUp = (a: bigint): bigint => (pageSize > 0n && pageSize <= 1n << 20n ? ((a + pageSize - 1n) / pageSize) * pageSize : a);
  const modules: Module[] = [];
  for (const c of candidates) {
    const isElf = c.image !== undefined || c.linkMap !== undefined || c.kind !== 'library' || (c.path !== undefined && SHARED_OBJECT_NAME.test(c.path));
    if (!isElf) continue;
    const start = c.image?.start ?? c.ranges.reduce((a, r) => (r.start < a ? r.start : a), c.ranges[0]!.start);
    const end = c.image ? pageUp(c.image.end) : c.ranges.reduce((a, r) => (r.end > a ? r.end : a), 0n);
    modules.push({
      start,
      end,
      path: c.path,
      linkMapName: c.linkMap && c.linkMap.l_name !== '' ? c.linkMap.l_name : undefined,
      loadBias: c.linkMap?.l_addr ?? c.image?.bias,
      buildId: c.image?.buildId,
      buildIdAddr: c.image?.buildIdAddr,
      deleted: c.deleted,
      kind: c.kind,
      sources: c.sources,
    });
  }
  modules.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return { modules, executable: exe?.path ?? execfn, warnings };
}

/**
 * Some systems map the executable's first page a second time inside its data
 * segment, while the real first page is not dumped. Such a copy is the
 * executable when its entry point and program headers land exactly where
 * AT_ENTRY and AT_PHDR say; it is then re-read at its real address.
 */
async function relocatedExecutableCopy(input: Input, image: MemoryImage, copyAt: bigint): Promise<MemoryImage | undefined> {
  const aux = (name: string): bigint | undefined => input.auxv.find((e) => e.name === name)?.a_val;
  const entry = aux('AT_ENTRY');
  const phdr = aux('AT_PHDR');
  const h = image.header;
  if (entry === undefined || phdr === undefined || h.e_entry === 0n) return undefined;
  const loads = image.progs.filter((p) => p.p_type === PT.PT_LOAD);
  if (loads.length === 0) return undefined;
  const first = loads.reduce((a, b) => (b.p_offset < a.p_offset ? b : a));
  const bias = BigInt.asUintN(h.elfClass, entry - h.e_entry);
  const base = BigInt.asUintN(h.elfClass, bias + first.p_vaddr - first.p_offset);
  if (base === copyAt || BigInt.asUintN(h.elfClass, base + h.e_phoff) !== phdr) return undefined;
  return readImageFromMemory(input.memory, base, { elfClass: h.elfClass, byteOrder: h.byteOrder }, copyAt);
}

/**
 * What the auxiliary vector tells about the executable: its load bias (from
 * where PT_PHDR landed) and its program headers, read from memory.
 */
async function executableFromAuxv(input: Input): Promise<{ bias: bigint | undefined; progs: ProgHeader[] | undefined }> {
  const { memory, elf } = input;
  const aux = (name: string): bigint | undefined => input.auxv.find((e) => e.name === name)?.a_val;
  const phdr = aux('AT_PHDR');
  const phnum = Number(aux('AT_PHNUM') ?? 0n);
  const phent = Number(aux('AT_PHENT') ?? BigInt(elf.elfClass === 64 ? 56 : 32));
  if (phdr === undefined || phnum <= 0 || phnum >= 4096 || phent < (elf.elfClass === 64 ? 56 : 32) || phent > 256) return { bias: undefined, progs: undefined };
  const table = await memory.read(phdr, phnum * phent);
  if (!table) return { bias: undefined, progs: undefined };
  const d = new Decoder(table, elf.byteOrder, elf.elfClass, phdr, 'executable program headers');
  const progs: ProgHeader[] = [];
  for (let i = 0; i < phnum; i++) progs.push(decodeProgHeader(d, i * phent, i));
  const self = progs.find((p) => p.p_type === PT.PT_PHDR);
  return { bias: self ? BigInt.asUintN(elf.elfClass, phdr - self.p_vaddr) : undefined, progs };
}

/** The run-time address and size of the executable's PT_DYNAMIC. */
async function executableDynamic(input: Input, exe: Candidate | undefined): Promise<{ addr: bigint; size: bigint } | undefined> {
  const { memory, elf } = input;
  const aux = (name: string): bigint | undefined => input.auxv.find((e) => e.name === name)?.a_val;
  const phdr = aux('AT_PHDR');
  const phnum = Number(aux('AT_PHNUM') ?? 0n);
  const phent = Number(aux('AT_PHENT') ?? BigInt(elf.elfClass === 64 ? 56 : 32));
  if (phdr !== undefined && phnum > 0 && phnum < 4096 && phent >= (elf.elfClass === 64 ? 56 : 32) && phent <= 256) {
    const table = await memory.read(phdr, phnum * phent);
    if (table) {
      const d = new Decoder(table, elf.byteOrder, elf.elfClass, phdr, 'executable program headers');
      const progs: ProgHeader[] = [];
      for (let i = 0; i < phnum; i++) progs.push(decodeProgHeader(d, i * phent, i));
      const self = progs.find((p) => p.p_type === PT.PT_PHDR);
      const dyn = progs.find((p) => p.p_type === PT.PT_DYNAMIC);
      // For a PIE the load bias is where PT_PHDR landed minus where it was linked.
      let bias: bigint | undefined = self ? phdr - self.p_vaddr : undefined;
      if (bias === undefined && exe?.image) bias = exe.image.bias;
      if (bias === undefined) {
        const entry = aux('AT_ENTRY');
        const header = exe?.image?.header;
        if (entry !== undefined && header) bias = entry - header.e_entry;
      }
      if (bias === undefined) bias = 0n; // non-PIE executables without PT_PHDR are linked where they run
      if (dyn) return { addr: (bias + dyn.p_vaddr) & mask(elf.elfClass), size: dyn.p_memsz };
      return undefined;
    }
  }
  if (exe?.image?.dynamic !== undefined) return { addr: exe.image.dynamic, size: exe.image.dynamicSize };
  return undefined;
}

function mask(elfClass: 32 | 64): bigint {
  return elfClass === 64 ? 0xffffffffffffffffn : 0xffffffffn;
}

/**
 * Finds the ELF image whose dynamic section is at `ld` by trying the starts of
 * the core's segments below it, nearest first: every mapped image begins a
 * VMA, and the kernel writes one PT_LOAD per VMA.
 */
async function findImageBelow(
  memory: CoreMemory,
  ld: bigint,
  shape: { elfClass: 32 | 64; byteOrder: 'little' | 'big' },
  probes: { left: number },
): Promise<MemoryImage | undefined> {
  const starts = memory.segments.filter((s) => s.vaddr <= ld && ld - s.vaddr < MAX_IMAGE_SPAN).map((s) => s.vaddr);
  for (let i = starts.length - 1; i >= 0 && i >= starts.length - 64 && probes.left-- > 0; i--) {
    const image = await readImageFromMemory(memory, starts[i]!, shape);
    if (image && image.dynamic === ld) return image;
  }
  return undefined;
}
