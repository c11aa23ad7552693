/**
 * The address space as the report's map shows it: the core's segments
 * joined into modules, thread stacks, the heap, guard pages and other
 * anonymous memory. Pure.
 */
import type { Module } from '../core/model.js';
import { moduleLabel } from '../core/json.js';
import type { MapRegion, RegionKind } from './model.js';
import { PF, type MemorySegment } from './verdict.js';

/** brk starts at most this far past the executable's end (x86_64's and arm64's brk randomisation is 32 MiB and 1 GiB at most). */
const HEAP_WITHIN = 1n << 30n;

/** x86_64's legacy vsyscall page: always at this address. */
const VSYSCALL = 0xffffffffff600000n;

const permsOf = (f: number) => `${f & PF.R ? 'r' : '-'}${f & PF.W ? 'w' : '-'}${f & PF.X ? 'x' : '-'}`;


export interface MapInput {
  segments: readonly MemorySegment[];
  modules: readonly Module[];
  /** Each thread's stack pointer. */
  threads: ReadonlyArray<{ tid: number; sp: bigint | undefined }>;
}

export function addressMap(inp: MapInput): MapRegion[] {
  const exe = inp.modules.find((m) => m.kind === 'executable');
  let heapFound = false;
  const out: Array<MapRegion & { flags: number }> = [];
  for (const s of inp.segments) {
    const mod = inp.modules.find((m) => m.start <= s.start && s.start < m.end);
    let kind: RegionKind;
    let label: string;
    const tids = inp.threads.filter((t) => t.sp !== undefined && s.start <= t.sp && t.sp < s.end).map((t) => t.tid);
    const prev = out[out.length - 1];
    if (mod) {
      kind = 'module';
      label = moduleLabel(mod);
    } else if (s.start === VSYSCALL) {
      kind = 'module';
      label = '[vsyscall]';
    } else if (s.flags === 0) {
      kind = 'guard';
      label = 'no access (guard)';
    } else if (tids.length) {
      kind = 'stack';
      label = `stack of thread${tids.length > 1 ? 's' : ''} ${tids.join(', ')}`;
    } else if (prev?.kind === 'module' && prev.end === s.start && s.flags & PF.W) {
      // The executable's or a library's .bss past the end of its file.
      prev.end = s.end;
      prev.flags |= s.flags;
      continue;
    } else if (!heapFound && exe && s.start >= exe.end && s.start - exe.end <= HEAP_WITHIN && s.flags & PF.W) {
      kind = 'heap';
      label = 'heap (brk)';
      heapFound = true;
    } else {
      kind = 'anonymous';
      label = 'anonymous';
    }
    if (prev && prev.kind === kind && prev.label === label && (kind === 'module' || prev.end === s.start)) {
      prev.end = s.end > prev.end ? s.end : prev.end;
      prev.flags |= s.flags;
      continue;
    }
    out.push({ start: s.start, end: s.end, kind, label, perms: '', flags: s.flags });
  }
  return out.map(({ flags, ...r }) => ({ ...r, perms: permsOf(flags) }));
}
