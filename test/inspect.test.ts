/**
 * `inspect` on real kernel cores of a small threaded C program, checked
 * against independent oracles on the same core: elfutils' `eu-unstrip -n
 * --core` for the module table and gdb's `info threads` for the threads.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCore } from '../src/core/open.js';
import type { CoreSummary } from '../src/core/model.js';
import { useCrash } from './helpers/crash.js';
import { corepack } from './helpers/cli.js';

interface UnstripLine {
  start: bigint;
  size: bigint;
  buildId: string | undefined;
  buildIdAddr: bigint | undefined;
  name: string;
}

function parseUnstrip(text: string): UnstripLine[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^0x([0-9a-f]+)\+0x([0-9a-f]+) (\S+) (\S+) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`unexpected eu-unstrip line: ${line}`);
      const [id, at] = m[3]!.split('@');
      return {
        start: BigInt(`0x${m[1]}`),
        size: BigInt(`0x${m[2]}`),
        buildId: id === '-' ? undefined : id,
        buildIdAddr: at ? BigInt(at) : undefined,
        name: m[6]!,
      };
    });
}

const env = useCrash('segv-thread');
let summary: CoreSummary;

beforeAll(async () => {
  summary = await readCore(env.crash.core);
});

describe('inspect on a real kernel core (segv in a worker thread)', () => {
  it('agrees with eu-unstrip -n --core on every module: start, build ID and its address', async () => {
    const { stdout } = await execa('eu-unstrip', ['-n', '--core', env.crash.core]);
    const oracle = parseUnstrip(stdout);
    expect(oracle.length).toBeGreaterThanOrEqual(6);
    for (const line of oracle) {
      const m = summary.modules.find((x) => x.start === line.start);
      expect(m, `module at 0x${line.start.toString(16)} (${line.name})`).toBeDefined();
      expect(m!.buildId).toBe(line.buildId);
      expect(m!.buildIdAddr).toBe(line.buildIdAddr);
      // eu-unstrip prints the exact end when it finds the file on disk and the
      // page-rounded end otherwise; we always report whole pages.
      expect(m!.end - m!.start).toBe(((line.size + 4095n) / 4096n) * 4096n);
    }
  });

  it('names every object the process loaded, with the loader names gdb will look up', () => {
    const byBase = (re: RegExp) => summary.modules.find((m) => m.path !== undefined && re.test(m.path));
    const lib = byBase(/libfoo\.so\.1\.2\.3$/);
    expect(lib?.path).toBe(env.program.lib);
    expect(lib?.linkMapName).toBe(`${env.program.libDir}/libfoo.so.1`);
    expect(byBase(/plugin\.so$/)?.linkMapName).toBe(env.program.plugin);
    expect(byBase(/libz\.so/)?.linkMapName).toMatch(/libz\.so\.1$/);
    const ld = summary.modules.find((m) => m.kind === 'interpreter');
    expect(ld?.linkMapName).toMatch(/ld-linux.*\.so\.2$/);
    expect(summary.modules.find((m) => m.kind === 'executable')?.path).toBe(env.program.exe);
    expect(summary.modules.filter((m) => m.kind === 'vdso')).toHaveLength(1);
  });

  it('has the same threads as gdb, with the crashing thread first and not the main thread', async () => {
    const { stdout } = await execa('gdb', ['-batch', '-nx', '-ex', 'info threads', env.program.exe, env.crash.core]);
    const gdbTids = [...stdout.matchAll(/LWP (\d+)/g)].map((m) => Number(m[1]));
    const current = /^\*\s+\d+\s+Thread \S+ \(LWP (\d+)\)/m.exec(stdout);
    expect(summary.threads.map((t) => t.tid).sort()).toEqual([...new Set(gdbTids)].sort());
    expect(summary.threads).toHaveLength(4);
    const crashed = summary.threads.filter((t) => t.crashed);
    expect(crashed).toHaveLength(1);
    expect(crashed[0]!.tid).toBe(Number(current?.[1]));
    expect(crashed[0]!.tid).not.toBe(summary.process.pid);
  });

  it('decodes the process and signal', () => {
    expect(summary.os).toBe('linux');
    expect(summary.arch).toBe('x86_64');
    expect(summary.process.pid).toBe(env.crash.pid);
    expect(summary.process.fname).toBe('crashme');
    expect(summary.signal?.name).toBe('SIGSEGV');
    expect(summary.signal?.codeName).toBe('SEGV_MAPERR');
    expect(summary.signal?.addr).toBe(0n);
    for (const t of summary.threads) {
      expect(t.pc).toBeDefined();
      expect(t.sp).toBeDefined();
      expect(t.registers.rip).toBe(t.pc);
    }
  });

  it('prints the same data as one JSON object with --json', async () => {
    const run = await corepack(['inspect', env.crash.core, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const j = JSON.parse(run.stdout);
    expect(j.schema).toBe(1);
    expect(j.signal.name).toBe('SIGSEGV');
    expect(j.crashedThread).toBe(summary.threads.find((t) => t.crashed)!.tid);
    expect(j.threads).toHaveLength(4);
    expect(j.modules.map((m: { buildId: string | null }) => m.buildId)).toEqual(summary.modules.map((m) => m.buildId ?? null));
    const crashedThread = j.threads.find((t: { crashed: boolean }) => t.crashed);
    expect(crashedThread.pcModule).toBe('crashme');
  });

  it('prints a readable summary without --json', async () => {
    const run = await corepack(['inspect', env.crash.core]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/signal:\s+SIGSEGV \(11\), SEGV_MAPERR, fault address 0x0/);
    expect(run.stdout).toContain(`(loader: ${env.program.libDir}/libfoo.so.1)`);
    expect(run.stdout).toMatch(/threads \(4\):/);
  });

  it('a core named core.NNN (the kernel names it so for a pid from 300 to 999 with core_pattern core.%p) is a core, not a part of a split bundle', async () => {
    // The pids of a loaded machine wrap at pid_max (32768 here) to 300: inspect of such a core said
    // "core.456 is a part of a split bundle, but its index core.456-parts.sha256 is missing", exit 3.
    const dir = await fs.mkdtemp(path.join(env.work, 'pid-'));
    const core = path.join(dir, 'core.456');
    await fs.copyFile(env.crash.core, core);
    const run = await corepack(['inspect', '--json', core]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).signal.name).toBe('SIGSEGV');
    const collect = await corepack(['collect', core, '-o', path.join(dir, 'b.tbz2')]);
    expect(collect.exitCode, collect.stderr).toBe(0);
  });
});

