/**
 * Test helper: writes tar archives byte by byte, with full control over every
 * header field, so tests can build the hostile archives a real tar refuses to
 * make: `../` and absolute names, links out of the tree, hard links, device
 * nodes, fifos, setuid files, foreign owners, names that are not UTF-8, and
 * sizes that lie. Also wraps a corepack bundle (manifest first, one root dir)
 * and compresses with the real bzip2/gzip/zstd programs.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { execa } from 'execa';
import type { Manifest, ManifestFile, ManifestLink } from '../../src/bundle/manifest.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

const TYPEFLAG: Record<EntryType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

export interface TarEntry {
  /** A string, or raw bytes for names that are not UTF-8. */
  name: string | Buffer;
  type?: EntryType;
  data?: Buffer | string;
  /** Header size when it should differ from the data (lying headers, bombs). */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tarWriter: ${value} does not fit a ${len}-byte octal field`);
  buf.write(s, off, 'latin1');
  buf[off + len - 1] = 0;
}

function put(buf: Buffer, off: number, len: number, value: string | Buffer): void {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (b.length > len) throw new Error(`tarWriter: field of ${b.length} bytes does not fit ${len}`);
  b.copy(buf, off);
}

/** One 512-byte ustar header, checksummed. */
export function header(e: TarEntry & { name: Buffer | string; size: number }, typeflag: string): Buffer {
  const h = Buffer.alloc(512);
  put(h, 0, 100, e.name);
  octal(h, 100, 8, e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, e.size);
  octal(h, 136, 12, 1_700_000_000);
  h.write('        ', 148, 'latin1');
  h.write(typeflag, 156, 'latin1');
  if (e.linkname) put(h, 157, 100, e.linkname);
  h.write('ustar\u000000', 257, 'latin1');
  put(h, 265, 32, e.uname ?? '');
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return h;
}

/** A pax extended header ('x') carrying long path/linkpath values. */
function pax(records: Record<string, string>): Buffer {
  let body = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(rest) + 1;
    while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
    body += `${len}${rest}`;
  }
  const data = Buffer.from(body, 'utf8');
  return Buffer.concat([header({ name: 'PaxHeader', size: data.length }, 'x'), data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** The bytes of one entry: (pax,) header, data, padding. */
export function entry(e: TarEntry): Buffer {
  const type = e.type ?? 'file';
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data, 'utf8');
  const size = e.size ?? (type === 'file' ? data.length : 0);
  const parts: Buffer[] = [];
  const nameLen = typeof e.name === 'string' ? Buffer.byteLength(e.name) : e.name.length;
  const linkLen = e.linkname ? Buffer.byteLength(e.linkname) : 0;
  const long: Record<string, string> = {};
  if (nameLen > 100) {
    if (typeof e.name !== 'string') throw new Error('tarWriter: raw names must fit 100 bytes');
    long.path = e.name;
  }
  if (linkLen > 100) long.linkpath = e.linkname!;
  if (Object.keys(long).length) parts.push(pax(long));
  const short = { ...e, name: long.path ? Buffer.from(e.name as string).subarray(0, 99) : e.name, linkname: long.linkpath ? e.linkname!.slice(0, 99) : e.linkname, size };
  parts.push(header(short, TYPEFLAG[type]));
  if (data.length) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  return Buffer.concat(parts);
}

/** A whole archive; `end: false` leaves out the two zero blocks (for truncation tests). */
export function tar(entries: TarEntry[], opts: { end?: boolean } = {}): Buffer {
  return Buffer.concat([...entries.map(entry), ...(opts.end === false ? [] : [Buffer.alloc(1024)])]);
}

export type Compression = 'bzip2' | 'gzip' | 'zstd' | 'none';

/** Compresses with the real program, as collect's formats do. */
export async function compress(data: Buffer, how: Compression): Promise<Buffer> {
  if (how === 'none') return data;
  const args = { bzip2: ['-c', '-1'], gzip: ['-c', '-1', '-n'], zstd: ['-c', '-q', '-1'] }[how];
  const r = await execa(how, args, { input: data, encoding: 'buffer', stripFinalNewline: false });
  return Buffer.from(r.stdout as Uint8Array);
}

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface BundleFile {
  /** Customer path, e.g. "/opt/app/bin/app". */
  path: string;
  data: Buffer | string;
  role?: ManifestFile['role'];
  mode?: number;
  aliases?: string[];
}

/** SHA256SUMS text, as collect writes it (and `sha256sum` does): "<hex>  <path>" lines. */
export function sha256sums(files: ReadonlyArray<readonly [string, Buffer | string]>): string {
  return files.map(([p, data]) => `${sha256(data)}  ${p}\n`).join('');
}

/**
 * A minimal valid corepack bundle as tar entries: manifest.json first, the
 * core, then each file under sysroot/ and a relative link per alias, and in
 * schema 2 (the default) SHA256SUMS last, over the final manifest text and
 * the files as given here (so data tampered with afterwards fails). Schema 1
 * is what corepack wrote before: every sha256 inside the manifest, no
 * SHA256SUMS. `edit` may change the manifest before it is serialised.
 */
export function bundleEntries(opts: {
  root?: string;
  core?: Buffer | string;
  files?: BundleFile[];
  edit?: (m: Manifest) => void;
  manifestText?: string;
  schema?: 1 | 2;
}): { entries: TarEntry[]; manifest: Manifest } {
  const schema = opts.schema ?? 2;
  const root = opts.root ?? 'crash-bundle';
  const core = Buffer.from(opts.core ?? 'not really a core, but bytes with a checksum');
  const files = opts.files ?? [];
  const links: ManifestLink[] = [];
  const mfiles: ManifestFile[] = files.map((f) => {
    const data = Buffer.from(f.data);
    for (const a of f.aliases ?? []) {
      const rel = posix.relative(posix.dirname(a), f.path);
      links.push({ path: `sysroot${a}`, target: rel });
    }
    return {
      path: f.path,
      bundlePath: `sysroot${f.path}`,
      role: f.role ?? 'library',
      aliases: [...(f.aliases ?? [])],
      size: data.length,
      ...(schema === 1 ? { sha256: sha256(data) } : {}),
      buildIdOnDisk: null,
      buildIdInCore: null,
      status: 'ok',
      sources: ['nt_file'],
      message: null,
    };
  });
  const manifest: Manifest = {
    format: 'corepack-bundle',
    schema,
    corepackVersion: 'test',
    createdAt: '2026-01-01T00:00:00.000Z',
    host: { hostname: 'customer', uname: { sysname: 'Linux', release: '6', version: '#1', machine: 'x86_64' }, osRelease: {}, libc: null },
    core: { bundlePath: 'core/core.1234', originalPath: '/var/crash/core.1234', size: core.length, ...(schema === 1 ? { sha256: sha256(core) } : {}) },
    ...(schema === 2 ? { checksums: 'SHA256SUMS' } : {}),
    executable: files.find((f) => f.role === 'executable') ? { path: files.find((f) => f.role === 'executable')!.path, chosenBy: 'core' } : null,
    summary: {},
    files: mfiles,
    links,
    warnings: [],
  };
  opts.edit?.(manifest);
  const manifestText = opts.manifestText ?? `${JSON.stringify(manifest, null, 2)}\n`;
  const entries: TarEntry[] = [
    { name: `${root}/manifest.json`, data: manifestText },
    { name: `${root}/core/core.1234`, data: core },
    ...files.map((f) => ({ name: `${root}/sysroot${f.path}`, data: Buffer.from(f.data), mode: f.mode ?? 0o644 })),
    ...links.map((l) => ({ name: `${root}/${l.path}`, type: 'symlink' as const, linkname: l.target })),
  ];
  if (schema === 2) {
    const listed: Array<[string, Buffer | string]> = [['manifest.json', manifestText], ['core/core.1234', core], ...files.map((f): [string, Buffer | string] => [`sysroot${f.path}`, f.data])];
    entries.push({ name: `${root}/SHA256SUMS`, data: sha256sums(listed) });
  }
  return { entries, manifest };
}

/**
 * Entries for an extracted bundle directory: manifest.json first (replaced by
 * `manifestText`), the core, then every other file and symlink, and
 * SHA256SUMS last when the directory has one: as it is there, except that
 * the manifest's line is made to match `manifestText` (edit the file in the
 * directory to change other lines). To re-pack a real bundle after editing it.
 */
export async function entriesFromDir(root: string, rootName: string, manifestText: string): Promise<TarEntry[]> {
  const { readdir, lstat, readFile, readlink } = await import('node:fs/promises');
  const core: TarEntry[] = [];
  const rest: TarEntry[] = [];
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(posix.join(root, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = posix.join(root, r);
      const st = await lstat(abs);
      if (r === 'manifest.json' || r === 'SHA256SUMS') continue;
      if (st.isDirectory()) await walk(r);
      else if (st.isSymbolicLink()) rest.push({ name: `${rootName}/${r}`, type: 'symlink', linkname: await readlink(abs) });
      else (r.startsWith('core/') ? core : rest).push({ name: `${rootName}/${r}`, data: await readFile(abs), mode: st.mode & 0o777 });
    }
  }
  await walk('');
  const sums = await readFile(posix.join(root, 'SHA256SUMS'), 'utf8').catch(() => undefined);
  const last: TarEntry[] =
    sums === undefined ? [] : [{ name: `${rootName}/SHA256SUMS`, data: sums.replace(/^[0-9a-f]{64}  manifest\.json$/m, `${sha256(manifestText)}  manifest.json`) }];
  return [{ name: `${rootName}/manifest.json`, data: manifestText }, ...core, ...rest, ...last];
}
