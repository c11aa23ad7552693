/**
 * Per-architecture facts the core reader needs: the name we print, and the
 * layout of the general-purpose register set (elf_gregset_t) inside
 * NT_PRSTATUS, with which registers are the PC and the stack pointer.
 */
import { EM } from './constants.js';
import { sequentialRegisters, type RegisterSet } from './registers.js';

/**
 * The architectures whose cores we read, by the names users know them by
 * (and gdb's and lldb's tables are keyed on, src/replay/arch.ts).
 */
export const KNOWN_ARCHES = [
  'x86_64', 'x32', 'i386', 'aarch64', 'arm', 'ppc', 'ppc64', 's390', 's390x',
  'riscv32', 'riscv64', 'mips', 'mipsn32', 'mips64', 'sparc', 'sparc64', 'm68k',
] as const;
export type KnownArch = (typeof KNOWN_ARCHES)[number];

/** A core's architecture (CoreSummary.arch): a known one, or `machine-N` for an e_machine we have no register layout for. */
export type ArchName = KnownArch | `machine-${number}`;

export function isKnownArch(arch: ArchName): arch is KnownArch {
  return (KNOWN_ARCHES as readonly string[]).includes(arch);
}

/** The MIPS ABIs (o32, n32, n64): Linux numbers their signals its own way. */
export function isMips(arch: ArchName): boolean {
  return arch === 'mips' || arch === 'mipsn32' || arch === 'mips64';
}

/** 32- and 64-bit SPARC: Linux numbers their signals as the BSDs do. */
export function isSparc(arch: ArchName): boolean {
  return arch === 'sparc' || arch === 'sparc64';
}

export interface RegisterLayout {
  /** Architecture name as users know it. */
  arch: KnownArch;
  /** Bytes per register slot in pr_reg (it also aligns pr_reg inside elf_prstatus). */
  regSize: 4 | 8;
  /** pr_reg's slots and which are the PC and SP. */
  set: RegisterSet;
  /** Alignment of a long in elf_prstatus when it is not the word size (m68k aligns to 2). */
  longAlign?: number;
}

function linux(arch: KnownArch, regSize: 4 | 8, names: readonly string[], pc: string, sp: string, longAlign?: number): RegisterLayout {
  const layout: RegisterLayout = { arch, regSize, set: sequentialRegisters(names, regSize, pc, sp) };
  if (longAlign !== undefined) layout.longAlign = longAlign;
  return layout;
}

const range = (prefix: string, n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + from}`);

// Orders from the kernel's user_regs_struct / elf_gregset_t for each arch.
const X86_64 = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  'orig_rax', 'rip', 'cs', 'rflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
];
const I386 = ['ebx', 'ecx', 'edx', 'esi', 'edi', 'ebp', 'eax', 'ds', 'es', 'fs', 'gs', 'orig_eax', 'eip', 'cs', 'eflags', 'esp', 'ss'];
const AARCH64 = [...range('x', 31), 'sp', 'pc', 'pstate'];
const ARM = [...range('r', 13), 'sp', 'lr', 'pc', 'cpsr', 'orig_r0'];
const PPC = [...range('r', 32), 'nip', 'msr', 'orig_r3', 'ctr', 'lr', 'xer', 'ccr', 'softe', 'trap', 'dar', 'dsisr', 'result'];
// s390: PSW mask and address, then the 16 general registers (access registers follow; not needed).
const S390 = ['pswm', 'pswa', ...range('r', 16)];
const RISCV = [
  'pc', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', ...range('a', 8),
  ...range('s', 10, 2), 't3', 't4', 't5', 't6',
];
// MIPS o32 pads six words before r0; n32/n64 do not.
const MIPS_REGS = [...range('r', 32), 'lo', 'hi', 'epc', 'badvaddr', 'status', 'cause'];
const MIPS_O32 = [...range('pad', 6), ...MIPS_REGS];
// sparc64: g0-g7, o0-o7 (o6 is the stack pointer), l0-l7, i0-i7, then tstate, tpc, tnpc, y.
const SPARC64 = [...range('g', 8), ...range('o', 8), ...range('l', 8), ...range('i', 8), 'tstate', 'pc', 'npc', 'y'];
const SPARC32 = ['psr', 'pc', 'npc', 'y', ...range('g', 8), ...range('o', 8)];
const M68K = [...range('d', 7, 1), ...range('a', 7), 'd0', 'usp', 'orig_d0', 'sr', 'pc', 'fmtvec'];

/**
 * @param prstatusSize size of an NT_PRSTATUS descriptor, when known: it tells
 *   MIPS n32 (64-bit registers, 440 bytes) from o32 (256 bytes), because cores
 *   do not carry the EF_MIPS_ABI2 flag.
 */
export function registerLayout(e_machine: number, elfClass: 32 | 64, e_flags: number, prstatusSize?: number): RegisterLayout | undefined {
  switch (e_machine) {
    case EM.EM_X86_64:
      // x32 (ELFCLASS32 on x86-64) still dumps 64-bit registers.
      return linux(elfClass === 32 ? 'x32' : 'x86_64', 8, X86_64, 'rip', 'rsp');
    case EM.EM_386:
      return linux('i386', 4, I386, 'eip', 'esp');
    case EM.EM_AARCH64:
      return linux('aarch64', 8, AARCH64, 'pc', 'sp');
    case EM.EM_ARM:
      return linux('arm', 4, ARM, 'pc', 'sp');
    case EM.EM_PPC:
      return linux('ppc', 4, PPC, 'nip', 'r1');
    case EM.EM_PPC64:
      return linux('ppc64', 8, PPC, 'nip', 'r1');
    case EM.EM_S390:
      return elfClass === 64
        ? linux('s390x', 8, S390, 'pswa', 'r15')
        : linux('s390', 4, S390, 'pswa', 'r15');
    case EM.EM_RISCV:
      return elfClass === 64
        ? linux('riscv64', 8, RISCV, 'pc', 'sp')
        : linux('riscv32', 4, RISCV, 'pc', 'sp');
    case EM.EM_MIPS: {
      // EF_MIPS_ABI2 (0x20) marks n32, which uses 64-bit registers in a 32-bit ELF.
      const n32 = elfClass === 32 && ((e_flags & 0x20) !== 0 || prstatusSize === 440);
      if (elfClass === 64) return linux('mips64', 8, MIPS_REGS, 'epc', 'r29');
      if (n32) return linux('mipsn32', 8, MIPS_REGS, 'epc', 'r29');
      return linux('mips', 4, MIPS_O32, 'epc', 'r29');
    }
    case EM.EM_SPARCV9:
      return linux('sparc64', 8, SPARC64, 'pc', 'o6');
    case EM.EM_SPARC:
    case EM.EM_SPARC32PLUS:
      return linux('sparc', 4, SPARC32, 'pc', 'o6');
    case EM.EM_68K:
      return linux('m68k', 4, M68K, 'pc', 'usp', 2);
    default:
      return undefined;
  }
}

export function archName(e_machine: number, elfClass: 32 | 64, e_flags: number, prstatusSize?: number): ArchName {
  return registerLayout(e_machine, elfClass, e_flags, prstatusSize)?.arch ?? `machine-${e_machine}`;
}

/** e_machine by Node's name for the architecture it runs on (process.arch). */
const MACHINE_OF_NODE_ARCH: Partial<Record<NodeJS.Architecture, number>> = {
  x64: EM.EM_X86_64, ia32: EM.EM_386, arm64: EM.EM_AARCH64, arm: EM.EM_ARM, ppc64: EM.EM_PPC64, s390x: EM.EM_S390, riscv64: EM.EM_RISCV,
};

/** e_machine of the machine corepack runs on, or undefined for one we do not know. */
export const HOST_MACHINE: number | undefined = MACHINE_OF_NODE_ARCH[process.arch];
