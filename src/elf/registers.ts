/**
 * One shape for a general-purpose register set (elf_gregset_t on Linux,
 * struct reg on the BSDs): named slots at byte offsets, and which slots are
 * the PC and the stack pointer. Linux, FreeBSD and NetBSD tables all take it,
 * and decodeRegisters / pcAndSp are the only code that reads one.
 */
import type { Decoder } from './decoder.js';

export interface RegisterSlot {
  readonly name: string;
  /** Byte offset from the start of the register set. */
  readonly offset: number;
  readonly size: 2 | 4 | 8;
}

export interface RegisterSet {
  /** In the order the kernel's structure stores them (the order registers are listed in). */
  readonly slots: readonly RegisterSlot[];
  /** Names of the program counter and stack pointer slots. */
  readonly pc: string;
  readonly sp: string;
}

/** A set of equal-sized registers stored back to back, as most elf_gregset_t are. */
export function sequentialRegisters(names: readonly string[], size: 4 | 8, pc: string, sp: string): RegisterSet {
  return { slots: names.map((name, i) => ({ name, offset: i * size, size })), pc, sp };
}

/**
 * The registers of `set` stored at `base` in `d`. Slots past the end of the
 * descriptor are left out: some kernels dump fewer registers than the table
 * names (the old ppc "softe" slot and the like).
 */
export function decodeRegisters(d: Decoder, base: number, set: RegisterSet): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const { name, offset, size } of set.slots) {
    const at = base + offset;
    if (!d.has(at, size)) continue;
    out[name] = size === 2 ? BigInt(d.u16(at)) : d.uint(at, size);
  }
  return out;
}

/** The PC and stack pointer from decoded registers. */
export function pcAndSp(set: RegisterSet, regs: Record<string, bigint>): { pc: bigint | undefined; sp: bigint | undefined } {
  return { pc: regs[set.pc], sp: regs[set.sp] };
}
