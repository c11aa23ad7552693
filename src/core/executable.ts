/**
 * Finding the executable in memory through the auxiliary vector: where its
 * program headers are (AT_PHDR), hence its load bias and dynamic section.
 */
import { Decoder, type ByteOrder, type ElfClass } from '../elf/decoder.js';
import { decodeProgHeaders, type ProgHeader } from '../elf/file.js';
import { ELF_LAYOUT } from '../elf/layout.js';
import { PT } from '../elf/constants.js';
import { readImageFromMemory, type MemoryImage } from './image.js';
import type { CoreMemory } from './memory.js';
import type { AuxvEntry } from './model.js';

export interface AuxvExecutable {
  /** Load bias, from where PT_PHDR landed; undefined without PT_PHDR in memory. */
  bias: bigint | undefined;
  /** The executable's program headers, read at AT_PHDR. */
  progs: ProgHeader[] | undefined;
}

export function auxValue(auxv: readonly AuxvEntry[], name: string): bigint | undefined {
  return auxv.find((e) => e.name === name)?.a_val;
}

export async function executableFromAuxv(memory: CoreMemory, auxv: readonly AuxvEntry[], shape: { elfClass: ElfClass; byteOrder: ByteOrder }): Promise<AuxvExecutable> {
  const minEnt = ELF_LAYOUT[shape.elfClass].phdr.size;
  const phdr = auxValue(auxv, 'AT_PHDR');
  const phnum = Number(auxValue(auxv, 'AT_PHNUM') ?? 0n);
  const phent = Number(auxValue(auxv, 'AT_PHENT') ?? BigInt(minEnt));
  const none = { bias: undefined, progs: undefined };
  if (phdr === undefined || phnum <= 0 || phnum >= 4096 || phent < minEnt || phent > 256) return none;
  const table = await memory.read(phdr, phnum * phent);
  if (!table) return none;
  const d = new Decoder(table, shape.byteOrder, shape.elfClass, phdr, 'executable program headers');
  const progs = decodeProgHeaders(d, phnum, phent);
  const self = progs.find((p) => p.p_type === PT.PT_PHDR);
  // For a PIE the load bias is where PT_PHDR landed minus where it was linked.
  return { bias: self ? BigInt.asUintN(shape.elfClass, phdr - self.p_vaddr) : undefined, progs };
}

/**
 * The run-time address and size of the executable's PT_DYNAMIC: from the
 * program headers at AT_PHDR, else from its image found in memory.
 */
export function executableDynamic(
  fromAuxv: AuxvExecutable,
  image: MemoryImage | undefined,
  entry: bigint | undefined,
  elfClass: ElfClass,
): { addr: bigint; size: bigint } | undefined {
  if (fromAuxv.progs) {
    const dyn = fromAuxv.progs.find((p) => p.p_type === PT.PT_DYNAMIC);
    if (!dyn) return undefined;
    let bias = fromAuxv.bias ?? image?.bias;
    if (bias === undefined && entry !== undefined && image) bias = entry - image.header.e_entry;
    // A non-PIE executable without PT_PHDR runs where it was linked.
    bias ??= 0n;
    return { addr: BigInt.asUintN(elfClass, bias + dyn.p_vaddr), size: dyn.p_memsz };
  }
  if (image?.dynamic !== undefined) return { addr: image.dynamic, size: image.dynamicSize };
  return undefined;
}

/**
 * Some systems map the executable's first page a second time inside its data
 * segment, while the real first page is not dumped. Such a copy is the
 * executable when its entry point and program headers land exactly where
 * AT_ENTRY and AT_PHDR say; it is then re-read at its real address.
 */
export async function relocatedExecutableCopy(
  memory: CoreMemory,
  auxv: readonly AuxvEntry[],
  image: MemoryImage,
  copyAt: bigint,
): Promise<MemoryImage | undefined> {
  const entry = auxValue(auxv, 'AT_ENTRY');
  const phdr = auxValue(auxv, 'AT_PHDR');
  const h = image.header;
  if (entry === undefined || phdr === undefined || h.e_entry === 0n) return undefined;
  const loads = image.progs.filter((p) => p.p_type === PT.PT_LOAD);
  if (loads.length === 0) return undefined;
  const first = loads.reduce((a, b) => (b.p_offset < a.p_offset ? b : a));
  const bias = BigInt.asUintN(h.elfClass, entry - h.e_entry);
  const base = BigInt.asUintN(h.elfClass, bias + first.p_vaddr - first.p_offset);
  if (base === copyAt || BigInt.asUintN(h.elfClass, base + h.e_phoff) !== phdr) return undefined;
  return readImageFromMemory(memory, base, { elfClass: h.elfClass, byteOrder: h.byteOrder }, copyAt);
}
