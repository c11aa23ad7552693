/**
 * A core cut short (RLIMIT_CORE, systemd's ProcessSizeMax, a full disk) whose
 * notes are complete: threads, registers, signal and mappings are all there,
 * only memory is missing. What is missing, and what that costs the debugger.
 */
import type { ElfFile } from '../elf/file.js';
import { PT } from '../elf/constants.js';
import type { Thread } from './model.js';

export interface Truncation {
  /** Bytes in the file. */
  fileSize: number;
  /** Bytes its program headers say it should have. */
  expectedSize: number;
  /** PT_LOAD segments with some or all of their dumped bytes missing. */
  cutSegments: number;
  /** Threads whose stack pointer's page is not in the file. */
  threadsWithoutStack: number;
  threads: number;
  /** One sentence for inspect, collect and the manifest. */
  message: string;
}

/** "187.8 MB": decimal units, as disk sizes are usually told. */
export function decimalBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** undefined when every PT_LOAD's dumped bytes are in the file. */
export function describeTruncation(elf: ElfFile, threads: readonly Thread[]): Truncation | undefined {
  const size = BigInt(elf.reader.size);
  const loads = elf.progs.filter((p) => p.p_type === PT.PT_LOAD && p.p_filesz > 0n);
  const cut = loads.filter((p) => p.p_offset + p.p_filesz > size);
  if (cut.length === 0) return undefined;
  const expected = loads.reduce((a, p) => (p.p_offset + p.p_filesz > a ? p.p_offset + p.p_filesz : a), 0n);
  const stackSegments = new Set<number>();
  let without = 0;
  for (const t of threads) {
    if (t.sp === undefined) continue;
    const sp = t.sp;
    const seg = loads.find((p) => p.p_vaddr <= sp && sp < p.p_vaddr + p.p_memsz);
    if (!seg) continue;
    if (seg.p_offset + (sp - seg.p_vaddr) >= size || sp - seg.p_vaddr >= seg.p_filesz) {
      without++;
      stackSegments.add(seg.index);
    }
  }
  const others = cut.filter((p) => !stackSegments.has(p.index)).length;
  const n = threads.length;
  const parts: string[] = [];
  if (without > 0) parts.push(without === n ? `the stack${n === 1 ? '' : 's'} of ${n === 1 ? 'its only thread' : `all ${n} threads`}` : `the stacks of ${without} of ${n} threads`);
  if (others > 0) parts.push(`${parts.length ? `${others} other` : others} segment${others === 1 ? '' : 's'}`);
  const verb = without + others === 1 && without <= 1 ? 'is' : 'are';
  const cost =
    without > 0
      ? 'gdb can name the crashing function, but backtraces stop early and locals may be unreadable'
      : 'the stacks are intact, so backtraces work; data in the missing memory reads as unavailable';
  const message = `the core is cut at ${decimalBytes(elf.reader.size)} of ${decimalBytes(Number(expected))}: ${parts.join(' and ')} ${verb} missing (${cost})`;
  return { fileSize: elf.reader.size, expectedSize: Number(expected), cutSegments: cut.length, threadsWithoutStack: without, threads: n, message };
}
