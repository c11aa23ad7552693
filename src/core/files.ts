/**
 * The files the module builder may read for objects whose headers a core
 * leaves out (qemu-user and gcore cores): the executable (-e, or AT_EXECFN)
 * and the files link_map names, looked up inside the process's root only
 * (for a core qemu-user wrote: under it, then on this machine, as qemu -L did).
 */
import { readFileImage, type FileImage } from './image.js';
import type { ModuleFiles } from './modules.js';
import { HOST_ROOT, isInsideRoot, resolveUnder, type ProcessRoot } from '../util/rootfs.js';
import type { CoreWriter } from './writer.js';

export interface FileLookup {
  /** The executable's file on this machine (-e). */
  executable?: string | undefined;
  /** The directory the process saw as `/`, canonical. Not given: files are looked up only with `executable`, and then on this machine. */
  root?: ProcessRoot | undefined;
}

async function open(hostPath: string): Promise<FileImage | undefined> {
  try {
    return await readFileImage(hostPath);
  } catch {
    return undefined; // missing, unreadable or not ELF: collect says which
  }
}

/**
 * Nowhere unless the caller named a root or an executable, so `inspect CORE`
 * alone never reads this machine's files as if they were the process's.
 */
export function moduleFiles(lookup: FileLookup, writer?: CoreWriter): ModuleFiles | undefined {
  if (lookup.root === undefined && lookup.executable === undefined) return undefined;
  const root = lookup.root ?? HOST_ROOT;
  const inRoot = async (name: string): Promise<FileImage | undefined> => {
    try {
      return await open((await resolveUnder(root, name, writer === 'qemu-user' ? 'qemu' : 'chroot')).host);
    } catch {
      return undefined;
    }
  };
  return {
    executable: async (execfn) => {
      if (lookup.executable !== undefined) return open(lookup.executable);
      if (execfn === undefined || !execfn.startsWith('/')) return undefined;
      // qemu-user records the host path it was started with, already inside the root.
      if (isInsideRoot(root, execfn)) return open(execfn);
      return inRoot(execfn);
    },
    byName: inRoot,
  };
}
