/**
 * The npm package as a user gets it: `npm pack` (its prepack builds dist/ and
 * dist/build-info.json) in a copy of the sources, then `npm install -g` of
 * the tarball into a prefix whose bin/ already holds a `corepack` (Node's
 * package-manager shim has that name). The install must succeed without an
 * install-time script, leave that `corepack` alone, and the installed
 * corepack-crash must collect and replay a real kernel core.
 */
import { execa } from 'execa';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCrash, type CrashFixture } from './helpers/crash.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** What npm pack needs of a checkout; node_modules is linked, not copied. */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'src', 'bin', 'templates', 'scripts'];
const SHIM = '#!/bin/sh\necho "the Node.js corepack shim"\n';

let root: string;
let tarball: string;
let entries: string[];
let prefix: string;
let install: { exitCode: number; stdout: string; stderr: string };
let commit: string;
let crash: CrashFixture;

const sha256 = async (p: string) => crypto.createHash('sha256').update(await fs.readFile(p)).digest('hex');
const installed = () => path.join(prefix, 'bin', 'corepack-crash');

beforeAll(async () => {
  root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-package-')));
  const copy = path.join(root, 'src-copy');
  await fs.mkdir(copy);
  for (const name of SOURCES) await fs.cp(path.join(REPO, name), path.join(copy, name), { recursive: true });
  await fs.symlink(path.join(REPO, 'node_modules'), path.join(copy, 'node_modules'));
  // The copy has no .git: its build records the commit it was made from, as a release build from a tarball would.
  commit = (await execa('git', ['-C', REPO, 'rev-parse', 'HEAD'])).stdout.trim();
  const pack = await execa('npm', ['pack', '--json', '--pack-destination', root], { cwd: copy, env: { COREPACK_BUILD_COMMIT: commit }, stdin: 'ignore' });
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(root, info[0]!.filename);
  entries = (await execa('tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean);

  prefix = path.join(root, 'prefix');
  await fs.mkdir(path.join(prefix, 'bin'), { recursive: true });
  await fs.writeFile(path.join(prefix, 'bin', 'corepack'), SHIM, { mode: 0o755 });
  const r = await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { reject: false, stdin: 'ignore', cwd: root, timeout: 240_000 });
  install = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  crash = await makeCrash('segv-main');
}, 400_000);

afterAll(async () => {
  await crash?.cleanup();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds only what runs: bin, the bundled CLI, templates, README — no sources, tests, tsc output, source maps, bench or release files', () => {
    expect(entries).toContain('package/bin/corepack.js');
    expect(entries, 'the bundled CLI and its mark').toEqual(expect.arrayContaining(['package/dist/npm/start.js', 'package/dist/npm/complete']));
    expect(entries).toContain('package/dist/build-info.json');
    expect(entries.filter((e) => e.startsWith('package/dist/cli/')), "tsc's output: the bundle is what runs").toEqual([]);
    expect(entries).toContain('package/templates/report.py');
    const offending = entries.filter((e) => !/^package\/(?:bin\/corepack\.js|dist\/npm\/[^/]+\.js|dist\/npm\/complete|dist\/build-info\.json|templates\/[^/]+|README\.md|package\.json)$/.test(e));
    expect(offending).toEqual([]);
  });

  it('declares one bin, corepack-crash, and no install-time script', async () => {
    const pkg = JSON.parse((await execa('tar', ['xzOf', tarball, 'package/package.json'])).stdout) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin).toEqual({ 'corepack-crash': 'bin/corepack.js' });
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[s]).toBeUndefined();
  });
});

describe('npm install -g of the tarball, into a prefix that already has a corepack', () => {
  it('succeeds, leaves that corepack untouched, and adds corepack-crash only', async () => {
    expect(install.exitCode, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/install script|allowScripts|EEXIST/i);
    expect(await fs.readFile(path.join(prefix, 'bin', 'corepack'), 'utf8')).toBe(SHIM);
    expect((await fs.lstat(path.join(prefix, 'bin', 'corepack'))).isSymbolicLink()).toBe(false);
    expect((await fs.readdir(path.join(prefix, 'bin'))).sort()).toEqual(['corepack', 'corepack-crash']);
  });

  it('--version names the version, the commit built from and the Node.js it runs on', async () => {
    const r = await execa(installed(), ['--version']);
    const { version } = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(r.stdout).toBe(`corepack-crash ${version} (commit ${commit}, built ${JSON.parse((await execa('tar', ['xzOf', tarball, 'package/dist/build-info.json'])).stdout).builtAt}), Node.js ${process.version} (${process.execPath})`);
  });

  it('collects a real core and replays it to the crashing function', async () => {
    const bundle = path.join(root, 'crash.tbz2');
    const collect = await execa(installed(), ['collect', crash.core, '-o', bundle], { reject: false });
    expect(collect.exitCode, collect.stderr).toBe(0);
    const replay = await execa(installed(), ['replay', bundle, '--batch', '--dir', path.join(root, 'replay')], { reject: false });
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/=== crashed thread ===[\s\S]*\bcrash_here\b/);
    // The installed templates were used (the package's own), not the checkout's.
    expect(await sha256(path.join(prefix, 'lib', 'node_modules', 'corepack-crash', 'templates', 'replay.gdb'))).toBe(await sha256(path.join(REPO, 'templates', 'replay.gdb')));
  });

  it('in the checkout it was packed from, bin runs the bundle, and tsc\'s output only when the bundle is older than it', async () => {
    const copy = path.join(root, 'src-copy');
    const dist = path.join(copy, 'dist');
    const bin = path.join(copy, 'bin', 'corepack.js');
    // Just built: the bundle is current, and runs without tsc's modules.
    await fs.rename(path.join(dist, 'cli'), path.join(dist, 'cli-away'));
    const bundled = await execa(process.execPath, [bin, 'inspect', crash.core], { reject: false });
    await fs.rename(path.join(dist, 'cli-away'), path.join(dist, 'cli'));
    expect(bundled.exitCode, `without tsc's dist/cli: ${bundled.stderr}`).toBe(0);
    expect(bundled.stdout).toMatch(/signal:\s+SIGSEGV/);
    // tsc's output rebuilt after the bundle: the bundle is not run (here it could not be).
    await fs.rm(path.join(dist, 'npm', 'start.js'));
    const later = new Date(Date.now() + 2000);
    await fs.utimes(path.join(dist, 'cli', 'start.js'), later, later);
    const unbundled = await execa(process.execPath, [bin, 'inspect', crash.core], { reject: false });
    expect(unbundled.exitCode, `with a stale bundle: ${unbundled.stderr}`).toBe(0);
    expect(unbundled.stdout).toMatch(/signal:\s+SIGSEGV/);
  });
});
