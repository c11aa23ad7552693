/**
 * What a mini core needs to know per architecture about a thread: how far
 * below the stack pointer the ABI lets a leaf function use memory (the red
 * zone), where its thread pointer is, and where the thread's DTV pointer sits
 * relative to it. One row per architecture; an architecture without a row
 * still gets its stacks, and the manifest says its thread data was not kept.
 *
 * The thread pointer is what libthread_db starts from: glibc puts
 * `struct pthread` (its TCB) at it, the static TLS blocks next to it and a
 * pointer to the DTV (the per-thread table of TLS blocks, malloc'ed) in its
 * first words.
 */
import type { Note } from '../../elf/notes.js';
import { NT_LINUX } from '../../elf/constants.js';
import type { Decoder } from '../../elf/decoder.js';
import { isKnownArch, type ArchName, type KnownArch } from '../../elf/arch.js';

export interface ThreadArch {
  /** Bytes below the stack pointer a leaf function may use without moving it. */
  redZone: number;
  /** The thread pointer, from the thread's registers or its own notes (those after its NT_PRSTATUS). */
  threadPointer(registers: Readonly<Record<string, bigint>>, threadNotes: readonly Note[], decoder: (n: Note) => Decoder): bigint | undefined;
  /**
   * Byte offset from the thread pointer of tcbhead_t.dtv. TLS variant II
   * (x86_64: tcb, dtv, self...) has it one word up; variant I (aarch64:
   * dtv, private) at the thread pointer itself.
   */
  dtvSlot: number;
  /**
   * Where the TCB is relative to the thread pointer (default 0): ppc64 points
   * the thread pointer 0x7000 past it, so that signed 16-bit offsets reach
   * 64 KiB of TLS; the kept window is centred there.
   */
  tcbOffset?: number;
  /** Where the thread pointer comes from, for the manifest. */
  source: string;
  /**
   * Byte offsets inside the kernel's struct ucontext of a signal frame, to
   * find a handler running on an alternate signal stack (sigaltstack): the
   * frame records that stack (uc_stack) and the interrupted stack pointer
   * and PC (uc_mcontext). Without it only the alternate stack is kept.
   */
  ucontext?: { ssSp: number; ssFlags: number; ssSize: number; savedSp: number; savedPc: number; maxUcFlags: number };
}

/** The table, by CoreSummary.arch; an architecture without a row keeps its stacks only. */
export const THREAD_ARCH: Readonly<Partial<Record<KnownArch, ThreadArch>>> = {
  i386: {
    // The i386 SysV ABI has no red zone.
    redZone: 0,
    threadPointer: (regs, notes, decoder) => i386ThreadPointer(regs, notes, decoder),
    dtvSlot: 4,
    source: '%gs and NT_386_TLS',
  },
  // TLS variant I with the DTV pointer in the word below the thread pointer (tcbhead_t { dtv, private } ends there).
  riscv64: {
    redZone: 0,
    threadPointer: (regs) => regs.tp,
    dtvSlot: -16,
    source: 'tp (NT_PRSTATUS)',
  },
  // r13 points 0x7000 past the TCB; tcbhead_t ends at the TCB with its dtv member.
  ppc64: {
    // The ELF ABIs (v1 and v2) give leaf functions 288 bytes below r1.
    redZone: 288,
    threadPointer: (regs) => regs.r13,
    dtvSlot: -0x7000 - 8,
    tcbOffset: -0x7000,
    source: 'r13 (NT_PRSTATUS)',
  },
  x32: {
    redZone: 128,
    threadPointer: (regs) => regs.fs_base,
    // tcbhead_t's members are 4-byte pointers in x32.
    dtvSlot: 4,
    source: 'fs_base (NT_PRSTATUS)',
  },
  x86_64: {
    redZone: 128,
    threadPointer: (regs) => regs.fs_base,
    dtvSlot: 8,
    source: 'fs_base (NT_PRSTATUS)',
    // uc_flags, uc_link, uc_stack {ss_sp, ss_flags, ss_size}, then struct sigcontext
    // (r8-r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip …) at 40; uc_flags holds
    // UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS at most.
    ucontext: { ssSp: 16, ssFlags: 24, ssSize: 32, savedSp: 40 + 15 * 8, savedPc: 40 + 16 * 8, maxUcFlags: 7 },
  },
  aarch64: {
    // AAPCS64 has no red zone.
    redZone: 0,
    // NT_ARM_TLS: TPIDR_EL0 (then, on newer kernels, TPIDR2_EL0).
    threadPointer: (_regs, notes, decoder) => {
      const tls = notes.find((n) => (n.name === 'LINUX' || n.name === 'CORE') && n.n_type === NT_LINUX.NT_ARM_TLS);
      if (!tls || tls.desc.length < 8) return undefined;
      return decoder(tls).uint(0, 8);
    },
    dtvSlot: 0,
    source: 'TPIDR_EL0 (NT_ARM_TLS)',
  },
};

/** The row for a core's architecture; none for one without a rule (or an e_machine we do not know). */
export function threadArchOf(arch: ArchName): ThreadArch | undefined {
  return isKnownArch(arch) ? THREAD_ARCH[arch] : undefined;
}

/**
 * i386: %gs selects a GDT entry whose base is the thread pointer; NT_386_TLS
 * lists the thread's TLS entries (struct user_desc: entry_number, base_addr,
 * limit, flags). A selector of 0 (some kernels record that) leaves the one
 * entry with a base, when there is exactly one.
 */
function i386ThreadPointer(regs: Readonly<Record<string, bigint>>, notes: readonly Note[], decoder: (n: Note) => Decoder): bigint | undefined {
  const tls = notes.find((n) => n.name === 'LINUX' && n.n_type === NT_LINUX.NT_386_TLS);
  if (!tls) return undefined;
  const d = decoder(tls);
  const entries: Array<{ index: number; base: bigint }> = [];
  for (let off = 0; off + USER_DESC_SIZE <= tls.desc.length; off += USER_DESC_SIZE) entries.push({ index: d.u32(off), base: BigInt(d.u32(off + 4)) });
  const index = regs.gs !== undefined ? Number(regs.gs >> 3n) : 0;
  const chosen = entries.find((e) => e.index === index && e.base !== 0n);
  if (chosen) return chosen.base;
  const based = entries.filter((e) => e.base !== 0n);
  return index === 0 && based.length === 1 ? based[0]!.base : undefined;
}
const USER_DESC_SIZE = 16;

/** Red zone for architectures without a row: generous, since the cost is a few bytes. */
export const UNKNOWN_ARCH_RED_ZONE = 256;

/**
 * Each thread's own notes, in NT_PRSTATUS order: Linux writes a thread's
 * NT_PRSTATUS and then its other register notes (NT_FPREGSET, NT_ARM_TLS …)
 * before the next thread's NT_PRSTATUS.
 */
export function notesByThread(notes: readonly Note[]): Note[][] {
  const out: Note[][] = [];
  for (const n of notes) {
    if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRSTATUS) out.push([n]);
    else if (out.length > 0 && n.n_type !== NT_LINUX.NT_PRPSINFO && n.n_type !== NT_LINUX.NT_FILE && n.n_type !== NT_LINUX.NT_AUXV && n.n_type !== NT_LINUX.NT_SIGINFO) out[out.length - 1]!.push(n);
  }
  return out;
}
