/**
 * Telling gdb where modules are when it cannot find out from the core.
 *
 * gdb places the executable by comparing the program headers at AT_PHDR in
 * the core with the file's, and the libraries by walking r_debug/link_map in
 * the core's memory. qemu-user cores leave the program headers out (gdb then
 * assumes a PIE runs at 0 and shows `??`), and cut cores may lose link_map.
 * corepack's module table knows each address: gdb gets it explicitly.
 * Measured with gdb-multiarch 13.1 on a qemu-aarch64 PIE core: `??` without,
 * the full backtrace with `symbol-file -o BIAS` and `sharedlibrary`.
 */
import type { Module } from '../core/model.js';
import { gdbQuote } from './script.js';
import { hex } from '../util/text.js';

export interface PlacedModule {
  kind: Module['kind'];
  loadBias: bigint | undefined;
  headersInCore: boolean;
  /** The loader's name for it, or its path. */
  name: string;
  /** The extracted file; null when not bundled. */
  localPath: string | null;
}

export interface Placement {
  /** gdb commands to run after core-file. */
  commands: string[];
  /** Modules given to gdb with add-symbol-file (it will not list them as shared libraries). */
  added: PlacedModule[];
}


/**
 * @param linkMapInCore the loader's list was found in the core's memory, so
 *   gdb finds the libraries itself once the executable is placed.
 */
export function placementCommands(modules: readonly PlacedModule[], linkMapInCore: boolean): Placement {
  const commands: string[] = [];
  const added: PlacedModule[] = [];
  const exe = modules.find((m) => m.kind === 'executable' && m.localPath !== null);
  if (exe && !exe.headersInCore && exe.loadBias !== undefined && exe.loadBias !== 0n) {
    commands.push(`symbol-file -o ${hex(exe.loadBias)} ${gdbQuote(exe.localPath!, 'executable')}`);
  }
  if (!linkMapInCore) {
    for (const m of modules) {
      if ((m.kind !== 'library' && m.kind !== 'interpreter') || m.localPath === null || m.loadBias === undefined) continue;
      commands.push(`add-symbol-file ${gdbQuote(m.localPath, 'library')} -o ${hex(m.loadBias)}`);
      added.push(m);
    }
  } else if (commands.length > 0) {
    // The relocated executable's DT_DEBUG now leads gdb to link_map: read it again.
    commands.push('sharedlibrary');
  }
  return { commands, added };
}
