/**
 * `corepack handle` fed a core on standard input while the crashed process
 * still exists, stopped at its fault (under gdb), as the kernel holds it
 * while a pipe handler reads: this runs on any kernel, without touching
 * core_pattern. (test/handler.kernel.test.ts installs it for real.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildCrashProgram, type CrashProgram } from './helpers/crash.js';
import { makeHandlerSandbox, stopAtFault, type HandlerSandbox, type StoppedProcess } from './helpers/handler.js';
import { frames, section } from './helpers/gdbOutput.js';
import { writeInstallRecord } from '../src/capture/state.js';
import { handleCrash } from '../src/capture/handle.js';

let program: CrashProgram;
let stopped: StoppedProcess;
let cwd: string;
let coreSha: string;
const sandboxes: HandlerSandbox[] = [];

const sha = async (f: string): Promise<string> => createHash('sha256').update(await fs.readFile(f)).digest('hex');

/** A sandbox whose install record says the previous pattern was `core.%p`. */
async function sandbox(config: Record<string, unknown> = {}): Promise<HandlerSandbox> {
  const sb = await makeHandlerSandbox();
  sandboxes.push(sb);
  await sb.writeConfig(config);
  await writeInstallRecord(sb.stateDir, { previousPattern: 'core.%p', previousPipeLimit: 0, pattern: `|${sb.wrapper} handle`, pipeLimit: 1, config: sb.config, installedAt: new Date().toISOString(), corepackVersion: 'test' });
  return sb;
}

/** Runs the handler as the kernel would, the stopped process's core on stdin. */
async function handle(sb: HandlerSandbox): Promise<{ outcome: string; bundle: string | null; passedOn: string | null; message: string | null; line: string }> {
  const args = ['handle', '--json', `P=${stopped.pid}`, `p=${stopped.pid}`, `i=${stopped.pid}`, 's=11', 'c=18446744073709551615', 'd=1', `t=${Math.floor(Date.now() / 1000)}`, 'u=0', 'g=0', 'e=crashme'];
  const r = await sb.cli(args, { input: await fs.readFile(stopped.core) });
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

/** The previous pattern's file, as the kernel would have written it: the same bytes. */
async function expectPassedOn(): Promise<void> {
  const file = path.join(cwd, `core.${stopped.pid}`);
  expect(await sha(file)).toBe(coreSha);
  await fs.rm(file);
}

beforeAll(async () => {
  program = await buildCrashProgram();
  cwd = path.join(path.dirname(program.dir), 'cwd');
  await fs.mkdir(cwd);
  stopped = await stopAtFault([program.exe, 'segv-thread-lib', program.plugin], cwd);
  coreSha = await sha(stopped.core);
});

afterAll(async () => {
  await stopped?.release();
  for (const sb of sandboxes) await sb.cleanup();
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
});

describe('corepack handle, the core on stdin and the process stopped at its fault', () => {
  it('bundles the process (files through map_files) into the spool, passes the core on unchanged, and the bundle replays to the crashing function', async () => {
    const sb = await sandbox({ format: 'tar.zst' });
    const out = await handle(sb);
    // The handler's line names the outcome and why: a failure must explain itself in the test's output.
    expect(out.outcome, out.line).toBe('bundled');
    expect(out, out.line).toMatchObject({ outcome: 'bundled', passedOn: 'the file <cwd>/core.%p'.replace('%p', String(stopped.pid)) });
    expect(out.line).toMatch(new RegExp(`^pid ${stopped.pid} \\(crashme, .*crashme\\) SIGSEGV: bundled crash-crashme-${stopped.pid}-`));
    await expectPassedOn();
    const inspected = await sb.cli(['inspect', '--json', out.bundle!]);
    expect(inspected.exitCode, inspected.stderr).toBe(0);
    const m = JSON.parse(inspected.stdout);
    expect(m.capture).toMatchObject({ by: 'core_pattern', pid: stopped.pid, filesFrom: 'map_files' });
    expect(m.files.filter((f: { sources: string[] }) => f.sources.includes('map_files')).map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining([program.exe, program.lib, program.plugin]));
    const r = await sb.cli(['replay', '--batch', '--dir', path.join(sb.dir, 'r'), out.bundle!]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(frames(section(r.stdout, 'crashed thread')).slice(0, 2)).toEqual(['crash_here', 'foo_crash']);
  });

  it('--stacks-only with encryption: only ciphertext in the spool; the mini core is cut from /proc/PID/mem and replays', async () => {
    const sb = await sandbox();
    const key = path.join(sb.dir, 'key.txt');
    await execa('age-keygen', ['-o', key]);
    const recipient = /public key: (age1\w+)/.exec(await fs.readFile(key, 'utf8'))![1]!;
    await sb.writeConfig({ stacksOnly: true, encryptTo: [recipient] });
    const out = await handle(sb);
    expect(out.outcome, out.line).toBe('bundled');
    expect(out.bundle).toMatch(/\.tar\.zst\.age$/);
    await expectPassedOn();
    expect(await fs.readdir(sb.spool)).toEqual([path.basename(out.bundle!)]);
    expect((await fs.readFile(out.bundle!)).subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(await fs.readdir(sb.tmp)).toEqual([]);
    const r = await sb.cli(['replay', '--batch', '--identity', key, '--dir', path.join(sb.dir, 'r'), out.bundle!]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(frames(section(r.stdout, 'crashed thread')).slice(0, 2)).toEqual(['crash_here', 'foo_crash']);
    const inspected = await sb.cli(['inspect', '--json', '--identity', key, out.bundle!]);
    expect(inspected.exitCode, inspected.stderr).toBe(0);
    const m = JSON.parse(inspected.stdout);
    expect(m.miniCore.cutFrom).toMatchObject({ size: (await fs.stat(stopped.core)).size });
    expect(m.capture.coreFrom).toMatch(/^\/proc\/\d+\/mem/);
  });

  it('never makes it worse: a bad configuration, a missing key file, the spool at its cap, the rate limit and a deadline each pass the core on, bundle nothing and say why', async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ spool: 'relative/dir', frmat: 'x' }, 'failed', /bad configuration: .*unknown key "frmat".*"spool" must be an absolute path/],
      [{ recipientsFile: '/nonexistent/corepack-recipients.txt' }, 'failed', /nonexistent\/corepack-recipients\.txt/],
      [{ spoolMaxBytes: 0 }, 'spool-full', /at its cap of 0 \(spoolMaxBytes\)/],
      [{ rateLimit: { perExecutable: 0 } }, 'rate-limited', /more than 0 crashes of .*crashme in 60 s/],
      [{ timeoutSeconds: 0.05 }, 'failed', /took longer than 50 ms/],
    ];
    for (const [config, outcome, why] of cases) {
      const sb = await sandbox(config);
      const out = await handle(sb);
      expect(out.outcome, `${JSON.stringify(config)}: ${out.line}`).toBe(outcome);
      expect(out.bundle).toBeNull();
      expect(out.line).toMatch(why);
      expect(out.line).toMatch(/NOT bundled .*; passed on to the file <cwd>\/core\.\d+/);
      await expectPassedOn();
      expect((await fs.readdir(sb.spool).catch(() => [])).filter((n) => !n.startsWith('.'))).toEqual([]);
      // Nothing half-written: no temporary left in the spool either.
      expect(await fs.readdir(sb.spool).catch(() => [])).toEqual([]);
    }
  });

  it('a deadline that passes while the head is read: the core passed on is still byte for byte the kernel\'s', async () => {
    // The head arrives in two pieces with a pause longer than the deadline between
    // them, as on a loaded machine: the reader that gave up on the head must not
    // go on reading beside the one that passes the rest on (it did, and swapped chunks).
    const sb = await sandbox({ timeoutSeconds: 0.05 });
    const core = await fs.readFile(stopped.core);
    async function* slowHead(): AsyncGenerator<Buffer> {
      yield core.subarray(0, 32);
      await new Promise((r) => setTimeout(r, 300));
      for (let at = 32; at < core.length; at += 4096) yield core.subarray(at, Math.min(core.length, at + 4096));
    }
    const argv = [`P=${stopped.pid}`, `p=${stopped.pid}`, `i=${stopped.pid}`, 's=11', 'c=18446744073709551615', 'd=1', `t=${Math.floor(Date.now() / 1000)}`, 'u=0', 'g=0', 'e=crashme'];
    const out = await handleCrash(argv, { stateDir: sb.stateDir, input: slowHead(), log: async () => undefined });
    expect(out.outcome, out.line).toBe('failed');
    expect(out.line).toMatch(/took longer than 50 ms/);
    await expectPassedOn();
  });

  it('a full spool (a 256 KiB tmpfs): the bundle fails with nothing left behind, and the core is passed on', async (ctx) => {
    const sb = await sandbox();
    await fs.mkdir(sb.spool, { recursive: true });
    const mount = await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', sb.spool], { reject: false });
    if (mount.exitCode !== 0) return ctx.skip(`cannot mount a small tmpfs for a full spool here (${mount.stderr.trim()})`);
    try {
      const out = await handle(sb);
      expect(out.outcome, out.line).toBe('failed');
      expect(out.message, out.line).toMatch(/ENOSPC|no space/i);
      await expectPassedOn();
      expect(await fs.readdir(sb.spool)).toEqual([]);
    } finally {
      await execa('umount', [sb.spool]);
    }
  });
});
