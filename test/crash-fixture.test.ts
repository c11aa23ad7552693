// Proves the fixture factory in test/helpers/crash.ts: the cores it makes are
// real ELF cores, gdb sees the intended stacks in them, and they map every
// library the end-to-end tests rely on.
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCrashProgram,
  makeCore,
  makeCrash,
  parseCorePattern,
  rebuildLibfoo,
  type CrashFixture,
  type CrashMode,
  type CrashProgram,
} from './helpers/crash.js';
import { frames } from './helpers/gdbOutput.js';
import { crashLockPrefix } from './helpers/corepattern.js';

const MODES: CrashMode[] = ['segv-main', 'segv-thread', 'abort-plugin'];

// On a machine whose core_pattern pipes cores away, the factory rightly falls
// back to gcore; everywhere else a fallback would hide a bug.
const corePattern = await fs.readFile('/proc/sys/kernel/core_pattern', 'utf8');
const expectedMethod = corePattern.startsWith('|') ? 'gcore' : 'kernel';

const crashes = new Map<CrashMode, CrashFixture>();
let gcoreCrash: CrashFixture;
let shared: CrashProgram; // built once, reused by the gcore crash and the error tests

beforeAll(async () => {
  shared = await buildCrashProgram();
  // Each mode builds its own program (the normal path); the gcore crash
  // reuses `shared`. All in parallel to keep the file fast.
  const [gcore, ...byMode] = await Promise.all([
    makeCrash('segv-main', { program: shared, forceGcore: true }),
    ...MODES.map((mode) => makeCrash(mode)),
  ]);
  gcoreCrash = gcore!;
  for (const f of byMode) crashes.set(f.mode, f);
});

afterAll(async () => {
  await Promise.all([...crashes.values(), gcoreCrash].filter(Boolean).map((f) => f.cleanup()));
  // buildCrashProgram() without `dir` puts the program under a fresh mkdtemp dir.
  if (shared) await fs.rm(path.dirname(shared.dir), { recursive: true, force: true });
});

function crash(mode: CrashMode): CrashFixture {
  const f = crashes.get(mode);
  if (!f) throw new Error(`no fixture for ${mode}`);
  return f;
}

/**
 * Run gdb commands on the fixture's exe and core; returns each command's
 * output separately (gdb's own banner and initial frame are left out).
 */
async function gdb(f: CrashFixture, ...commands: string[]): Promise<string[]> {
  const marker = '@@corepack-test@@';
  const args = ['-batch', '-nx', '-iex', 'set debuginfod enabled off'];
  for (const c of commands) args.push('-ex', `echo ${marker}\\n`, '-ex', c);
  const { stdout } = await execa('gdb', [...args, f.exe, f.core]);
  return stdout.split(`${marker}\n`).slice(1);
}


/** `thread apply all bt` output split into { lwp, frames } per thread. */
function threads(allBt: string): { lwp: number; frames: string[] }[] {
  return allBt
    .split(/^(?=Thread \d+ )/m)
    .filter((block) => block.startsWith('Thread '))
    .map((block) => ({ lwp: Number(/\(LWP (\d+)\)/.exec(block)?.[1]), frames: frames(block) }));
}

async function buildId(file: string): Promise<string> {
  const { stdout } = await execa('eu-readelf', ['-n', file]);
  const id = /Build ID: ([0-9a-f]+)/.exec(stdout)?.[1];
  if (!id) throw new Error(`no build ID in ${file}`);
  return id;
}

async function symbolAddress(file: string, symbol: string): Promise<bigint> {
  const { stdout } = await execa('eu-readelf', ['-s', file]);
  const m = new RegExp(`^\\s*\\d+: ([0-9a-f]+)\\s+\\d+\\s+FUNC\\s.*\\s${symbol}$`, 'm').exec(stdout);
  if (!m) throw new Error(`no ${symbol} in ${file}`);
  return BigInt(`0x${m[1]}`);
}

async function readHeader(file: string): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    return (await handle.read(Buffer.alloc(18), 0, 18, 0)).buffer;
  } finally {
    await handle.close();
  }
}

describe('buildCrashProgram', () => {
  it('installs into a directory named with a space and a double quote, found via RUNPATH', async () => {
    const f = crash('segv-main');
    expect(path.basename(f.dir)).toMatch(/ .*"|".* /);
    expect(path.isAbsolute(f.exe) && path.isAbsolute(f.core)).toBe(true);
    expect(await fs.realpath(path.join(f.libDir, 'libfoo.so'))).toBe(f.lib);
    expect(path.basename(f.lib)).toBe('libfoo.so.1.2.3');
    const { stdout } = await execa('eu-readelf', ['-d', f.exe]);
    expect(stdout).toContain(`[${f.libDir}]`);
    expect(stdout).toContain('[libfoo.so.1]');
  });

  it('rebuildLibfoo changes the build ID and the code layout in place', async () => {
    const dir = path.join(path.dirname(shared.dir), 'rebuilt');
    const p = await buildCrashProgram({ dir, variant: 1 });
    const [id1, addr1] = [await buildId(p.lib), await symbolAddress(p.lib, 'foo_crash')];
    await rebuildLibfoo(p.libDir, 2);
    expect(await buildId(p.lib)).not.toBe(id1);
    expect(await symbolAddress(p.lib, 'foo_crash')).not.toBe(addr1);
    expect(await fs.realpath(path.join(p.libDir, 'libfoo.so.1'))).toBe(p.lib);
    expect((await fs.readdir(p.libDir)).sort()).toEqual(['libfoo.so', 'libfoo.so.1', 'libfoo.so.1.2.3', 'plugin.so']);
  });
});

describe.each(MODES)('makeCrash(%s)', (mode) => {
  it(`writes an ELF core (method ${expectedMethod})`, async () => {
    const f = crash(mode);
    expect(f.method).toBe(expectedMethod);
    expect(f.mode).toBe(mode);
    expect(f.pid).toBeGreaterThan(0);
    const header = await readHeader(f.core);
    expect(header.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    expect(header.readUInt16LE(16)).toBe(4); // ET_CORE
  });

  it('maps libfoo, the plugin, zlib and the dynamic linker', async () => {
    const f = crash(mode);
    const { stdout } = await execa('eu-unstrip', ['-n', '--core', f.core]);
    // Lines are "START+SIZE BUILDID@ADDR FILE DEBUGFILE MODULE"; paths may
    // hold spaces, but the build ID and module name are single tokens.
    const modules = new Map(
      stdout.split('\n').filter(Boolean).map((line) => {
        const tokens = line.split(' ');
        return [tokens.at(-1)!, tokens[1]!.split('@')[0]!] as const;
      }),
    );
    // The link map names libfoo by its soname; the build ID proves which file.
    expect(modules.get('libfoo.so.1')).toBe(await buildId(f.lib));
    expect(modules.get('plugin.so')).toBe(await buildId(f.plugin));
    expect(modules.has('libz.so.1')).toBe(true);
    expect([...modules.keys()].some((m) => m.startsWith('ld-linux'))).toBe(true);
    // The kernel's NT_FILE note has the real file behind the symlinks.
    const notes = (await execa('eu-readelf', ['-n', f.core])).stdout;
    expect(notes).toContain(f.lib);
    expect(notes).toContain(f.plugin);
  });

  it('shows the intended stacks in gdb', async () => {
    const f = crash(mode);
    const [bt, allBt, thread] = await gdb(f, 'bt', 'thread apply all bt', 'thread');
    const crashed = frames(bt!);
    const all = threads(allBt!);
    expect(all).toHaveLength(4);
    // Workers that did not crash are parked in worker_wait.
    const parked = all.filter((t) => t.frames.includes('worker_wait') && !t.frames.includes('thread_crash'));
    expect(parked).toHaveLength(mode === 'segv-thread' ? 2 : 3);

    if (mode === 'segv-main') {
      expect(crashed.slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
    } else if (mode === 'segv-thread') {
      expect(crashed.slice(0, 2)).toEqual(['thread_crash', 'worker_wait']);
      const current = Number(/\(LWP (\d+)\)/.exec(thread!)?.[1]);
      expect(current).not.toBe(f.pid); // not the main thread
      const main = all.find((t) => t.lwp === f.pid);
      expect(main?.frames).toContain('main');
      expect(main?.frames.some((fn) => /pthread.*join/.test(fn))).toBe(true);
    } else {
      // glibc's debug info names it __GI_abort.
      const i = crashed.findIndex((fn) => /(^|_)abort$/.test(fn));
      expect(i).toBeGreaterThanOrEqual(0);
      expect(crashed.slice(i + 1, i + 3)).toEqual(['plugin_abort', 'main']);
    }
  });
});

describe('makeCore', () => {
  it('forceGcore takes the core with gdb, and gdb can read it', async () => {
    expect(gcoreCrash.method).toBe('gcore');
    const header = await readHeader(gcoreCrash.core);
    expect(header.readUInt16LE(16)).toBe(4);
    const [bt] = await gdb(gcoreCrash, 'bt');
    expect(frames(bt!).slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
  });

  it('gives each crash in a shared cwd its own core, despite a stale `core` there', async () => {
    const cwd = path.join(path.dirname(shared.dir), 'shared cwd');
    await fs.mkdir(cwd, { recursive: true });
    await fs.writeFile(path.join(cwd, 'core'), 'stale');
    const cmd = [shared.exe, 'segv-main', shared.plugin];
    const first = await makeCore(cmd, { cwd, signal: 'SIGSEGV' });
    const second = await makeCore(cmd, { cwd, signal: 'SIGSEGV' });
    expect([first.method, second.method]).toEqual([expectedMethod, expectedMethod]);
    expect(first.core).toBe(path.join(cwd, `core.${first.pid}`));
    expect(second.core).toBe(path.join(cwd, `core.${second.pid}`));
    expect(first.core).not.toBe(second.core);
    expect((await readHeader(first.core)).readUInt16LE(16)).toBe(4);
  });

  it('falls back to gcore when the kernel writes no core file', async () => {
    const cwd = path.join(path.dirname(shared.dir), 'no kernel core');
    await fs.mkdir(cwd, { recursive: true });
    // The inner shell lowers RLIMIT_CORE again after makeCore raised it.
    const cmd = ['bash', '-c', `${crashLockPrefix()}ulimit -c 0; exec "$@"`, 'bash', shared.exe, 'abort-plugin', shared.plugin];
    const result = await makeCore(cmd, { cwd, signal: 'SIGABRT' });
    expect(result.method).toBe('gcore');
    expect(result.core).toBe(path.join(cwd, `core.${result.pid}`));
    expect((await readHeader(result.core)).readUInt16LE(16)).toBe(4);
    expect(await fs.readdir(cwd)).toEqual([path.basename(result.core)]);
  });

  it('rejects a program that does not die of the expected signal, with its stderr', async () => {
    const cwd = path.join(path.dirname(shared.dir), 'errors');
    await fs.mkdir(cwd, { recursive: true });
    await expect(makeCore(['/bin/true'], { cwd })).rejects.toThrow(/exited with code 0/);
    await expect(makeCore([shared.exe, 'segv-main', shared.plugin], { cwd, signal: 'SIGABRT' })).rejects.toThrow(
      /die of SIGABRT, but it died of SIGSEGV[\s\S]*crashme: libfoo variant 1/,
    );
    await expect(makeCore([shared.exe, 'nonsense'], { cwd, forceGcore: true })).rejects.toThrow(/got no signal[\s\S]*usage: crashme/);
  });
});

describe('parseCorePattern', () => {
  const cwd = '/run/here';
  const matches = (pattern: string, usesPid: boolean, name: string) => {
    const p = parseCorePattern(pattern, usesPid, cwd, 1234);
    return p !== undefined && p.name.test(name);
  };

  it('follows core(5)', () => {
    expect(parseCorePattern('core', false, cwd, 1)?.dir).toBe(cwd);
    expect(matches('core', false, 'core')).toBe(true);
    expect(matches('core', true, 'core.1234')).toBe(true);
    expect(matches('core', true, 'core')).toBe(false);
    expect(matches('core.%p', true, 'core.1234')).toBe(true); // %p present: no second .PID
    expect(matches('core.%p', false, 'core.4321')).toBe(false);
    expect(matches('%e.%p.%t', false, 'worker-2.1234.1700000000')).toBe(true);
    expect(matches('core%%p', false, 'core%p')).toBe(true);
    expect(parseCorePattern('/var/crash/core.%e.%p', false, cwd, 1)?.dir).toBe('/var/crash');
    expect(parseCorePattern('|/usr/lib/systemd/systemd-coredump %P %u', false, cwd, 1)).toBeUndefined();
    expect(parseCorePattern('/var/crash/%e/core', false, cwd, 1)).toBeUndefined();
  });
});
