/**
 * ELF constants, under the names the specifications give them.
 *
 * Each table is a frozen name → number map; `nameOf` turns a number back into
 * its name, so diagnostics print "PT_NOTE" rather than 4 (as Go's debug/elf
 * constants do through String()).
 */
import { hex } from '../util/text.js';

export type ConstTable = Readonly<Record<string, number>>;

/** The table's name for `value`, or a hex literal when it has none. */
export function nameOf(table: ConstTable, value: number): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return hex(value);
}

export const ELFMAG = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export const EI = { EI_CLASS: 4, EI_DATA: 5, EI_VERSION: 6, EI_OSABI: 7, EI_NIDENT: 16 } as const;

export const ELFCLASS = { ELFCLASS32: 1, ELFCLASS64: 2 } as const;
export const ELFDATA = { ELFDATA2LSB: 1, ELFDATA2MSB: 2 } as const;

export const ELFOSABI = {
  ELFOSABI_NONE: 0,
  ELFOSABI_NETBSD: 2,
  ELFOSABI_LINUX: 3,
  ELFOSABI_FREEBSD: 9,
  ELFOSABI_OPENBSD: 12,
} as const;

export const ET = { ET_NONE: 0, ET_REL: 1, ET_EXEC: 2, ET_DYN: 3, ET_CORE: 4 } as const;

export const EM = {
  EM_SPARC: 2,
  EM_386: 3,
  EM_68K: 4,
  EM_MIPS: 8,
  EM_SPARC32PLUS: 18,
  EM_PPC: 20,
  EM_PPC64: 21,
  EM_S390: 22,
  EM_ARM: 40,
  EM_SPARCV9: 43,
  EM_X86_64: 62,
  EM_AARCH64: 183,
  EM_RISCV: 243,
  EM_LOONGARCH: 258,
} as const;

export const PT = {
  PT_NULL: 0,
  PT_LOAD: 1,
  PT_DYNAMIC: 2,
  PT_INTERP: 3,
  PT_NOTE: 4,
  PT_SHLIB: 5,
  PT_PHDR: 6,
  PT_TLS: 7,
  PT_GNU_EH_FRAME: 0x6474e550,
  PT_GNU_STACK: 0x6474e551,
  PT_GNU_RELRO: 0x6474e552,
  PT_GNU_PROPERTY: 0x6474e553,
} as const;

export const PF = { PF_X: 1, PF_W: 2, PF_R: 4 } as const;

/** e_phnum's escape value: the real count is in section header 0's sh_info. */
export const PN_XNUM = 0xffff;

/** Note types in notes named "CORE" or "LINUX" (Linux cores). */
export const NT_LINUX = {
  NT_PRSTATUS: 1,
  NT_FPREGSET: 2,
  NT_PRPSINFO: 3,
  NT_TASKSTRUCT: 4,
  NT_AUXV: 6,
  NT_PRXFPREG: 0x46e62b7f,
  NT_SIGINFO: 0x53494749,
  NT_FILE: 0x46494c45,
  NT_386_TLS: 0x200,
  NT_X86_XSTATE: 0x202,
  NT_PPC_VMX: 0x100,
  NT_S390_PREFIX: 0x305,
  NT_ARM_VFP: 0x400,
  NT_ARM_TLS: 0x401,
} as const;

/** Note types in notes named "FreeBSD" (sys/elf_common.h). */
export const NT_FREEBSD = {
  NT_PRSTATUS: 1,
  NT_FPREGSET: 2,
  NT_PRPSINFO: 3,
  NT_THRMISC: 7,
  NT_PROCSTAT_PROC: 8,
  NT_PROCSTAT_FILES: 9,
  NT_PROCSTAT_VMMAP: 10,
  NT_PROCSTAT_GROUPS: 11,
  NT_PROCSTAT_UMASK: 12,
  NT_PROCSTAT_RLIMIT: 13,
  NT_PROCSTAT_OSREL: 14,
  NT_PROCSTAT_PSSTRINGS: 15,
  NT_PROCSTAT_AUXV: 16,
  NT_PTLWPINFO: 17,
} as const;

/** Note types in "NetBSD-CORE" notes. */
export const NT_NETBSD = { ELF_NOTE_NETBSD_CORE_PROCINFO: 1, ELF_NOTE_NETBSD_CORE_AUXV: 2 } as const;

/**
 * corepack's own note, in the mini cores `collect --stacks-only` writes. The
 * owner name is lower case on purpose: BFD (gdb) hands notes whose name
 * starts with "CORE" to its Solaris/Linux core decoders, and every other name
 * to a generic one that switches on n_type, so the type is chosen outside
 * every NT_* value BFD, elfutils and lldb know; all three then skip it.
 */
export const NOTE_OWNER_COREPACK = 'corepack';
export const NT_COREPACK = { NT_COREPACK_MINICORE: 0x4d494e49 /* "MINI" */ } as const;

/** Note types in notes named "GNU". */
export const NT_GNU = { NT_GNU_ABI_TAG: 1, NT_GNU_HWCAP: 2, NT_GNU_BUILD_ID: 3, NT_GNU_PROPERTY_TYPE_0: 5 } as const;

/** Auxiliary vector types every system numbers alike (the System V ABI's). */
const AT_COMMON = {
  AT_NULL: 0,
  AT_IGNORE: 1,
  AT_EXECFD: 2,
  AT_PHDR: 3,
  AT_PHENT: 4,
  AT_PHNUM: 5,
  AT_PAGESZ: 6,
  AT_BASE: 7,
  AT_FLAGS: 8,
  AT_ENTRY: 9,
  AT_NOTELF: 10,
  AT_UID: 11,
  AT_EUID: 12,
  AT_GID: 13,
  AT_EGID: 14,
} as const;

/** Auxiliary vector entry types, Linux numbering. */
export const AT = {
  ...AT_COMMON,
  AT_PLATFORM: 15,
  AT_HWCAP: 16,
  AT_CLKTCK: 17,
  AT_SECURE: 23,
  AT_BASE_PLATFORM: 24,
  AT_RANDOM: 25,
  AT_HWCAP2: 26,
  AT_EXECFN: 31,
  AT_SYSINFO: 32,
  AT_SYSINFO_EHDR: 33,
  AT_MINSIGSTKSZ: 51,
} as const;

/** FreeBSD's auxiliary vector numbering differs from AT_EXECPATH (15) on (sys/elf_common.h). */
export const AT_FREEBSD = {
  ...AT_COMMON,
  AT_EXECPATH: 15,
  AT_CANARY: 16,
  AT_CANARYLEN: 17,
  AT_OSRELDATE: 18,
  AT_NCPUS: 19,
  AT_PAGESIZES: 20,
  AT_PAGESIZESLEN: 21,
  AT_TIMEKEEP: 22,
  AT_STACKPROT: 23,
  AT_EHDRFLAGS: 24,
  AT_HWCAP: 25,
  AT_HWCAP2: 26,
  AT_BSDFLAGS: 27,
  AT_ARGC: 28,
  AT_ARGV: 29,
  AT_ENVC: 30,
  AT_ENVV: 31,
  AT_PS_STRINGS: 32,
  AT_FXRNG: 33,
  AT_KPRELOAD: 34,
  AT_USRSTACKBASE: 35,
  AT_USRSTACKLIM: 36,
} as const;

/** Dynamic section tags we follow. */
export const DT = {
  DT_NULL: 0,
  DT_NEEDED: 1,
  DT_STRTAB: 5,
  DT_SONAME: 14,
  DT_DEBUG: 21,
  DT_MIPS_RLD_MAP: 0x70000016,
  DT_MIPS_RLD_MAP_REL: 0x70000035,
} as const;
