/**
 * The executable a user names with -e: what is typed on the command line and
 * cannot be used is the user's mistake (a usage error naming the path), not a
 * file that went missing after the crash. Checked before anything is written.
 */
import { stat } from 'node:fs/promises';
import { ET } from '../elf/constants.js';
import { FormatError } from '../elf/errors.js';
import { BadOptionError, errnoOf, errnoReason } from '../util/errors.js';
import { readFileElfInfo, type FileElfInfo } from './image.js';

const REMEDY = 'name the executable that crashed, or leave -e out to use the one the core names';

/** The ELF facts of the file -e names; a BadOptionError when it is missing, unreadable or not an ELF executable. */
export async function checkGivenExecutable(path: string): Promise<FileElfInfo> {
  const bad = (why: string): BadOptionError => new BadOptionError('-e', path, `-e ${path}: ${why}`, REMEDY);
  const st = await stat(path).catch((err: unknown) => {
    throw bad(errnoReason(errnoOf(err)) ?? (err as Error).message);
  });
  if (!st.isFile()) throw bad(st.isDirectory() ? 'is a directory, not an executable' : 'is not a regular file');
  if (st.size === 0) throw bad('is empty, not an ELF executable');
  let info: FileElfInfo;
  try {
    info = await readFileElfInfo(path);
  } catch (err) {
    if (err instanceof FormatError) throw bad(`is not an ELF executable (${err.message})`);
    throw bad(errnoReason(errnoOf(err)) ?? (err as Error).message);
  }
  if (info.e_type !== ET.ET_EXEC && info.e_type !== ET.ET_DYN) throw bad(`is an ELF file of type ${info.e_type}, not an executable`);
  return info;
}

/**
 * What inspect says of an -e whose build ID is not the one the core recorded
 * for its executable (collect refuses such an -e; inspect shows the core anyway).
 */
export function givenExecutableWarning(path: string, given: FileElfInfo, coreBuildId: string | undefined): string | undefined {
  if (!coreBuildId || given.buildId === coreBuildId) return undefined;
  const onDisk = given.buildId ? `its build ID is ${given.buildId}` : 'it has no build ID';
  return `-e ${path} is not the program that crashed: ${onDisk}, the core's executable has ${coreBuildId} (ignored)`;
}
