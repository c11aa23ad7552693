/**
 * Empty stand-ins, in the replay sysroot, for the data files the process had
 * mapped (locale files, caches, fonts). gdb opens every file of the core's
 * NT_FILE note under the sysroot and warns for each one it cannot open
 * ("Can't open file /usr/lib/locale/C.utf8/LC_CTYPE during file-backed
 * mapping note processing"); plain gdb on the original core finds them on the
 * machine. Their contents never leave the customer's site (they may be data),
 * and gdb reads the same from an empty stand-in as from no file: nothing.
 * ELF objects are left alone: one that is not bundled must stay absent, so
 * gdb says it could not load it.
 */
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { CoreSummary } from '../core/model.js';
import { isSafeAbsolutePath } from '../bundle/manifest.js';

/** The mapped paths that are neither modules nor deleted: data files. */
export function dataMappingPaths(summary: Pick<CoreSummary, 'mappings' | 'modules'>): string[] {
  const modules = new Set(summary.modules.flatMap((m) => (m.path === undefined ? [] : [m.path])));
  const out = new Set<string>();
  for (const m of summary.mappings) if (!m.deleted && !modules.has(m.path) && isSafeAbsolutePath(m.path)) out.add(path.posix.normalize(m.path));
  return [...out];
}

/**
 * Creates an empty, read-only file under `sysroot` for each path that has
 * nothing there yet. The paths come from the core (untrusted): every
 * directory on the way must be a real directory inside the sysroot (a
 * symlink is never followed), and nothing existing is touched.
 */
export async function writeStandIns(sysroot: string, paths: readonly string[]): Promise<number> {
  let made = 0;
  for (const p of paths) if (await writeStandIn(sysroot, p)) made++;
  return made;
}

async function writeStandIn(sysroot: string, abs: string): Promise<boolean> {
  const parts = abs.split('/').filter(Boolean);
  let dir = sysroot;
  for (const part of parts.slice(0, -1)) {
    dir = path.join(dir, part);
    const st = await fs.lstat(dir).catch(() => undefined);
    if (st === undefined) await fs.mkdir(dir, { mode: 0o755 });
    else if (!st.isDirectory()) return false;
  }
  const file = path.join(dir, parts[parts.length - 1]!);
  try {
    const h = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o444);
    await h.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ELOOP') return false;
    throw err;
  }
}
