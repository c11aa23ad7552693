/**
 * Linux core note descriptors: NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO, NT_AUXV,
 * NT_FILE. Layouts follow the kernel's struct elf_prstatus / elf_prpsinfo
 * (include/uapi/linux/elfcore.h) for the dumping process's word size.
 */
import { Decoder } from './decoder.js';
import { FormatError } from './errors.js';
import { decodeAuxvPairs, type AuxvPair } from './auxv.js';
import { alignUp as align } from './layout.js';
import type { RegisterLayout } from './arch.js';
import { decodeRegisters } from './registers.js';

export interface PrStatus {
  si_signo: number;
  si_code: number;
  si_errno: number;
  pr_cursig: number;
  pr_pid: number;
  pr_ppid: number;
  pr_pgrp: number;
  pr_sid: number;
  /** General registers by name (empty when the architecture is unknown). */
  pr_reg: Record<string, bigint>;
}

/**
 * struct elf_prstatus: elf_siginfo (3 ints), short pr_cursig, two longs
 * (pending, held signals), four pid_t, four struct timeval (two longs each),
 * then elf_gregset_t aligned to its register size.
 */
export function decodePrStatus(d: Decoder, regs: RegisterLayout | undefined): PrStatus {
  const w = d.wordSize;
  const longAlign = regs?.longAlign ?? w;
  const sigpend = align(14, longAlign);
  const pid = sigpend + 2 * w;
  const times = pid + 16;
  const regOff = align(times + 8 * w, Math.min(regs?.regSize ?? w, longAlign));
  d.need(0, pid + 16);
  const st: PrStatus = {
    si_signo: d.i32(0),
    si_code: d.i32(4),
    si_errno: d.i32(8),
    pr_cursig: d.i16(12),
    pr_pid: d.i32(pid),
    pr_ppid: d.i32(pid + 4),
    pr_pgrp: d.i32(pid + 8),
    pr_sid: d.i32(pid + 12),
    pr_reg: {},
  };
  if (regs) st.pr_reg = decodeRegisters(d, regOff, regs.set);
  return st;
}

export interface PrPsInfo {
  pr_state: number;
  pr_sname: string;
  pr_uid: number;
  pr_gid: number;
  pr_pid: number;
  pr_ppid: number;
  pr_pgrp: number;
  pr_sid: number;
  pr_fname: string;
  pr_psargs: string;
}

const PRARGSZ = 80;
const FNAMESZ = 16;

/**
 * struct elf_prpsinfo ends with pid_t ×4, char pr_fname[16], char
 * pr_psargs[80]; uid/gid before the pids are 16-bit on some 32-bit ABIs and
 * 32-bit elsewhere. Decoding from the end makes one function serve them all.
 */
export function decodePrPsInfo(d: Decoder): PrPsInfo {
  const w = d.wordSize;
  const psargs = d.length - PRARGSZ;
  const fname = psargs - FNAMESZ;
  const pid = fname - 16;
  const uid = 4 + (w === 8 ? 4 : 0) + w; // 4 chars, padding to the long, pr_flag
  const idSize = (pid - uid) / 2;
  if (psargs < 0 || pid < uid || (idSize !== 2 && idSize !== 4)) {
    throw new FormatError(`NT_PRPSINFO has an unexpected size (${d.length} bytes)`, d.at(0));
  }
  const id = (off: number): number => (idSize === 2 ? d.u16(off) : d.u32(off));
  return {
    pr_state: d.u8(0),
    pr_sname: String.fromCharCode(d.u8(1)),
    pr_uid: id(uid),
    pr_gid: id(uid + idSize),
    pr_pid: d.i32(pid),
    pr_ppid: d.i32(pid + 4),
    pr_pgrp: d.i32(pid + 8),
    pr_sid: d.i32(pid + 12),
    pr_fname: d.cstring(fname, FNAMESZ),
    pr_psargs: d.cstring(psargs, PRARGSZ).trimEnd(),
  };
}

export interface SigInfo {
  si_signo: number;
  si_errno: number;
  si_code: number;
  /** si_addr: meaningful for fault signals. */
  si_addr: bigint;
}

/** siginfo_t: three ints (MIPS swaps code and errno), then the union, word-aligned. */
export function decodeSigInfo(d: Decoder, mips: boolean): SigInfo {
  const union = align(12, d.wordSize);
  return {
    si_signo: d.i32(0),
    si_errno: d.i32(mips ? 8 : 4),
    si_code: d.i32(mips ? 4 : 8),
    si_addr: d.has(union, d.wordSize) ? d.word(union) : 0n,
  };
}

/** NT_AUXV: (a_type, a_val) word pairs up to AT_NULL. */
export function decodeAuxv(d: Decoder): AuxvPair[] {
  return decodeAuxvPairs(d);
}

/** One mapping of NT_FILE, under the kernel's names (fs/binfmt_elf.c fill_files_note). */
export interface NtFileEntry {
  start: bigint;
  end: bigint;
  /** In pages of NtFile.page_size, as the kernel stores it. */
  file_ofs: bigint;
  filename: string;
}

export interface NtFile {
  count: bigint;
  page_size: bigint;
  entries: NtFileEntry[];
}

/**
 * NT_FILE: long count, long page_size, count × (start, end, file_ofs) longs,
 * then count NUL-terminated paths. The count is checked against the note's
 * size before anything is allocated.
 */
export function decodeNtFile(d: Decoder): NtFile {
  const first = decodeNtFileWords(d, d.wordSize);
  // Some 32-bit MIPS cores (o32/n32 under a 64-bit kernel) write NT_FILE with
  // 64-bit longs; a 32-bit decode of those gives nonsense, so try that width.
  if (d.wordSize === 4 && !plausible(first)) {
    try {
      const wide = decodeNtFileWords(d, 8);
      if (plausible(wide)) return wide;
    } catch {
      // not that either: report the first decode's result
    }
  }
  return first;
}

function plausible(nt: NtFile): boolean {
  const ps = nt.page_size;
  const pow2 = ps >= 512n && (ps & (ps - 1n)) === 0n;
  return pow2 && nt.entries.every((e) => e.end > e.start && e.filename !== '');
}

function decodeNtFileWords(d: Decoder, w: number): NtFile {
  const count = d.uint(0, w);
  const page_size = d.uint(w, w);
  const tableEnd = BigInt(2 * w) + count * BigInt(3 * w);
  if (tableEnd > BigInt(d.length)) {
    throw new FormatError(`NT_FILE claims ${count} entries, more than its ${d.length} bytes can hold`, d.at(0));
  }
  const n = Number(count);
  const entries: NtFileEntry[] = [];
  let str = Number(tableEnd);
  for (let i = 0; i < n; i++) {
    const off = 2 * w + i * 3 * w;
    if (str >= d.length) throw new FormatError(`NT_FILE has ${n} entries but only ${i} file names`, d.at(d.length));
    const nul = d.buf.indexOf(0, str);
    const stop = nul < 0 ? d.length : nul;
    const filename = d.buf.toString('utf8', str, stop);
    str = stop + 1;
    entries.push({ start: d.uint(off, w), end: d.uint(off + w, w), file_ofs: d.uint(off + 2 * w, w), filename });
  }
  return { count, page_size, entries };
}
