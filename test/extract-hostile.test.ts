/**
 * Bundles are untrusted: replay must refuse (or neutralise) every hostile
 * archive with a clear one-line message, write nothing outside its directory,
 * leave nothing half-written inside it, and still extract a legitimate
 * bundle. The archives are written byte by byte (helpers/tarWriter.ts) and
 * compressed with the real bzip2, gzip and zstd.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkEntryPath, checkLinkTarget, stageBundle } from '../src/bundle/extract.js';
import { EXIT } from '../src/cli/exit.js';
import { describeError } from '../src/cli/errors.js';
import { UnsafeBundleError } from '../src/bundle/errors.js';
import { BundleVerifyError, prepareBundle } from '../src/replay/cache.js';
import { gdbQuote, renderGdbScript, loadTemplate, type ScriptInputs } from '../src/replay/script.js';
import type { Manifest } from '../src/bundle/manifest.js';
import { bundleEntries, compress, tar, type BundleFile, type Compression, type TarEntry } from './helpers/tarWriter.js';
import { BIN, corepack, expectOneLineError } from './helpers/cli.js';

let sentinel: string; // parent of every replay dir: nothing may appear in it
let work: string; // bundles are written here, outside the sentinel
const pwned = `/tmp/pwned-${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  sentinel = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-sentinel-')));
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-hostile-'));
  await fs.writeFile(path.join(sentinel, 'precious.txt'), 'do not touch');
  await fs.mkdir(path.join(sentinel, 'etc'));
});

afterAll(async () => {
  await fs.rm(sentinel, { recursive: true, force: true });
  await fs.rm(work, { recursive: true, force: true });
});

/** Every path under `dir` with its type, size, mode and owner: a write anywhere shows up. */
async function snapshot(dir: string, skip?: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for (const name of (await fs.readdir(d)).sort()) {
      const p = path.join(d, name);
      if (p === skip) continue;
      const st = await fs.lstat(p);
      out.push(`${path.relative(dir, p)} ${st.mode.toString(8)} ${st.uid} ${st.size} ${st.isSymbolicLink() ? await fs.readlink(p) : ''}`);
      if (st.isDirectory()) await walk(p);
    }
  }
  await walk(dir);
  return out;
}

let dir: string;
let before: string[];
let counter = 0;

beforeEach(async () => {
  dir = path.join(sentinel, `replay-${++counter}`);
  await fs.mkdir(dir);
  before = await snapshot(sentinel, dir);
});

async function bundleFile(data: Buffer, how: Compression, name = `b-${counter}.bundle`): Promise<string> {
  const file = path.join(work, name);
  await fs.writeFile(file, await compress(data, how));
  return file;
}

/** Expects `bundle` to be refused with a one-line message matching `re`, leaving no trace anywhere. */
async function expectRefused(bundle: string, re: RegExp, code: number = EXIT.BAD_INPUT): Promise<Error> {
  const err = await prepareBundle(bundle, dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the bundle was accepted').toBeInstanceOf(Error);
  const e = err as Error;
  expect(e.message).toMatch(re);
  expect(e.message).not.toContain('\n');
  expect(describeError(e).code).toBe(code);
  expect(await fs.readdir(dir), 'something was left in the replay dir').toEqual([]);
  expect(await snapshot(sentinel, dir)).toEqual(before);
  await expect(fs.access(pwned)).rejects.toThrow();
  return e;
}

const exe: BundleFile = { path: '/opt/app/bin/app', data: '\x7fELF pretend executable', role: 'executable', mode: 0o755 };
const lib: BundleFile = { path: '/opt/app/lib/libfoo.so.1.2.3', data: 'pretend library', aliases: ['/opt/app/lib/libfoo.so.1'] };

type Edit = (m: Manifest) => void;

function legit(edit?: Edit, files: BundleFile[] = [exe, lib]): TarEntry[] {
  return bundleEntries({ files, edit }).entries;
}

describe('a legitimate bundle', () => {
  for (const how of ['bzip2', 'gzip', 'zstd', 'none'] as const) {
    it(`extracts from ${how === 'none' ? 'a plain tar' : how} (detected by content, not name)`, async () => {
      const bundle = await bundleFile(tar(legit()), how, `legit-${how}.bin`);
      const p = await prepareBundle(bundle, dir);
      expect(p.state.format).toBe(how === 'none' ? 'tar' : how);
      expect(p.root).toBe(path.join(dir, 'bundle'));
      expect(await fs.readFile(path.join(p.root, 'sysroot/opt/app/bin/app'), 'utf8')).toBe(exe.data);
      expect(await fs.readlink(path.join(p.root, 'sysroot/opt/app/lib/libfoo.so.1'))).toBe('libfoo.so.1.2.3');
      expect((await fs.stat(path.join(p.root, 'sysroot/opt/app/bin/app'))).mode & 0o7777).toBe(0o755);
      expect((await fs.stat(path.join(p.root, 'sysroot/opt/app/lib/libfoo.so.1.2.3'))).mode & 0o7777).toBe(0o644);
      expect(p.state.checksums.every((c) => c.status === 'ok')).toBe(true);
      expect((await fs.readdir(dir)).sort()).toEqual(['.corepack', 'bundle']);
      expect(await snapshot(sentinel, dir)).toEqual(before);
    });
  }

  it('leaves runs of zeros in the core as holes: same bytes, same sha256, fewer blocks', async () => {
    const core = Buffer.concat([Buffer.from('head'), Buffer.alloc(4 * 1024 * 1024), Buffer.from('middle'), Buffer.alloc(2 * 1024 * 1024)]);
    const { entries } = bundleEntries({ files: [exe], core });
    const p = await prepareBundle(await bundleFile(tar(entries), 'zstd'), dir);
    const file = path.join(p.root, 'core/core.1234');
    expect(createHash('sha256').update(await fs.readFile(file)).digest('hex')).toBe(createHash('sha256').update(core).digest('hex'));
    const st = await fs.stat(file);
    expect(st.size).toBe(core.length);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
    expect(p.state.checksums.every((c) => c.status === 'ok')).toBe(true);
  });

  it('is reused on the next replay (the marker is written last)', async () => {
    const bundle = await bundleFile(tar(legit()), 'zstd');
    const first = await prepareBundle(bundle, dir);
    expect(first.reused).toBe(false);
    const second = await prepareBundle(bundle, dir);
    expect(second.reused).toBe(true);
    // Without the marker, the extraction counts as incomplete and is redone.
    await fs.rm(path.join(dir, '.corepack', 'state.json'));
    const third = await prepareBundle(bundle, dir);
    expect(third.reused).toBe(false);
  });
});

describe('hostile entries are refused before anything is written', () => {
  const root = 'crash-bundle';
  /** The legitimate entries with `extra` before SHA256SUMS (after it, anything is refused for that alone: tested below). */
  const withEntry = (...extra: TarEntry[]) => {
    const entries = legit();
    return tar([...entries.slice(0, -1), ...extra, entries.at(-1)!]);
  };

  it('a ../ name', async () => {
    await expectRefused(await bundleFile(withEntry({ name: `${root}/../../escape.txt`, data: 'x' }), 'gzip'), /entry ".*escape.txt" contains "\.\."/);
    await expectRefused(await bundleFile(tar([{ name: '../escape.txt', data: 'x' }, ...legit()]), 'bzip2'), /contains "\.\."/);
  });

  it('an absolute name', async () => {
    await expectRefused(await bundleFile(tar([{ name: `${sentinel}/abs.txt`, data: 'x' }, ...legit()]), 'zstd'), /is absolute/);
  });

  it('a symlink to / and a file written through it', async () => {
    const bundle = await bundleFile(withEntry({ name: `${root}/sysroot/evil`, type: 'symlink', linkname: '/' }, { name: `${root}/sysroot/evil${pwned}`, data: 'x' }), 'gzip');
    await expectRefused(bundle, /symlink "sysroot\/evil" → "\/" is absolute/);
  });

  it('a file written through an allowed symlink, even when the manifest lists it', async () => {
    const planted: BundleFile = { path: '/lnk/app/planted', data: 'x' };
    const { entries } = bundleEntries({ files: [exe, lib, planted] });
    const file = entries.find((e) => String(e.name).endsWith('/planted'))!;
    const others = entries.filter((e) => e !== file);
    const bundle = await bundleFile(tar([...others.slice(0, -1), { name: `${root}/sysroot/lnk`, type: 'symlink', linkname: 'opt' }, file, others.at(-1)!]), 'gzip');
    await expectRefused(bundle, /"sysroot\/lnk" is used both as a directory and as a file or symlink \(writing through a symlink is refused\)/);
  });

  it('a symlink chain that leaves the sysroot in two hops', async () => {
    // q → ../.. is the sysroot itself (fine alone); p → q/../../x then climbs
    // out of q's target, which a purely lexical check would call sysroot/a/x.
    const hops = withEntry(
      { name: `${root}/sysroot/a/b/q`, type: 'symlink', linkname: '../..' },
      { name: `${root}/sysroot/a/b/p`, type: 'symlink', linkname: 'q/../../x' },
    );
    await expectRefused(await bundleFile(hops, 'zstd'), /"sysroot\/a\/b\/p" → "q\/\.\.\/\.\.\/x" is not in normal form/);
    const up = withEntry({ name: `${root}/sysroot/l1`, type: 'symlink', linkname: 'l2' }, { name: `${root}/sysroot/l2`, type: 'symlink', linkname: '../..' });
    await expectRefused(await bundleFile(up, 'zstd'), /"sysroot\/l2" → "\.\.\/\.\." leaves sysroot\//);
  });

  it('a hard link to /etc/passwd', async () => {
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/passwd`, type: 'hardlink', linkname: '/etc/passwd' }), 'bzip2'), /is a hard link to "\/etc\/passwd"/);
  });

  it('a character device, a block device, a fifo', async () => {
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/null`, type: 'char', devmajor: 1, devminor: 3 }), 'gzip'), /is a character device/);
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/sda`, type: 'block', devmajor: 8 }), 'gzip'), /is a block device/);
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/fifo`, type: 'fifo' }), 'gzip'), /is a fifo/);
  });

  it('an unknown entry type', async () => {
    const data = withEntry({ name: `${root}/sysroot/odd`, type: 'file', data: 'x' });
    // Retype the entry's header to 'Z' (unknown), fixing its checksum: it is before SHA256SUMS (1 header + 1 data block) and the end.
    const off = data.length - 1024 - 1024 - 1024;
    data.write('Z', off + 156, 'latin1');
    data.write('        ', off + 148, 'latin1');
    let sum = 0;
    for (const b of data.subarray(off, off + 512)) sum += b;
    data.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, off + 148, 'latin1');
    await expectRefused(await bundleFile(data, 'gzip'), /unsupported type|only files, directories and symlinks/);
  });

  it('entries outside the single top-level directory', async () => {
    await expectRefused(await bundleFile(withEntry({ name: 'other-root/x', data: 'x' }), 'gzip'), /outside the bundle's top-level directory/);
  });

  it('a file not listed in the manifest (it could be an auto-loaded gdb script)', async () => {
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/opt/app/lib/libfoo.so.1.2.3-gdb.py`, data: 'import os' }), 'gzip'), /is not listed in manifest\.json/);
  });

  it('an entry that appears twice', async () => {
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/opt/app/bin/app`, data: 'again' }), 'gzip'), /appears twice/);
  });

  it('a name that is not UTF-8, and one with a newline', async () => {
    const raw = Buffer.concat([Buffer.from(`${root}/sysroot/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('-name')]);
    await expectRefused(await bundleFile(withEntry({ name: raw, data: 'x' }), 'zstd'), /is not valid UTF-8/);
    await expectRefused(await bundleFile(withEntry({ name: `${root}/sysroot/x\nshell touch ${pwned}`, data: 'x' }), 'zstd'), /control character/);
  });

  it('the manifest not first', async () => {
    const [manifest, ...rest] = legit();
    await expectRefused(await bundleFile(tar([...rest, manifest!]), 'gzip'), /not a corepack bundle \(its first entry is .*, not crash-bundle\/manifest\.json\)/);
  });
});

describe('setuid bits and foreign owners are neutralised', () => {
  it('keeps the file, drops setuid/setgid and the owner', async () => {
    const suid: BundleFile = { path: '/opt/app/bin/helper', data: 'setuid helper', mode: 0o6755 };
    const { entries } = bundleEntries({ files: [exe, lib, suid] });
    for (const e of entries) e.uid = 4242;
    const p = await prepareBundle(await bundleFile(tar(entries), 'bzip2'), dir);
    const st = await fs.stat(path.join(p.root, 'sysroot/opt/app/bin/helper'));
    expect(st.mode & 0o7777).toBe(0o755);
    expect(st.uid).toBe(process.getuid!());
    expect((await fs.stat(path.join(p.root, 'sysroot/opt/app/bin/app'))).uid).toBe(process.getuid!());
    expect(p.state.notes).toContain('sysroot/opt/app/bin/helper: dropped the setuid/setgid bit');
  });
});

describe('sizes and budgets', () => {
  let zeros: Buffer; // one zstd frame of 64 MiB of zeros: frames concatenate

  beforeAll(async () => {
    zeros = await compress(Buffer.alloc(64 * 1024 * 1024), 'zstd');
  });

  it('a file whose header size exceeds the manifest is refused at its header', async () => {
    const { entries } = bundleEntries({ files: [exe, lib] });
    const head = await compress(tar(entries.slice(0, 1), { end: false }), 'zstd');
    // The core's header claims 4 GiB of zeros; the manifest says 44 bytes.
    const coreHeader = await compress(tar([{ name: 'crash-bundle/core/core.1234', size: 4 * 1024 ** 3 }], { end: false }), 'zstd');
    const file = path.join(work, 'bomb-header.tzst');
    await fs.writeFile(file, Buffer.concat([head, coreHeader, ...Array<Buffer>(64).fill(zeros)]));
    const t0 = Date.now();
    await expectRefused(file, /"crash-bundle\/core\/core\.1234" is 4294967296 bytes but manifest\.json says 44/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a decompression bomb after the archive stops at the byte budget', async () => {
    const body = await compress(tar(legit()), 'zstd');
    const file = path.join(work, 'bomb-tail.tzst');
    await fs.writeFile(file, Buffer.concat([body, ...Array<Buffer>(64).fill(zeros)])); // 4 GiB more
    const t0 = Date.now();
    await expectRefused(file, /decompresses to more than the \d+ bytes its manifest accounts for/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('SIGINT during a long extraction: exit 130 and nothing left behind', async () => {
    // 1 GiB of zeros, honestly declared: the extraction takes seconds.
    const size = 1024 ** 3;
    const chunk = Buffer.alloc(64 * 1024 * 1024);
    const hash = createHash('sha256');
    for (let i = 0; i < size / chunk.length; i++) hash.update(chunk);
    const { entries } = bundleEntries({ files: [exe] });
    const manifest = JSON.parse(String(entries[0]!.data)) as Manifest;
    manifest.core = { ...manifest.core, size, sha256: hash.digest('hex') };
    const head = tar([{ name: 'crash-bundle/manifest.json', data: JSON.stringify(manifest) }, { name: 'crash-bundle/core/core.1234', size }], { end: false });
    const file = path.join(work, 'slow.tzst');
    await fs.writeFile(file, Buffer.concat([await compress(head, 'zstd'), ...Array<Buffer>(16).fill(zeros), await compress(Buffer.alloc(1024), 'zstd')]));
    const child = execa(process.execPath, [BIN, 'replay', file, '--json', '--dir', dir], { reject: false });
    // Wait until the core is being written (its zeros are holes: the file exists, its size comes at the end), then interrupt.
    for (let i = 0; i < 200; i++) {
      const temp = (await fs.readdir(dir)).find((n) => n.startsWith('.corepack-extract-'));
      const st = temp && (await fs.stat(path.join(dir, temp, 'bundle/core/core.1234')).catch(() => undefined));
      if (st) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(EXIT.INTERRUPTED);
    expect(String(r.stderr)).toMatch(/interrupted by SIGINT/);
    expect(await fs.readdir(dir)).toEqual([]);
    expect(await snapshot(sentinel, dir)).toEqual(before);
  });

  it('a manifest declaring more than the absolute cap', async () => {
    const entries = legit((m) => {
      m.core.size = 2 * 1024 ** 4;
    });
    await expectRefused(await bundleFile(tar(entries), 'gzip'), /declares \d+ bytes of files, more than the \d+-byte cap/);
  });

  it('a truncated archive (inside valid compression, and the compressed stream itself)', async () => {
    const whole = tar(legit());
    await expectRefused(await bundleFile(whole.subarray(0, 1536 + 600), 'gzip'), /truncated/);
    const compressed = await compress(whole, 'bzip2');
    const file = path.join(work, 'cut.tbz2');
    await fs.writeFile(file, compressed.subarray(0, Math.floor(compressed.length / 2)));
    await expectRefused(file, /truncated or corrupt|truncated/);
  });

  it('something that is not a bundle at all', async () => {
    const file = path.join(work, 'notes.txt');
    await fs.writeFile(file, 'just some text, certainly not a tar archive\n'.repeat(20));
    await expect(prepareBundle(file, dir)).rejects.toThrow(/not a corepack bundle/);
  });
});

describe('SHA256SUMS, the last entry, vouches for every file (schema 2)', () => {
  const entriesWith = (sums: (text: string) => string): TarEntry[] => {
    const entries = legit();
    const last = entries.at(-1)!;
    expect(String(last.name)).toBe('crash-bundle/SHA256SUMS');
    return [...entries.slice(0, -1), { ...last, data: sums(String(last.data)) }];
  };

  it('missing: refused as truncated, nothing extracted', async () => {
    await expectRefused(await bundleFile(tar(legit().slice(0, -1)), 'zstd'), /it has no SHA256SUMS \(always the last entry, listing every file's sha256\): the bundle is truncated/);
  });

  it('cut short inside a line: refused, naming SHA256SUMS', async () => {
    const entries = entriesWith((t) => t.slice(0, t.length - 20));
    await expectRefused(await bundleFile(tar(entries), 'gzip'), /SHA256SUMS: its last line is cut short/);
  });

  it('cut short at a line: the files it no longer lists are named, exit 5', async () => {
    const entries = entriesWith((t) => t.split('\n').slice(0, -2).join('\n') + '\n');
    const err = await expectRefused(await bundleFile(tar(entries), 'bzip2'), /1 file failed verification: \/opt\/app\/lib\/libfoo\.so\.1\.2\.3 \(no checksum\)/, EXIT.VERIFY_FAILED);
    expect((err as BundleVerifyError).failures.map((f) => f.status)).toEqual(['unlisted']);
  });

  it('listing another hash for the core: exit 5 naming it', async () => {
    const entries = entriesWith((t) => t.replace(/^[0-9a-f]{64}(  core\/)/m, `${'0'.repeat(64)}$1`));
    await expectRefused(await bundleFile(tar(entries), 'zstd'), /the bundle is corrupt: 1 file failed verification: core \(sha256 mismatch\)/, EXIT.VERIFY_FAILED);
  });

  it('a manifest edited after collect fails against its line', async () => {
    const entries = legit();
    entries[0] = { ...entries[0]!, data: String(entries[0]!.data).replace('"customer"', '"elsewhere"') };
    await expectRefused(await bundleFile(tar(entries), 'gzip'), /1 file failed verification: manifest\.json \(sha256 mismatch\)/, EXIT.VERIFY_FAILED);
  });

  it('malformed lines and unsafe paths are refused, not skipped', async () => {
    await expectRefused(await bundleFile(tar(entriesWith((t) => `${t}not a checksum line\n`)), 'gzip'), /SHA256SUMS: line 5 is not "<64 hex digits>  <path>"/);
    await expectRefused(await bundleFile(tar(entriesWith((t) => `${t}${'a'.repeat(64)}  ../../etc/passwd\n`)), 'gzip'), /SHA256SUMS: line 5 names an unsafe path/);
    // A listed file that is not in the bundle is missing, not ignored.
    await expectRefused(await bundleFile(tar(entriesWith((t) => `${t}${'a'.repeat(64)}  sysroot/opt/app/gone\n`)), 'gzip'), /sysroot\/opt\/app\/gone \(missing\)/, EXIT.VERIFY_FAILED);
  });

  it('an entry after SHA256SUMS is refused', async () => {
    await expectRefused(await bundleFile(tar([...legit(), { name: 'crash-bundle/late.txt', data: 'x' }]), 'gzip'), /entry "crash-bundle\/late\.txt" comes after SHA256SUMS, which must be the last entry/);
  });

  it('a truncated bundle never counts as complete: the next replay extracts again, and refuses again', async () => {
    const whole = await compress(tar(legit()), 'bzip2');
    const cut = path.join(work, 'cut-later.tbz2');
    await fs.writeFile(cut, whole.subarray(0, whole.length - 40));
    await expectRefused(cut, /truncated/);
    await expectRefused(cut, /truncated/);
    // The whole bundle then extracts into the same directory as if nothing had been there.
    const good = path.join(work, 'whole.tbz2');
    await fs.writeFile(good, whole);
    expect((await prepareBundle(good, dir)).reused).toBe(false);
  });

  it('a refused bundle leaves an earlier complete extraction in the same directory as it was', async () => {
    const good = await bundleFile(tar(legit()), 'zstd', 'good.tzst');
    const first = await prepareBundle(good, dir);
    const kept = await snapshot(dir);
    const other = legit((m) => (m.createdAt = '2026-02-02T00:00:00.000Z'));
    const bad = await bundleFile(tar(other.slice(0, -1)), 'zstd', 'other.tzst');
    await expect(prepareBundle(bad, dir)).rejects.toThrow(/has no SHA256SUMS/);
    expect(await snapshot(dir)).toEqual(kept);
    await expect(prepareBundle(bad, dir)).rejects.toThrow(/has no SHA256SUMS/);
    expect(await prepareBundle(good, dir)).toMatchObject({ reused: true, bundleKey: first.bundleKey });
  });

  it('without --dir: a refused bundle leaves no cache directory; the cache dir is named by the manifest', async () => {
    const cache = path.join(dir, 'cache');
    const saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cache;
    try {
      const whole = legit();
      const cut = await bundleFile(tar(whole.slice(0, -1)), 'gzip', 'no-sums.tgz');
      await expect(prepareBundle(cut, null)).rejects.toThrow(/has no SHA256SUMS/);
      expect(await fs.readdir(path.join(cache, 'corepack', 'bundles'))).toEqual([]);
      const tampered = whole.map((e) => (String(e.name).endsWith('/bin/app') ? { ...e, data: '\x7fELF pretend executablE' } : e));
      await expect(prepareBundle(await bundleFile(tar(tampered), 'gzip', 'tampered.tgz'), null)).rejects.toThrow(/sha256 mismatch/);
      expect(await fs.readdir(path.join(cache, 'corepack', 'bundles'))).toEqual([]);
      const p = await prepareBundle(await bundleFile(tar(whole), 'gzip', 'whole.tgz'), null);
      expect(p.bundleKey).toBe(createHash('sha256').update(String(whole[0]!.data)).digest('hex'));
      expect(p.dir).toBe(path.join(cache, 'corepack', 'bundles', p.bundleKey.slice(0, 16)));
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });

  it('an extracted bundle passes GNU sha256sum -c', async () => {
    const p = await prepareBundle(await bundleFile(tar(legit()), 'gzip'), dir);
    const r = await execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: p.root });
    expect(r.stdout.split('\n').sort()).toEqual(['core/core.1234: OK', 'manifest.json: OK', 'sysroot/opt/app/bin/app: OK', 'sysroot/opt/app/lib/libfoo.so.1.2.3: OK']);
  });
});

describe('schema 1 bundles (checksums inside manifest.json, as corepack wrote before SHA256SUMS)', () => {
  const schema1 = (edit?: Edit): TarEntry[] => bundleEntries({ files: [exe, lib], edit, schema: 1 }).entries;

  it('extract and verify against the manifest', async () => {
    const p = await prepareBundle(await bundleFile(tar(schema1()), 'bzip2'), dir);
    expect(p.manifest.schema).toBe(1);
    expect(p.state.checksums.map((c) => [c.file, c.status])).toEqual([
      ['core', 'ok'],
      ['/opt/app/bin/app', 'ok'],
      ['/opt/app/lib/libfoo.so.1.2.3', 'ok'],
    ]);
  });

  it('a tampered file still fails its manifest sha256', async () => {
    const entries = schema1();
    entries.find((e) => String(e.name).endsWith('/bin/app'))!.data = '\x7fELF pretend executablE';
    await expectRefused(await bundleFile(tar(entries), 'gzip'), /1 file failed verification: \/opt\/app\/bin\/app \(sha256 mismatch\)/, EXIT.VERIFY_FAILED);
  });
});

describe('the manifest is validated', () => {
  it('a tampered file fails its sha256: exit 5, every bad file named, nothing extracted', async () => {
    const { entries } = bundleEntries({ files: [exe, lib] });
    const libEntry = entries.find((e) => String(e.name).endsWith('libfoo.so.1.2.3'))!;
    libEntry.data = 'pretend librarY'; // same size, different bytes
    const err = await expectRefused(await bundleFile(tar(entries), 'bzip2'), /the bundle is corrupt: 1 file failed verification: \/opt\/app\/lib\/libfoo\.so\.1\.2\.3 \(sha256 mismatch\)/, EXIT.VERIFY_FAILED);
    expect(err).toBeInstanceOf(BundleVerifyError);
    const bad = (err as BundleVerifyError).checksums.filter((c) => c.status !== 'ok');
    expect(bad.map((c) => c.file)).toEqual(['/opt/app/lib/libfoo.so.1.2.3']);
  });

  it('a listed file missing from the archive', async () => {
    const { entries } = bundleEntries({ files: [exe, lib] });
    const without = entries.filter((e) => !String(e.name).endsWith('/bin/app'));
    await expectRefused(await bundleFile(tar(without), 'gzip'), /\/opt\/app\/bin\/app \(missing\)/, EXIT.VERIFY_FAILED);
  });

  it('not JSON, and not UTF-8', async () => {
    await expectRefused(await bundleFile(tar(bundleEntries({ files: [exe], manifestText: '{ "format": "corepack-bundle", ' }).entries), 'gzip'), /manifest\.json: not valid JSON/);
    const bytes = Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const entries = bundleEntries({ files: [exe] }).entries;
    entries[0]!.data = bytes;
    await expectRefused(await bundleFile(tar(entries), 'gzip'), /manifest\.json is not valid UTF-8/);
  });

  it('files outside the sysroot', async () => {
    const outside = legit((m) => {
      m.files[0]!.bundlePath = 'sysroot/../../../etc/passwd';
    });
    await expectRefused(await bundleFile(tar(outside), 'gzip'), /files\[0\]\.bundlePath .* is not a safe path under sysroot\/ or debug\//);
    const elsewhere = legit((m) => {
      m.files[0]!.bundlePath = 'etc/passwd';
    });
    await expectRefused(await bundleFile(tar(elsewhere), 'gzip'), /is not a safe path under sysroot\/ or debug\//);
    const link = legit((m) => {
      m.links.push({ path: 'sysroot/up', target: '../../..' });
    });
    await expectRefused(await bundleFile(tar(link), 'gzip'), /leaves the sysroot/);
  });

  it(`paths with a newline followed by "shell touch ${pwned}"`, async () => {
    const evil = `/opt/app/bin/app\nshell touch ${pwned}`;
    const edits: Edit[] = [
      (m) => void (m.files[0]!.path = evil),
      (m) => void (m.executable = { path: evil, chosenBy: 'core' }),
      (m) => void m.files[1]!.aliases.push(evil),
      // A relative link_map name is a valid alias, but never with a line break.
      (m) => void m.files[1]!.aliases.push(`./libplugin.so\nshell touch ${pwned}`),
      (m) => void (m.core.bundlePath = `core/x\nshell touch ${pwned}`),
      (m) => void (m.files[1]!.bundlePath = `sysroot/opt/x\nshell touch ${pwned}`),
    ];
    for (const edit of edits) {
      await expectRefused(await bundleFile(tar(legit(edit)), 'zstd'), /manifest\.json: .*(not a safe|unsafe)/);
    }
    // And through the CLI: exit 3, one line, gdb never started, no file.
    const bundle = await bundleFile(tar(legit((m) => void (m.files[0]!.path = evil))), 'zstd', 'newline.tzst');
    const run = await corepack(['replay', bundle, '--batch', '--dir', dir]);
    expect(run.exitCode).toBe(EXIT.BAD_INPUT);
    expect(expectOneLineError(run)).toMatch(/unsafe or malformed bundle: manifest\.json: files\[0\]\.path .* is not a safe absolute path/);
    expect(run.stdout).toBe('');
    await expect(fs.access(pwned)).rejects.toThrow();
  });
});

describe('the summary and host that inspect shows are read through a typed reader', () => {
  // An object with its own toString (not callable) was an internal error in inspect: String() and `${}` throw on it.
  const unprintable = { toString: 1 } as unknown as string;
  const cases: Array<[string, Edit, RegExp]> = [
    ['summary.signal.name', (m) => void (m.summary = { signal: { signo: 11, name: unprintable } }), /manifest\.json: summary\.signal\.name must be a string/],
    ['summary.process.pid', (m) => void (m.summary = { process: { pid: unprintable } }), /manifest\.json: summary\.process\.pid must be an integer/],
    ['summary.threads', (m) => void (m.summary = { crashedThread: 7, threads: 'all of them' }), /manifest\.json: summary\.threads must be an array/],
    ['summary', (m) => void ((m as { summary: unknown }).summary = 'a core'), /manifest\.json: summary must be an object/],
    ['host.hostname', (m) => void (m.host.hostname = unprintable), /manifest\.json: host\.hostname must be a string/],
    ['host.osRelease', (m) => void (m.host.osRelease = { PRETTY_NAME: unprintable }), /manifest\.json: host\.osRelease\.PRETTY_NAME must be a string/],
  ];

  it.each(cases)('a wrongly typed %s: inspect and replay refuse it by name, exit 3, never an internal error', async (_, edit, re) => {
    const bundle = await bundleFile(tar(legit(edit)), 'gzip');
    await expectRefused(bundle, re);
    const run = await corepack(['inspect', bundle]);
    expect(run.exitCode, run.stderr).toBe(EXIT.BAD_INPUT);
    expect(expectOneLineError(run)).toMatch(re);
    expect(run.stderr).not.toMatch(/internal error/);
  });

  it('absent fields are unknown, not errors: inspect shows "?" (older bundles lack some)', async () => {
    const bundle = await bundleFile(tar(legit((m) => {
      m.summary = { os: 'linux', arch: 'x86_64', process: { pid: 42, psargs: './app --serve' }, signal: { signo: 11, name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: '0x10' }, crashedThread: 42, threads: [{}, {}] };
      (m as { host: unknown }).host = undefined;
    })), 'gzip');
    const run = await corepack(['inspect', bundle]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^collected: {3}\S+ on \? \(unknown OS\) by corepack test$/m);
    expect(run.stdout).toContain('; linux x86_64)');
    expect(run.stdout).toMatch(/^command: {5}\.\/app --serve$/m);
    expect(run.stdout).toMatch(/^signal: {6}SIGSEGV \(11\), SEGV_MAPERR, fault address 0x10$/m);
    expect(run.stdout).toMatch(/^crashed: {5}thread 42 of 2$/m);
    const bare = await corepack(['inspect', await bundleFile(tar(legit()), 'gzip')]);
    expect(bare.stdout).toMatch(/; \? \?\)$/m);
    expect(bare.stdout).toMatch(/^pid: {9}\?$/m);
  });
});

describe('quotes, $(...) and backslashes', () => {
  it('a path with a double quote and $(...) is kept, and quoted so gdb reads it back exactly', async () => {
    const weird: BundleFile = { path: `/opt/a"b $(touch ${pwned}) 'c'/bin/app`, data: 'exe', role: 'executable', mode: 0o755 };
    const p = await prepareBundle(await bundleFile(tar(legit(undefined, [weird, lib])), 'gzip'), dir);
    const local = path.join(p.root, `sysroot${weird.path}`);
    expect(await fs.readFile(local, 'utf8')).toBe('exe');
    // gdb 13: `file "..."` with \" and \\ escapes; ask gdb which file it took.
    await fs.copyFile('/bin/true', local);
    const r = await execa('gdb', ['-batch', '-nx', '-ex', `file ${gdbQuote(local, 'executable')}`, '-ex', 'info files'], { reject: false });
    expect(r.stdout).toContain(`Symbols from "${local}".`);
    await expect(fs.access(pwned)).rejects.toThrow();
  });

  it('a backslash in a name is refused (the manifest cannot name it either)', async () => {
    await expectRefused(await bundleFile(tar([...legit(), { name: 'crash-bundle/sysroot/a\\b', data: 'x' }]), 'gzip'), /contains a backslash/);
  });

  it('the gdb script renders every path on its own line, whatever the replay dir holds', async () => {
    const d = `/tmp/we ird "q" $(touch ${pwned}) \`id\` \\back\\\\ 'sq' #hash`;
    const inp: ScriptInputs = {
      dir: d,
      sysroot: `${d}/bundle/sysroot`,
      bundleDebugDir: `${d}/bundle/debug`,
      hostDebugDirs: ['/usr/lib/debug'],
      executable: `${d}/bundle/sysroot/opt/a"b/app`,
      core: `${d}/bundle/core/core.1`,
      libraryDirs: [`${d}/bundle/sysroot/opt/x:y/lib`, `${d}/bundle/sysroot/lib`],
      threadDb: [`${d}/bundle/sysroot/lib/libthread_db.so.1`],
      debuginfod: false,
      os: 'linux',
    };
    const text = renderGdbScript(await loadTemplate('replay.gdb'), inp, `${d}/replay.gdb`, `${d}/.corepack/core`);
    const commands = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(commands.map((l) => l.split(' ')[0])).toEqual([...Array<string>(8).fill('set'), 'add-auto-load-safe-path', 'file', 'core-file']);
    expect(text).toContain(`file "/tmp/we ird \\"q\\" $(touch ${pwned}) \`id\` \\\\back\\\\\\\\ 'sq' #hash/bundle/sysroot/opt/a\\"b/app"`);
    expect(text).not.toContain('x:y'); // a ':' cannot go into a path list: left out
    expect(() => renderGdbScript('', { ...inp, executable: `${d}/x\nshell id` }, `${d}/replay.gdb`, `${d}/.corepack/core`)).toThrow(/control character/);
  });
});

describe('path and link checks', () => {
  it('accept what collect writes and refuse the rest', () => {
    expect(checkEntryPath('r/sysroot/usr/lib/libc.so.6', false)).toBe('r/sysroot/usr/lib/libc.so.6');
    expect(checkEntryPath('r/sysroot/usr/', true)).toBe('r/sysroot/usr');
    for (const bad of ['/abs', 'r/../x', 'r//x', 'r/./x', 'r/x\u0007', 'r/a\\b', 'r/\uFFFD']) expect(() => checkEntryPath(bad, false)).toThrow(UnsafeBundleError);
    expect(() => checkLinkTarget('sysroot/lib64/ld-linux-x86-64.so.2', '../usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')).not.toThrow();
    expect(() => checkLinkTarget('sysroot/lib/libfoo.so.1', 'libfoo.so.1.2.3')).not.toThrow();
    expect(() => checkLinkTarget('debug/.build-id/ab/cdef.debug', '../../usr/lib/x.debug')).not.toThrow();
    for (const [link, target] of [
      ['sysroot/a', '/etc/passwd'],
      ['sysroot/a', '..'],
      ['sysroot/a/b', 'c/../../..'],
      ['sysroot/a', './b'],
      ['core/x', 'y'],
      ['debug/a', '../sysroot/x'],
      ['manifest.json', 'sysroot/x'],
    ] as const) {
      expect(() => checkLinkTarget(link, target), `${link} → ${target}`).toThrow(UnsafeBundleError);
    }
  });

  it('stageBundle cleans up after itself when refusing', async () => {
    const bundle = await bundleFile(tar([...legit(), { name: 'crash-bundle/sysroot/dev', type: 'char' }]), 'gzip');
    await expect(stageBundle(bundle, dir)).rejects.toThrow(/character device/);
    expect(await fs.readdir(dir)).toEqual([]);
  });
});
