/**
 * Signal and si_code names. Numbers differ between operating systems and, on
 * Linux, between architectures (MIPS, SPARC and Alpha have their own), so the
 * lookup takes both.
 */
import type { OsName } from './os.js';
import { isMips, isSparc, type ArchName } from './arch.js';

// The historic Unix numbers, which Linux and the BSDs on every architecture keep.
const HISTORIC: Record<number, string> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 8: 'SIGFPE', 9: 'SIGKILL',
  11: 'SIGSEGV', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM',
};

const LINUX: Record<number, string> = {
  ...HISTORIC, 7: 'SIGBUS', 10: 'SIGUSR1', 12: 'SIGUSR2',
  16: 'SIGSTKFLT', 17: 'SIGCHLD', 18: 'SIGCONT', 19: 'SIGSTOP', 20: 'SIGTSTP', 21: 'SIGTTIN', 22: 'SIGTTOU',
  23: 'SIGURG', 24: 'SIGXCPU', 25: 'SIGXFSZ', 26: 'SIGVTALRM', 27: 'SIGPROF', 28: 'SIGWINCH', 29: 'SIGIO',
  30: 'SIGPWR', 31: 'SIGSYS',
};

// The BSDs, and Linux on MIPS and SPARC, keep the historic BSD numbering.
const BSD: Record<number, string> = {
  ...HISTORIC, 7: 'SIGEMT', 10: 'SIGBUS', 12: 'SIGSYS',
  16: 'SIGURG', 17: 'SIGSTOP', 18: 'SIGTSTP', 19: 'SIGCONT', 20: 'SIGCHLD', 21: 'SIGTTIN', 22: 'SIGTTOU',
  23: 'SIGIO', 24: 'SIGXCPU', 25: 'SIGXFSZ', 26: 'SIGVTALRM', 27: 'SIGPROF', 28: 'SIGWINCH', 29: 'SIGINFO',
  30: 'SIGUSR1', 31: 'SIGUSR2',
};

// MIPS keeps BSD's 1–15 (SIGEMT, SIGBUS at 10, SIGSYS at 12) and numbers 16–31 its own way.
const LINUX_MIPS: Record<number, string> = {
  ...BSD, 16: 'SIGUSR1', 17: 'SIGUSR2', 18: 'SIGCHLD', 19: 'SIGPWR', 20: 'SIGWINCH', 21: 'SIGURG', 22: 'SIGIO',
  23: 'SIGSTOP', 24: 'SIGTSTP', 25: 'SIGCONT', 26: 'SIGTTIN', 27: 'SIGTTOU', 28: 'SIGVTALRM', 29: 'SIGPROF',
  30: 'SIGXCPU', 31: 'SIGXFSZ',
};

export function signalName(signo: number, os: OsName, arch: ArchName): string | undefined {
  if (signo <= 0) return undefined;
  if (os === 'linux') {
    if (isMips(arch)) return LINUX_MIPS[signo];
    if (isSparc(arch)) return BSD[signo];
    return LINUX[signo] ?? (signo >= 32 && signo <= 64 ? `SIGRT${signo - 32}` : undefined);
  }
  if (os === 'unknown') return LINUX[signo];
  return BSD[signo];
}

const SI_CODES_COMMON: Record<number, string> = {
  0: 'SI_USER', [-1]: 'SI_QUEUE', [-2]: 'SI_TIMER', [-3]: 'SI_MESGQ', [-4]: 'SI_ASYNCIO', [-6]: 'SI_TKILL', 0x80: 'SI_KERNEL',
};
const SI_CODES: Record<string, Record<number, string>> = {
  SIGSEGV: { 1: 'SEGV_MAPERR', 2: 'SEGV_ACCERR', 3: 'SEGV_BNDERR', 4: 'SEGV_PKUERR' },
  SIGBUS: { 1: 'BUS_ADRALN', 2: 'BUS_ADRERR', 3: 'BUS_OBJERR', 4: 'BUS_MCEERR_AR', 5: 'BUS_MCEERR_AO' },
  SIGILL: { 1: 'ILL_ILLOPC', 2: 'ILL_ILLOPN', 3: 'ILL_ILLADR', 4: 'ILL_ILLTRP', 5: 'ILL_PRVOPC', 6: 'ILL_PRVREG', 7: 'ILL_COPROC', 8: 'ILL_BADSTK' },
  SIGFPE: { 1: 'FPE_INTDIV', 2: 'FPE_INTOVF', 3: 'FPE_FLTDIV', 4: 'FPE_FLTOVF', 5: 'FPE_FLTUND', 6: 'FPE_FLTRES', 7: 'FPE_FLTINV', 8: 'FPE_FLTSUB' },
  SIGTRAP: { 1: 'TRAP_BRKPT', 2: 'TRAP_TRACE' },
};

/** Linux si_code names; the BSDs use other values, so we only name Linux ones. */
export function siCodeName(signame: string | undefined, code: number, os: OsName): string | undefined {
  if (os !== 'linux') return undefined;
  if (code <= 0 || code === 0x80) return SI_CODES_COMMON[code];
  return (signame && SI_CODES[signame]?.[code]) ?? undefined;
}

/** Signals whose si_addr is the faulting address. */
export const FAULT_SIGNALS = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGTRAP']);
