/**
 * The module table: which ELF objects the process had loaded, joined from
 * the kernel's file mappings (NT_FILE, kinfo_vmentry), the loader's link_map
 * and the images found in core memory.
 *
 * It is built in phases, each adding to or refining one list of candidates:
 *   1. one candidate per mapped file, with its image read from memory;
 *   2. the executable, the dynamic loader and the vDSO, named by the auxv;
 *   3. images no mapping names (cores without NT_FILE, NetBSD), by their
 *      ELF headers at segment starts;
 *   4. the loader's link_map, joined to candidates by address;
 * then every candidate that is an ELF object becomes a Module.
 *
 * Cores not written by the kernel (qemu-user, some gcore versions) leave out
 * read-only file pages: the ELF headers, the program headers at AT_PHDR. When
 * the caller can open files (`files`), the executable's headers then come
 * from its file, placed at AT_ENTRY − e_entry, and each link_map entry that
 * matches nothing in memory is placed from its file at l_addr.
 */
import type { ByteOrder, ElfClass } from '../elf/decoder.js';
import { PT } from '../elf/constants.js';
import { hex } from '../util/text.js';
import type { ElfFile } from '../elf/file.js';
import { imageFromFile, readImageFromMemory, type FileImage, type MemoryImage } from './image.js';
import { findRDebug, missingNamesWarning, walkLinkMap, type LinkMapEntry } from './linkmap.js';
import type { CoreMemory } from './memory.js';
import type { AuxvEntry, FileMapping, Module, ModuleSource, OsName, UnplacedObject } from './model.js';
import { RangeIndex } from './rangeindex.js';
import { auxValue, executableDynamic, executableFromAuxv, relocatedExecutableCopy, type AuxvExecutable } from './executable.js';
import { lastAtOrBelow } from '../util/search.js';
import { UnreadableFileError } from './files.js';

/** Files on disk the builder may read, for objects whose headers the core left out. */
export interface ModuleFiles {
  /** The executable's file: the one the user named, else the core's AT_EXECFN (resolved by the caller). */
  executable(execfn: string | undefined): Promise<FileImage | undefined>;
  /**
   * The file an absolute link_map name names, or undefined when there is none
   * (or it is not ELF). Both reject with an UnreadableFileError (core/files.ts)
   * for a file that is there but cannot be read.
   */
  byName(name: string): Promise<FileImage | undefined>;
}

interface Input {
  elf: ElfFile;
  memory: CoreMemory;
  os: OsName;
  auxv: AuxvEntry[];
  mappings: FileMapping[];
  files?: ModuleFiles | undefined;
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
  /** The image's headers were read from its file, not from core memory. */
  headersFromFile: boolean;
  linkMap: LinkMapEntry | undefined;
  kind: Module['kind'];
  sources: ModuleSource[];
}

/** Names that are shared objects even when nothing in the core proves it. */
const SHARED_OBJECT_NAME = /\.so(\.[0-9][^/]*)?$/;
/** How far below l_ld a backward search for a module's ELF header may go. */
const MAX_IMAGE_SPAN = 1n << 30n;
/** Segment starts tried per link_map entry, and in all, when no mapping names an object. */
const MAX_PROBES_PER_ENTRY = 64;
const MAX_IMAGE_PROBES = 2048;
/** Segment starts probed for unnamed images: bounds cores with 65535+ segments. */
const MAX_SEGMENT_PROBES = 4096;

function candidateOf(image: MemoryImage, kind: Module['kind'], sources: ModuleSource[]): Candidate {
  return { path: undefined, deleted: false, ranges: [{ start: image.start, end: image.end }], base: image.start, zeroStarts: [], image, headersFromFile: false, linkMap: undefined, kind, sources };
}

function covers(c: Candidate, addr: bigint): boolean {
  return c.ranges.some((r) => r.start <= addr && addr < r.end);
}

class ModuleBuilder {
  readonly candidates: Candidate[] = [];
  readonly warnings: string[] = [];
  readonly unplaced: UnplacedObject[] = [];
  exe: Candidate | undefined;
  execfn: string | undefined;
  private readonly byAddress = new RangeIndex<Candidate>();
  private readonly shape: { elfClass: ElfClass; byteOrder: ByteOrder };
  private exeAux: AuxvExecutable = { bias: undefined, progs: undefined };
  /** PT_INTERP of the executable's file, when its headers came from the file. */
  private interpName: string | undefined;

  constructor(private readonly input: Input) {
    this.shape = { elfClass: input.elf.elfClass, byteOrder: input.elf.byteOrder };
  }

  private aux(name: string): bigint | undefined {
    return auxValue(this.input.auxv, name);
  }

  private add(c: Candidate): Candidate {
    this.candidates.push(c);
    for (const r of c.ranges) this.byAddress.add(r.start, r.end, c);
    return c;
  }

  private isInterpreter(c: Candidate): boolean {
    const base = this.aux('AT_BASE');
    return base !== undefined && base !== 0n && (covers(c, base) || c.image?.bias === base);
  }

  /** Phase 1: one candidate per mapped path; a library's segments need not be contiguous. */
  async fromMappings(): Promise<void> {
    const byPath = new Map<string, Candidate>();
    const source: ModuleSource = this.input.os === 'freebsd' ? 'vmmap' : 'nt_file';
    for (const m of this.input.mappings) {
      let c = byPath.get(m.path);
      if (!c) {
        c = { path: m.path, deleted: m.deleted, ranges: [], base: undefined, zeroStarts: [], image: undefined, headersFromFile: false, linkMap: undefined, kind: 'library', sources: [source] };
        byPath.set(m.path, c);
      }
      c.ranges.push({ start: m.start, end: m.end });
      c.deleted ||= m.deleted;
      if (m.fileOffset === 0n) {
        c.zeroStarts.push(m.start);
        if (c.base === undefined || m.start < c.base) c.base = m.start;
      }
    }
    for (const c of byPath.values()) {
      if (c.base !== undefined) {
        // The headers where the image starts or, if that page was not dumped, in
        // another mapping of the file's first page; addresses still count from base.
        for (const at of [c.base, ...c.zeroStarts.filter((z) => z !== c.base)]) {
          c.image = await readImageFromMemory(this.input.memory, c.base, this.shape, at);
          if (c.image) break;
        }
        // Not dumped (a cut core, a core writer that leaves file pages out): the file's headers, at its mapping.
        if (!c.image && !c.deleted) c.image = await this.mappedFileImage(c.path!, c.base);
        c.headersFromFile = c.image !== undefined && this.fromFile.has(c.image);
      }
      this.add(c);
    }
  }

  /** Phase 2: the executable (AT_PHDR, AT_EXECFN), the loader (AT_BASE) and the vDSO (AT_SYSINFO_EHDR). */
  async classify(): Promise<void> {
    const { memory } = this.input;
    this.exeAux = await executableFromAuxv(memory, this.input.auxv, this.shape);
    const phdr = this.aux('AT_PHDR');
    this.exe = phdr !== undefined ? this.byAddress.find(phdr) : undefined;
    const execfnPtr = this.aux('AT_EXECFN') ?? this.aux('AT_EXECPATH');
    this.execfn = execfnPtr ? await memory.readCString(execfnPtr, 4096) : undefined;
    if (!this.exeAux.progs) await this.executableFromFile();
    const phdr0 = this.aux('AT_PHDR');
    if (!this.exeAux.progs && phdr0 !== undefined && !this.input.files) {
      this.warnings.push(
        `the executable's program headers (AT_PHDR ${hex(phdr0)}) are not in the core (written by qemu-user or another dumper that leaves file pages out): pass -e EXE, and --root DIR for a container or qemu -L root, so the files complete the module list`,
      );
    }
    if (!this.exe && this.execfn) this.exe = this.candidates.find((c) => c.path === this.execfn);
    if (this.exe) this.exe.kind = 'executable';
    const interp = this.candidates.find((c) => c !== this.exe && this.isInterpreter(c));
    if (interp) interp.kind = 'interpreter';

    const vdso = this.aux('AT_SYSINFO_EHDR');
    const image = vdso ? await readImageFromMemory(memory, vdso, this.shape) : undefined;
    if (image) this.add(candidateOf(image, 'vdso', ['ehdr_scan']));
  }

  /**
   * The program headers at AT_PHDR are not in the core: take them from the
   * executable's file. Its entry point is where AT_ENTRY says, so the load
   * bias is AT_ENTRY − e_entry (0 for a non-PIE executable).
   */
  private async executableFromFile(): Promise<void> {
    const entry = this.aux('AT_ENTRY');
    const files = this.input.files;
    const file = files ? await this.readable(this.execfn ?? 'the executable', () => files.executable(this.execfn)) : undefined;
    if (!file || entry === undefined) return;
    if (file.header.e_machine !== this.input.elf.header.e_machine || file.header.elfClass !== this.shape.elfClass) {
      this.warnings.push(`the executable file is for another machine (e_machine ${file.header.e_machine}, the core's is ${this.input.elf.header.e_machine}); its headers were not used`);
      return;
    }
    const bias = BigInt.asUintN(this.shape.elfClass, entry - file.header.e_entry);
    this.exeAux = { bias, progs: file.progs };
    this.interpName = file.interp;
    const image = imageFromFile(file, bias);
    if (!image) return;
    const c = this.exe ?? this.byAddress.find(image.start) ?? this.byAddress.find(entry);
    if (c) {
      c.image ??= image;
      c.headersFromFile = c.image === image;
      this.exe = c;
    } else {
      this.exe = this.add({ ...candidateOf(image, 'executable', []), headersFromFile: true });
    }
    this.exe.kind = 'executable';
  }

  /** Phase 3: images no mapping names. Every image starts a segment, so segment starts are tried. */
  async scanUnnamedImages(): Promise<void> {
    const { memory, auxv } = this.input;
    const phdr = this.aux('AT_PHDR');
    const knownIds = new Set(this.candidates.map((c) => c.image?.buildId).filter((id): id is string => id !== undefined));
    let probes = MAX_SEGMENT_PROBES;
    for (const seg of memory.segments) {
      if (seg.filesz === 0n || this.byAddress.find(seg.vaddr) || probes-- <= 0) continue;
      let image = await readImageFromMemory(memory, seg.vaddr, this.shape);
      if (image && !this.exe) image = (await relocatedExecutableCopy(memory, auxv, image, seg.vaddr)) ?? image;
      // A second copy of a known image's first page is not another module.
      if (!image || (image.buildId !== undefined && knownIds.has(image.buildId))) continue;
      const c = candidateOf(image, 'library', ['ehdr_scan']);
      // The executable is the image whose bias matches where AT_PHDR says it runs.
      const isExe = !this.exe && (this.exeAux.bias !== undefined ? image.bias === this.exeAux.bias : phdr !== undefined && covers(c, phdr));
      if (isExe) {
        c.kind = 'executable';
        this.exe = c;
      } else if (this.isInterpreter(c)) c.kind = 'interpreter';
      this.add(c);
      if (image.buildId) knownIds.add(image.buildId);
    }
  }

  /** Phase 4: the loader's list, found through the executable's dynamic section, joined by address. */
  async joinLinkMap(): Promise<void> {
    const { memory } = this.input;
    const ctx = { mem: memory, ...this.shape };
    const dyn = executableDynamic(this.exeAux, this.exe?.image, this.aux('AT_ENTRY'), this.shape.elfClass);
    if (!dyn) return;
    const rDebug = await findRDebug(ctx, dyn.addr, dyn.size);
    if (rDebug === undefined) {
      this.warnings.push('no r_debug found through DT_DEBUG (static executable, or the loader had not run yet): link_map names unavailable');
      return;
    }
    const walked = await walkLinkMap(ctx, rDebug);
    // The loader's own l_name lives in its read-only data, which cores without
    // file pages leave out; the executable's PT_INTERP names the same file.
    const loaderEntry = this.interpName ? walked.entries.findIndex((e, i) => i > 0 && e.l_name === '' && this.isInterpreterBias(e.l_addr)) : -1;
    if (loaderEntry > 0) walked.entries[loaderEntry] = { ...walked.entries[loaderEntry]!, l_name: this.interpName! };
    const missing = walked.entries.filter((e, i) => i > 0 && e.l_name === '').length;
    this.warnings.push(...walked.warnings, ...(missing > 0 ? [missingNamesWarning(missing)] : []));

    const byDynamic = new Map<bigint, Candidate>();
    const byBias = new Map<bigint, Candidate>();
    for (const c of this.candidates) {
      if (c.image?.dynamic !== undefined && !byDynamic.has(c.image.dynamic)) byDynamic.set(c.image.dynamic, c);
      if (c.image && !byBias.has(c.image.bias)) byBias.set(c.image.bias, c);
    }
    const probes = { left: MAX_IMAGE_PROBES };
    for (const [i, e] of walked.entries.entries()) {
      // The first entry is the executable, whatever its (often empty) name.
      let c = i === 0 && e.l_name === '' ? this.exe : undefined;
      c ??= e.l_ld !== 0n ? (this.byAddress.find(e.l_ld) ?? byDynamic.get(e.l_ld)) : undefined;
      c ??= e.l_addr !== 0n ? byBias.get(e.l_addr) : undefined;
      c ??= await this.unnamedObject(e, i === 0, probes);
      c ??= await this.objectFromFile(e);
      if (!c) {
        if (e.l_name === '') continue;
        this.warnings.push(`link_map entry "${e.l_name}" (l_addr ${hex(e.l_addr)}) matches no mapping in the core${!this.input.files ? '' : this.unreadable.has(e.l_name) ? ' and its file could not be read' : ' and no file of that name was found'}`);
        // Still an object the process had loaded: collect must name it, even without a file.
        this.unplaced.push({ name: e.l_name, loadBias: e.l_addr });
        continue;
      }
      c.linkMap ??= e;
      if (!c.sources.includes('link_map')) c.sources.push('link_map');
    }
  }

  /** Names whose file is there but could not be read, with why (a warning says so once). */
  private readonly unreadable = new Map<string, UnreadableFileError>();

  /** A file lookup; a file that cannot be read is warned about once, with its errno, and is not used. */
  private async readable(name: string, find: () => Promise<FileImage | undefined>): Promise<FileImage | undefined> {
    try {
      return await find();
    } catch (err) {
      if (!(err instanceof UnreadableFileError)) throw err;
      if (!this.unreadable.has(name)) this.warnings.push(`${err.message}: its headers were not taken from the file`);
      this.unreadable.set(name, err);
      return undefined;
    }
  }

  /** Images made from files on disk rather than read from memory. */
  private readonly fromFile = new WeakSet<MemoryImage>();

  /** The image of the file mapped with its offset 0 at `base`, from its headers on disk. */
  private async mappedFileImage(path: string, base: bigint): Promise<MemoryImage | undefined> {
    const files = this.input.files;
    if (!files || !path.startsWith('/')) return undefined;
    const file = await this.readable(path, () => files.byName(path));
    if (!file || file.header.e_machine !== this.input.elf.header.e_machine || file.header.elfClass !== this.shape.elfClass) return undefined;
    const loads = file.progs.filter((p) => p.p_type === PT.PT_LOAD);
    if (loads.length === 0) return undefined;
    const first = loads.reduce((a, b) => (b.p_offset < a.p_offset ? b : a));
    const image = imageFromFile(file, BigInt.asUintN(this.shape.elfClass, base - (first.p_vaddr - first.p_offset)));
    if (image) this.fromFile.add(image);
    return image;
  }

  /** A link_map object neither a mapping nor memory shows: its file, placed at l_addr. */
  private async objectFromFile(e: LinkMapEntry): Promise<Candidate | undefined> {
    const files = this.input.files;
    if (!files || !e.l_name.startsWith('/')) return undefined;
    const file = await this.readable(e.l_name, () => files.byName(e.l_name));
    if (!file) return undefined;
    if (file.header.e_machine !== this.input.elf.header.e_machine || file.header.elfClass !== this.shape.elfClass) {
      this.warnings.push(`${e.l_name} on disk is for another machine (e_machine ${file.header.e_machine}, the core's is ${this.input.elf.header.e_machine})`);
      return undefined;
    }
    const image = imageFromFile(file, e.l_addr);
    if (!image) return undefined;
    const c = { ...candidateOf(image, this.isInterpreterBias(e.l_addr) ? 'interpreter' : 'library', []), headersFromFile: true };
    return this.add(c);
  }

  private isInterpreterBias(bias: bigint): boolean {
    const base = this.aux('AT_BASE');
    return base !== undefined && base !== 0n && bias === base;
  }

  /** A link_map object no kernel mapping names (no NT_FILE, or it was cut): find it in memory. */
  private async unnamedObject(e: LinkMapEntry, first: boolean, probes: { left: number }): Promise<Candidate | undefined> {
    if (e.l_ld === 0n) return undefined;
    const { memory } = this.input;
    const image = await findImageBelow(memory, e.l_ld, this.shape, probes);
    if (image) {
      const c = candidateOf(image, 'library', []);
      if (first && !this.exe) {
        c.kind = 'executable';
        this.exe = c;
      } else if (this.isInterpreter(c)) c.kind = 'interpreter';
      return this.add(c);
    }
    const phdr = this.aux('AT_PHDR');
    if (!first || this.exe || phdr === undefined) return undefined;
    // The executable's first pages were not dumped (NetBSD and FreeBSD leave
    // read-only file pages out): it spans from the page holding its program
    // headers to the end of the segment holding its dynamic section.
    const seg = memory.segmentAt(e.l_ld);
    const pageSize = this.aux('AT_PAGESZ') ?? 4096n;
    const start = phdr - (pageSize > 0n ? phdr % pageSize : 0n);
    if (!seg || start > e.l_ld) return undefined;
    this.exe = this.add({ path: undefined, deleted: false, ranges: [{ start, end: seg.vaddr + seg.memsz }], base: start, zeroStarts: [], image: undefined, headersFromFile: false, linkMap: undefined, kind: 'executable', sources: [] });
    return this.exe;
  }

  /** Every candidate that is an ELF object, as a Module, by address. */
  modules(): Module[] {
    // Like eu-unstrip, report whole pages: a module occupies the pages it maps.
    const pageSize = this.aux('AT_PAGESZ') ?? 4096n;
    const pageUp = (a: bigint): bigint => (pageSize > 0n && pageSize <= 1n << 20n ? ((a + pageSize - 1n) / pageSize) * pageSize : a);
    const out: Module[] = [];
    for (const c of this.candidates) {
      const isElf = c.image !== undefined || c.linkMap !== undefined || c.kind !== 'library' || (c.path !== undefined && SHARED_OBJECT_NAME.test(c.path));
      if (!isElf) continue;
      out.push({
        start: c.image?.start ?? c.ranges.reduce((a, r) => (r.start < a ? r.start : a), c.ranges[0]!.start),
        end: c.image ? pageUp(c.image.end) : c.ranges.reduce((a, r) => (r.end > a ? r.end : a), 0n),
        path: c.path,
        linkMapName: c.linkMap && c.linkMap.l_name !== '' ? c.linkMap.l_name : undefined,
        loadBias: c.linkMap?.l_addr ?? c.image?.bias,
        buildId: c.image?.buildId,
        buildIdAddr: c.image?.buildIdAddr,
        deleted: c.deleted,
        kind: c.kind,
        sources: c.headersFromFile && !c.sources.includes('file_headers') ? [...c.sources, 'file_headers'] : c.sources,
        headersInCore: c.image !== undefined && !c.headersFromFile,
      });
    }
    return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
}

export async function buildModules(input: Input): Promise<{ modules: Module[]; unplaced: UnplacedObject[]; executable: string | undefined; warnings: string[] }> {
  const b = new ModuleBuilder(input);
  await b.fromMappings();
  await b.classify();
  await b.scanUnnamedImages();
  await b.joinLinkMap();
  return { modules: b.modules(), unplaced: b.unplaced, executable: b.exe?.path ?? b.execfn, warnings: b.warnings };
}

/**
 * Finds the ELF image whose dynamic section is at `ld` by trying the starts of
 * the core's segments below it, nearest first: every mapped image begins a
 * VMA, and the kernel writes one PT_LOAD per VMA.
 */
async function findImageBelow(
  memory: CoreMemory,
  ld: bigint,
  shape: { elfClass: ElfClass; byteOrder: ByteOrder },
  probes: { left: number },
): Promise<MemoryImage | undefined> {
  const segs = memory.segments;
  const at = lastAtOrBelow(segs, (s) => s.vaddr, ld);
  for (let i = at; i >= 0 && i > at - MAX_PROBES_PER_ENTRY && probes.left > 0; i--) {
    const start = segs[i]!.vaddr;
    if (ld - start >= MAX_IMAGE_SPAN) break;
    probes.left--;
    const image = await readImageFromMemory(memory, start, shape);
    if (image && image.dynamic === ld) return image;
  }
  return undefined;
}
