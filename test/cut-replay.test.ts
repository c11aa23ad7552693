/**
 * Replaying a core the kernel cut short (ulimit -c): the first pages of the
 * libraries and the loader's r_debug/link_map are past the cut, so gdb alone
 * places no library and names no frame. replay gives gdb each module's
 * address from the module table (NT_FILE + the bundled files' headers).
 * Real kernel core of xcrash, real gdb.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corepack, type CliRun } from './helpers/cli.js';
import { buildNativeApp, type NativeApp } from './helpers/foreign.js';
import { section } from './helpers/gdbOutput.js';
import { crashLockPrefix } from './helpers/corepattern.js';

let top: string;
let app: NativeApp;
let core: string;
let inspect: CliRun;
let collected: CliRun;
let replay: CliRun;
let replayDir: string;

/** KiB: past the crashed thread's stack, before the libraries' first pages and ld.so's data (measured layout of xcrash). */
const LIMIT_KB = 100;


beforeAll(async () => {
  top = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-cutreplay-')));
  app = await buildNativeApp(path.join(top, 'app'));
  const run = path.join(top, 'run');
  await fs.mkdir(run);
  const r = await execa('bash', ['-c', `${crashLockPrefix()}ulimit -c ${LIMIT_KB}; exec "$@"`, 'bash', app.exe, app.plugin], { cwd: run, reject: false });
  expect(r.signal).toBe('SIGSEGV');
  core = path.join(run, 'core');
  inspect = await corepack(['inspect', core]);
  const bundle = path.join(top, 'cut.tbz2');
  collected = await corepack(['collect', core, '-o', bundle]);
  replayDir = path.join(top, 'replay');
  replay = await corepack(['replay', bundle, '--batch', '--dir', replayDir]);
});

afterAll(async () => {
  if (top) await fs.rm(top, { recursive: true, force: true });
});

describe('a cut core whose link_map is past the cut', () => {
  it('the fixture: the core is cut and r_debug is not in it', () => {
    expect(inspect.exitCode, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/the core is cut at/);
    expect(inspect.stdout).toMatch(/r_debug at 0x[0-9a-f]+ is not in the core/);
  });

  it('collect bundles it, not exact (exit 4)', () => {
    expect(collected.exitCode, collected.stderr).toBe(4);
  });

  it('control: gdb without the module table names no frame', async () => {
    const script = (await fs.readFile(path.join(replayDir, 'replay.gdb'), 'utf8')).replace(/^add-symbol-file .*$/gm, '');
    const file = path.join(top, 'no-placement.gdb');
    await fs.writeFile(file, script);
    const r = await execa('gdb', ['-batch', '-nx', '-x', file, '-ex', 'bt 1'], { cwd: path.join(replayDir, '.corepack/cwd'), reject: false });
    expect(String(r.stdout)).toMatch(/^#0\s+0x[0-9a-f]+ in \?\? \(\)/m);
  });

  it('replay: frame #0 is foo_crash, the crashed thread reaches worker, and the libraries section lists libc', async () => {
    expect(replay.exitCode, `${replay.stdout}\n${replay.stderr}`).toBe(0);
    const bt = section(replay.stdout, 'crashed thread');
    expect(bt).toMatch(/^#0\s+0x[0-9a-f]+ in foo_crash \(depth=1\)/m);
    expect(bt).toMatch(/ in worker \(/);
    const libs = section(replay.stdout, 'shared libraries');
    expect(libs).toMatch(/placed by corepack +\/.*\/libc\.so\.6$/m);
    expect(libs).toMatch(/placed by corepack +.*\/libxfoo\.so\.1$/m);
    const script = await fs.readFile(path.join(replayDir, 'replay.gdb'), 'utf8');
    expect(script).toMatch(/^add-symbol-file ".*\/libxfoo\.so\.1" -o 0x[0-9a-f]+$/m);
  });
});
