/**
 * ABRT problem directories (/var/spool/abrt/ccpp-DATE-PID/): one file per
 * fact. The core is `coredump`, or `coredump.zst` / `.lz4` / `.xz` where ABRT
 * was told to compress it; `executable`, `cmdline`, `pid`, `uid`, `time`,
 * `os_release`, `package`, `reason`, `signal` are kept as metadata.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ABRT_FIELDS = ['executable', 'cmdline', 'pid', 'uid', 'time', 'os_release', 'package', 'pkg_name', 'reason', 'signal', 'type', 'analyzer', 'hostname', 'kernel'] as const;
const CORE_NAMES = ['coredump', 'coredump.zst', 'coredump.lz4', 'coredump.xz', 'coredump.gz'];
const MAX_FIELD = 16 * 1024;

export interface AbrtDir {
  /** The core file inside the directory. */
  core: string;
  fields: Record<string, string>;
}

/** The core and metadata of an ABRT directory, or undefined when `dir` is not one. */
export async function readAbrtDir(dir: string): Promise<AbrtDir | undefined> {
  const names = new Set(await readdir(dir));
  const coreName = CORE_NAMES.find((n) => names.has(n));
  if (!coreName || !(names.has('executable') || names.has('analyzer') || names.has('type'))) return undefined;
  const fields: Record<string, string> = {};
  for (const f of ABRT_FIELDS) {
    if (!names.has(f)) continue;
    try {
      const text = (await readFile(join(dir, f), 'utf8')).slice(0, MAX_FIELD);
      fields[f] = text.replace(/\n+$/, '');
    } catch {
      // An unreadable fact is left out; the core is what matters.
    }
  }
  return { core: join(dir, coreName), fields };
}
