/** The small shared helpers in src/util, each with one home. */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { which } from '../src/util/which.js';
import { replaceSymlink, writeFileAtomically } from '../src/util/atomic.js';
import { buildIdDebugPath, debugLinkCandidates, firstDebugLinkMatch } from '../src/util/debugfiles.js';
import { hasControlChar, hasLineBreaker, hex } from '../src/util/text.js';
import { errnoReason, InterruptedError, OutputWriteError } from '../src/util/errors.js';
import { crc32File } from '../src/util/digest.js';
import { lastAtOrBelow } from '../src/util/search.js';
import { HOST_ROOT, resolveInRoot, resolveQemuStyle, rootAt, RootResolveError, type DirectoryRoot } from '../src/util/rootfs.js';

let work: string;
beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-util-'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('which', () => {
  it('finds the first executable on PATH, skips non-executables and empty entries, checks a path with a slash', async () => {
    const a = path.join(work, 'a');
    const b = path.join(work, 'b');
    await fs.mkdir(a);
    await fs.mkdir(b);
    await fs.writeFile(path.join(a, 'tool'), 'not executable', { mode: 0o644 });
    await fs.writeFile(path.join(b, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    expect(await which('tool', `:${a}:${b}`)).toBe(path.join(b, 'tool'));
    expect(await which('tool', a)).toBeUndefined();
    expect(await which(path.join(b, 'tool'), '')).toBe(path.join(b, 'tool'));
    expect(await which(path.join(a, 'tool'), '')).toBeUndefined();
  });
});

describe('atomic writes', () => {
  it('replaces a file and a symlink without leaving the temporary name', async () => {
    const f = path.join(work, 'state.json');
    await writeFileAtomically(f, 'one');
    await writeFileAtomically(f, 'two');
    expect(await fs.readFile(f, 'utf8')).toBe('two');
    const l = path.join(work, 'link');
    await replaceSymlink('x', l);
    await replaceSymlink('y', l);
    expect(await fs.readlink(l)).toBe('y');
    expect((await fs.readdir(work)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });
});

describe('debug files', () => {
  it('spells the .build-id path once, and lists debuglink places in gdb\'s order', () => {
    expect(buildIdDebugPath('abcdef')).toBe('.build-id/ab/cdef.debug');
    expect(buildIdDebugPath('ab')).toBeUndefined();
    expect(debugLinkCandidates('/x/lib', 'l.debug', [{ dir: '/usr/lib/debug', from: 'host' }], 'local', '/opt/lib').map((c) => `${c.from}:${c.file}`)).toEqual([
      'local:/x/lib/l.debug',
      'local:/x/lib/.debug/l.debug',
      'host:/usr/lib/debug/opt/lib/l.debug',
    ]);
  });

  it('takes the first candidate whose CRC matches, as gdb does', async () => {
    const good = path.join(work, 'good.debug');
    const other = path.join(work, 'other.debug');
    await fs.writeFile(good, 'the right bytes');
    await fs.writeFile(other, 'other bytes');
    const crc = await crc32File(good);
    expect(crc, 'zlib.crc32 is missing on this Node (needs >= 20.15)').toBeTypeOf('number');
    const c = [{ file: path.join(work, 'absent') }, { file: other }, { file: good }];
    expect((await firstDebugLinkMatch(c, crc!))?.file).toBe(good);
    expect(await firstDebugLinkMatch(c, crc!, async () => false)).toBeUndefined();
  });
});

describe('text and errors', () => {
  it('control characters, line breakers, hex', () => {
    expect(hasControlChar('a\nb')).toBe(true);
    expect(hasControlChar('a\u0085b')).toBe(false);
    expect(hasLineBreaker('a\u0085b')).toBe(true);
    expect(hasLineBreaker('a\u2028b')).toBe(true);
    expect(hex(255n)).toBe('0xff');
    expect(hex(undefined)).toBe('?');
  });

  it('errno reasons include the quota and read-only cases; errors keep their facts', () => {
    expect(errnoReason('EDQUOT')).toBe('disk quota exceeded');
    expect(errnoReason('EROFS')).toBe('read-only file system');
    const e = new OutputWriteError('/o/x.tbz2', 'ENOSPC');
    expect(e).toMatchObject({ path: '/o/x.tbz2', code: 'ENOSPC', outOfSpace: true });
    expect(e.message).toBe('cannot write /o/x.tbz2: no space left on the device; no bundle was written');
    expect(new InterruptedError('SIGTERM').message).toBe('terminated by SIGTERM; no partial output was left behind');
  });
});

describe('lastAtOrBelow', () => {
  const starts = [0x1000n, 0x2000n, 0x2000n, 0x9000n];
  const key = (v: bigint): bigint => v;
  it.each([
    [0xfffn, -1],
    [0x1000n, 0],
    [0x1fffn, 0],
    [0x2000n, 2],
    [0x8fffn, 2],
    [0xffffffffffffffffn, 3],
  ])('at %s gives index %i', (at, want) => {
    expect(lastAtOrBelow(starts, key, at)).toBe(want);
  });
  it('an empty array has none', () => expect(lastAtOrBelow([], key, 5n)).toBe(-1));
  it('agrees with a linear scan on 2,000 random lookups', () => {
    const sorted = Array.from({ length: 300 }, (_, i) => BigInt(i * 7 + (i % 3)));
    let seed = 7;
    for (let n = 0; n < 2000; n++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const at = BigInt(seed % 2200) - 10n;
      let linear = -1;
      sorted.forEach((v, i) => { if (v <= at) linear = i; });
      expect(lastAtOrBelow(sorted, key, at)).toBe(linear);
    }
  });
});

describe('paths resolved inside a root (collect --root)', () => {
  it('one encoding of "no other root": / (however spelled) is HOST_ROOT, any other directory is itself', () => {
    for (const dir of ['/', '//', '/.', '/tmp/..']) expect(rootAt(dir)).toBe(HOST_ROOT);
    expect(rootAt('/srv/c1/')).toEqual({ kind: 'directory', dir: '/srv/c1' });
    expect(rootAt('/srv//c1/./x/..')).toEqual({ kind: 'directory', dir: '/srv/c1' });
  });

  it('follows absolute and relative links inside the root, clamps "..", and never reaches the host\'s file', async () => {
    const dir = await fs.realpath(await fs.mkdtemp(path.join(work, 'root-')));
    const root = rootAt(dir);
    await fs.mkdir(path.join(dir, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
    await fs.writeFile(path.join(dir, 'usr/lib/x86_64-linux-gnu/libz.so.1.2.13'), 'container zlib');
    await fs.symlink('usr/lib', path.join(dir, 'lib')); // Debian's merged /usr, relative
    await fs.symlink('libz.so.1.2.13', path.join(dir, 'usr/lib/x86_64-linux-gnu/libz.so.1'));
    await fs.mkdir(path.join(dir, 'lib64-dir'));
    await fs.symlink('/lib/x86_64-linux-gnu/libz.so.1', path.join(dir, 'lib64-dir/abs')); // absolute: restarts at the root
    await fs.symlink('../../../../../../etc/passwd', path.join(dir, 'lib64-dir/escape'));
    await fs.symlink('loop', path.join(dir, 'loop'));

    const r = await resolveInRoot(root, '/lib64-dir/abs');
    expect(r).toEqual({ guest: '/usr/lib/x86_64-linux-gnu/libz.so.1.2.13', host: path.join(dir, 'usr/lib/x86_64-linux-gnu/libz.so.1.2.13'), from: 'root' });
    expect((await resolveInRoot(root, '/lib/x86_64-linux-gnu/../x86_64-linux-gnu/libz.so.1')).guest).toBe('/usr/lib/x86_64-linux-gnu/libz.so.1.2.13');
    // "../../.." stops at the root: /etc/passwd inside it, which does not exist, not the host's.
    await expect(resolveInRoot(root, '/lib64-dir/escape')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(resolveInRoot(root, '/loop')).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(resolveInRoot(root, '/usr/lib/x86_64-linux-gnu/libz.so.1/x')).rejects.toBeInstanceOf(RootResolveError);
    // With / as the root it is realpath: the link's absolute target is the host's zlib (zlib1g, in .ci/run).
    expect((await resolveInRoot(HOST_ROOT, path.join(dir, 'lib64-dir/abs'))).guest).toBe(await fs.realpath(path.join(dir, 'lib64-dir/abs')));
  });

  it('qemu -L\'s lookup: under the root when the file is there (as the host follows it), else the host\'s own path', async () => {
    const dir = await fs.realpath(await fs.mkdtemp(path.join(work, 'qroot-')));
    const root = rootAt(dir) as DirectoryRoot;
    const outside = await fs.realpath(await fs.mkdtemp(path.join(work, 'outside-')));
    await fs.mkdir(path.join(dir, 'lib'));
    await fs.writeFile(path.join(dir, 'lib/libc.so.6'), 'guest libc');
    await fs.writeFile(path.join(outside, 'libplugin.so'), 'guest plugin, outside the root');
    expect(await resolveQemuStyle(root, '/lib/libc.so.6')).toEqual({ guest: '/lib/libc.so.6', host: path.join(dir, 'lib/libc.so.6'), from: 'root' });
    const plugin = path.join(outside, 'libplugin.so');
    expect(await resolveQemuStyle(root, plugin)).toEqual({ guest: plugin, host: plugin, from: 'host' });
    // Under chroot rules the same name is not found: the root has no such path.
    await expect(resolveInRoot(root, plugin)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(resolveQemuStyle(root, '/lib/nothing.so')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('a compressor program\'s output read late (Node drops unread stdout of a child that has exited)', () => {
  // A child that writes less than a pipe holds exits at once; Node then resumes its
  // stdout with nobody listening, and the bytes were gone before unpacking read them.
  it('every byte reaches a consumer that starts 300 ms after the program ended, through the input and the bundle entry points (one runner)', async () => {
    const { codecFor: inputCodec } = await import('../src/codec/run.js');
    const { codecFor: bundleCodec } = await import('../src/bundle/formats.js');
    const plain = Buffer.from('a small output, written and done before anyone reads it\n'.repeat(40));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-late-'));
    try {
      const gz = path.join(dir, 'small.gz');
      await fs.writeFile(gz, zlib.gzipSync(plain));
      for (const make of [() => inputCodec('gzip', 'decompress'), () => bundleCodec('gzip', 'decompress')]) {
        const codec = await make();
        expect(codec.readsFiles).toBe(true); // a program (pigz or gzip), not zlib in process
        const fh = await fs.open(gz, 'r');
        try {
          const run = codec.stream({ fromFd: fh.fd });
          await run.done;
          await new Promise((r) => setTimeout(r, 300));
          const parts: Buffer[] = [];
          for await (const chunk of run.output!) parts.push(chunk as Buffer);
          expect(Buffer.concat(parts).equals(plain)).toBe(true);
        } finally {
          await fh.close();
        }
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
