/**
 * `corepack handle` installed for real in the kernel's core_pattern: real
 * crashes, real pipes, the process held by core_pipe_limit. These tests
 * change core_pattern, so they run in their own vitest run after the main
 * one (vitest.kernel.config.ts, part of `npm test`) and each holds the
 * suite's core_pattern lock exclusively while the pattern is changed
 * (test/helpers/corepattern.ts), restoring it whatever happens.
 *
 * Whether this kernel runs pipe handlers at all is probed first, with a
 * two-line shell handler; where it does not, every test here skips saying
 * so, and test/handle.test.ts (the handler fed a core on stdin while the
 * crashed process is stopped at its fault) still runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildCrashProgram, rebuildLibfoo, type CrashProgram } from './helpers/crash.js';
import { crashUnlimited, NO_PIPE_HANDLERS, probePipeHandlers, sandboxPool, withHandler } from './helpers/kernelHandler.js';
import { frames, section } from './helpers/gdbOutput.js';
import { readBuildIdFromFile } from '../src/core/image.js';

let supported: boolean | undefined;
let program: CrashProgram;
const { sandbox, cleanup } = sandboxPool();

/** Crashes `cmd` (the caller holds the core_pattern lock exclusively): its pid and the signal it died of. */
async function crash(cmd: string[], cwd: string, env: Record<string, string> = {}): Promise<{ pid: number; signal: string | undefined }> {
  const child = crashUnlimited(cmd, cwd, env);
  const r = await child;
  return { pid: child.pid!, signal: r.signal };
}

const bundlesIn = async (dir: string): Promise<string[]> => (await fs.readdir(dir).catch(() => [] as string[])).sort();

beforeAll(async () => {
  supported = await probePipeHandlers();
  if (supported) program = await buildCrashProgram();
});

afterAll(async () => {
  await cleanup();
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
});

describe('corepack handle in core_pattern (real kernel)', () => {
  it('installs, catches a real crash into the spool where `list` finds it, replays it to the crashing function, passes the core on, and uninstalls exactly', async (ctx) => {
    if (!supported) return ctx.skip(NO_PIPE_HANDLERS);
    const sb = await sandbox({ format: 'tar.zst' });
    const cwd = path.join(sb.dir, 'cwd');
    await fs.mkdir(cwd);
    const crashed = await withHandler(sb, () => crash([program.exe, 'segv-thread-lib', program.plugin], cwd));
    expect(crashed.signal).toBe('SIGSEGV');

    // Filtered by pid: a program of anyone else's crashing in the window is handled too.
    const rec = (await sb.captures()).find((c) => c.pid === crashed.pid);
    expect(rec, JSON.stringify(rec)).toMatchObject({ pid: crashed.pid, outcome: 'bundled', passedOn: 'the file <cwd>/core', executable: program.exe });
    // The previous pattern ("core") still got its file, as the kernel would have written it.
    const passed = await sb.cli(['inspect', '--json', path.join(cwd, 'core')]);
    // No loops: the kernel starts its handler with RLIMIT_CORE 1, its mark for "never pipe this one's core".
    const limits = (await fs.readFile(path.join(sb.dir, 'rlimit-core'), 'utf8')).trim().split('\n');
    expect(limits.length).toBeGreaterThan(0);
    for (const l of limits) expect(l).toMatch(/^Max core file size\s+1\s+1\s+bytes/);
    expect(JSON.parse(passed.stdout).process.pid).toBe(crashed.pid);

    const list = JSON.parse((await sb.cli(['list', '--json', sb.spool])).stdout);
    const mine = list.bundles.filter((b: { pid: number }) => b.pid === crashed.pid);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ pid: crashed.pid, signal: 'SIGSEGV', executable: program.exe, encrypted: false });
    const bundle = mine[0].path as string;
    expect((await fs.stat(sb.spool)).mode & 0o777).toBe(0o700);

    const inspect = JSON.parse((await sb.cli(['inspect', '--json', bundle])).stdout);
    expect(inspect.capture).toMatchObject({ by: 'core_pattern', pid: crashed.pid, filesFrom: 'map_files', root: '/', coreFrom: "the kernel's core_pattern pipe" });
    for (const f of inspect.files.filter((x: { role: string }) => x.role !== 'libthread_db')) {
      expect(f.status, f.path).toBe('ok');
      expect(f.sources, f.path).toContain('map_files');
    }
    const replay = await sb.cli(['replay', '--batch', '--dir', path.join(sb.dir, 'r'), bundle]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(frames(section(replay.stdout, 'crashed thread')).slice(0, 2)).toEqual(['crash_here', 'foo_crash']);
  });

  it('after an upgrade: the bundle holds the V1 library the process had mapped and the deleted plugin; collect of the same core afterwards says replaced and missing', async (ctx) => {
    if (!supported) return ctx.skip(NO_PIPE_HANDLERS);
    const app = await buildCrashProgram({ dir: path.join(path.dirname(program.dir), 'upgrade app') });
    const v1 = await readBuildIdFromFile(app.lib);
    const sb = await sandbox({ format: 'tar.zst' });
    const cwd = path.join(sb.dir, 'cwd');
    await fs.mkdir(cwd);
    await withHandler(sb, async () => {
      const child = execa('bash', ['-c', 'ulimit -c unlimited; exec "$@"', 'bash', app.exe, 'wait', app.plugin], { cwd, reject: false, stdin: 'ignore' });
      await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()));
      // The package upgrade: libfoo replaced by rename (V2), the plugin removed; then the server crashes.
      await rebuildLibfoo(app.libDir, 2);
      await fs.rm(app.plugin);
      process.kill(child.pid!, 'SIGSEGV');
      expect((await child).signal).toBe('SIGSEGV');
    });
    const v2 = await readBuildIdFromFile(app.lib);
    expect(v2).not.toBe(v1);
    const bundle = (await bundlesIn(sb.spool)).find((n) => n.startsWith('crash-crashme-'));
    const m = JSON.parse((await sb.cli(['inspect', '--json', path.join(sb.spool, bundle!)])).stdout);
    const lib = m.files.find((f: { path: string }) => f.path === app.lib);
    expect(lib).toMatchObject({ status: 'ok', buildIdOnDisk: v1, buildIdInCore: v1 });
    expect(lib.bundlePath).not.toBeNull();
    const plugin = m.files.find((f: { path: string }) => f.path === app.plugin);
    expect(plugin).toMatchObject({ status: 'ok' });
    expect(plugin.bundlePath).not.toBeNull();
    // The bundle is exact: replay checks every build ID against the core.
    const replay = JSON.parse((await sb.cli(['replay', '--json', '--dir', path.join(sb.dir, 'r'), path.join(sb.spool, bundle!)])).stdout);
    expect(replay.buildIds.ok).toBe(true);

    // After the fact, collect can only say what happened.
    const late = await sb.cli(['collect', '--json', path.join(cwd, 'core'), '-o', path.join(sb.dir, 'late.tar.zst')]);
    expect(late.exitCode).toBe(4);
    const files = JSON.parse(late.stdout).files as { path: string; status: string }[];
    expect(files.find((f) => f.path === app.lib)?.status).toBe('build-id-mismatch');
    expect(['missing', 'deleted-at-crash']).toContain(files.find((f) => f.path === app.plugin)?.status);
    await fs.rm(path.dirname(app.dir), { recursive: true, force: true }).catch(() => undefined);
  });
});
