/**
 * collect --split: a real core of crashme, bundled by the real CLI into
 * parts; the parts are joined by `cat` and listed by GNU tar, checked by
 * `sha256sum -c` with the index, replayed (real gdb) from a part, and a
 * missing middle part, a missing last part and a damaged part are each named.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { corepack, expectOneLineError } from './helpers/cli.js';
import { useCrash } from './helpers/crash.js';
import { createSplitOutput, formatIndex, parseIndex, partName } from '../src/bundle/split.js';
import { PartSetError, TooManyPartsError } from '../src/bundle/errors.js';
import * as os from 'node:os';

const env = useCrash('segv-main', 'corepack-split-');
const PART = 64 * 1024;

async function collectSplit(dir: string, size = '64K'): Promise<{ parts: string[]; index: string; base: string }> {
  await fs.mkdir(dir, { recursive: true });
  const base = path.join(dir, 'crash.tbz2');
  const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', base, '--split', size]);
  expect(run.exitCode, run.stderr).toBe(0);
  const names = (await fs.readdir(dir)).sort();
  const parts = names.filter((n) => /^crash\.tbz2\.\d{3}$/.test(n)).map((n) => path.join(dir, n));
  return { parts, index: `${base}-parts.sha256`, base };
}

describe('collect --split', () => {
  it('writes several parts of at most SIZE bytes, whose concatenation GNU tar lists, checked by sha256sum -c', async () => {
    const dir = path.join(env.work, 'whole');
    const { parts, index, base } = await collectSplit(dir);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const p of parts) expect((await fs.stat(p)).size).toBeLessThanOrEqual(PART);
    // Only the last may be short: the parts are the bundle cut at every SIZE bytes.
    for (const p of parts.slice(0, -1)) expect((await fs.stat(p)).size).toBe(PART);
    // Nothing else in the directory: no temporaries, no joined file.
    expect((await fs.readdir(dir)).sort()).toEqual([...parts.map((p) => path.basename(p)), path.basename(index)].sort());
    // What the README tells a developer without corepack.
    await execa('sh', ['-c', 'cat crash.tbz2.* > joined.tbz2'], { cwd: dir });
    const { stdout } = await execa('tar', ['tjf', path.join(dir, 'joined.tbz2')]);
    expect(stdout.split('\n')[0]).toBe('crash/manifest.json');
    expect(stdout).toMatch(/^crash\/core\//m);
    const check = await execa('sha256sum', ['-c', path.basename(index)], { cwd: dir });
    expect(check.stdout.split('\n')).toEqual(parts.map((p) => `${path.basename(p)}: OK`));
    expect((await execa('sha256sum', [path.join(dir, 'joined.tbz2')])).stdout.slice(0, 64)).toBe(/# sha256: ([0-9a-f]{64})/.exec(await fs.readFile(index, 'utf8'))![1]);
    await fs.rm(path.join(dir, 'joined.tbz2'));
    expect(base.endsWith('crash.tbz2')).toBe(true);
  });

  it('replays from the first part, and inspect reads any part', async () => {
    const dir = path.join(env.work, 'replay');
    const { parts } = await collectSplit(dir);
    const run = await corepack(['replay', parts[0]!, '--batch', '--dir', path.join(env.work, 'replay-dir')]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/crash_here/);
    expect(run.stdout).toMatch(/SIGSEGV \(11\)/);
    const mid = await corepack(['inspect', parts[1]!]);
    expect(mid.exitCode, mid.stderr).toBe(0);
    expect(mid.stdout).toContain(`executable:  ${env.program.exe}`);
  });

  it('names a missing middle part, a missing last part, a damaged part and a missing index, extracting nothing', async () => {
    const dir = path.join(env.work, 'broken');
    const { parts, index } = await collectSplit(dir);
    const n = parts.length;
    const target = path.join(env.work, 'broken-replay');
    const attempt = async (from: string) => {
      const run = await corepack(['replay', from, '--batch', '--dir', target]);
      expect(run.exitCode).toBe(3);
      expect(await fs.readdir(target).catch(() => [])).toEqual([]);
      return expectOneLineError(run);
    };
    const hide = async (file: string, then: () => Promise<void>) => {
      await fs.rename(file, `${file}.away`);
      try {
        await then();
      } finally {
        await fs.rename(`${file}.away`, file);
      }
    };
    await hide(parts[1]!, async () => {
      expect(await attempt(parts[0]!)).toBe(`corepack: error: part 2 of ${n} is missing: crash.tbz2.002`);
    });
    await hide(parts[n - 1]!, async () => {
      const last = `crash.tbz2.${String(n).padStart(3, '0')}`;
      expect(await attempt(parts[0]!)).toBe(`corepack: error: part ${n} of ${n} is missing: ${last}`);
      const inspect = await corepack(['inspect', parts[0]!]);
      expect(inspect.exitCode).toBe(3);
      expect(expectOneLineError(inspect)).toBe(`corepack: error: part ${n} of ${n} is missing: ${last}`);
    });
    await hide(index, async () => {
      expect(await attempt(parts[1]!)).toMatch(/crash\.tbz2\.002 is a part of a split bundle, but its index crash\.tbz2-parts\.sha256 is missing/);
    });
    // Same size, one byte changed: only the checksum can tell.
    const original = await fs.readFile(parts[1]!);
    const damaged = Buffer.from(original);
    damaged[100] = damaged[100]! ^ 0xff;
    await fs.writeFile(parts[1]!, damaged);
    try {
      expect(await attempt(parts[0]!)).toBe(`corepack: error: part 2 of ${n} is damaged: the sha256 of crash.tbz2.002 is not the one in crash.tbz2-parts.sha256`);
    } finally {
      await fs.writeFile(parts[1]!, original);
    }
    // Cut short: the size tells before anything is read.
    await fs.truncate(parts[0]!, 1000);
    expect(await attempt(parts[2]!)).toBe(`corepack: error: part 1 of ${n} is damaged: crash.tbz2.001 is 1000 bytes, the index says ${PART}`);
  });

  it('refuses a bad SIZE as a usage error naming --split', async () => {
    const bad = await corepack(['collect', env.crash.core, '-o', path.join(env.work, 'c.tbz2'), '--split', '25X']);
    expect(bad.exitCode).toBe(2);
    expect(expectOneLineError(bad)).toMatch(/--split takes a size such as 25M, not "25X"/);
    const small = await corepack(['collect', env.crash.core, '-o', path.join(env.work, 'c.tbz2'), '--split', '100']);
    expect(small.exitCode).toBe(2);
    expect(expectOneLineError(small)).toMatch(/smaller than the smallest part, 1024 bytes/);
  });
});

describe('split output', () => {
  const tempFor = (final: string) => path.join(path.dirname(final), `.${path.basename(final)}.corepack-tmp-${process.pid}`);

  it('puts nothing under a final name before commit, and everything after', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-split-unit-'));
    try {
      const out = createSplitOutput(path.join(dir, 'b.tbz2'), 1024, tempFor);
      const data = Buffer.alloc(2500, 7);
      await new Promise<void>((resolve, reject) => out.writable.end(data, () => resolve()).on('error', reject));
      expect((await fs.readdir(dir)).filter((n) => !n.startsWith('.'))).toEqual([]);
      const files = await out.commit();
      expect(files.map((f) => path.basename(f))).toEqual(['b.tbz2.001', 'b.tbz2.002', 'b.tbz2.003', 'b.tbz2-parts.sha256']);
      expect((await fs.readdir(dir)).sort()).toEqual(files.map((f) => path.basename(f)).sort());
      expect(Buffer.concat(await Promise.all(files.slice(0, 3).map((f) => fs.readFile(f))))).toEqual(data);
      // A shorter set written later under the same name leaves no stale part for `cat b.tbz2.*` to pick up.
      const again = createSplitOutput(path.join(dir, 'b.tbz2'), 1024, tempFor);
      await new Promise<void>((resolve) => again.writable.end(Buffer.alloc(100, 1), () => resolve()));
      await again.commit();
      expect((await fs.readdir(dir)).sort()).toEqual(['b.tbz2-parts.sha256', 'b.tbz2.001']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('fails past 999 parts with nothing left behind', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-split-unit-'));
    try {
      const out = createSplitOutput(path.join(dir, 'b.tbz2'), 1024, tempFor);
      const err = await new Promise<unknown>((resolve) => {
        out.writable.on('error', resolve);
        out.writable.end(Buffer.alloc(1024 * 999 + 1));
      });
      expect(err).toBeInstanceOf(TooManyPartsError);
      expect((err as Error).message).toMatch(/would make more than 999 parts; no bundle was written/);
      await out.discard();
      expect(await fs.readdir(dir)).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('split index', () => {
  it('round-trips, and refuses an index that lies about its parts', () => {
    const sha = (c: string) => c.repeat(64);
    const ix = { name: 'b.tbz2', partSize: 10, size: 25, sha256: sha('a'), parts: [1, 2, 3].map((n) => ({ name: partName('b.tbz2', n), size: n < 3 ? 10 : 5, sha256: sha(String(n)) })) };
    const text = formatIndex(ix);
    expect(parseIndex(text, 'b.tbz2', '/x/b.tbz2-parts.sha256')).toEqual(ix);
    const refused = (t: string, base = 'b.tbz2') => {
      try {
        parseIndex(t, base, '/x/i');
      } catch (err) {
        expect(err).toBeInstanceOf(PartSetError);
        return (err as Error).message;
      }
      throw new Error('accepted');
    };
    expect(refused(text.replace('# parts: 3', '# parts: 4'))).toMatch(/are not 4 parts/);
    expect(refused(text.replace('b.tbz2.002', '../../etc/passwd'))).toMatch(/line 2 names "..\/..\/etc\/passwd", expected b.tbz2.002/);
    expect(refused(text, 'other.tbz2')).toMatch(/index of "b.tbz2", not of other.tbz2/);
    expect(refused(text.split('\n').slice(0, -2).join('\n'))).toMatch(/lists 2 checksums for 3 parts/);
    expect(refused(`hello\n${text}`)).toMatch(/does not start like one corepack writes/);
  });
});
