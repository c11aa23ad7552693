/**
 * The dynamic loader's view of the process: r_debug → link_map, read from
 * core memory. Its l_name values are the names gdb looks up under a sysroot,
 * which often differ from the kernel's resolved NT_FILE paths.
 */
import { Decoder, type ByteOrder, type ElfClass } from '../elf/decoder.js';
import { ELF_LAYOUT } from '../elf/layout.js';
import { DT } from '../elf/constants.js';
import type { CoreMemory } from './memory.js';
import { hex } from '../util/text.js';

export interface LinkMapEntry {
  /** Address of this struct link_map in memory. */
  addr: bigint;
  l_addr: bigint;
  l_name: string;
  l_ld: bigint;
}

/**
 * A process rarely has more than a few hundred objects (large applications a
 * few thousand); this bounds the work a corrupt or hostile chain can cause.
 */
export const MAX_LINK_MAP_ENTRIES = 8192;
const MAX_DYNAMIC_ENTRIES = 4096;

interface Ctx {
  mem: CoreMemory;
  elfClass: ElfClass;
  byteOrder: ByteOrder;
}

function words(ctx: Ctx, buf: Buffer, base: bigint, what: string): Decoder {
  return new Decoder(buf, ctx.byteOrder, ctx.elfClass, base, what);
}

/**
 * Finds r_debug through the executable's dynamic section: DT_DEBUG holds its
 * address once the loader has run (MIPS uses DT_MIPS_RLD_MAP[_REL] instead).
 */
export async function findRDebug(ctx: Ctx, dynamic: bigint, dynamicSize: bigint): Promise<bigint | undefined> {
  const w = ELF_LAYOUT[ctx.elfClass].wordSize;
  const maxBytes = Math.min(Number(dynamicSize > 0n ? dynamicSize : BigInt(MAX_DYNAMIC_ENTRIES * 2 * w)), MAX_DYNAMIC_ENTRIES * 2 * w);
  for (let i = 0; i * 2 * w < maxBytes; i++) {
    const at = dynamic + BigInt(i * 2 * w);
    const buf = await ctx.mem.read(at, 2 * w);
    if (!buf) return undefined;
    const d = words(ctx, buf, at, 'dynamic entry');
    const tag = d.word(0);
    const val = d.word(w);
    if (tag === BigInt(DT.DT_NULL)) return undefined;
    if (tag === BigInt(DT.DT_DEBUG) && val !== 0n) return val;
    if (tag === BigInt(DT.DT_MIPS_RLD_MAP) || tag === BigInt(DT.DT_MIPS_RLD_MAP_REL)) {
      const slot = tag === BigInt(DT.DT_MIPS_RLD_MAP) ? val : (at + val) & (w === 8 ? 0xffffffffffffffffn : 0xffffffffn);
      const p = await ctx.mem.read(slot, w);
      if (p) {
        const r = words(ctx, p, slot, 'r_debug pointer').word(0);
        if (r !== 0n) return r;
      }
    }
  }
  return undefined;
}

export function missingNamesWarning(n: number): string {
  return `${n} link_map name(s) are not in the core; those modules are named by their mapped file only`;
}

/**
 * Walks r_debug.r_map → l_next. Stops, with a warning, at memory that is not
 * in the core, a repeated entry (a cycle) or an implausibly long chain. A
 * name not in the core is '' in its entry: the caller, which may know the
 * name from elsewhere (PT_INTERP), counts what is still missing
 * (missingNamesWarning).
 */
export async function walkLinkMap(ctx: Ctx, rDebug: bigint): Promise<{ entries: LinkMapEntry[]; warnings: string[] }> {
  const w = ELF_LAYOUT[ctx.elfClass].wordSize;
  const warnings: string[] = [];
  const entries: LinkMapEntry[] = [];
  const head = await ctx.mem.read(rDebug, 2 * w);
  if (!head) return { entries, warnings: [`r_debug at ${hex(rDebug)} is not in the core; link_map names unavailable`] };
  // struct r_debug { int r_version; struct link_map *r_map; ... }: r_map is word-aligned.
  let next = words(ctx, head, rDebug, 'r_debug').word(w);
  const seen = new Set<bigint>();
  while (next !== 0n) {
    if (seen.has(next)) {
      warnings.push(`link_map chain loops back to ${hex(next)}; stopped after ${entries.length} entries`);
      break;
    }
    if (entries.length >= MAX_LINK_MAP_ENTRIES) {
      warnings.push(`link_map chain longer than ${MAX_LINK_MAP_ENTRIES} entries; stopped`);
      break;
    }
    seen.add(next);
    const buf = await ctx.mem.read(next, 5 * w);
    if (!buf) {
      warnings.push(`link_map entry at ${hex(next)} is not in the core; the chain is cut after ${entries.length} entries`);
      break;
    }
    const d = words(ctx, buf, next, 'link_map');
    const namePtr = d.word(w);
    const name = namePtr === 0n ? '' : await ctx.mem.readCString(namePtr, 4096);
    entries.push({ addr: next, l_addr: d.word(0), l_name: name ?? '', l_ld: d.word(2 * w) });
    next = d.word(3 * w);
  }
  return { entries, warnings };
}
