/**
 * `replay` end to end: real kernel cores of test/fixtures/c/crashme, bundled
 * by the real `corepack collect`, replayed with the real gdb after the
 * customer's install directory is gone and a different build sits at the
 * same path. gdb without the bundle shows wrong function names there (the
 * test proves that first); replay must show the right ones.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/bundle/manifest.js';
import { buildCrashProgram, makeCrash, rebuildLibfoo, type CrashFixture, type CrashMode, type CrashProgram } from './helpers/crash.js';
import { corepack, expectOneLineError, type CliRun } from './helpers/cli.js';
import { compress, entriesFromDir, sha256, tar } from './helpers/tarWriter.js';
import { frames, section } from './helpers/gdbOutput.js';

const MODES: CrashMode[] = ['segv-main', 'segv-thread', 'abort-plugin'];
// One bundle per format, so detection is exercised on real collect output.
const EXT: Partial<Record<CrashMode, string>> = { 'segv-main': '.tbz2', 'segv-thread': '.tar.zst', 'abort-plugin': '.tar.gz' };

let program: CrashProgram;
let work: string; // bundles, and replay dirs whose names hold a space, quotes and $(...)
const crashes = new Map<CrashMode, CrashFixture>();
const bundles = new Map<CrashMode, string>();
const batch = new Map<CrashMode, { run: CliRun; dir: string }>();
let oldLibBuildId: string;

function replayDir(name: string): string {
  return path.join(work, `replay "${name}" $(id) 'q'`);
}

async function buildId(file: string): Promise<string> {
  const { stdout } = await execa('eu-readelf', ['-n', file]);
  return /Build ID: ([0-9a-f]+)/.exec(stdout)![1]!;
}

beforeAll(async () => {
  program = await buildCrashProgram();
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-replay-')));
  oldLibBuildId = await buildId(program.lib);
  const fixtures = await Promise.all(MODES.map((mode) => makeCrash(mode, { program })));
  for (const f of fixtures) crashes.set(f.mode, f);
  await Promise.all(
    fixtures.map(async (f) => {
      const out = path.join(work, `crash-${f.mode}${EXT[f.mode]}`);
      const run = await corepack(['collect', f.core, '-o', out, ...(f.mode === 'segv-thread' ? ['--with-debug'] : [])]);
      expect(run.exitCode, run.stderr).toBe(0);
      bundles.set(f.mode, out);
    }),
  );
  // The customer's install is gone; a different build now sits at the same path.
  await fs.rm(program.dir, { recursive: true });
  await buildCrashProgram({ dir: program.dir, variant: 2 });
  await rebuildLibfoo(program.libDir, 3);
  await Promise.all(
    MODES.map(async (mode) => {
      const dir = replayDir(mode);
      batch.set(mode, { run: await corepack(['replay', bundles.get(mode)!, '--batch', '--dir', dir]), dir });
    }),
  );
});

afterAll(async () => {
  await Promise.all([...crashes.values()].map((f) => f.cleanup()));
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});



function threads(allBt: string): { lwp: number; frames: string[] }[] {
  return allBt
    .split(/^(?=Thread \d+ )/m)
    .filter((b) => b.startsWith('Thread '))
    .map((b) => ({ lwp: Number(/\(LWP (\d+)\)/.exec(b)?.[1]), frames: frames(b) }));
}

function ok(mode: CrashMode): { out: string; dir: string } {
  const b = batch.get(mode)!;
  expect(b.run.exitCode, `${b.run.stderr}\n---stdout---\n${b.run.stdout}`).toBe(0);
  return { out: b.run.stdout, dir: b.dir };
}

describe('replay --batch on a machine where the customer\'s files are gone or different', () => {
  it('plain gdb on the same core and the rebuilt files shows the wrong function names', async () => {
    const f = crashes.get('segv-main')!;
    const { stdout } = await execa('gdb', ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', 'bt', program.exe, f.core], { reject: false });
    const names = frames(stdout);
    expect(names.slice(0, 3)).not.toEqual(['crash_here', 'foo_crash', 'main']);
    expect(names.join(' ')).toMatch(/foo_padding_v3/); // symbols of the rebuilt libfoo at the crash address
    expect(await buildId(program.lib)).not.toBe(oldLibBuildId);
  });

  it('segv-main: the crashing thread shows crash_here, foo_crash, main', () => {
    const { out } = ok('segv-main');
    expect(frames(section(out, 'crashed thread')).slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
    expect(section(out, 'signal')).toMatch(/^SIGSEGV \(11\), SEGV_MAPERR, fault address 0x0 in thread \d+/);
  });

  it('prints every thread\'s stack (4 threads)', () => {
    const { out } = ok('segv-main');
    const all = threads(section(out, 'threads'));
    expect(all).toHaveLength(4);
    expect(all.filter((t) => t.frames.includes('worker_wait'))).toHaveLength(3);
    const main = all.find((t) => t.lwp === crashes.get('segv-main')!.pid)!;
    expect(main.frames.slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
  });

  it('resolves every shared library inside the bundle\'s sysroot, all with symbols', () => {
    const { out, dir } = ok('segv-main');
    const rows = section(out, 'shared libraries')
      .split('\n')
      .filter((l) => /^0x[0-9a-f]+\s/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(5); // libfoo, plugin, libz, libc, ld.so
    for (const row of rows) {
      expect(row).toContain(` ${dir}/bundle/sysroot/`);
      expect(row).toMatch(/\sYes( \(\*\))?\s/);
    }
    expect(rows.some((r) => r.endsWith(`${program.libDir}/libfoo.so.1`))).toBe(true);
    expect(rows.some((r) => r.endsWith(`${program.libDir}/plugin.so`))).toBe(true);
  });

  it('reports the build IDs, the debug info and the script paths first', () => {
    const { out, dir } = ok('segv-main');
    const report = out.slice(0, out.indexOf('=== signal ==='));
    expect(report).toContain(`  ok        ${oldLibBuildId}  ${program.lib}`);
    expect(report).not.toMatch(/MISMATCH/);
    expect(report).toMatch(new RegExp(`embedded\\s+${program.exe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(report).toContain(`gdb script:  ${dir}/replay.gdb`);
    expect(report).toContain(`lldb script: ${dir}/replay.lldb`);
  });

  it('segv-thread: the crash in the second worker, not the first thread', () => {
    const { out } = ok('segv-thread');
    const crashed = section(out, 'crashed thread');
    expect(frames(crashed).slice(0, 2)).toEqual(['thread_crash', 'worker_wait']);
    const lwp = Number(/\(LWP (\d+)\)/.exec(crashed)?.[1]);
    expect(lwp).not.toBe(crashes.get('segv-thread')!.pid);
    expect(threads(section(out, 'threads'))).toHaveLength(4);
  });

  it('abort-plugin: abort() called from plugin_abort in the dlopen\'ed plugin', () => {
    const { out } = ok('abort-plugin');
    const names = frames(section(out, 'crashed thread'));
    const i = names.findIndex((fn) => /(^|_)abort$/.test(fn));
    expect(i).toBeGreaterThanOrEqual(0);
    expect(names.slice(i + 1, i + 3)).toEqual(['plugin_abort', 'main']);
    expect(section(out, 'signal')).toMatch(/^SIGABRT \(6\)/);
  });
});

describe('the replay directory', () => {
  it('holds the scripts, and gdb -x replay.gdb works on its own', async () => {
    const { dir } = ok('segv-main');
    const script = path.join(dir, 'replay.gdb');
    const text = await fs.readFile(script, 'utf8');
    expect(text).toContain(`set sysroot ${dir}/bundle/sysroot\n`);
    expect(text).toContain(`core-file ${dir}/.corepack/core\n`);
    expect(text).toMatch(/^add-auto-load-safe-path .*\/libthread_db\.so\.1$/m);
    const lldb = await fs.readFile(path.join(dir, 'replay.lldb'), 'utf8');
    expect(lldb).toContain(`platform select --sysroot "${dir.replace(/["\\`]/g, '\\$&')}/bundle/sysroot" remote-linux`);
    const { stdout } = await execa('gdb', ['-batch', '-nx', '-x', script, '-ex', 'echo @@bt@@\\n', '-ex', 'bt'], { reject: false });
    expect(frames(stdout.slice(stdout.indexOf('@@bt@@'))).slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
  });

  // lldb is optional (gdb is the default): checked where it is installed.
  const lldb = execa('lldb', ['--version'], { reject: false }).then((r) => r.exitCode === 0);
  it('replay.lldb works in lldb too (when lldb is installed)', async (ctx) => {
    if (!(await lldb)) ctx.skip();
    const { dir } = ok('segv-main');
    // lldb 14 wraps the -s path in single quotes itself, so this dir's ' breaks it: pass a relative path.
    const r = await execa('lldb', ['-b', '-s', 'replay.lldb', '-o', 'bt'], { cwd: dir, reject: false, timeout: 60_000 });
    const names = [...r.stdout.matchAll(/frame #\d+: 0x[0-9a-f]+ [^`]+`(\w+)/g)].map((m) => m[1]);
    expect(names.slice(0, 3), r.stdout).toEqual(['crash_here', 'foo_crash', 'main']);
  });

  it('passes the arguments after -- to gdb, and only those', async () => {
    const { dir } = ok('segv-main');
    const run = await corepack(['replay', bundles.get('segv-main')!, '--batch', '--dir', dir, '--', '-ex', 'echo @@extra@@\\n', '-ex', 'frame 1']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain('@@extra@@');
    expect(run.stdout.slice(run.stdout.indexOf('@@extra@@'))).toMatch(/^#1 .* in foo_crash \(/m);
    const stray = await corepack(['replay', bundles.get('segv-main')!, 'stray']);
    expect(stray.exitCode).toBe(2);
    expect(stray.stderr).toMatch(/arguments for gdb go after --/);
  });

  it('a gdb script after -- named by a relative path is read from where corepack was started, though gdb runs in an empty directory', async () => {
    const { dir } = ok('segv-main');
    const userDir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-user-'));
    await fs.writeFile(path.join(userDir, 'mine.gdb'), 'echo @@mine@@\\n\n');
    const run = await corepack(['replay', bundles.get('segv-main')!, '--batch', '--dir', dir, '--', '-x', 'mine.gdb', '--command=./mine.gdb'], { cwd: userDir });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout.match(/@@mine@@/g)).toHaveLength(2);
    await fs.rm(userDir, { recursive: true, force: true });
  });

  it('--json without --batch: the report for machines, reusing the extraction, gdb not started', async () => {
    const { dir } = ok('segv-main');
    const run = await corepack(['replay', bundles.get('segv-main')!, '--json', '--dir', dir], { env: { DEBUGINFOD_URLS: 'http://127.0.0.1:2/' } });
    expect(run.exitCode, run.stderr).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.reused).toBe(true);
    expect(r.extractedDir).toBe(`${dir}/bundle`);
    expect(r.scripts.gdb).toBe(`${dir}/replay.gdb`);
    expect(r.verification.ok).toBe(true);
    expect(r.verification.files.every((f: { status: string }) => f.status === 'ok')).toBe(true);
    expect(r.buildIds.ok).toBe(true);
    const libfoo = r.buildIds.modules.find((m: { module: string }) => m.module === program.lib);
    expect(libfoo).toMatchObject({ status: 'ok', inCore: oldLibBuildId, inBundle: oldLibBuildId });
    const dbg = (name: RegExp) => r.debugInfo.find((d: { module: string }) => name.test(d.module));
    expect(dbg(/crashme$/).status).toBe('embedded');
    const libz = dbg(/libz\.so/);
    if (libz.status !== 'separate') {
      expect(libz.hint).toContain(libz.buildId);
      expect(libz.hint).toMatch(/the debuginfod servers could not be asked/);
    }
    // Nothing listens on port 2: corepack asked (outside the sandbox), and says so in one line.
    expect(r.debuginfod).toEqual({ urls: ['http://127.0.0.1:2'], problems: ['debuginfod http://127.0.0.1:2: connection refused; not asked again in this replay'] });
    // gdb itself has no network in the sandbox: its own client is off.
    expect(r.sandbox).toMatchObject({ sandboxed: true, tool: 'bubblewrap' });
    expect(await fs.readFile(r.scripts.gdb, 'utf8')).toContain('set debuginfod enabled off');
  });

  it('without --dir: a cache dir per bundle, reused on the next replay', async () => {
    const cache = path.join(work, 'cache home');
    const env = { XDG_CACHE_HOME: cache };
    const first = JSON.parse((await corepack(['replay', bundles.get('abort-plugin')!, '--json'], { env })).stdout);
    expect(first.reused).toBe(false);
    expect(first.dir.startsWith(`${cache}/corepack/bundles/`)).toBe(true);
    expect(path.basename(first.dir)).toBe(first.bundleKey.slice(0, 16));
    const second = JSON.parse((await corepack(['replay', bundles.get('abort-plugin')!, '--json'], { env })).stdout);
    expect(second).toMatchObject({ reused: true, dir: first.dir });
  });

  // The segv-thread bundle was collected with --with-debug and the default
  // /usr/lib/debug; only a machine with debug files there (libc6-dbg) has any to bundle.
  const systemDebug = existsSync('/usr/lib/debug/.build-id');
  it.skipIf(!systemDebug)(
    `debug files bundled by collect --with-debug are found in the bundle${systemDebug ? '' : ': skipped, no /usr/lib/debug/.build-id here (apt-get install libc6-dbg)'}`,
    async () => {
      const run = await corepack(['replay', bundles.get('segv-thread')!, '--json', '--dir', replayDir('segv-thread')]);
      expect(run.exitCode, run.stderr).toBe(0);
      const r = JSON.parse(run.stdout);
      const m = JSON.parse(await fs.readFile(path.join(r.extractedDir, 'manifest.json'), 'utf8')) as Manifest;
      // Every bundled file (modules of the core, and libthread_db, which is not
      // one) whose build ID has a file under /usr/lib/debug/.build-id.
      const onDisk = (id: string) => existsSync(`/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`);
      const ids = m.files.filter((f) => f.role !== 'debug').map((f) => f.buildIdInCore ?? f.buildIdOnDisk);
      const expected = [...new Set(ids.filter((id): id is string => id !== null && onDisk(id)))].sort();
      const modules = (r.debugInfo as Array<{ module: string; buildId?: string }>).filter((d) => d.buildId !== undefined && expected.includes(d.buildId));
      expect(modules.length, 'modules of the core with a debug file in /usr/lib/debug (libc6-dbg: libc and ld.so)').toBeGreaterThan(0);
      const bundled = m.files.filter((f) => f.role === 'debug').map((f) => f.bundlePath!.replace(/^debug\/\.build-id\/(..)\/(.*)\.debug$/, '$1$2'));
      expect([...bundled].sort(), 'bundled debug files = the bundled files that have one').toEqual(expected);
      for (const d of modules) {
        expect(d, d.module).toMatchObject({ status: 'separate', from: 'bundle', via: 'build-id' });
      }
    },
  );
});

describe('replay refuses', () => {
  const pwned = `/tmp/pwned-${randomBytes(6).toString('hex')}`;

  /** The real segv-main bundle, unpacked, its manifest edited, re-packed. */
  async function doctored(name: string, edit: (m: Manifest, root: string) => Promise<void> | void): Promise<string> {
    const dest = await fs.mkdtemp(path.join(work, 'doctor-'));
    await execa('tar', ['-x', '-j', '-f', bundles.get('segv-main')!, '-C', dest]);
    const [rootName] = await fs.readdir(dest);
    const root = path.join(dest, rootName!);
    const m = JSON.parse(await fs.readFile(path.join(root, 'manifest.json'), 'utf8')) as Manifest;
    await edit(m, root);
    const out = path.join(work, name);
    await fs.writeFile(out, await compress(tar(await entriesFromDir(root, rootName!, JSON.stringify(m))), 'bzip2'));
    return out;
  }

  it(`a manifest path with a newline followed by "shell touch ${pwned}"`, async () => {
    const bundle = await doctored('newline.tbz2', (m) => {
      const f = m.files.find((x) => x.role === 'executable')!;
      f.path = `${f.path}\nshell touch ${pwned}`;
    });
    const dir = replayDir('newline');
    const run = await corepack(['replay', bundle, '--batch', '--dir', dir]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/unsafe or malformed bundle: manifest\.json: files\[\d+\]\.path ".*\\nshell touch .*" is not a safe absolute path/);
    expect(run.stdout).toBe('');
    await expect(fs.access(pwned)).rejects.toThrow();
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('a bundled library that is not the one the core recorded: names it and both build IDs, exit 5', async () => {
    // Swap in the rebuilt libfoo with a consistent checksum: only the build ID can tell.
    const bundle = await doctored('swapped.tbz2', async (m, root) => {
      const f = m.files.find((x) => x.path === program.lib)!;
      const data = await fs.readFile(program.lib);
      await fs.writeFile(path.join(root, f.bundlePath!), data);
      f.size = data.length;
      const sums = await fs.readFile(path.join(root, 'SHA256SUMS'), 'utf8');
      await fs.writeFile(path.join(root, 'SHA256SUMS'), sums.replace(new RegExp(`^[0-9a-f]{64}  ${f.bundlePath!.replace(/[.+]/g, '\\$&')}$`, 'm'), `${sha256(data)}  ${f.bundlePath!}`));
    });
    const run = await corepack(['replay', bundle, '--batch', '--dir', replayDir('swapped')]);
    expect(run.exitCode, run.stderr).toBe(5);
    const newId = await buildId(program.lib);
    expect(run.stdout).toContain(`MISMATCH  ${program.lib}: the core recorded build ID ${oldLibBuildId}, the bundled file has ${newId}`);
    expect(run.stderr).toMatch(/1 bundled file does not match the core/);
  });

  it('a corrupt bundle: exit 5 naming the file, nothing extracted', async () => {
    const bundle = await doctored('corrupt.tbz2', async (m, root) => {
      const f = m.files.find((x) => x.path === program.plugin)!;
      const p = path.join(root, f.bundlePath!);
      const data = await fs.readFile(p);
      data[data.length - 1] ^= 0xff;
      await fs.writeFile(p, data);
    });
    const dir = replayDir('corrupt');
    const run = await corepack(['replay', bundle, '--batch', '--dir', dir]);
    expect(run.exitCode).toBe(5);
    expect(expectOneLineError(run)).toContain(`the bundle is corrupt: 1 file failed verification: ${program.plugin} (sha256 mismatch)`);
    expect(await fs.readdir(dir)).toEqual([]);
  });

  it('a schema-1 bundle (sha256 inside the manifest, no SHA256SUMS, as corepack wrote before) still replays', async () => {
    // Rebuilt from the real bundle in the old format: every hash moves into manifest.json.
    const bundle = await doctored('schema1.tbz2', async (m, root) => {
      const sums = new Map(
        (await fs.readFile(path.join(root, 'SHA256SUMS'), 'utf8'))
          .trim()
          .split('\n')
          .map((l) => [l.slice(66), l.slice(0, 64)] as const),
      );
      await fs.rm(path.join(root, 'SHA256SUMS'));
      const old = m as unknown as Record<string, unknown>;
      old.schema = 1;
      delete old.checksums;
      m.core.sha256 = sums.get(m.core.bundlePath)!;
      for (const f of m.files) if (f.bundlePath) f.sha256 = sums.get(f.bundlePath)!;
    });
    const dir = replayDir('schema1');
    const run = await corepack(['replay', bundle, '--batch', '--dir', dir]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/verified: {3}the core and \d+ files match manifest\.json \(sha256\)/);
    expect(frames(section(run.stdout, 'crashed thread')).slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
    await expect(fs.access(path.join(dir, 'bundle', 'SHA256SUMS'))).rejects.toThrow();
    const inspect = await corepack(['inspect', bundle, '--json']);
    expect(inspect.exitCode, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ format: 'corepack-bundle', schema: 1 });
  });

  it('gdb missing: exit 6 with a hint', async () => {
    const run = await corepack(['replay', bundles.get('segv-main')!, '--batch', '--gdb', '/nonexistent/gdb', '--dir', replayDir('nogdb')]);
    expect(run.exitCode).toBe(6);
    expect(run.stderr).toContain('apt-get install gdb');
  });
});
