/**
 * `corepack doctor` on this machine, with nothing on PATH, in a read-only
 * file system (bubblewrap). --probe, which sets core_pattern for a moment,
 * is in doctor-probe.kernel.test.ts.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, type CliRun } from './helpers/cli.js';
import { readCoreSettings, withCorePatternRead } from './helpers/corepattern.js';
import { which } from '../src/util/which.js';

interface Check { area: string; name: string; status: string; text: string; install?: { debian: string; rhel: string }; data?: Record<string, unknown> }
interface Doctor { version: string; canCollect: boolean; checks: Check[] }

async function doctor(args: string[], opts: { env?: Record<string, string>; shell?: string; argv0?: string[] } = {}): Promise<CliRun & { json?: Doctor }> {
  const argv = [...(opts.argv0 ?? []), process.execPath, BIN, 'doctor', ...args];
  const r = opts.shell
    ? await execa('bash', ['-c', `${opts.shell}; exec "$@"`, 'bash', ...argv], { reject: false, env: opts.env, extendEnv: !opts.env, stdin: 'ignore' })
    : await execa(argv[0]!, argv.slice(1), { reject: false, env: opts.env, extendEnv: !opts.env, stdin: 'ignore' });
  const run = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  return { ...run, ...(args.includes('--json') && run.exitCode !== 2 ? { json: JSON.parse(run.stdout) as Doctor } : {}) };
}

const check = (d: Doctor, name: string) => {
  const c = d.checks.find((x) => x.name === name);
  if (!c) throw new Error(`doctor has no ${name} line: ${d.checks.map((x) => x.name).join(', ')}`);
  return c;
};

describe('doctor on this machine', () => {
  it('can collect (exit 0); every compressor, gdb and the core_pattern as they really are', async () => {
    // core_pattern is global: read under the shared lock, so no other test's handler is installed between doctor's read and ours.
    const { r, pattern } = await withCorePatternRead(async () => ({ r: await doctor(['--json'], { shell: 'ulimit -c unlimited' }), pattern: readCoreSettings().pattern }));
    expect(r.exitCode, r.stderr).toBe(0);
    const d = r.json!;
    expect(d.canCollect).toBe(true);
    expect(d.version).toMatch(/^corepack-crash \d+\.\d+\.\d+ \(commit [0-9a-f]{40}/);
    for (const [c, programs] of [['bzip2', ['lbzip2', 'pbzip2', 'bzip2']], ['zstd', ['zstd']], ['gzip', ['pigz', 'gzip']], ['xz', ['xz']], ['lz4', ['lz4']]] as const) {
      const found: string[] = [];
      for (const p of programs) if (await which(p)) found.push(p);
      const line = check(d, `compressor ${c}`);
      expect((line.data!.programs as Array<{ program: string }>).map((p) => p.program)).toEqual(found);
      if (found.length) expect(line.text).toContain(`${c}: ${found.join(', ')}`);
    }
    expect(check(d, 'core_pattern').text).toContain(`core_pattern: ${pattern} — `);
    expect(check(d, 'ulimit -c')).toMatchObject({ status: 'ok', text: 'ulimit -c: unlimited' });
    expect(check(d, 'gdb')).toMatchObject({ status: 'ok', data: { path: await which('gdb'), python: true } });
    expect(check(d, 'free space bundles').data!.freeBytes).toBeGreaterThan(0);
    expect(check(d, 'pipe handlers').data!.probed).toBe(false);
    // The text form says the same, one line each.
    const text = await doctor([]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout.split('\n')[1]).toBe('This machine can collect.');
    expect(text.stdout).toMatch(/^ {2}ok {7}gdb: GNU gdb/m);
  });

  it('ulimit -c 0 is named, with what to do', async () => {
    const d = (await doctor(['--json'], { shell: 'ulimit -c 0' })).json!;
    const u = check(d, 'ulimit -c');
    expect(u.data!.soft).toBe('0');
    if (check(d, 'core_pattern').data!.pipe) expect(u.status).toBe('info');
    else expect(u).toMatchObject({ status: 'warn', text: expect.stringContaining('ulimit -c unlimited') });
  });

  it('with nothing on PATH: each missing program named with its Debian and RHEL package; gzip built in, so it still can collect', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-doctor-path-'));
    try {
      const r = await doctor(['--json'], { env: { PATH: empty, HOME: empty } });
      expect(r.exitCode, r.stderr).toBe(0);
      const d = r.json!;
      expect(check(d, 'compressor bzip2')).toMatchObject({ status: 'missing', install: { debian: 'lbzip2', rhel: 'lbzip2 (EPEL)' } });
      expect(check(d, 'compressor xz')).toMatchObject({ status: 'missing', install: { debian: 'xz-utils', rhel: 'xz' } });
      expect(check(d, 'compressor gzip')).toMatchObject({ status: 'warn', text: expect.stringContaining("Node's zlib built in is used") });
      expect(check(d, 'gdb')).toMatchObject({ status: 'missing', install: { debian: 'gdb', rhel: 'gdb' } });
      expect(check(d, 'gdb-multiarch')).toMatchObject({ status: 'warn', install: { debian: 'gdb-multiarch' } });
      expect(check(d, 'bwrap')).toMatchObject({ install: { debian: 'bubblewrap', rhel: 'bubblewrap' } });
      const text = (await doctor([], { env: { PATH: empty, HOME: empty } })).stdout;
      expect(text).toMatch(/^ {2}missing {2}gdb: not installed — replay and report\n {13}install: Debian\/Ubuntu gdb; RHEL\/Fedora gdb$/m);
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });

  it('where nothing can be written (a read-only file system, bubblewrap): cannot collect, exit 6', async (ctx) => {
    const bwrap = await which('bwrap');
    if (!bwrap) return ctx.skip('bubblewrap (Debian bubblewrap) is not installed');
    const ro = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--chdir', os.tmpdir(), '--'];
    const probe = await execa(bwrap, [...ro.slice(0, -1), '--', 'true'], { reject: false });
    if (probe.exitCode !== 0) return ctx.skip(`bwrap cannot make a sandbox here: ${probe.stderr.trim()}`);
    const r = await doctor(['--json'], { argv0: [bwrap, ...ro] });
    expect(r.exitCode, r.stderr).toBe(6);
    expect(r.json!.canCollect).toBe(false);
    expect(check(r.json!, 'free space bundles')).toMatchObject({ status: 'missing', data: { writable: false } });
  });
});
