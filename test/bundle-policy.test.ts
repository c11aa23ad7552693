/**
 * The extraction policy on its own: headers in, decisions or refusals out,
 * with no tar stream and no file system. The end-to-end refusals (real
 * bundles, nothing written anywhere) are in extract-hostile.test.ts.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUDGET_BEFORE_MANIFEST,
  budgetAfterManifest,
  checkBudget,
  checkComplete,
  decideEntry,
  declaredSizes,
  fileMode,
  manifestFromBytes,
  MAX_MANIFEST_BYTES,
  type EntryHeader,
  type ExtractionSoFar,
  type Seen,
} from '../src/bundle/policy.js';
import { NotABundleError, UnsafeBundleError } from '../src/bundle/errors.js';
import { readBundleManifest } from '../src/bundle/peek.js';
import { bundleEntries, compress, tar } from './helpers/tarWriter.js';

const { manifest } = bundleEntries({ files: [{ path: '/opt/app/lib/libfoo.so.1', data: 'lib', aliases: ['/opt/app/lib/libfoo.so'] }] });
const libPath = manifest.files[0]!.bundlePath!;

/** A state after `seen` entries, with the manifest read unless `beforeManifest`. */
function state(seen: Record<string, Seen> = {}, beforeManifest = false, extra: Partial<ExtractionSoFar> = {}): ExtractionSoFar {
  const all: Record<string, Seen> = { '': 'dir', ...seen };
  return {
    rootName: 'crash-bundle',
    declared: beforeManifest ? undefined : declaredSizes(manifest),
    seen: (rel) => all[rel],
    entries: Object.keys(all).length,
    extraBytes: 0,
    ...extra,
  };
}

const file = (p: string, size = 3, mode = 0o644): EntryHeader => ({ path: `crash-bundle/${p}`, type: 'File', size, mode });

describe('decideEntry', () => {
  it('writes a declared file with its parents, mode normalised and special bits noted', () => {
    const d = decideEntry(file(libPath, 3, 0o4755), state({ sysroot: 'dir' }));
    expect(d).toMatchObject({ action: 'write', rel: libPath, size: 3, mode: 0o755, isManifest: false, parents: ['sysroot/opt', 'sysroot/opt/app', 'sysroot/opt/app/lib'] });
    expect(d.action === 'write' && d.notes).toEqual([`${libPath}: dropped the setuid bit`]);
  });

  it('takes the manifest as the first file, and names the root from the first entry', () => {
    const fresh: ExtractionSoFar = { rootName: undefined, declared: undefined, seen: (r) => (r === '' ? 'dir' : undefined), entries: 0, extraBytes: 0 };
    expect(decideEntry(file('manifest.json', 100), fresh)).toMatchObject({ action: 'write', isManifest: true, rootName: 'crash-bundle', parents: [] });
    expect(decideEntry({ path: 'crash-bundle/', type: 'Directory', size: 0 }, fresh)).toEqual({ action: 'skip', rootName: 'crash-bundle' });
  });

  it('refuses anything but the manifest first, as not a bundle', () => {
    expect(() => decideEntry(file(libPath), state({}, true))).toThrow(NotABundleError);
    expect(() => decideEntry({ path: 'libfoo.so', type: 'File', size: 1 }, { ...state({}, true), rootName: undefined })).toThrow(/its first entry is "libfoo\.so", not <name>\/manifest\.json/);
  });

  it('refuses sizes that differ from the manifest, a manifest too large, and unlisted files below the top', () => {
    expect(() => decideEntry(file(libPath, 4), state())).toThrow(/is 4 bytes but manifest\.json says 3/);
    expect(() => decideEntry(file('manifest.json', MAX_MANIFEST_BYTES + 1), state({}, true))).toThrow(/manifest\.json is \d+ bytes/);
    expect(() => decideEntry(file('sysroot/opt/app/lib/x-gdb.py'), state())).toThrow(/not listed in manifest\.json/);
  });

  it('keeps a small unlisted top-level file as a note, counting it against the allowance', () => {
    const d = decideEntry(file('README', 10), state());
    expect(d).toMatchObject({ action: 'write', extraBytes: 10, notes: ['README: not listed in manifest.json (kept, unverified)'] });
    expect(() => decideEntry(file('README2', 10), state({}, false, { extraBytes: 2 * 1024 * 1024 }))).toThrow(/too large to be a note/);
  });

  it('refuses duplicates, writing through a file or symlink, and every non-file type', () => {
    expect(() => decideEntry(file(libPath), state({ [libPath]: 'file' }))).toThrow(/appears twice/);
    expect(() => decideEntry(file(libPath), state({ 'sysroot/opt': 'symlink' }))).toThrow(/"sysroot\/opt" is used both as a directory and as a file or symlink/);
    expect(() => decideEntry({ path: 'crash-bundle/sysroot/opt', type: 'Directory', size: 0 }, state({ 'sysroot/opt': 'symlink' }))).toThrow(UnsafeBundleError);
    for (const type of ['Link', 'CharacterDevice', 'BlockDevice', 'FIFO', 'ContiguousFile']) {
      expect(() => decideEntry({ path: 'crash-bundle/sysroot/x', type, size: 0, linkpath: '/etc/passwd' }, state()), type).toThrow(/only files, directories and symlinks are extracted/);
    }
  });

  it('refuses an entry outside the top-level directory, and more entries than the cap', () => {
    expect(() => decideEntry({ ...file(libPath), path: `other/${libPath}` }, state())).toThrow(/outside the bundle's top-level directory "crash-bundle"/);
    expect(() => decideEntry(file(libPath), state({}, false, { entries: 1_000_000 }))).toThrow(/more than 1000000 entries/);
  });

  it('makes a symlink only inside sysroot/ or debug/, relative and in normal form', () => {
    const link = (target: string, at = 'sysroot/opt/app/lib/libfoo.so'): EntryHeader => ({ path: `crash-bundle/${at}`, type: 'SymbolicLink', size: 0, linkpath: target });
    const s = state({ sysroot: 'dir', 'sysroot/opt': 'dir', 'sysroot/opt/app': 'dir', 'sysroot/opt/app/lib': 'dir' });
    expect(decideEntry(link('libfoo.so.1'), s)).toMatchObject({ action: 'symlink', target: 'libfoo.so.1', parents: [] });
    expect(() => decideEntry(link('/etc/passwd'), s)).toThrow(/is absolute/);
    expect(() => decideEntry(link('../../../../../etc'), s)).toThrow(/leaves sysroot\//);
    expect(() => decideEntry(link('a/../b'), s)).toThrow(/not in normal form/);
    expect(() => decideEntry(link('x', 'core/link'), s)).toThrow(/outside sysroot\/ and debug\//);
  });
});

describe('budget and completeness', () => {
  it('allows the manifest\'s sum plus slack after it, and refuses one byte more', () => {
    const fed = 1000;
    const budget = budgetAfterManifest(manifest, 1 << 30, fed);
    expect(budget).toBeGreaterThan(fed + manifest.core.size + 3);
    expect(() => checkBudget(budget, budget, true)).not.toThrow();
    expect(() => checkBudget(budget + 1, budget, true)).toThrow(/decompression bomb/);
    expect(() => checkBudget(BUDGET_BEFORE_MANIFEST + 1, BUDGET_BEFORE_MANIFEST, false)).toThrow(/no manifest\.json within the first/);
    expect(() => budgetAfterManifest(manifest, 10, 0)).toThrow(/more than the 10-byte cap/);
  });

  it('refuses a file shorter than its header, and reads the manifest strictly', () => {
    expect(() => checkComplete('crash-bundle/x', 2, 3)).toThrow(/truncated \(2 of 3 bytes\)/);
    expect(() => manifestFromBytes(Buffer.from([0xff, 0xfe]))).toThrow(/manifest\.json is not valid UTF-8/);
    expect(() => manifestFromBytes(Buffer.from('{"format":"x"}'))).toThrow(UnsafeBundleError);
    expect(manifestFromBytes(Buffer.from(JSON.stringify(manifest))).core.sha256).toBe(manifest.core.sha256);
  });

  it('fileMode keeps only the exec bit', () => {
    expect(fileMode(0o777, 'x')).toEqual({ mode: 0o755 });
    expect(fileMode(undefined, 'x')).toEqual({ mode: 0o644 });
    expect(fileMode(0o3644, 'x').note).toBe('x: dropped the setgid/sticky bit');
  });
});

describe('inspect reads the manifest entry by the same policy', () => {
  let work: string;
  beforeAll(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-peek-'));
  });
  afterAll(async () => {
    await fs.rm(work, { recursive: true, force: true });
  });

  it('a control character in the manifest entry\'s name is refused, not shown', async () => {
    const { entries } = bundleEntries({ root: 'crash\u0007bundle' });
    const file = path.join(work, 'ctl.tar.gz');
    await fs.writeFile(file, await compress(tar(entries), 'gzip'));
    await expect(readBundleManifest(file, 'gzip')).rejects.toThrow(/contains a control character/);
  });

  it('a top-level directory entry before the manifest is accepted, as replay accepts it', async () => {
    const { entries, manifest: m } = bundleEntries({});
    const file = path.join(work, 'dir-first.tar.gz');
    await fs.writeFile(file, await compress(tar([{ name: 'crash-bundle/', type: 'dir' }, ...entries]), 'gzip'));
    expect((await readBundleManifest(file, 'gzip')).core.sha256).toBe(m.core.sha256);
  });
});
