/**
 * The files the module builder may read for objects whose headers a core
 * leaves out (qemu-user and gcore cores): the executable (-e, or AT_EXECFN)
 * and the files link_map names, looked up inside the process's root only
 * (for a core qemu-user wrote: under it, then on this machine, as qemu -L did).
 */
import { readFileImage, type FileImage } from './image.js';
import type { ModuleFiles } from './modules.js';
import { FormatError } from '../elf/errors.js';
import { errnoReason } from '../util/errors.js';
import { HOST_ROOT, isInsideRoot, resolveUnder, RootResolveError, type ProcessRoot } from '../util/rootfs.js';
import type { CoreWriter } from './writer.js';

export interface FileLookup {
  /** The executable's file on this machine (-e). */
  executable?: string | undefined;
  /** The directory the process saw as `/`, canonical. Not given: files are looked up only with `executable`, and then on this machine. */
  root?: ProcessRoot | undefined;
}

/**
 * A file the lookup found but could not read (EACCES, EIO, ELOOP…): not the
 * same as no file at all, and the user is told so with its errno.
 */
export class UnreadableFileError extends Error {
  override readonly name = 'UnreadableFileError';
  constructor(
    /** The file on this machine. */
    readonly path: string,
    /** The errno code: EACCES, EIO, ELOOP, EISDIR… */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`${path} could not be read (${errnoReason(code) ?? code}, ${code})`, options);
  }
}

/** The errno codes that mean "there is no such file": the only ones a lookup answers with "not found". */
const NOT_FOUND: ReadonlySet<string> = new Set(['ENOENT', 'ENOTDIR']);

/**
 * What a failed lookup of `path` means: undefined when there is no such
 * file, or it is not ELF (the caller goes on without it); an
 * UnreadableFileError for every other system error; anything else (a bug)
 * as it is.
 */
export function lookupFailure(path: string, err: unknown): undefined {
  if (err instanceof FormatError) return undefined;
  const code = err instanceof RootResolveError ? err.code : (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') throw err;
  if (NOT_FOUND.has(code)) return undefined;
  // A read's error names no path (EIO from pread): the file is the one being read.
  throw new UnreadableFileError(path, code, { cause: err });
}

async function open(hostPath: string): Promise<FileImage | undefined> {
  try {
    return await readFileImage(hostPath);
  } catch (err) {
    return lookupFailure(hostPath, err);
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
    let host: string;
    try {
      host = (await resolveUnder(root, name, writer === 'qemu-user' ? 'qemu' : 'chroot')).host;
    } catch (err) {
      return lookupFailure(name, err);
    }
    return open(host);
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
