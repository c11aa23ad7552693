/**
 * The verdict: what happened, in one sentence, from the signal, its si_code,
 * the fault address and the core's mappings (its PT_LOAD segments, with their
 * permissions) — the reading a person does by hand with `info proc mappings`.
 * Pure: every input is data from the core.
 */
import { hex } from '../util/text.js';

/** p_flags bits of a PT_LOAD segment. */
export const PF = { X: 1, W: 2, R: 4 } as const;

export interface MemorySegment {
  start: bigint;
  end: bigint;
  flags: number;
}

export interface VerdictInput {
  signal: { name: string | undefined; signo: number; codeName: string | undefined; code: number | undefined; addr: bigint | undefined } | undefined;
  /** The core's PT_LOAD segments, sorted by address. */
  segments: readonly MemorySegment[];
  /** The crashing thread's PC and SP. */
  pc: bigint | undefined;
  sp: bigint | undefined;
  /** glibc's __abort_msg as the core's memory holds it, when it does. */
  abortMessage: string | undefined;
}

export type VerdictCause =
  | 'null-dereference'
  | 'stack-overflow'
  | 'write-to-read-only'
  | 'execute-non-executable'
  | 'no-access-page'
  | 'unmapped-address'
  | 'invalid-access'
  | 'assertion'
  | 'abort-message'
  | 'abort'
  | 'bus-error'
  | 'arithmetic'
  | 'illegal-instruction'
  | 'trap'
  | 'signal'
  | 'no-signal';

export interface Assertion {
  expression: string;
  file: string;
  line: number;
  function: string;
}

export interface Verdict {
  cause: VerdictCause;
  /** A few words: "NULL pointer dereference". */
  title: string;
  /**
   * What shows it, as a clause that does not repeat the title: "address
   * 0x10, 16 bytes past NULL: …". Empty when the title says it all.
   */
  detail: string;
  /** The verdict in one sentence: the title, then the detail ("NULL pointer dereference: address 0x10, …"). */
  sentence: string;
  /** glibc's message, as it was (no trailing newline). */
  abortMessage?: string;
  assertion?: Assertion;
}

/** Below this the fault is an offset from a NULL pointer (Linux's default vm.mmap_min_addr is 4096 or more). */
export const NULL_PAGE = 4096n;
/**
 * How far below a stack the fault may be and still be its overflow: the
 * kernel's stack guard gap (256 pages by default) plus a large frame.
 */
const STACK_GAP = 1024n * 1024n + 64n * 1024n;
/** The fault and the SP of an overflowing thread are a frame apart at most. */
const SP_NEAR = 64n * 1024n;

const perms = (f: number) => `${f & PF.R ? 'r' : '-'}${f & PF.W ? 'w' : '-'}${f & PF.X ? 'x' : '-'}`;

function segmentAt(segments: readonly MemorySegment[], addr: bigint): MemorySegment | undefined {
  return segments.find((s) => s.start <= addr && addr < s.end);
}

/** The first accessible segment above `addr` (the stack an overflow ran out of). */
function accessibleAbove(segments: readonly MemorySegment[], addr: bigint): MemorySegment | undefined {
  return segments.find((s) => s.start > addr && s.flags !== 0);
}

function bytes(n: bigint): string {
  if (n < 1024n) return `${n} byte${n === 1n ? '' : 's'}`;
  if (n < 1024n * 1024n) return `${(Number(n) / 1024).toFixed(1)} KiB`;
  return `${(Number(n) / 1024 / 1024).toFixed(1)} MiB`;
}

/** A verdict whose sentence is its title, then its detail: the title is said once. */
function verdict(cause: VerdictCause, title: string, detail: string, more: Pick<Verdict, 'abortMessage' | 'assertion'> = {}): Verdict {
  return { cause, title, detail, sentence: detail ? `${title}: ${detail}.` : `${title}.`, ...more };
}

/**
 * A stack overflow: the fault lies in the gap (SEGV_MAPERR) or the guard page
 * (SEGV_ACCERR on a no-access page) just below a writable mapping, and the
 * crashing thread's stack pointer is there too.
 */
function stackOverflow(inp: VerdictInput, addr: bigint): Verdict | undefined {
  const inside = segmentAt(inp.segments, addr);
  if (inside && inside.flags !== 0) return undefined;
  const stack = accessibleAbove(inp.segments, addr);
  if (!stack || !(stack.flags & PF.W) || stack.flags & PF.X || stack.start - addr > STACK_GAP) return undefined;
  if (inp.sp === undefined) return undefined;
  const spNear = (inp.sp > addr ? inp.sp - addr : addr - inp.sp) <= SP_NEAR;
  if (!spNear) return undefined;
  const below = stack.start - addr;
  return verdict(
    'stack-overflow',
    'Stack overflow',
    `the stack pointer (${hex(inp.sp)}) ran past the bottom of the thread's stack mapping (${hex(stack.start)}-${hex(stack.end)}) and the fault at ${hex(addr)} is ${bytes(below)} below it (unbounded recursion, or a very large local variable)`,
  );
}

function segv(inp: VerdictInput, code: string | undefined, addr: bigint | undefined): Verdict {
  const sigCode = `SIGSEGV${code ? `, ${code}` : ''}`;
  if (addr === undefined) return verdict('invalid-access', 'Invalid memory access', `the core records no fault address (${sigCode})`);
  if (code === 'SEGV_MAPERR' && addr < NULL_PAGE) {
    if (addr === 0n && inp.pc === 0n) return verdict('null-dereference', 'Call through a NULL function pointer', 'the program counter is 0');
    const detail = addr === 0n ? 'address 0x0 is the NULL pointer itself' : `address ${hex(addr)} is ${addr} byte${addr === 1n ? '' : 's'} past NULL (a field of a struct or an element of an array reached through a NULL pointer)`;
    return verdict('null-dereference', 'NULL pointer dereference', detail);
  }
  const overflow = code === 'SEGV_MAPERR' || code === 'SEGV_ACCERR' ? stackOverflow(inp, addr) : undefined;
  if (overflow) return overflow;
  const seg = segmentAt(inp.segments, addr);
  if (code === 'SEGV_ACCERR' && seg) {
    const range = `${hex(seg.start)}-${hex(seg.end)} ${perms(seg.flags)}`;
    if (inp.pc !== undefined && inp.pc === addr && !(seg.flags & PF.X)) {
      return verdict('execute-non-executable', 'Jump to non-executable memory', `the program counter ${hex(addr)} is in a mapping that is not executable (${range}; a corrupt function pointer or return address)`);
    }
    if (seg.flags === 0) return verdict('no-access-page', 'Access to a no-access page', `address ${hex(addr)} is in a mapping with no access (${range}; a guard page, or memory protected with PROT_NONE)`);
    if (!(seg.flags & PF.W)) return verdict('write-to-read-only', 'Write to read-only memory', `address ${hex(addr)} is in a read-only mapping (${range}; a string literal, a constant, or code written through a pointer)`);
    return verdict('invalid-access', 'Access denied', `address ${hex(addr)} is in ${range} (SEGV_ACCERR)`);
  }
  if (code === 'SEGV_MAPERR' && inp.pc !== undefined && inp.pc === addr) {
    return verdict('execute-non-executable', 'Jump to unmapped memory', `the program counter ${hex(addr)} is where nothing is mapped (a corrupt function pointer or return address)`);
  }
  if (code === 'SEGV_MAPERR') return verdict('unmapped-address', 'Access to unmapped memory', `nothing is mapped at ${hex(addr)} (a wild or dangling pointer)`);
  return verdict('invalid-access', 'Invalid memory access', `address ${hex(addr)} (${sigCode})`);
}

/** glibc's assert message: "PROG: FILE:LINE: FUNCTION: Assertion `EXPR' failed." */
export function parseAssertion(message: string): Assertion | undefined {
  const m = /^(?:.*?: )?(.+?):(\d+): (?:(.+?): )?Assertion [`'](.*)' failed\.?\s*$/s.exec(message);
  if (!m) return undefined;
  return { file: m[1]!, line: Number(m[2]), function: m[3] ?? '?', expression: m[4]! };
}

function abort(inp: VerdictInput): Verdict {
  const msg = inp.abortMessage?.replace(/\s+$/, '');
  if (msg) {
    const assertion = parseAssertion(msg);
    if (assertion) return verdict('assertion', 'Assertion failed', `\`${assertion.expression}\` is false`, { abortMessage: msg, assertion });
    return verdict('abort-message', 'Aborted by the C library', `"${msg}"`, { abortMessage: msg });
  }
  return verdict('abort', 'Aborted', "the program called abort() (SIGABRT) and left no message in glibc's __abort_msg");
}

const BUS: Record<string, string> = {
  BUS_ADRALN: 'misaligned address',
  BUS_ADRERR: 'an address that exists in the mapping but not in the file behind it (a file truncated while mapped?)',
  BUS_OBJERR: 'a hardware error on the object',
  BUS_MCEERR_AR: 'a hardware memory error (machine check)',
  BUS_MCEERR_AO: 'a hardware memory error (machine check, action optional)',
};
const FPE: Record<string, string> = {
  FPE_INTDIV: 'integer division by zero',
  FPE_INTOVF: 'integer overflow',
  FPE_FLTDIV: 'floating-point division by zero',
  FPE_FLTOVF: 'floating-point overflow',
  FPE_FLTUND: 'floating-point underflow',
  FPE_FLTRES: 'inexact floating-point result',
  FPE_FLTINV: 'invalid floating-point operation',
  FPE_FLTSUB: 'subscript out of range',
};
const ILL: Record<string, string> = {
  ILL_ILLOPC: 'illegal opcode (often __builtin_trap or ud2: the compiler marked this path unreachable)',
  ILL_ILLOPN: 'illegal operand',
  ILL_ILLADR: 'illegal addressing mode',
  ILL_ILLTRP: 'illegal trap',
  ILL_PRVOPC: 'privileged opcode',
  ILL_PRVREG: 'privileged register',
  ILL_COPROC: 'coprocessor error',
  ILL_BADSTK: 'internal stack error',
};
const TRAP: Record<string, string> = { TRAP_BRKPT: 'a breakpoint instruction (int3, __builtin_debugtrap)', TRAP_TRACE: 'a trace trap' };

function byCode(cause: VerdictCause, title: string, table: Record<string, string>, sig: NonNullable<VerdictInput['signal']>): Verdict {
  const what = sig.codeName ? table[sig.codeName] : undefined;
  const at = sig.addr !== undefined ? ` at ${hex(sig.addr)}` : '';
  const code = sig.codeName ?? (sig.code !== undefined ? `code ${sig.code}` : undefined);
  return verdict(cause, title, `${what ?? 'the signal'}${at} (${sig.name ?? `signal ${sig.signo}`}${code ? `, ${code}` : ''})`);
}

/** The verdict for a crash. */
export function verdictOf(inp: VerdictInput): Verdict {
  const sig = inp.signal;
  if (!sig) return verdict('no-signal', 'No signal recorded', 'the core was probably taken from a running process (gcore), not written at a crash');
  switch (sig.name) {
    case 'SIGSEGV':
      return segv(inp, sig.codeName, sig.addr);
    case 'SIGABRT':
      return abort(inp);
    case 'SIGBUS':
      return byCode('bus-error', 'Bus error', BUS, sig);
    case 'SIGFPE':
      return byCode('arithmetic', 'Arithmetic error', FPE, sig);
    case 'SIGILL':
      return byCode('illegal-instruction', 'Illegal instruction', ILL, sig);
    case 'SIGTRAP':
      return byCode('trap', 'Trap', TRAP, sig);
    default: {
      const from = sig.codeName === 'SI_USER' || sig.codeName === 'SI_TKILL' ? 'sent by a process (kill, or the program itself)' : '';
      return verdict('signal', `Killed by ${sig.name ?? `signal ${sig.signo}`}`, from);
    }
  }
}
