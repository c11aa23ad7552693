/**
 * NetBSD core notes, enough to name the process, its signal and its LWPs.
 * Layout: struct netbsd_elfcore_procinfo (sys/sys/exec_elf.h); per-LWP
 * register notes are named "NetBSD-CORE@<lwpid>".
 */
import { Decoder } from './decoder.js';
import { EM } from './constants.js';
import type { RegisterSet } from './registers.js';

export interface NetbsdProcInfo {
  cpi_version: number;
  cpi_signo: number;
  cpi_sigcode: number;
  cpi_pid: number;
  cpi_ppid: number;
  cpi_ruid: number;
  cpi_rgid: number;
  cpi_nlwps: number;
  cpi_name: string;
  /** The LWP that received the signal. */
  cpi_siglwp: number;
}

export function decodeNetbsdProcInfo(d: Decoder): NetbsdProcInfo {
  d.need(0, 124);
  return {
    cpi_version: d.i32(0),
    cpi_signo: d.i32(8),
    cpi_sigcode: d.i32(12),
    cpi_pid: d.i32(80),
    cpi_ppid: d.i32(84),
    cpi_ruid: d.u32(96),
    cpi_rgid: d.u32(108),
    cpi_nlwps: d.i32(120),
    cpi_name: d.has(124, 32) ? d.cstring(124, 32) : '',
    cpi_siglwp: d.has(156, 4) ? d.i32(156) : 0,
  };
}

/**
 * The PT_GETREGS note type and the part of struct reg we read, per machine:
 * only the PC and SP slots (word indexes), under the names "pc" and "sp".
 */
export function netbsdRegs(e_machine: number, wordSize: 4 | 8): { type: number; set: RegisterSet } | undefined {
  const set = (pc: number, sp: number): RegisterSet => ({
    slots: [
      { name: 'pc', offset: pc * wordSize, size: wordSize },
      { name: 'sp', offset: sp * wordSize, size: wordSize },
    ],
    pc: 'pc',
    sp: 'sp',
  });
  switch (e_machine) {
    case EM.EM_X86_64:
      return { type: 33, set: set(21, 24) }; // _REG_RIP, _REG_RSP
    case EM.EM_AARCH64:
      return { type: 32, set: set(32, 31) }; // r_pc, r_sp after r_reg[31]
    default:
      return undefined;
  }
}

/** "NetBSD-CORE@12" → 12. */
export function netbsdLwpId(noteName: string): number | undefined {
  const m = /^NetBSD-CORE@(\d+)$/.exec(noteName);
  return m ? Number(m[1]) : undefined;
}
