/**
 * Finding the cores on this machine, as `coredumpctl list` does for
 * systemd-coredump alone: the working directory and the stores of
 * systemd-coredump, apport and ABRT. Each candidate is read only as far as
 * its headers, notes and metadata; what cannot be read is named.
 */
import { fastGlob } from '../util/glob.js';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CoreFile } from '../core/open.js';
import { BufferReader } from '../elf/reader.js';
import { peekCore } from './locate.js';
import { sniffForm, SNIFF_BYTES, type CoreForm } from './form.js';
import type { CoreStore } from './origin.js';
import { PT } from '../elf/constants.js';

export const STORE_DIRS = ['/var/lib/systemd/coredump', '/var/lib/apport/coredump', '/var/crash', '/var/spool/abrt'] as const;

export interface ListedCore {
  path: string;
  form: CoreForm;
  store: CoreStore;
  /** Crash time (ISO 8601): the store's, else the file's mtime. */
  time: string;
  pid: number | null;
  signal: string | null;
  signo: number | null;
  executable: string | null;
  /** Size as stored (compressed size for compressed forms). */
  size: number;
  /** The core is cut short (notes complete). */
  truncated: boolean;
}

export interface UnreadableEntry {
  path: string;
  reason: string;
}

export interface ScanResult {
  cores: ListedCore[];
  unreadable: UnreadableEntry[];
  dirs: string[];
}

/** Names a store or a crashing program leaves: core, core.PID, systemd's core.*.zst, apport's .crash, ABRT's directories. */
const PATTERNS = ['core', 'core.*', '*.crash', '*/coredump', '*/coredump.*'];

function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'permission denied (run as its owner or root)';
  return (e?.message ?? String(err)).replace(/^[^:]*: /, '');
}

async function candidates(dir: string, unreadable: UnreadableEntry[]): Promise<string[]> {
  try {
    await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR') unreadable.push({ path: dir, reason: reasonOf(err) });
    return [];
  }
  // Relative results: fast-glob's `absolute` mangles names holding a backslash (systemd's \x2e escapes).
  const fg = await fastGlob();
  const found = await fg(PATTERNS, { cwd: dir, onlyFiles: false, deep: 2, dot: false, suppressErrors: true, followSymbolicLinks: false });
  const out = new Set<string>();
  for (const rel of found) {
    // ABRT: the problem directory, not the file inside it.
    out.add(join(dir, rel.includes('/') ? dirname(rel) : rel));
  }
  return [...out].sort();
}

async function listOne(path: string): Promise<ListedCore | undefined> {
  const st = await stat(path);
  const peeked = await peekCore(path);
  const { origin } = peeked;
  const core = 'file' in peeked.core ? await CoreFile.open(peeked.core.file, { allowTruncated: true }) : await CoreFile.fromReader(new BufferReader(peeked.core.prefix), { allowTruncated: true });
  try {
    const s = core.summary;
    const truncated = 'file' in peeked.core && core.elf.progs.some((p) => p.p_type === PT.PT_LOAD && p.p_filesz > 0n && p.p_offset + p.p_filesz > BigInt(core.elf.reader.size));
    return {
      path,
      form: origin.form,
      store: origin.store,
      time: origin.time ?? st.mtime.toISOString(),
      pid: s.process.pid ?? origin.pid,
      signal: s.signal?.name ?? null,
      signo: s.signal?.signo ?? origin.signal,
      executable: s.executable ?? origin.executable,
      size: peeked.storedSize,
      truncated,
    };
  } finally {
    await core.close();
  }
}

/** Files whose content is not a core form at all (core.c in the working directory) are not cores: left out quietly. */
async function isCoreCandidate(path: string): Promise<boolean> {
  const st = await stat(path);
  if (st.isDirectory()) return true;
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    return sniffForm(buffer.subarray(0, bytesRead)) !== undefined;
  } finally {
    await fh.close();
  }
}

export async function scanForCores(dirs: readonly string[]): Promise<ScanResult> {
  const abs = [...new Set(dirs.map((d) => resolve(d)))];
  const cores: ListedCore[] = [];
  const unreadable: UnreadableEntry[] = [];
  for (const dir of abs) {
    for (const path of await candidates(dir, unreadable)) {
      try {
        if (!(await isCoreCandidate(path))) continue;
        const c = await listOne(path);
        if (c) cores.push(c);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // A directory that is no ABRT problem directory is simply not a core.
        if (e?.name === 'UnknownFormError') continue;
        unreadable.push({ path, reason: reasonOf(err) });
      }
    }
  }
  cores.sort((a, b) => a.time.localeCompare(b.time) || a.path.localeCompare(b.path));
  return { cores, unreadable, dirs: abs };
}

/** The newest core, of the executable named `name` (base name or full path) if given. */
export function latestCore(cores: readonly ListedCore[], name?: string): ListedCore | undefined {
  const match = (c: ListedCore): boolean => !name || (c.executable !== null && (c.executable === name || basename(c.executable) === name));
  return [...cores].filter(match).pop();
}

