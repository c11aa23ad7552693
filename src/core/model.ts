/**
 * The process model: what a core file says about the process that died.
 *
 * Everything here is plain data (no file handles), so it can be printed as
 * JSON by `inspect --json`, stored in a bundle's manifest, and compared in
 * tests. Addresses are bigint because 64-bit addresses do not fit a double.
 */

import type { OsName } from '../elf/os.js';
import type { ArchName } from '../elf/arch.js';
import type { CoreWriter } from './writer.js';
import type { MiniCoreNote } from './minicore.js';

export type { ArchName, OsName };

export interface SignalInfo {
  /** Signal number as the OS numbers it (si_signo / pr_cursig). */
  signo: number;
  /** Symbolic name for `signo` on the core's OS, e.g. "SIGSEGV"; undefined when unknown. */
  name: string | undefined;
  /** si_code when the core has NT_SIGINFO. */
  code: number | undefined;
  /** Symbolic si_code, e.g. "SEGV_MAPERR"; undefined when unknown. */
  codeName: string | undefined;
  /** Fault address (si_addr) for SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP. */
  addr: bigint | undefined;
}

export interface ProcessInfo {
  pid: number | undefined;
  ppid: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  /** pr_fname: the command name, at most 16 bytes. */
  fname: string | undefined;
  /** pr_psargs: the command line, truncated by the kernel at 80 bytes. */
  psargs: string | undefined;
}

export interface Thread {
  tid: number;
  /** pr_cursig of this thread's NT_PRSTATUS. */
  cursig: number;
  /** Thread name from NT_THRMISC (FreeBSD); undefined elsewhere. */
  name: string | undefined;
  /** Registers by their architecture's names (rip, rsp, pc, sp, x0..., r0...). */
  registers: Record<string, bigint>;
  pc: bigint | undefined;
  sp: bigint | undefined;
  /** True for the thread that received the fatal signal. */
  crashed: boolean;
}

export interface AuxvEntry {
  a_type: number;
  /** AT_* name, e.g. "AT_PHDR"; undefined for types we do not know. */
  name: string | undefined;
  a_val: bigint;
}

/** One file-backed mapping as the kernel recorded it (NT_FILE or kinfo_vmentry). */
export interface FileMapping {
  start: bigint;
  end: bigint;
  /** Offset into the file, in bytes. */
  fileOffset: bigint;
  /** Path with any " (deleted)" suffix removed. */
  path: string;
  /** The file had been unlinked when the process died. */
  deleted: boolean;
  /** Protection bits, when the source records them (FreeBSD): "r-x" style. */
  protection: string | undefined;
}

/** file_headers: the core lacked the object's headers; they were read from its file on disk. */
export type ModuleSource = 'nt_file' | 'vmmap' | 'link_map' | 'ehdr_scan' | 'file_headers';

/**
 * A loaded ELF object: the executable, the dynamic loader, shared libraries,
 * the vDSO. Joined from the kernel's mapping list and the loader's link_map.
 */
export interface Module {
  /** Lowest and highest address of the file's mappings (end exclusive). */
  start: bigint;
  end: bigint;
  /** The mapped file's path as the kernel resolved it; undefined for the vDSO. */
  path: string | undefined;
  /** l_name from the loader's link_map (what gdb looks up under a sysroot). */
  linkMapName: string | undefined;
  /** l_addr: the load bias, when known. */
  loadBias: bigint | undefined;
  /** NT_GNU_BUILD_ID read from the core's memory, lower-case hex. */
  buildId: string | undefined;
  /** Address of the build-id note in memory (as eu-unstrip prints it). */
  buildIdAddr: bigint | undefined;
  deleted: boolean;
  kind: 'executable' | 'interpreter' | 'library' | 'vdso';
  sources: ModuleSource[];
  /**
   * The ELF and program headers were read from core memory. When false, a
   * debugger cannot place the module from the core alone (qemu-user cores,
   * cut cores): replay gives it the address.
   */
  headersInCore: boolean;
}

/** A link_map entry that neither a mapping, nor memory, nor a file on disk could place. */
export interface UnplacedObject {
  /** l_name, possibly relative ("./libplugin.so"). */
  name: string;
  /** l_addr. */
  loadBias: bigint;
}

export interface CoreSummary {
  os: OsName;
  /** Architecture name, e.g. "x86_64", "aarch64", "i386", "ppc64", "s390x"; `machine-N` for an e_machine we do not know. */
  arch: ArchName;
  /** e_machine of the core: the files it names must have the same. */
  machine: number;
  elfClass: 32 | 64;
  byteOrder: 'little' | 'big';
  process: ProcessInfo;
  /** Path of the executable as the core names it (NT_FILE / AT_EXECFN / kve_path). */
  executable: string | undefined;
  signal: SignalInfo | undefined;
  threads: Thread[];
  auxv: AuxvEntry[];
  mappings: FileMapping[];
  modules: Module[];
  /** Objects the loader lists that could not be placed: each one makes a bundle not exact. */
  unplaced: UnplacedObject[];
  /** Things that were odd but not fatal (a cut link_map chain, an unknown note). */
  warnings: string[];
  /** Present when this core is a mini core (collect --stacks-only): what it was cut from. */
  miniCore?: MiniCoreNote;
  /** Present when the notes show who wrote the core other than the kernel (writer.ts). */
  writer?: CoreWriter;
}
