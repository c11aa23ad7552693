/**
 * The summary of a core: its OS found through the table in os/table.ts, its
 * notes decoded by that OS's decoder, its auxv named, and the module table
 * built from memory.
 */
import type { ElfFile } from '../elf/file.js';
import { nameOf, type ConstTable } from '../elf/constants.js';
import type { Note } from '../elf/notes.js';
import { archName } from '../elf/arch.js';
import type { CoreMemory } from './memory.js';
import { buildModules, type ModuleFiles } from './modules.js';
import type { AuxvEntry, CoreSummary } from './model.js';
import { coreOsOf } from './os/table.js';
import { firstPrStatusSize } from './os/linux.js';
import { findMiniCoreNote } from './minicore.js';
import { coreWriter } from './writer.js';

export async function summarize(elf: ElfFile, notes: readonly Note[], memory: CoreMemory, files?: ModuleFiles): Promise<CoreSummary> {
  const h = elf.header;
  const { os, decode, auxvNames } = coreOsOf(h.ei_osabi, notes);
  const arch = archName(h.e_machine, h.elfClass, h.e_flags, firstPrStatusSize(notes));
  const decoded = decode({ elf, notes, arch });
  const warnings = decoded.warnings;
  if (notes.some((n) => n.name === 'VMCOREINFO')) warnings.push('this is a Linux kernel crash dump (vmcore), not a process core: it has no shared libraries to bundle');

  const auxv: AuxvEntry[] = decoded.auxv.map((e) => ({ a_type: e.a_type, name: nameOfAux(auxvNames, e.a_type), a_val: e.a_val }));
  const built = await buildModules({ elf, memory, os, auxv, mappings: decoded.mappings, files });
  warnings.push(...built.warnings);
  const miniCore = findMiniCoreNote(notes);
  const writer = coreWriter(os, notes);

  return {
    os,
    arch,
    machine: h.e_machine,
    elfClass: h.elfClass,
    byteOrder: h.byteOrder,
    process: decoded.process,
    executable: built.executable,
    signal: decoded.signal,
    threads: decoded.threads,
    auxv,
    mappings: decoded.mappings,
    modules: built.modules,
    unplaced: built.unplaced,
    warnings,
    ...(miniCore ? { miniCore } : {}),
    ...(writer ? { writer } : {}),
  };
}

function nameOfAux(table: ConstTable, type: number): string | undefined {
  const n = nameOf(table, type);
  return n.startsWith('0x') ? undefined : n;
}
