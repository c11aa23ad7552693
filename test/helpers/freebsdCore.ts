/**
 * Synthetic FreeBSD/amd64 userspace core files for tests.
 *
 * No real FreeBSD core is public, so this builds one from the documented
 * kernel structures. Every offset used here is listed, with its source, in
 * FREEBSD-LAYOUT.md next to this file; keep the two in step.
 *
 * The ELF container is written by src/elf/writer.ts (planElf), the same
 * layout tables the reader decodes with; this file only encodes FreeBSD's
 * note descriptors. The file is laid out the way the kernel's ELF core
 * writer lays it out:
 *   Elf64_Ehdr | Elf64_Phdr[1 + nload] (PT_NOTE first) | notes ...
 *   | zero pad to a page | PT_LOAD data ...
 * and the notes come in the kernel's order: NT_PRPSINFO, then for every
 * thread (the signalled one first) NT_PRSTATUS, NT_FPREGSET, NT_THRMISC, then
 * the process-wide NT_PROCSTAT_* notes. Every note is named "FreeBSD".
 *
 * Deliberately left out (a reader must not need them): NT_PTLWPINFO, the
 * machine-dependent per-thread notes (e.g. NT_X86_XSTATE),
 * NT_PROCSTAT_PROC (struct kinfo_proc), _FILES, _GROUPS, _UMASK, _RLIMIT.
 */

import { ELF_LAYOUT, type PhdrFields } from '../../src/elf/layout.js';
import { encodeElfHeader, encodeNote as writeNote, encodeProgHeaders, planElf, type ElfShape } from '../../src/elf/writer.js';

// ---------------------------------------------------------------------------
// Constants (sys/sys/elf_common.h, sys/sys/user.h, sys/sys/procfs.h)
// ---------------------------------------------------------------------------

export const ELFOSABI_FREEBSD = 9;
export const EM_X86_64 = 62;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** Note owner name the kernel uses for every core note (FREEBSD_ABI_VENDOR). */
export const FREEBSD_NOTE_NAME = 'FreeBSD';

/** n_type values for notes in FreeBSD core files. */
export const NT_PRSTATUS = 1;
export const NT_FPREGSET = 2;
export const NT_PRPSINFO = 3;
export const NT_THRMISC = 7;
export const NT_PROCSTAT_PROC = 8;
export const NT_PROCSTAT_FILES = 9;
export const NT_PROCSTAT_VMMAP = 10;
export const NT_PROCSTAT_GROUPS = 11;
export const NT_PROCSTAT_UMASK = 12;
export const NT_PROCSTAT_RLIMIT = 13;
export const NT_PROCSTAT_OSREL = 14;
export const NT_PROCSTAT_PSSTRINGS = 15;
export const NT_PROCSTAT_AUXV = 16;
export const NT_PTLWPINFO = 17;
/** n_type of a "FreeBSD" ABI tag note in executables (not in cores). */
export const NT_FREEBSD_ABI_TAG = 1;
/** n_type of a "GNU" build-id note. */
export const NT_GNU_BUILD_ID = 3;

/** Auxiliary vector a_type values, FreeBSD numbering (sys/sys/elf_common.h). */
export const AT_NULL = 0;
export const AT_PHDR = 3;
export const AT_PHENT = 4;
export const AT_PHNUM = 5;
export const AT_PAGESZ = 6;
export const AT_BASE = 7;
export const AT_FLAGS = 8;
export const AT_ENTRY = 9;
export const AT_EXECPATH = 15;
export const AT_OSRELDATE = 18;

/** struct kinfo_vmentry kve_type values. */
export const KVME_TYPE_NONE = 0;
export const KVME_TYPE_DEFAULT = 1;
export const KVME_TYPE_VNODE = 2;
export const KVME_TYPE_SWAP = 3;
export const KVME_TYPE_DEVICE = 4;
export const KVME_TYPE_PHYS = 5;
export const KVME_TYPE_DEAD = 6;
export const KVME_TYPE_SG = 7;
export const KVME_TYPE_MGTDEVICE = 8;
export const KVME_TYPE_GUARD = 9;
export const KVME_TYPE_UNKNOWN = 255;

/** struct kinfo_vmentry kve_protection bits. */
export const KVME_PROT_READ = 0x1;
export const KVME_PROT_WRITE = 0x2;
export const KVME_PROT_EXEC = 0x4;

/** struct kinfo_vmentry kve_flags bits. */
export const KVME_FLAG_COW = 0x1;
export const KVME_FLAG_NEEDS_COPY = 0x2;
/**
 * The mapping is not in the core (MAP_NOCORE). On real FreeBSD cores this is set
 * on every read-only segment of the executable and rtld (kernel loader) and of
 * every shared library (rtld maps !PF_W segments MAP_NOCORE), so the ELF header
 * page with the build-id note is normally NOT in core memory.
 */
export const KVME_FLAG_NOCOREDUMP = 0x4;
export const KVME_FLAG_SUPER = 0x8;
export const KVME_FLAG_GROWS_UP = 0x10;
export const KVME_FLAG_GROWS_DOWN = 0x20;
export const KVME_FLAG_USER_WIRED = 0x40;

/** kve_status bit: the vnode attributes (fileid, size, mode...) are valid. */
export const KF_ATTR_VALID = 0x1;

export const PRSTATUS_VERSION = 1;
export const PRPSINFO_VERSION = 1;
export const THRMISC_VERSION = 1; // defined only in older procfs.h; unused in the struct
/** A plausible __FreeBSD_version (14.0-RELEASE). */
export const DEFAULT_OSRELDATE = 1400097;

// ---------------------------------------------------------------------------
// Layouts (amd64, LP64). Offsets in bytes.
// ---------------------------------------------------------------------------

/** struct kinfo_vmentry (sys/sys/user.h); KINFO_VMENTRY_SIZE = 1160 on amd64. */
export const KVE = {
  SIZE: 1160,
  structsize: 0, // int
  type: 4, // int, KVME_TYPE_*
  start: 8, // uint64
  end: 16, // uint64
  offset: 24, // uint64
  vn_fileid: 32, // uint64
  vn_fsid_freebsd11: 40, // uint32
  flags: 44, // int, KVME_FLAG_*
  resident: 48, // int
  private_resident: 52, // int
  protection: 56, // int, KVME_PROT_*
  ref_count: 60, // int
  shadow_count: 64, // int
  vn_type: 68, // int
  vn_size: 72, // uint64
  vn_rdev_freebsd11: 80, // uint32
  vn_mode: 84, // uint16
  status: 86, // uint16
  type_spec: 88, // union { uint64 _kve_vn_fsid; uint64 _kve_obj; }
  vn_rdev: 96, // uint64
  ispare: 104, // int[8]
  path: 136, // char[PATH_MAX = 1024]
  PATH_MAX: 1024,
} as const;

/** struct reg (amd64; sys/x86/include/reg.h, struct __reg64): 176 bytes. */
export const REG = {
  SIZE: 176,
  r15: 0, r14: 8, r13: 16, r12: 24, r11: 32, r10: 40, r9: 48, r8: 56,
  rdi: 64, rsi: 72, rbp: 80, rbx: 88, rdx: 96, rcx: 104, rax: 112,
  trapno: 120, // uint32
  fs: 124, // uint16
  gs: 126, // uint16
  err: 128, // uint32
  es: 132, // uint16
  ds: 134, // uint16
  rip: 136, cs: 144, rflags: 152, rsp: 160, ss: 168,
} as const;

/** prstatus_t (sys/sys/procfs.h), amd64: 224 bytes. */
export const PRSTATUS = {
  SIZE: 224,
  version: 0, // int
  statussz: 8, // size_t
  gregsetsz: 16, // size_t
  fpregsetsz: 24, // size_t
  osreldate: 32, // int
  cursig: 36, // int
  pid: 40, // pid_t: the LWP (thread) id
  reg: 48, // struct reg
} as const;

/** struct fpreg (amd64): 512 bytes (the fxsave image). */
export const FPREG_SIZE = 512;

/** prpsinfo_t (sys/sys/procfs.h), amd64: 120 bytes. */
export const PRPSINFO = {
  SIZE: 120,
  version: 0, // int
  psinfosz: 8, // size_t
  fname: 16, // char[PRFNAMESZ + 1 = 17]
  FNAME_LEN: 17,
  psargs: 33, // char[PRARGSZ + 1 = 81]
  PSARGS_LEN: 81,
  pid: 116, // pid_t (added later as "1a"; 0 from old kernels)
} as const;

/** thrmisc_t (sys/sys/procfs.h): 24 bytes. */
export const THRMISC = {
  SIZE: 24,
  tname: 0, // char[MAXCOMLEN + 1 = 20]
  TNAME_LEN: 20,
  pad: 20, // u_int, zero
} as const;

/** Elf64_Auxinfo: { int64 a_type; union { int64 a_val; ... } a_un; }. */
export const AUXINFO_SIZE = 16;

// ---------------------------------------------------------------------------
// Spec types
// ---------------------------------------------------------------------------

export interface FbsdMapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  /** KVME_PROT_* bits. */
  prot: number;
  /** '' for anonymous memory. */
  path: string;
  /** kve_type; default KVME_TYPE_VNODE when path is set, else KVME_TYPE_SWAP. */
  type?: number;
  /**
   * kve_flags (KVME_FLAG_*); default 0. To model a real core, give read-only
   * file mappings KVME_FLAG_NOCOREDUMP and leave them out of `memory`.
   */
  flags?: number;
  /** kve_vn_fileid (inode); default derived from the path. */
  fileid?: bigint;
  /** kve_vn_size (file size); default end - start + offset. */
  vnSize?: bigint;
}

export interface FbsdThread {
  tid: number;
  cursig: number;
  name: string;
  rip: bigint;
  rsp: bigint;
  /** Any other struct reg fields by name (e.g. { rbp: 0x7fffffffe000n }). */
  regs?: Partial<Record<Exclude<keyof typeof REG, 'SIZE'>, bigint>>;
}

export interface FbsdCoreSpec {
  pid: number;
  fname: string;
  psargs: string;
  /** The first one is the one that got the signal (the kernel writes it first). */
  threads: FbsdThread[];
  mappings: FbsdMapping[];
  /** [a_type, a_val] pairs, FreeBSD AT_* numbering. AT_NULL is appended if missing. */
  auxv: Array<[number, bigint]>;
  /** Packed variable-length kinfo_vmentry records (default true, as the kernel writes). */
  packed?: boolean;
  /**
   * Becomes PT_LOAD segments, in this order. Note: a real FreeBSD core does not
   * contain read-only file-backed pages (see KVME_FLAG_NOCOREDUMP); putting an
   * ELF header page here models a core where it was dumped anyway.
   */
  memory: Array<{ vaddr: bigint; bytes: Buffer }>;
  /** pr_osreldate and NT_PROCSTAT_OSREL; default DEFAULT_OSRELDATE. */
  osreldate?: number;
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

const PAGE = 4096;

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Writes a NUL-terminated string, truncated to fit `size` bytes with its NUL. */
function putCString(buf: Buffer, off: number, size: number, s: string): void {
  const bytes = Buffer.from(s, 'utf8');
  bytes.copy(buf, off, 0, Math.min(bytes.length, size - 1));
}

/** The only ELF shape this helper writes. */
const AMD64: ElfShape = { elfClass: 64, byteOrder: 'little' };

/** One ELF note with 4-byte padding of name and desc (ELF_NOTE_ROUNDSIZE = 4), by src/elf's writer. */
export function encodeNote(name: string, type: number, desc: Buffer): Buffer {
  return writeNote(AMD64, { name, n_type: type, desc });
}

function protToPf(prot: number): number {
  let f = 0;
  if (prot & KVME_PROT_READ) f |= PF_R;
  if (prot & KVME_PROT_WRITE) f |= PF_W;
  if (prot & KVME_PROT_EXEC) f |= PF_X;
  return f;
}

/** A stable fake inode number for a path. */
function fakeInode(path: string): bigint {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(path)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return BigInt(h) + 2n;
}

// ---------------------------------------------------------------------------
// Note payloads
// ---------------------------------------------------------------------------

export function encodePrpsinfo(spec: Pick<FbsdCoreSpec, 'pid' | 'fname' | 'psargs'>): Buffer {
  const b = Buffer.alloc(PRPSINFO.SIZE);
  b.writeInt32LE(PRPSINFO_VERSION, PRPSINFO.version);
  b.writeBigUInt64LE(BigInt(PRPSINFO.SIZE), PRPSINFO.psinfosz);
  putCString(b, PRPSINFO.fname, PRPSINFO.FNAME_LEN, spec.fname);
  putCString(b, PRPSINFO.psargs, PRPSINFO.PSARGS_LEN, spec.psargs);
  b.writeInt32LE(spec.pid, PRPSINFO.pid);
  return b;
}

export function encodePrstatus(t: FbsdThread, osreldate: number): Buffer {
  const b = Buffer.alloc(PRSTATUS.SIZE);
  b.writeInt32LE(PRSTATUS_VERSION, PRSTATUS.version);
  b.writeBigUInt64LE(BigInt(PRSTATUS.SIZE), PRSTATUS.statussz);
  b.writeBigUInt64LE(BigInt(REG.SIZE), PRSTATUS.gregsetsz);
  b.writeBigUInt64LE(BigInt(FPREG_SIZE), PRSTATUS.fpregsetsz);
  b.writeInt32LE(osreldate, PRSTATUS.osreldate);
  b.writeInt32LE(t.cursig, PRSTATUS.cursig);
  b.writeInt32LE(t.tid, PRSTATUS.pid);
  // Plausible user-mode defaults: FreeBSD/amd64 user %cs 0x43, %ss 0x3b, IF set.
  const regs: Record<string, bigint> = { cs: 0x43n, ss: 0x3bn, rflags: 0x202n, ...t.regs };
  regs.rip = t.rip;
  regs.rsp = t.rsp;
  const base = PRSTATUS.reg;
  for (const [name, value] of Object.entries(regs)) {
    const off = (REG as Record<string, number>)[name];
    if (off === undefined || name === 'SIZE') throw new Error(`unknown amd64 register ${name}`);
    if (name === 'trapno' || name === 'err') b.writeUInt32LE(Number(value), base + off);
    else if (name === 'fs' || name === 'gs' || name === 'es' || name === 'ds') b.writeUInt16LE(Number(value), base + off);
    else b.writeBigUInt64LE(BigInt.asUintN(64, value), base + off);
  }
  return b;
}

export function encodeThrmisc(name: string): Buffer {
  const b = Buffer.alloc(THRMISC.SIZE);
  putCString(b, THRMISC.tname, THRMISC.TNAME_LEN, name);
  return b;
}

/** One kinfo_vmentry record, packed (path cut after its NUL, size rounded to 8) or full. */
export function encodeKinfoVmentry(m: FbsdMapping, packed: boolean): Buffer {
  const pathBytes = Buffer.from(m.path, 'utf8').subarray(0, KVE.PATH_MAX - 1);
  const size = packed ? align(KVE.path + pathBytes.length + 1, 8) : KVE.SIZE;
  const b = Buffer.alloc(size);
  const isFile = m.path !== '';
  const type = m.type ?? (isFile ? KVME_TYPE_VNODE : KVME_TYPE_SWAP);
  b.writeInt32LE(size, KVE.structsize);
  b.writeInt32LE(type, KVE.type);
  b.writeBigUInt64LE(m.start, KVE.start);
  b.writeBigUInt64LE(m.end, KVE.end);
  b.writeBigUInt64LE(m.offset, KVE.offset);
  b.writeInt32LE(m.flags ?? 0, KVE.flags);
  const pages = Number((m.end - m.start) / BigInt(PAGE));
  b.writeInt32LE(pages, KVE.resident);
  b.writeInt32LE(isFile ? 0 : pages, KVE.private_resident);
  b.writeInt32LE(m.prot, KVE.protection);
  b.writeInt32LE(1, KVE.ref_count);
  b.writeInt32LE(0, KVE.shadow_count);
  if (type === KVME_TYPE_VNODE) {
    const fileid = m.fileid ?? fakeInode(m.path);
    b.writeBigUInt64LE(fileid, KVE.vn_fileid);
    b.writeUInt32LE(0x5a, KVE.vn_fsid_freebsd11);
    b.writeInt32LE(1, KVE.vn_type); // KF_VTYPE_VREG
    b.writeBigUInt64LE(m.vnSize ?? m.end - m.start + m.offset, KVE.vn_size);
    b.writeUInt16LE(0o100755, KVE.vn_mode); // S_IFREG | 0755
    b.writeUInt16LE(KF_ATTR_VALID, KVE.status);
    b.writeBigUInt64LE(0x5an, KVE.type_spec); // kve_vn_fsid
  }
  pathBytes.copy(b, KVE.path);
  return b;
}

/** NT_PROCSTAT_VMMAP desc: int32 sizeof(struct kinfo_vmentry), then the records. */
export function encodeVmmap(mappings: FbsdMapping[], packed: boolean): Buffer {
  const head = Buffer.alloc(4);
  head.writeInt32LE(KVE.SIZE, 0);
  return Buffer.concat([head, ...mappings.map((m) => encodeKinfoVmentry(m, packed))]);
}

/** NT_PROCSTAT_AUXV desc: int32 sizeof(Elf64_Auxinfo) = 16, then the entries incl. AT_NULL. */
export function encodeAuxv(auxv: Array<[number, bigint]>): Buffer {
  const entries = [...auxv];
  const last = entries[entries.length - 1];
  if (!last || last[0] !== AT_NULL) entries.push([AT_NULL, 0n]);
  const b = Buffer.alloc(4 + entries.length * AUXINFO_SIZE);
  b.writeInt32LE(AUXINFO_SIZE, 0);
  entries.forEach(([type, val], i) => {
    b.writeBigInt64LE(BigInt(type), 4 + i * AUXINFO_SIZE);
    b.writeBigUInt64LE(BigInt.asUintN(64, val), 4 + i * AUXINFO_SIZE + 8);
  });
  return b;
}

/** NT_PROCSTAT_OSREL desc: int32 structsize = 4, int32 p_osrel. */
export function encodeOsrel(osrel: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32LE(4, 0);
  b.writeInt32LE(osrel, 4);
  return b;
}

// ---------------------------------------------------------------------------
// ELF writing
// ---------------------------------------------------------------------------

/** The notes of a core built from `spec`, in kernel order, already encoded. */
export function buildFreebsdNotes(spec: FbsdCoreSpec): Buffer {
  if (spec.threads.length === 0) throw new Error('a core needs at least one thread');
  const osrel = spec.osreldate ?? DEFAULT_OSRELDATE;
  const n = (type: number, desc: Buffer): Buffer => encodeNote(FREEBSD_NOTE_NAME, type, desc);
  const notes: Buffer[] = [n(NT_PRPSINFO, encodePrpsinfo(spec))];
  for (const t of spec.threads) {
    notes.push(n(NT_PRSTATUS, encodePrstatus(t, osrel)));
    notes.push(n(NT_FPREGSET, Buffer.alloc(FPREG_SIZE)));
    notes.push(n(NT_THRMISC, encodeThrmisc(t.name)));
  }
  notes.push(n(NT_PROCSTAT_VMMAP, encodeVmmap(spec.mappings, spec.packed ?? true)));
  notes.push(n(NT_PROCSTAT_OSREL, encodeOsrel(osrel)));
  notes.push(n(NT_PROCSTAT_AUXV, encodeAuxv(spec.auxv)));
  return Buffer.concat(notes);
}

/**
 * A complete ELF64 LE x86-64 ET_CORE file with EI_OSABI = ELFOSABI_FREEBSD,
 * one PT_NOTE (first program header, notes right after the headers, p_align 4)
 * and one PT_LOAD per `spec.memory` entry (each starting on a page boundary in
 * the file, p_align 4096, p_filesz = p_memsz = bytes.length, flags from the
 * mapping containing it, PF_R if none).
 */
export function buildFreebsdCore(spec: FbsdCoreSpec): Buffer {
  const plan = planElf({
    ...AMD64,
    e_machine: EM_X86_64,
    e_type: ET_CORE,
    ei_osabi: ELFOSABI_FREEBSD,
    notes: buildFreebsdNotes(spec),
    segments: spec.memory.map((seg) => {
      const m = spec.mappings.find((mm) => seg.vaddr >= mm.start && seg.vaddr < mm.end);
      const size = BigInt(seg.bytes.length);
      return { p_type: PT_LOAD, p_flags: m ? protToPf(m.prot) : PF_R, p_vaddr: seg.vaddr, p_filesz: size, p_memsz: size, p_align: BigInt(PAGE) };
    }),
    segmentAlign: PAGE,
  });
  // Test cores are small: assemble in memory from the plan rather than stream.
  const out = Buffer.alloc(Number(plan.fileSize));
  plan.head.copy(out, 0);
  for (const seg of plan.segments) spec.memory[seg.segment]!.bytes.copy(out, Number(seg.p_offset));
  return out;
}

// ---------------------------------------------------------------------------
// First page of a mapped ELF object, for build-id lookups in core memory
// ---------------------------------------------------------------------------

export interface ElfImageOptions {
  buildId: Buffer;
  type?: 'ET_DYN' | 'ET_EXEC';
  /** Add a PT_DYNAMIC pointing at a DT_NULL-only dynamic array in the page (default false). */
  dynamic?: boolean;
  /** Put a "FreeBSD" NT_FREEBSD_ABI_TAG note before the build-id note, as FreeBSD's crt does (default true). */
  abiTag?: boolean;
  /** EI_OSABI; default ELFOSABI_FREEBSD. */
  osabi?: number;
  /** Link-time address of the first PT_LOAD; default 0 (ET_DYN) or 0x200000 (ET_EXEC). */
  vaddr?: bigint;
}

/** Where buildElfImage put things, for tests that want to check a reader against it. */
export const ELF_IMAGE_LAYOUT = {
  SIZE: 4096,
  DYNAMIC_OFFSET: 0x200,
  NOTES_OFFSET: 0x300,
} as const;

/**
 * 4096 bytes: Elf64_Ehdr, program headers (PT_LOAD covering the page, optional
 * PT_DYNAMIC, PT_NOTE) and, inside the page, an optional FreeBSD ABI tag note
 * followed by an NT_GNU_BUILD_ID note ("GNU\0", type 3) holding `buildId`.
 * No section headers: a reader has to find the build id through PT_NOTE, as
 * it must in core memory.
 */
export function buildElfImage(opts: ElfImageOptions): Buffer {
  const type = opts.type === 'ET_EXEC' ? ET_EXEC : ET_DYN;
  const base = opts.vaddr ?? (type === ET_EXEC ? 0x200000n : 0n);
  const page = Buffer.alloc(ELF_IMAGE_LAYOUT.SIZE);

  const notes: Buffer[] = [];
  if (opts.abiTag ?? true) {
    const tag = Buffer.alloc(4);
    tag.writeUInt32LE(DEFAULT_OSRELDATE, 0);
    notes.push(encodeNote(FREEBSD_NOTE_NAME, NT_FREEBSD_ABI_TAG, tag));
  }
  notes.push(encodeNote('GNU', NT_GNU_BUILD_ID, opts.buildId));
  const noteBytes = Buffer.concat(notes);
  if (ELF_IMAGE_LAYOUT.NOTES_OFFSET + noteBytes.length > page.length) throw new Error('build id too long');

  const size = BigInt(page.length);
  const phdrs: PhdrFields[] = [{ p_type: PT_LOAD, p_flags: PF_R | PF_X, p_offset: 0n, p_vaddr: base, p_paddr: 0n, p_filesz: size, p_memsz: size, p_align: BigInt(PAGE) }];
  if (opts.dynamic) {
    // One DT_NULL entry (16 zero bytes): an empty but well-formed dynamic array.
    const at = BigInt(ELF_IMAGE_LAYOUT.DYNAMIC_OFFSET);
    phdrs.push({ p_type: PT_DYNAMIC, p_flags: PF_R | PF_W, p_offset: at, p_vaddr: base + at, p_paddr: 0n, p_filesz: 16n, p_memsz: 16n, p_align: 8n });
  }
  const notesAt = BigInt(ELF_IMAGE_LAYOUT.NOTES_OFFSET);
  const notesSize = BigInt(noteBytes.length);
  phdrs.push({ p_type: PT_NOTE, p_flags: PF_R, p_offset: notesAt, p_vaddr: base + notesAt, p_paddr: 0n, p_filesz: notesSize, p_memsz: notesSize, p_align: 4n });

  // An object, not a core, so the headers are placed by hand rather than planned.
  const L = ELF_LAYOUT[64];
  const ehdr = encodeElfHeader({
    ...AMD64,
    ei_osabi: opts.osabi ?? ELFOSABI_FREEBSD,
    e_type: type,
    e_machine: EM_X86_64,
    e_version: 1,
    e_entry: base + 0x1000n,
    e_phoff: BigInt(L.ehdr.size),
    e_shoff: 0n,
    e_flags: 0,
    e_ehsize: L.ehdr.size,
    e_phentsize: L.phdr.size,
    e_phnum: phdrs.length,
    e_shentsize: L.shdr.size,
    e_shnum: 0,
    e_shstrndx: 0,
  });
  const table = encodeProgHeaders(AMD64, phdrs);
  if (ehdr.length + table.length > ELF_IMAGE_LAYOUT.DYNAMIC_OFFSET) throw new Error('program headers overflow');
  ehdr.copy(page, 0);
  table.copy(page, ehdr.length);
  noteBytes.copy(page, ELF_IMAGE_LAYOUT.NOTES_OFFSET);
  return page;
}
