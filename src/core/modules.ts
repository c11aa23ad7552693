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
  image: MemoryImage | undefined;
  linkMap: LinkMapEntry | undefined;
  kind: Module['kind'];
  sources: ModuleSource[];
}

/** Names that are shared objects even when nothing in the core proves it. */
const SHARED_OBJECT_NAME = /\.so(\.[0-9][^/]*)?$/;
/** How far below l_ld a backward search for a module's ELF header may go. */
const MAX_IMAGE_SPAN = 1n << 30n;

function covers(c: Candidate, addr: bigint): boolean {
  return c.ranges.some((r) => r.start <= addr && addr < r.end);
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
      c = { path: m.path, deleted: m.deleted, ranges: [], base: undefined, image: undefined, linkMap: undefined, kind: 'library', sources: [input.os === 'freebsd' ? 'vmmap' : 'nt_file'] };
      byPath.set(m.path, c);
    }
    c.ranges.push({ start: m.start, end: m.end });
    c.deleted ||= m.deleted;
    if (m.fileOffset === 0n && (c.base === undefined || m.start < c.base)) c.base = m.start;
  }
  const candidates = [...byPath.values()];
  for (const c of candidates) {
    if (c.base !== undefined) c.image = await readImageFromMemory(memory, c.base, shape);
  }

  const phdr = aux('AT_PHDR');
  const interpBase = aux('AT_BASE');
  let exe = phdr !== undefined ? candidates.find((c) => covers(c, phdr)) : undefined;
  const execfnPtr = aux('AT_EXECFN') ?? aux('AT_EXECPATH');
  const execfn = execfnPtr ? await memory.readCString(execfnPtr, 4096) : undefined;
  if (!exe && execfn) exe = candidates.find((c) => c.path === execfn);
  if (exe) exe.kind = 'executable';
  if (interpBase) {
    const interp = candidates.find((c) => c !== exe && covers(c, interpBase));
    if (interp) interp.kind = 'interpreter';
  }

  const vdsoAddr = aux('AT_SYSINFO_EHDR');
  if (vdsoAddr) {
    const image = await readImageFromMemory(memory, vdsoAddr, shape);
    if (image) {
      candidates.push({ path: undefined, deleted: false, ranges: [{ start: image.start, end: image.end }], base: vdsoAddr, image, linkMap: undefined, kind: 'vdso', sources: ['ehdr_scan'] });
    }
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

  for (const [i, e] of entries.entries()) {
    let c: Candidate | undefined;
    if (i === 0 && e.l_name === '' && exe) c = exe;
    c ??= e.l_ld !== 0n ? candidates.find((x) => covers(x, e.l_ld) || (x.image && x.image.dynamic === e.l_ld)) : undefined;
    c ??= candidates.find((x) => x.image !== undefined && x.image.bias === e.l_addr && e.l_addr !== 0n);
    if (!c && e.l_ld !== 0n) {
      // No kernel mapping names this object (no NT_FILE, or it was cut): find its ELF header in memory.
      const image = await findImageBelow(memory, e.l_ld, shape);
      if (image) {
        c = { path: undefined, deleted: false, ranges: [{ start: image.start, end: image.end }], base: image.start, image, linkMap: undefined, kind: 'library', sources: [] };
        if (i === 0 && !exe) {
          c.kind = 'executable';
          exe = c;
        } else if (interpBase && image.start === interpBase) c.kind = 'interpreter';
        candidates.push(c);
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
async function findImageBelow(memory: CoreMemory, ld: bigint, shape: { elfClass: 32 | 64; byteOrder: 'little' | 'big' }): Promise<MemoryImage | undefined> {
  const starts = memory.segments.filter((s) => s.vaddr <= ld && ld - s.vaddr < MAX_IMAGE_SPAN).map((s) => s.vaddr);
  for (let i = starts.length - 1; i >= 0 && i >= starts.length - 64; i--) {
    const image = await readImageFromMemory(memory, starts[i]!, shape);
    if (image && image.dynamic === ld) return image;
  }
  return undefined;
}
