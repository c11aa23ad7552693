/**
 * The core compressed ahead (src/bundle/ahead.ts): collect starts the core's
 * frame before it has read the notes or planned the bundle, and puts the
 * head (manifest entry, core header) in front last — by inserting padded
 * blocks at offset 0 where the filesystem can (ext4 here), by moving the
 * bytes up where it cannot (tmpfs, and bzip2, which has no padding frame).
 * Each way, the bundle extracts with the compressor's own program and GNU
 * tar, `sha256sum -c` passes, and replay reads it; a failure after the start
 * leaves nothing behind. Real kernel cores of the test's crashing program.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { minPadding, paddingFrame } from '../src/codec/pad.js';
import { codecFor, FORMATS, type Codec, type Format } from '../src/bundle/formats.js';
import { compressAhead } from '../src/bundle/ahead.js';
import { compressTo } from '../src/bundle/sink.js';
import { programsFor } from '../src/codec/codecs.js';
import { which } from '../src/util/which.js';
import { BIN, corepack } from './helpers/cli.js';
import { makeCrash, useCrash } from './helpers/crash.js';

const env = useCrash('segv-thread', 'corepack-ahead-');

/** A directory on tmpfs (no fallocate --insert-range there), or null where /dev/shm is not one. */
async function tmpfsDir(): Promise<string | null> {
  const r = await execa('stat', ['-f', '-c', '%T', '/dev/shm'], { reject: false });
  if (r.exitCode !== 0 || r.stdout.trim() !== 'tmpfs') return null;
  return fs.mkdtemp('/dev/shm/corepack-ahead-');
}

async function traceOf(file: string): Promise<string[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => l.replace(/^\d+ /, ''));
}

async function decompressor(format: string): Promise<string[] | null> {
  for (const p of programsFor(format as Format, 'decompress')) if (await which(p.program)) return [p.program, ...p.decompress!];
  return null;
}

describe('padding frames decompress to nothing in the format\'s own program', () => {
  for (const [format, dec, lengths] of [
    ['zstd', ['zstd', '-d', '-c', '-q'], [8, 9, 4096, 70_000]],
    ['gzip', ['gzip', '-d', '-c'], [26, 27, 4096, 65_557, 65_558, 200_000]],
  ] as const) {
    it(`${format}: between two real frames, for lengths ${lengths.join(', ')}`, async () => {
      const [hello, world] = await Promise.all(
        ['hello\n', 'world\n'].map(async (t) => Buffer.from((await execa(dec[0], [], { input: t, encoding: 'buffer' })).stdout)),
      );
      for (const n of lengths) {
        const pad = paddingFrame(format, n)!;
        expect(pad.length, `${n}`).toBe(n);
        const r = await execa(dec[0], dec.slice(1), { input: Buffer.concat([hello!, pad, world!]) });
        expect(r.stdout, `${format} padded by ${n}`).toBe('hello\nworld');
      }
    });
  }

  it('refuses what it cannot make: bzip2, and lengths below the smallest frame', () => {
    expect(paddingFrame('bzip2', 4096)).toBeNull();
    expect(paddingFrame('zstd', 7)).toBeNull();
    expect(paddingFrame('gzip', 25)).toBeNull();
  });
});

/** The real compressor program for `format`, counting the processes it starts. */
async function countingCodec(format: Format): Promise<{ codec: Codec; started: () => number }> {
  const real = await codecFor(format, 'compress');
  let n = 0;
  const codec: Codec = {
    ...real,
    stream(io) {
      n++;
      return real.stream(io);
    },
  };
  return { codec, started: () => n };
}

// An interrupt abandons the output while the core's entry, written ahead, is
// still running on its own: its next write used to start a compressor that
// nothing ended or killed (on a descriptor closed and reused by then), and
// corepack never exited (1 of ~30 SIGTERMs under load).
describe('once a compressed output is abandoned, no compressor starts', () => {
  it('compressTo over a file: write and copyWhole after abort() fail and start nothing', async () => {
    const { codec, started } = await countingCodec('bzip2');
    const file = await fs.open(path.join(env.work, 'abandoned.bz2'), 'w+');
    try {
      const out = compressTo(codec, { fd: file.fd });
      out.abort();
      await expect(out.tar.write(Buffer.alloc(512))).rejects.toThrow(/abandoned/);
      await expect(out.tar.copyWhole!(file.fd)).rejects.toThrow(/abandoned/);
      const ac = new AbortController();
      const interrupted = compressTo(codec, { fd: file.fd }, ac.signal);
      ac.abort(new Error('SIGTERM'));
      await expect(interrupted.tar.write(Buffer.alloc(512))).rejects.toThrow(/SIGTERM/);
      expect(started()).toBe(0);
      await out.finish();
      expect((await file.stat()).size, 'nothing was written').toBe(0);
    } finally {
      await file.close();
    }
  });

  it('compressAhead: the entry written ahead, the rest and the head start nothing after abort()', async () => {
    const { codec, started } = await countingCodec('zstd');
    const tmp = path.join(env.work, 'abandoned-ahead.tar.zst');
    const file = await fs.open(tmp, 'w+');
    try {
      const out = compressAhead(codec, 'zstd', file, tmp, `${tmp}.rest`);
      out.abort();
      await expect(out.ahead.write(Buffer.alloc(512))).rejects.toThrow(/abandoned/);
      await expect(out.tar.placeAhead!()).rejects.toThrow(/abandoned/);
      expect(started()).toBe(0);
      await expect(fs.stat(`${tmp}.rest`)).rejects.toThrow(/ENOENT/);
    } finally {
      await file.close();
    }
  });
});

describe('collect compresses the core ahead of the plan', () => {
  let dense: string;
  let shm: string | null;

  beforeAll(async () => {
    // Over the 8 MiB from which the core is a frame of its own, and not sparse on disk.
    const big = await makeCrash('segv-thread', { program: env.program, env: { CRASHME_HEAP_MIB: '12' } });
    dense = path.join(env.work, 'dense-core');
    await execa('cp', ['--sparse=never', big.core, dense]);
    shm = await tmpfsDir();
    return async () => {
      if (shm) await fs.rm(shm, { recursive: true, force: true });
    };
  }, 120_000);

  const cases: Array<[string, 'ext4' | 'tmpfs', string]> = [
    ['.tar.zst', 'ext4', 'inserted'],
    ['.tar.gz', 'ext4', 'inserted'],
    ['.tbz2', 'ext4', 'moved'],
    ['.tar.zst', 'tmpfs', 'moved'],
  ];
  for (const [ext, fsType, how] of cases) {
    it(`${ext} on ${fsType}: the head is ${how}; tar, sha256sum -c and replay read the bundle`, async () => {
      const format = FORMATS.find((f) => f.extensions.includes(ext))!.format;
      const dec = await decompressor(format);
      if (!dec) return void console.warn(`skipped: no ${format} program installed`);
      const st = await execa('stat', ['-f', '-c', '%T', env.work]);
      if (fsType === 'ext4' && st.stdout.trim() !== 'ext2/ext3') return void console.warn(`skipped: ${env.work} is on ${st.stdout.trim()}, not ext4`);
      const dir = fsType === 'tmpfs' ? shm : env.work;
      if (!dir) return void console.warn('skipped: /dev/shm is not a tmpfs here');
      const bundle = path.join(dir, `ahead-${format}${ext}`);
      const trace = path.join(env.work, `trace-${format}-${fsType}`);
      const run = await corepack(['collect', dense, '-e', env.program.exe, '-o', bundle], { env: { COREPACK_TRACE: trace } });
      expect(run.exitCode, run.stderr).toBe(0);
      const events = await traceOf(trace);
      expect(events, 'the core frame, the head, and what follows').toContain(`head ${how}`);
      // The head frame comes first in the file: the manifest is the first entry.
      const list = await execa('bash', ['-c', 'set -o pipefail; "${@:2}" < "$1" | tar -t -f -', 'bash', bundle, ...dec]);
      const names = list.stdout.split('\n');
      expect(names[0]).toMatch(/\/manifest\.json$/);
      expect(names[1]).toMatch(/\/core\/dense-core$/);
      expect(names.at(-1)).toMatch(/\/SHA256SUMS$/);
      const out = path.join(env.work, `x-${format}-${fsType}`);
      await fs.mkdir(out);
      await execa('bash', ['-c', 'set -o pipefail; "${@:3}" < "$1" | tar -x -f - -C "$2"', 'bash', bundle, out, ...dec]);
      const [top] = await fs.readdir(out);
      const sums = await execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: path.join(out, top!), reject: false });
      expect(sums.exitCode, sums.stdout + sums.stderr).toBe(0);
      const replay = await corepack(['replay', bundle, '--json', '--dir', path.join(env.work, `r-${format}-${fsType}`)]);
      expect(replay.exitCode === 0 || replay.exitCode === 5, replay.stderr).toBe(true);
      if (how === 'inserted') {
        // The padding costs less than one block of the filesystem.
        const block = Number((await execa('stat', ['-f', '-c', '%S', dir])).stdout);
        // The same bundle (same name, same core) written on tmpfs, where the head is moved: no padding.
        if (shm) {
          const same = path.join(shm, path.basename(bundle));
          const moved = await corepack(['collect', dense, '-e', env.program.exe, '-o', same]);
          expect(moved.exitCode, moved.stderr).toBe(0);
          const padding = (await fs.stat(bundle)).size - (await fs.stat(same)).size;
          expect(padding, 'bytes of padding').toBeGreaterThanOrEqual(minPadding(format)!);
          expect(padding).toBeLessThan(block + minPadding(format)!);
          await fs.rm(same);
        }
      }
      // No temporary is left beside the bundle.
      expect((await fs.readdir(dir)).filter((n) => n.includes('.corepack-tmp-'))).toEqual([]);
    }, 120_000);
  }

  it('a core still being compressed when the plan is done: the rest goes beside it and is appended; tar and sha256sum -c agree', async () => {
    // 1 GiB of allocated zeros after the dense core: its frame takes far longer than the plan.
    const big = path.join(env.work, 'long-dense-core');
    await fs.copyFile(dense, big);
    await execa('fallocate', ['-o', String((await fs.stat(dense)).size), '-l', String(1024 ** 3), big]);
    const bundle = path.join(env.work, 'long.tar.zst');
    const trace = path.join(env.work, 'trace-long');
    try {
      const run = await corepack(['collect', big, '-e', env.program.exe, '-o', bundle], { env: { COREPACK_TRACE: trace } });
      expect(run.exitCode, run.stderr).toBe(0);
      const events = await traceOf(trace);
      expect(events).toContain('rest beside');
      expect(events).toContain('head inserted');
      // Everything but the core extracted (1 GiB of zeros need not hit the disk); its line checked against the source.
      const out = path.join(env.work, 'x-long');
      await fs.mkdir(out);
      await execa('bash', ['-c', 'set -o pipefail; zstd -d -c -q < "$1" | tar -x -f - -C "$2" --exclude "*/core/*"', 'bash', bundle, out]);
      const top = path.join(out, 'long');
      const sums = await execa('sha256sum', ['--strict', '--ignore-missing', '-c', 'SHA256SUMS'], { cwd: top, reject: false });
      expect(sums.exitCode, sums.stdout + sums.stderr).toBe(0);
      const lines = (await fs.readFile(path.join(top, 'SHA256SUMS'), 'utf8')).split('\n');
      const coreLine = lines.find((l) => l.endsWith('  core/long-dense-core'));
      const [source] = (await execa('sha256sum', [big])).stdout.split(' ');
      expect(coreLine).toBe(`${source}  core/long-dense-core`);
      expect(sums.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, 'every file but the core').toBe(lines.filter(Boolean).length - 1);
    } finally {
      await fs.rm(big, { force: true });
      await fs.rm(bundle, { force: true });
    }
  }, 120_000);

  it('SIGINT while the core frame is compressed ahead: exit 130, nothing left beside the output', async () => {
    // The dense core grown by 1 GiB of allocated zeros (fallocate: counted as on disk, so not sparse):
    // seconds of compressing and hashing, all of it after the frame started.
    const big = path.join(env.work, 'big-dense-core');
    await fs.copyFile(dense, big);
    await execa('fallocate', ['-o', String((await fs.stat(dense)).size), '-l', String(1024 ** 3), big]);
    const out = path.join(env.work, 'sigint');
    await fs.mkdir(out);
    const trace = path.join(env.work, 'trace-sigint');
    const child = execa(process.execPath, [BIN, 'collect', big, '-e', env.program.exe, '-o', path.join(out, 'b.tar.zst')], { reject: false, env: { COREPACK_TRACE: trace } });
    for (let i = 0; i < 1500 && !(await traceOf(trace)).includes('compress zstd'); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    const r = await child;
    await fs.rm(big);
    expect(r.exitCode, String(r.stderr)).toBe(130);
    expect(String(r.stderr)).toMatch(/interrupted by SIGINT; no partial output was left behind/);
    expect(await fs.readdir(out)).toEqual([]);
  }, 60_000);

  it('a full file system under the core frame: exit 7, no space left, nothing left', async (ctx) => {
    const small = await fs.mkdtemp(path.join(env.work, 'full-'));
    const m = await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small], { reject: false });
    if (m.exitCode !== 0) {
      console.warn(`SKIPPED: cannot mount a tmpfs (${String(m.stderr).trim()})`);
      return ctx.skip();
    }
    try {
      const trace = path.join(env.work, 'trace-full');
      const r = await corepack(['collect', dense, '-e', env.program.exe, '-o', path.join(small, 'b.tar.zst')], { env: { COREPACK_TRACE: trace } });
      expect(r.exitCode, r.stderr).toBe(7);
      expect(r.stderr).toMatch(/^corepack: error: cannot write .*b\.tar\.zst: no space left on the device; no bundle was written$/m);
      expect(await fs.readdir(small)).toEqual([]);
    } finally {
      await execa('umount', [small], { reject: false });
      await fs.rm(small, { recursive: true, force: true });
    }
  });
});
