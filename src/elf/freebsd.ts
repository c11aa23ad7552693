/**
 * FreeBSD core notes (name "FreeBSD"). Layouts from sys/sys/procfs.h
 * (prstatus_t, prpsinfo_t, thrmisc_t) and sys/sys/user.h (struct
 * kinfo_vmentry); see test/helpers/FREEBSD-LAYOUT.md for the offsets and
 * where each was read.
 */
import { Decoder } from './decoder.js';
import { EM } from './constants.js';
import { FormatError } from './errors.js';
import { decodeAuxvPairs, type AuxvPair } from './auxv.js';
import { alignUp } from './layout.js';
import { decodeRegisters, sequentialRegisters, type RegisterSet } from './registers.js';

export interface FbsdPrStatus {
  pr_version: number;
  pr_cursig: number;
  /** The LWP (thread) id. */
  pr_pid: number;
  pr_reg: Record<string, bigint>;
}

/** amd64 struct reg (struct __reg64) mixes 8-, 4- and 2-byte members. */
const AMD64_REG: RegisterSet = {
  slots: [
    ...['r15', 'r14', 'r13', 'r12', 'r11', 'r10', 'r9', 'r8', 'rdi', 'rsi', 'rbp', 'rbx', 'rdx', 'rcx', 'rax'].map((name, i) => ({ name, offset: i * 8, size: 8 as const })),
    { name: 'trapno', offset: 120, size: 4 },
    { name: 'fs', offset: 124, size: 2 },
    { name: 'gs', offset: 126, size: 2 },
    { name: 'err', offset: 128, size: 4 },
    { name: 'es', offset: 132, size: 2 },
    { name: 'ds', offset: 134, size: 2 },
    { name: 'rip', offset: 136, size: 8 },
    { name: 'cs', offset: 144, size: 8 },
    { name: 'rflags', offset: 152, size: 8 },
    { name: 'rsp', offset: 160, size: 8 },
    { name: 'ss', offset: 168, size: 8 },
  ],
  pc: 'rip',
  sp: 'rsp',
};
const I386_REG = ['fs', 'es', 'ds', 'edi', 'esi', 'ebp', 'isp', 'ebx', 'edx', 'ecx', 'eax', 'trapno', 'err', 'eip', 'cs', 'eflags', 'esp', 'ss', 'gs'];
const AARCH64_REG = [...Array.from({ length: 30 }, (_, i) => `x${i}`), 'lr', 'sp', 'elr', 'spsr'];

/** struct reg per machine; slots other than amd64's are words of the core's class. */
export function fbsdRegisterSet(e_machine: number, wordSize: 4 | 8): RegisterSet | undefined {
  switch (e_machine) {
    case EM.EM_X86_64:
      return AMD64_REG;
    case EM.EM_386:
      return sequentialRegisters(I386_REG, wordSize, 'eip', 'esp');
    case EM.EM_AARCH64:
      return sequentialRegisters(AARCH64_REG, wordSize, 'elr', 'sp');
    default:
      return undefined;
  }
}

/**
 * prstatus_t: int pr_version; size_t pr_statussz, pr_gregsetsz,
 * pr_fpregsetsz; int pr_osreldate, pr_cursig; pid_t pr_pid; gregset_t pr_reg.
 */
export function decodeFbsdPrStatus(d: Decoder, regs: RegisterSet | undefined): FbsdPrStatus {
  const w = d.wordSize;
  const osrel = w + 3 * w; // after pr_version (padded to size_t) and three size_t
  const cursig = osrel + 4;
  const pid = cursig + 4;
  const reg = alignUp(pid + 4, w);
  d.need(0, pid + 4);
  return { pr_version: d.i32(0), pr_cursig: d.i32(cursig), pr_pid: d.i32(pid), pr_reg: regs ? decodeRegisters(d, reg, regs) : {} };
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
  const pid = alignUp(psargs + PRARGSZ + 1, 4);
  d.need(0, psargs + PRARGSZ + 1);
  return {
    pr_version: d.i32(0),
    pr_fname: d.cstring(fname, PRFNAMESZ + 1),
    pr_psargs: d.cstring(psargs, PRARGSZ + 1).trimEnd(),
    pr_pid: d.has(pid, 4) ? d.i32(pid) : undefined,
  };
}

export interface FbsdThrMisc {
  pr_tname: string;
}

/** thrmisc_t: char pr_tname[MAXCOMLEN + 1 = 20]; u_int _pad. */
export function decodeFbsdThrMisc(d: Decoder): FbsdThrMisc {
  return { pr_tname: d.cstring(0, 20) };
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
export function decodeFbsdAuxv(d: Decoder): AuxvPair[] {
  const entsize = d.i32(0);
  const w = d.wordSize;
  if (entsize !== 2 * w) throw new FormatError(`NT_PROCSTAT_AUXV entry size ${entsize} is not ${2 * w}`, d.at(0));
  // The entries follow the int directly (offset 4, unaligned), as the kernel
  // writes them with sbuf_bcat.
  return decodeAuxvPairs(d, 4);
}
