/**
 * Every bundle collect writes is a plain compressed tar: the compressor's own
 * program and GNU tar extract it, and GNU `sha256sum -c SHA256SUMS` passes —
 * whichever way collect wrote a file: relayed through Node, as a compressor
 * frame of its own (a large file the compressor reads itself: the bundle is
 * a concatenation of zstd frames / bzip2 streams / gzip members), or sparse
 * (GNU tar's PAX format 1.0, for a core with holes). corepack's own
 * extractor (replay) reads the same bundles, and the extracted core gets its
 * holes back. Real kernel cores of the test's own crashing program.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type Format } from '../src/bundle/formats.js';
import { programsFor } from '../src/codec/codecs.js';
import { SparseMapReader, formatSparseMap, parseSparsePax, sparsePaxBody } from '../src/bundle/sparse.js';
import { which } from '../src/util/which.js';
import { corepack } from './helpers/cli.js';
import { makeCrash, useCrash, type CrashFixture } from './helpers/crash.js';

const env = useCrash('segv-thread', 'corepack-interop-');

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The first program of a format that is installed here, with its decompress arguments. */
async function decompressor(format: string): Promise<string[] | null> {
  for (const p of programsFor(format as Format, 'decompress')) if (await which(p.program)) return [p.program, ...p.decompress!];
  return format === 'gzip' ? ['gzip', '-d', '-c'] : null;
}

/** `PROGRAM -d -c < bundle | tar -x -C dest`: the compressor's own program, then GNU tar. */
async function extractByHand(bundle: string, dec: string[], dest: string): Promise<string> {
  await fs.mkdir(dest, { recursive: true });
  await execa('bash', ['-c', 'set -o pipefail; "${@:3}" < "$1" | tar -x -f - -C "$2"', 'bash', bundle, dest, ...dec]);
  const [root] = await fs.readdir(dest);
  return path.join(dest, root!);
}

/** The raw tar stream, for looking at how an entry was stored. */
async function tarStream(bundle: string, dec: string[]): Promise<Buffer> {
  const r = await execa(dec[0]!, dec.slice(1), { inputFile: bundle, encoding: 'buffer', stripFinalNewline: false, maxBuffer: 1 << 30 });
  return Buffer.from(r.stdout);
}

describe('bundles extract with the compressor\'s own program and GNU tar, and sha256sum -c passes', () => {
  let big: CrashFixture;
  let dense: string;
  let cut: string;

  beforeAll(async () => {
    // A core well over the 8 MiB from which a file is a frame of its own: 12 MiB of heap, four threads' stacks (holes).
    big = await makeCrash('segv-thread', { program: env.program, env: { CRASHME_HEAP_MIB: '12' } });
    // The same core with every block allocated: not sparse on disk, so the compressor reads it itself.
    dense = path.join(env.work, 'dense-core');
    await execa('cp', ['--sparse=never', big.core, dense]);
    // Cut short at a size that is no multiple of tar's 512-byte block, still a frame of its own:
    // the entry's padding must follow the frame (it once did not, and tar read the next header from the core's tail).
    cut = path.join(env.work, 'cut-core');
    const { size } = await fs.stat(dense);
    await execa('head', ['-c', String(size - 1000), dense], { stdout: { file: cut } });
  }, 120_000);

  for (const f of FORMATS) {
    const ext = f.extensions[0]!;
    it(`${ext}: a sparse core (PAX 1.0) and a dense one (its own frame): GNU tar restores both, holes and all; replay reads them too`, async () => {
      const dec = await decompressor(f.format);
      if (!dec) return void console.warn(`skipped: no ${f.format} program installed`);
      const kernel = await fs.stat(big.core);
      expect(kernel.blocks * 512, 'the kernel core is mostly holes').toBeLessThan(kernel.size * 0.5);
      for (const [kind, core] of [['sparse', big.core], ['dense', dense], ['cut', cut]] as const) {
        const st = await fs.stat(core);
        const bundle = path.join(env.work, `${kind}${ext}`);
        const run = await corepack(['collect', core, '-e', env.program.exe, '-o', bundle]);
        // A cut core is bundled, with a warning and exit 4 (not exact).
        expect(run.exitCode, run.stderr).toBe(kind === 'cut' ? 4 : 0);
        const tar = await tarStream(bundle, dec);
        // How the core was stored: sparse (a pax header naming it, GNU tar's stored name) or whole.
        expect(tar.includes('GNU.sparse.major=1'), kind).toBe(kind === 'sparse');
        if (f.format === 'zstd') {
          // Frames: the headers before the core, the core, what follows (zstd -l counts them).
          const frames = /Frames\s+(\d+)|^\s*(\d+)\s+\d+\s/m.exec((await execa('zstd', ['-l', bundle])).stdout);
          expect(Number(frames?.[1] ?? frames?.[2]), 'zstd frames').toBeGreaterThanOrEqual(kind === 'sparse' ? 1 : 3);
        }
        const root = await extractByHand(bundle, dec, path.join(env.work, `x-${kind}${ext}`));
        const sums = await execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: root, reject: false });
        expect(sums.exitCode, sums.stdout + sums.stderr).toBe(0);
        expect(sums.stdout.trim().split('\n').every((l) => l.endsWith(': OK'))).toBe(true);
        const manifest = JSON.parse(await fs.readFile(path.join(root, 'manifest.json'), 'utf8')) as { core: { bundlePath: string; size: number } };
        const extracted = path.join(root, manifest.core.bundlePath);
        const xs = await fs.stat(extracted);
        expect(xs.size).toBe(st.size);
        expect(await sha256File(extracted)).toBe(await sha256File(core));
        // GNU tar gives a sparse entry its holes back.
        if (kind === 'sparse') expect(xs.blocks * 512).toBeLessThan(st.size * 0.5);
        // corepack's own extractor reads the same bundle and verifies every file (no gdb started with --json alone).
        const dir = path.join(env.work, `replay-${kind}${ext}`);
        const replay = await corepack(['replay', bundle, '--json', '--dir', dir]);
        expect(replay.exitCode === 0 || replay.exitCode === 5, replay.stderr).toBe(true);
        const report = JSON.parse(replay.stdout) as { core: { path: string } };
        expect(await sha256File(report.core.path)).toBe(await sha256File(core));
        if (kind === 'sparse') expect((await fs.stat(report.core.path)).blocks * 512).toBeLessThan(st.size * 0.5);
        await fs.rm(path.dirname(root), { recursive: true, force: true });
        await fs.rm(dir, { recursive: true, force: true });
        await fs.rm(bundle, { force: true });
      }
    }, 180_000);
  }
});

describe('the sparse map (PAX 1.0) as written and as read back', () => {
  it('round-trips, with the last empty region GNU tar writes for a file ending in a hole', () => {
    const regions = [
      { offset: 4096, length: 8192 },
      { offset: 1 << 20, length: 100 },
    ];
    const map = formatSparseMap(regions, 4 << 20);
    expect(map.length % 512).toBe(0);
    expect(map.toString('latin1').replace(/\0+$/, '')).toBe(`3\n4096\n8192\n${1 << 20}\n100\n${4 << 20}\n0\n`);
    const data = Buffer.alloc(8192 + 100, 7);
    const r = new SparseMapReader(map.length + data.length, 4 << 20);
    // Fed a byte at a time through the map and its padding, then the data: only the data comes out.
    const out: Buffer[] = [];
    for (let i = 0; i < map.length - 1; i++) out.push(r.push(map.subarray(i, i + 1)) ?? Buffer.alloc(0));
    out.push(r.push(Buffer.concat([map.subarray(map.length - 1), data.subarray(0, 10)]))!);
    out.push(r.push(data.subarray(10))!);
    expect(Buffer.concat(out)).toEqual(data);
    expect(r.regions).toEqual(regions);
    expect(parseSparsePax(sparsePaxBody('b/core/core', 4 << 20))).toEqual({ major: '1', minor: '0', name: 'b/core/core', realSize: 4 << 20 });
  });

  const refused: Array<[string, string, number, number, RegExp]> = [
    ['regions out of order', '2\n8192\n10\n0\n10\n', 512 + 20, 1 << 20, /out of order or overlapping/],
    ['a region past the end', '1\n4096\n8192\n', 512 + 8192, 8000, /past the file's end/],
    ['more stored bytes than the map lists', '1\n0\n10\n', 512 + 11, 100, /accounts for 522 bytes, the entry holds 523/],
    ['a count that is not a number', 'x\n0\n10\n', 512 + 10, 100, /does not start with a count/],
    ['a huge count', '99999999\n0\n10\n', 512 + 10, 100, /more than/],
    ['a map cut short', '3\n0\n10\n', 512, 100, /cut short/],
  ];
  for (const [what, text, stored, real, re] of refused) {
    it(`refuses ${what}`, () => {
      const map = Buffer.alloc(512);
      map.write(text, 'latin1');
      const r = new SparseMapReader(stored, real, 1000);
      expect(() => r.push(map)).toThrow(re);
    });
  }
});
