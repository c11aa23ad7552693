/**
 * collect --attach GLOB: the customer's logs and configuration, the files the
 * developer asks for next, bundled under attachments/ (never in the sysroot,
 * where gdb looks for libraries), each with its original path, size and
 * sha256 in the manifest.
 *
 * Patterns are fast-glob patterns expanded here, so shell quoting does not
 * matter; a pattern naming a directory takes everything under it. Only
 * regular files are attached: sockets, devices and fifos are skipped with a
 * message (reading a fifo would block), a symlink is followed only when it
 * leads to a regular file, a file over the size cap is named and skipped, and
 * a pattern that matches nothing is a warning. Logs grow while collect runs:
 * an attachment is the file as long as it was when matched (its first `size`
 * bytes), which is what its sha256 covers.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fastGlob } from '../util/glob.js';
import { hasControlChar } from '../util/text.js';
import { FileChangedError } from '../bundle/errors.js';

export { DEFAULT_ATTACH_MAX_BYTES } from './limits.js';
/** Where attachments live in the bundle. */
export const ATTACHMENTS_DIR = 'attachments';

export interface AttachOptions {
  /** --attach patterns, as typed. */
  patterns: string[];
  /** Per-file size cap in bytes. */
  maxBytes: number;
  /** What relative patterns are relative to. */
  cwd: string;
}

export interface PlannedAttachment {
  /** The path as matched (absolute). */
  path: string;
  /** What is read: `path`, or the regular file its symlink leads to. */
  source: string;
  linkTarget: string | null;
  bundlePath: string;
  size: number;
  /** Filled in by the checksum phase. */
  sha256: string | null;
}

export interface AttachPlan {
  files: PlannedAttachment[];
  /** One line each: what was skipped and why, patterns that matched nothing. */
  warnings: string[];
}

const show = (p: string): string => JSON.stringify(p);

const KINDS: Array<[keyof import('node:fs').Stats, string]> = [
  ['isFIFO', 'a fifo'],
  ['isSocket', 'a socket'],
  ['isCharacterDevice', 'a character device'],
  ['isBlockDevice', 'a block device'],
  ['isDirectory', 'a directory'],
];

function kindOf(st: import('node:fs').Stats): string {
  for (const [m, name] of KINDS) if ((st[m] as () => boolean).call(st)) return name;
  return 'not a regular file';
}

function humanSize(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * The bundle path for an absolute path: attachments/<path>, each component
 * made safe for a tar entry and a gdb-free report (control characters and
 * backslashes become "_"); the manifest keeps the original.
 */
export function attachmentBundlePath(abs: string): string {
  const parts = abs.split('/').filter((s) => s !== '' && s !== '.' && s !== '..');
  const safe = parts.map((s) => [...s].map((c) => (hasControlChar(c) || c === '\\' ? '_' : c)).join(''));
  return [ATTACHMENTS_DIR, ...safe].join('/');
}

/** Matches of one pattern: files, and everything under directories it names or matches. */
async function expand(pattern: string, cwd: string): Promise<string[]> {
  const fg = await fastGlob();
  const glob = (patterns: string[]) => fg.glob(patterns, { cwd, absolute: true, onlyFiles: false, dot: true, followSymbolicLinks: false, unique: true, suppressErrors: true });
  const literal = !fg.isDynamicPattern(pattern);
  const abs = path.resolve(cwd, pattern);
  if (literal) {
    const st = await fs.lstat(abs).catch(() => undefined);
    if (!st) return [];
    if (!st.isDirectory()) return [abs];
  }
  const found = literal ? [abs] : await glob([pattern]);
  const out: string[] = [];
  for (const f of found) {
    const st = await fs.lstat(f).catch(() => undefined);
    if (st?.isDirectory()) out.push(...(await glob([`${fg.escapePath(f)}/**`])));
    else out.push(f);
  }
  return out.sort();
}

/**
 * Expands the patterns into the attachments to bundle. `exclude(path)`
 * keeps collect's own output (and its temporary files) out of a pattern that
 * happens to match it.
 */
export async function planAttachments(opts: AttachOptions, exclude: (abs: string) => boolean = () => false): Promise<AttachPlan> {
  const files: PlannedAttachment[] = [];
  const warnings: string[] = [];
  const taken = new Set<string>();
  const seen = new Set<string>();
  for (const pattern of opts.patterns) {
    const matches = (await expand(pattern, opts.cwd)).filter((m) => !exclude(m));
    if (matches.length === 0) {
      warnings.push(`--attach ${show(pattern)} matched nothing`);
      continue;
    }
    for (const m of matches) {
      if (seen.has(m)) continue;
      seen.add(m);
      const lst = await fs.lstat(m).catch(() => undefined);
      if (!lst) continue; // gone since it was matched
      if (lst.isDirectory()) continue; // its files were matched with it
      let source = m;
      let linkTarget: string | null = null;
      let st = lst;
      if (lst.isSymbolicLink()) {
        const target = await fs.realpath(m).catch(() => undefined);
        const tst = target ? await fs.stat(target).catch(() => undefined) : undefined;
        if (!target || !tst) {
          warnings.push(`skipped attachment ${show(m)}: a symlink that leads nowhere`);
          continue;
        }
        if (!tst.isFile()) {
          warnings.push(`skipped attachment ${show(m)}: a symlink to ${kindOf(tst)} (symlinks are followed only to regular files)`);
          continue;
        }
        source = target;
        linkTarget = target;
        st = tst;
      } else if (!lst.isFile()) {
        warnings.push(`skipped attachment ${show(m)}: ${kindOf(lst)} (only regular files are attached)`);
        continue;
      }
      if (st.size > opts.maxBytes) {
        warnings.push(`skipped attachment ${show(m)}: ${humanSize(st.size)} is over the ${humanSize(opts.maxBytes)} cap (--attach-max)`);
        continue;
      }
      try {
        await fs.access(source, fs.constants.R_OK);
      } catch {
        warnings.push(`skipped attachment ${show(m)}: it cannot be read (permission denied)`);
        continue;
      }
      let bundlePath = attachmentBundlePath(m);
      for (let n = 2; taken.has(bundlePath); n++) bundlePath = `${attachmentBundlePath(m)}~${n}`;
      taken.add(bundlePath);
      files.push({ path: m, source, linkTarget, bundlePath, size: st.size, sha256: null });
    }
  }
  return { files, warnings };
}

/** The sha256 of the first `size` bytes of `file` (a log may have grown since; one that shrank changed under us). */
export async function sha256Prefix(file: string, size: number, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'r').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FileChangedError(file, size, 'disappeared');
    throw err;
  });
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - got), got);
      if (bytesRead === 0) throw new FileChangedError(file, size, 'shrank');
      hash.update(buf.subarray(0, bytesRead));
      got += bytesRead;
      onBytes?.(bytesRead);
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}
