/** `corepack list [DIR...] [--json]`: the cores on this machine, oldest first, and the bundles the crash handler made. */
import { STORE_DIRS, scanForCores, type ListedCore, type ScanResult } from '../input/scan.js';
import { handlerSpool, scanSpool, type SpooledBundle } from '../capture/spool.js';
import { stateDir } from '../capture/state.js';
import { humanBytes } from './progress.js';

export interface ListOptions {
  json?: boolean;
}

export function defaultListDirs(): string[] {
  return [process.cwd(), ...STORE_DIRS];
}

export interface ListResult extends ScanResult {
  /** Bundles made at crash time by `corepack handle`, in the spool (and in any directory named). */
  bundles: SpooledBundle[];
}

const HEADER = ['TIME'.padEnd(20), 'PID'.padStart(7), 'SIGNAL'.padEnd(8), 'EXECUTABLE'.padEnd(30), 'SIZE'.padStart(10), 'FORM'.padEnd(10), 'PATH'].join(' ');

function row(time: string, pid: number | null, sig: string, exe: string | null, size: number, form: string, path: string): string {
  return [time.replace('T', ' ').replace(/\.\d+Z$/, 'Z').padEnd(20), String(pid ?? '-').padStart(7), sig.padEnd(8), (exe ?? '-').padEnd(30), humanBytes(size).padStart(10), form.padEnd(10), path].join(' ');
}

function line(c: ListedCore): string {
  const sig = c.signal ?? (c.signo !== null ? String(c.signo) : '-');
  return row(c.time, c.pid, sig, c.executable, c.size, c.truncated ? `${c.form},cut` : c.form, c.path);
}

export function formatList(r: ScanResult & { bundles?: SpooledBundle[] }): string {
  const out: string[] = [];
  const bundles = r.bundles ?? [];
  if (r.cores.length === 0 && bundles.length === 0) out.push(`no cores found in ${r.dirs.join(', ')}`);
  else {
    out.push(HEADER);
    for (const c of r.cores) out.push(line(c));
    for (const b of bundles) out.push(row(b.time, b.pid, b.signal ?? '-', b.executable, b.size, b.encrypted ? 'bundle,age' : 'bundle', b.path));
  }
  for (const u of r.unreadable) out.push(`cannot read ${u.path}: ${u.reason}`);
  if (bundles.length) out.push(`bundles were made at the crash by corepack-crash handle: replay one with corepack-crash replay PATH`);
  return `${out.join('\n')}\n`;
}

export async function listCommand(dirs: readonly string[], opts: ListOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const given = dirs.length ? [...dirs] : defaultListDirs();
  const r = await scanForCores(given);
  // The handler's spool is looked in by default; a directory named is searched for its bundles too.
  const spool = dirs.length ? null : await handlerSpool(stateDir());
  const bundleDirs = [...new Set([...r.dirs, ...(spool ? [spool] : [])])];
  const bundles = (await Promise.all(bundleDirs.map(scanSpool))).flat();
  const result: ListResult = { ...r, dirs: bundleDirs, bundles };
  if (opts.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
  else out.write(formatList(result));
  return 0;
}
