/** `corepack list [DIR...] [--json]`: the cores on this machine, oldest first. */
import { STORE_DIRS, scanForCores, type ListedCore, type ScanResult } from '../input/scan.js';
import { humanBytes } from './progress.js';

export interface ListOptions {
  json?: boolean;
}

export function defaultListDirs(): string[] {
  return [process.cwd(), ...STORE_DIRS];
}

function line(c: ListedCore): string {
  const time = c.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const sig = c.signal ?? (c.signo !== null ? String(c.signo) : '-');
  const form = c.truncated ? `${c.form},cut` : c.form;
  return [time.padEnd(20), String(c.pid ?? '-').padStart(7), sig.padEnd(8), (c.executable ?? '-').padEnd(30), humanBytes(c.size).padStart(10), form.padEnd(10), c.path].join(' ');
}

export function formatList(r: ScanResult): string {
  const out: string[] = [];
  if (r.cores.length === 0) out.push(`no cores found in ${r.dirs.join(', ')}`);
  else {
    out.push(['TIME'.padEnd(20), 'PID'.padStart(7), 'SIGNAL'.padEnd(8), 'EXECUTABLE'.padEnd(30), 'SIZE'.padStart(10), 'FORM'.padEnd(10), 'PATH'].join(' '));
    for (const c of r.cores) out.push(line(c));
  }
  for (const u of r.unreadable) out.push(`cannot read ${u.path}: ${u.reason}`);
  return `${out.join('\n')}\n`;
}

export async function listCommand(dirs: readonly string[], opts: ListOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const r = await scanForCores(dirs.length ? dirs : defaultListDirs());
  if (opts.json) out.write(`${JSON.stringify(r, null, 2)}\n`);
  else out.write(formatList(r));
  return 0;
}
