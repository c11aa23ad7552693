/**
 * Faults while collecting: signals, SIGKILL, a file size limit, files that
 * change or vanish while they are read. In every case the core is untouched
 * and no partial bundle exists under the final name.
 */
import { createHash } from 'node:crypto';
import { appendFile, copyFile, mkdtemp, readFile, readdir, stat, truncate, unlink, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCrash } from './helpers/crash.js';
import { BIN } from './helpers/cli.js';
import { collect } from '../src/collect/collect.js';
import { normalizeCollectOptions } from '../src/cli/options.js';

const env = useCrash('segv-main', 'corepack-faults-');
let work: string;
let big: string;
let coreHash: string;

const sha = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex');

beforeAll(async () => {
  work = env.work;
  // The real core padded with a 2 GiB hole: long enough to interrupt.
  big = join(work, 'big.core');
  await copyFile(env.crash.core, big);
  await truncate(big, 2 * 1024 ** 3);
  coreHash = await sha(env.crash.core);
});

afterAll(async () => {
  expect(await sha(env.crash.core)).toBe(coreHash); // never modified, whatever happened
});

const temporaries = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.includes('.corepack-tmp-'));

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('collect under faults', () => {
  it('SIGTERM mid-way: exit 143, no bundle, no temporary file', async () => {
    const dir = await mkdtemp(join(work, 'term-'));
    const out = join(dir, 'b.tbz2');
    const child = execa(process.execPath, [BIN, 'collect', big, '-e', env.program.exe, '-o', out], { reject: false });
    await waitFor(async () => (await temporaries(dir)).length > 0); // in the writing phase
    child.kill('SIGTERM');
    const r = await child;
    // execa sends SIGKILL 5 s after the SIGTERM: a process still running then shows as killed by it.
    expect(r.exitCode, `signal ${r.signal}: ${r.stderr}`).toBe(143);
    expect(String(r.stderr)).toMatch(/terminated by SIGTERM; no partial output was left behind/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('SIGKILL mid-write: nothing under the final name; the next run removes that leftover and only that', async () => {
    const dir = await mkdtemp(join(work, 'kill-'));
    const out = join(dir, 'b.tbz2');
    const child = execa(process.execPath, [BIN, 'collect', big, '-e', env.program.exe, '-o', out], { reject: false });
    await waitFor(async () => (await temporaries(dir)).length > 0);
    child.kill('SIGKILL');
    await child;
    const [left] = await temporaries(dir);
    expect(left).toMatch(/^\.b\.tbz2\.corepack-tmp-\d+$/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
    // Not ours to remove: a live process's temporary file, and an unrelated file.
    const live = `.other.tbz2.corepack-tmp-${process.pid}`;
    await writeFile(join(dir, live), 'busy');
    await writeFile(join(dir, 'notes.txt'), 'keep me');
    const again = await execa(process.execPath, [BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', join(dir, 'c.tar.gz')], { reject: false });
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect((await readdir(dir)).sort()).toEqual([live, 'c.tar.gz', 'notes.txt'].sort());
  });

  it('a file size limit (ulimit -f): a clear error, exit 7, no bundle and no temporary file', async () => {
    const dir = await mkdtemp(join(work, 'fsize-'));
    const out = join(dir, 'b.tbz2');
    const r = await execa('bash', ['-c', 'ulimit -f 64; exec "$@"', 'bash', process.execPath, BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', out], { reject: false });
    expect(r.exitCode).toBe(7);
    expect(r.stderr).toMatch(/^corepack: error: cannot write .*: file size limit reached; no bundle was written$/m);
    // The hint is about the limit, not about free space (issue 18, defect 12).
    expect(r.stderr).toMatch(/^corepack: the file size limit \(ulimit -f\) stops it/m);
    expect(r.stderr).not.toContain('free some space');
    expect(await readdir(dir)).toEqual([]);
  });

  for (const ext of ['.tbz2', '.tar.zst', '.tar.gz']) {
    it(`a full file system (a 256 KiB tmpfs), the compressor writing the bundle itself (${ext}): exit 7, no space left, nothing left`, async (ctx) => {
      const small = await mkdtemp(join(work, 'full-'));
      const m = await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small], { reject: false });
      if (m.exitCode !== 0) {
        console.warn(`SKIPPED: cannot mount a tmpfs (${String(m.stderr).trim()})`);
        ctx.skip();
      }
      try {
        const r = await execa(process.execPath, [BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', join(small, `b${ext}`)], { reject: false });
        expect(r.exitCode, r.stderr).toBe(7);
        expect(r.stderr).toMatch(/^corepack: error: cannot write .*b\.t[a-z0-9.]+: no space left on the device; no bundle was written$/m);
        expect(await readdir(small)).toEqual([]);
      } finally {
        await execa('umount', [small], { reject: false });
        await rm(small, { recursive: true, force: true });
      }
    });
  }

  it('a library that changes while it is bundled: collected again, the manifest says so and matches the new file', async () => {
    const dir = await mkdtemp(join(work, 'change-'));
    const plugin = join(dir, 'plugin-copy.so');
    await copyFile(env.program.plugin, plugin);
    let changed = false;
    const result = await collect(normalizeCollectOptions(env.crash.core, { exe: env.program.exe, output: join(dir, 'b.tar.gz') }).collect, {
      onProgress: (phase) => {
        if (phase === 'write' && !changed) {
          changed = true;
          // The real plugin grows mid-write, like a package manager rewriting it.
          void appendFile(env.program.plugin, Buffer.alloc(4096, 1));
        }
      },
    });
    try {
      expect(changed).toBe(true);
      expect(result.manifest.warnings.join('\n')).toMatch(/plugin\.so (grew|changed) while it was being bundled[^\n]*; collected again \(attempt 2\)/);
      const entry = result.manifest.files.find((f) => f.path === env.program.plugin)!;
      // Hashed as it was written: SHA256SUMS's line is the new file's.
      expect(result.checksums.get(entry.bundlePath!)).toBe(await sha(env.program.plugin));
      expect(entry.size).toBe((await stat(env.program.plugin)).size);
    } finally {
      await copyFile(plugin, env.program.plugin);
    }
  });

  it('a library that disappears while it is bundled: collected again and marked missing', async () => {
    const dir = await mkdtemp(join(work, 'vanish-'));
    const saved = join(dir, 'plugin-copy.so');
    await copyFile(env.program.plugin, saved);
    let removed = false;
    try {
      const result = await collect(normalizeCollectOptions(env.crash.core, { exe: env.program.exe, output: join(dir, 'b.tar.gz') }).collect, {
        onProgress: (phase) => {
          if (phase === 'write' && !removed) {
            removed = true;
            void unlink(env.program.plugin);
          }
        },
      });
      expect(result.exact).toBe(false);
      expect(result.manifest.files.find((f) => f.path === env.program.plugin)).toMatchObject({ status: 'missing', bundlePath: null });
      expect(result.manifest.warnings.join('\n')).toMatch(/plugin\.so disappeared while it was being bundled/);
    } finally {
      await copyFile(saved, env.program.plugin);
    }
  });
});
