/**
 * FreeBSD core notes (name "FreeBSD"). Layouts from sys/sys/procfs.h
 * (prstatus_t, prpsinfo_t, thrmisc_t) and sys/sys/user.h (struct
 * kinfo_vmentry); see test/helpers/FREEBSD-LAYOUT.md for the offsets and
 * where each was read.
 */
import { Decoder } from './decoder.js';
import { EM } from './constants.js';
import { FormatError } from './errors.js';

export interface FbsdPrStatus {
  pr_version: number;
  pr_cursig: number;
  /** The LWP (thread) id. */
  pr_pid: number;
  pr_reg: Record<string, bigint>;
  pc: bigint | undefined;
  sp: bigint | undefined;
}

/** Register names of struct reg in order, per machine; the slot size is the word size. */
function fbsdRegs(e_machine: number): { names: string[]; pc: string; sp: string; layout?: 'amd64' } | undefined {
  switch (e_machine) {
    case EM.EM_X86_64:
      return { names: [], pc: 'rip', sp: 'rsp', layout: 'amd64' };
    case EM.EM_386:
      return {
        names: ['fs', 'es', 'ds', 'edi', 'esi', 'ebp', 'isp', 'ebx', 'edx', 'ecx', 'eax', 'trapno', 'err', 'eip', 'cs', 'eflags', 'esp', 'ss', 'gs'],
        pc: 'eip',
        sp: 'esp',
      };
    case EM.EM_AARCH64:
      return { names: [...Array.from({ length: 30 }, (_, i) => `x${i}`), 'lr', 'sp', 'elr', 'spsr'], pc: 'elr', sp: 'sp' };
    default:
      return undefined;
  }
}

/** amd64 struct reg mixes 8-, 4- and 2-byte fields: [name, offset, size]. */
const AMD64_REG: ReadonlyArray<readonly [string, number, number]> = [
  ...['r15', 'r14', 'r13', 'r12', 'r11', 'r10', 'r9', 'r8', 'rdi', 'rsi', 'rbp', 'rbx', 'rdx', 'rcx', 'rax'].map(
    (n, i) => [n, i * 8, 8] as const,
  ),
  ['trapno', 120, 4],
  ['fs', 124, 2],
  ['gs', 126, 2],
  ['err', 128, 4],
  ['es', 132, 2],
  ['ds', 134, 2],
  ['rip', 136, 8],
  ['cs', 144, 8],
  ['rflags', 152, 8],
  ['rsp', 160, 8],
  ['ss', 168, 8],
];

/**
 * prstatus_t: int pr_version; size_t pr_statussz, pr_gregsetsz,
 * pr_fpregsetsz; int pr_osreldate, pr_cursig; pid_t pr_pid; gregset_t pr_reg.
 */
export function decodeFbsdPrStatus(d: Decoder, e_machine: number): FbsdPrStatus {
  const w = d.wordSize;
  const osrel = w + 3 * w; // after pr_version (padded to size_t) and three size_t
  const cursig = osrel + 4;
  const pid = cursig + 4;
  const reg = Math.ceil((pid + 4) / w) * w;
  d.need(0, pid + 4);
  const out: FbsdPrStatus = { pr_version: d.i32(0), pr_cursig: d.i32(cursig), pr_pid: d.i32(pid), pr_reg: {}, pc: undefined, sp: undefined };
  const layout = fbsdRegs(e_machine);
  if (!layout) return out;
  if (layout.layout === 'amd64') {
    for (const [name, off, size] of AMD64_REG) {
      if (!d.has(reg + off, size)) continue;
      out.pr_reg[name] = size === 8 ? d.u64(reg + off) : size === 4 ? BigInt(d.u32(reg + off)) : BigInt(d.u16(reg + off));
    }
  } else {
    layout.names.forEach((name, i) => {
      if (d.has(reg + i * w, w)) out.pr_reg[name] = d.word(reg + i * w);
    });
  }
  out.pc = out.pr_reg[layout.pc];
  out.sp = out.pr_reg[layout.sp];
  return out;
}

export interface FbsdPrPsInfo {
  pr_version: number;
  pr_fname: string;
  pr_psargs: string;
  pr_pid: number | undefined;
}

const PRFNAMESZ = 16;
const PRARGSZ = 80;

/** prpsinfo_t: int pr_version; size_t pr_psinfosz; char pr_fname[17]; char pr_psargs[81]; pid_t pr_pid (version ≥ 1 of newer kernels). */
export function decodeFbsdPrPsInfo(d: Decoder): FbsdPrPsInfo {
  const w = d.wordSize;
  const fname = 2 * w;
  const psargs = fname + PRFNAMESZ + 1;
  const pid = Math.ceil((psargs + PRARGSZ + 1) / 4) * 4;
  d.need(0, psargs + PRARGSZ + 1);
  return {
    pr_version: d.i32(0),
    pr_fname: d.cstring(fname, PRFNAMESZ + 1),
    pr_psargs: d.cstring(psargs, PRARGSZ + 1).trimEnd(),
    pr_pid: d.has(pid, 4) ? d.i32(pid) : undefined,
  };
}

/** thrmisc_t: char pr_tname[MAXCOMLEN + 1 = 20]; u_int _pad. */
export function decodeFbsdThrMisc(d: Decoder): string {
  return d.cstring(0, 20);
}

export interface KinfoVmentry {
  kve_structsize: number;
  kve_type: number;
  kve_start: bigint;
  kve_end: bigint;
  kve_offset: bigint;
  kve_flags: number;
  kve_protection: number;
  kve_path: string;
}

/** KVME_TYPE_VNODE: a file mapping. */
export const KVME_TYPE_VNODE = 2;
export const KVME_PROT = { KVME_PROT_READ: 1, KVME_PROT_WRITE: 2, KVME_PROT_EXEC: 4 } as const;

const KVE_PATH = 136;
/** Smallest record that still holds every fixed field before kve_path. */
const KVE_MIN = KVE_PATH;

/**
 * NT_PROCSTAT_VMMAP: an int giving sizeof(struct kinfo_vmentry) as the
 * dumping kernel knew it, then records. Each record starts with its own
 * kve_structsize: in the packed format (what kernels write to cores) the
 * path is cut after its NUL and the record rounded up to 8 bytes, so records
 * must be walked by that field, never by the header's size.
 */
export function decodeVmmap(d: Decoder): KinfoVmentry[] {
  const structsize = d.i32(0);
  if (structsize < KVE_MIN || structsize > 65536) {
    throw new FormatError(`NT_PROCSTAT_VMMAP structure size ${structsize} is not a kinfo_vmentry size`, d.at(0));
  }
  const out: KinfoVmentry[] = [];
  let off = 4;
  // Records are 8-byte aligned relative to the first one after the int header.
  while (off < d.length) {
    if (d.length - off < KVE_MIN) {
      if (d.buf.subarray(off).every((b) => b === 0)) break;
      throw new FormatError(`NT_PROCSTAT_VMMAP record truncated: ${d.length - off} bytes left`, d.at(off));
    }
    const size = d.i32(off);
    if (size < KVE_MIN || size > d.length - off) {
      throw new FormatError(`kinfo_vmentry kve_structsize ${size} is invalid (record at ${off} of ${d.length} bytes)`, d.at(off));
    }
    out.push({
      kve_structsize: size,
      kve_type: d.i32(off + 4),
      kve_start: d.u64(off + 8),
      kve_end: d.u64(off + 16),
      kve_offset: d.u64(off + 24),
      kve_flags: d.i32(off + 44),
      kve_protection: d.i32(off + 56),
      kve_path: d.cstring(off + KVE_PATH, size - KVE_PATH),
    });
    off += size;
  }
  return out;
}

/** NT_PROCSTAT_AUXV: an int giving sizeof(Elf_Auxinfo), then (a_type, a_val) pairs. */
export function decodeFbsdAuxv(d: Decoder): Array<{ a_type: number; a_val: bigint }> {
  const entsize = d.i32(0);
  const w = d.wordSize;
  if (entsize !== 2 * w) throw new FormatError(`NT_PROCSTAT_AUXV entry size ${entsize} is not ${2 * w}`, d.at(0));
  // The entries follow the int directly (offset 4, unaligned), as the kernel
  // writes them with sbuf_bcat.
  const first = 4;
  const out: Array<{ a_type: number; a_val: bigint }> = [];
  for (let off = first; off + 2 * w <= d.length; off += 2 * w) {
    const type = Number(d.word(off));
    if (type === 0) break;
    out.push({ a_type: type, a_val: d.word(off + w) });
  }
  return out;
}
