/**
 * Where gdb looks for a separate debug file, as paths: by build ID under a
 * debug directory, and by .gnu_debuglink name. collect (what to bundle) and
 * replay (what gdb will find) both ask, so both use these rules, and the
 * `.build-id` path is spelled here only.
 */
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { crc32File } from './digest.js';

/** gdb's default debug-file-directory; every default for --debug-dir and the host's list starts here. */
export const DEFAULT_DEBUG_DIR = '/usr/lib/debug';

/** ".build-id/ab/cdef….debug": where a debug file for `buildId` sits under a debug directory; undefined for an ID too short to split. */
export function buildIdDebugPath(buildId: string): string | undefined {
  if (buildId.length < 3) return undefined; // gdb splits off the first byte: something must remain
  return `.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`;
}

/**
 * The places gdb tries for a .gnu_debuglink `file` of an object in
 * `objectDir`, in gdb's order: beside the object, in its .debug/ directory,
 * then under each debug directory at the object's (customer) directory.
 */
export function debugLinkCandidates<T>(objectDir: string, file: string, debugDirs: ReadonlyArray<{ dir: string; from: T }>, local: T, customerDir = objectDir): Array<{ file: string; from: T }> {
  return [
    { file: join(objectDir, file), from: local },
    { file: join(objectDir, '.debug', file), from: local },
    ...debugDirs.map((d) => ({ file: join(d.dir, customerDir, file), from: d.from })),
  ];
}

export async function isRegularFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

/**
 * The first candidate that is a regular file whose CRC-32 matches the
 * debuglink's (gdb rejects another), and that `accept` takes.
 */
export async function firstDebugLinkMatch<C extends { file: string }>(
  candidates: readonly C[],
  crc: number,
  accept: (c: C) => Promise<boolean> = async () => true,
): Promise<C | undefined> {
  for (const c of candidates) {
    if (!(await isRegularFile(c.file))) continue;
    const got = await crc32File(c.file);
    if (got !== undefined && got !== crc) continue;
    if (await accept(c)) return c;
  }
  return undefined;
}
