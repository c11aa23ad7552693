/**
 * `collect` end to end on real kernel cores of a program installed under a
 * directory whose name has a space and a double quote, with a versioned
 * library behind soname links, zlib dlopen'ed by name, a plugin dlopen'ed by
 * path, and four threads. GNU tar and gdb are the oracles.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, truncate, copyFile, unlink, lstat, readlink, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCrashProgram, makeCrash, rebuildLibfoo, useCrash } from './helpers/crash.js';
import { BIN, corepack } from './helpers/cli.js';
import type { Manifest } from '../src/bundle/manifest.js';

const env = useCrash('segv-main', 'corepack-collect-');

async function unpack(bundle: string, flag: string): Promise<{ root: string; manifest: Manifest }> {
  const dest = await mkdtemp(join(env.work, 'x-'));
  await execa('tar', [flag, '-x', '-f', bundle, '-C', dest]);
  const [rootName] = await readdir(dest);
  const root = join(dest, rootName!);
  return { root, manifest: JSON.parse(await readFile(join(root, 'manifest.json'), 'utf8')) as Manifest };
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

describe('collect writes a bundle gdb can use anywhere', () => {
  let bundle: string;
  let root: string;
  let manifest: Manifest;
  let json: { exact: boolean; files: Array<{ path: string; status: string }> };

  beforeAll(async () => {
    bundle = join(env.work, 'crash.tbz2');
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', bundle, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    json = JSON.parse(run.stdout);
    ({ root, manifest } = await unpack(bundle, '-j'));
  });

  it('is a bzip2 tar that GNU tar lists, manifest first, every entry under one root', async () => {
    const { stdout } = await execa('tar', ['-t', '-j', '-f', bundle]);
    const names = stdout.trim().split('\n');
    const top = names[0]!.split('/')[0];
    expect(names[0]).toBe(`${top}/manifest.json`);
    expect(names.every((n) => n.startsWith(`${top}/`))).toBe(true);
    expect(names).toContain(`${top}/sysroot${env.program.lib}`);
    expect(names).toContain(`${top}/sysroot${env.program.plugin}`);
  });

  it('holds the core unchanged, and SHA256SUMS (the last entry) lists every file: GNU sha256sum -c passes', async () => {
    expect(sha256(await readFile(join(root, manifest.core.bundlePath)))).toBe(sha256(await readFile(env.crash.core)));
    const bundled = manifest.files.filter((f) => f.bundlePath);
    expect(bundled.length).toBeGreaterThanOrEqual(7);
    // Schema 2: no hashes in the manifest (collect reads every byte once); they are in SHA256SUMS.
    expect(manifest).toMatchObject({ schema: 2, checksums: 'SHA256SUMS' });
    expect(manifest.core).not.toHaveProperty('sha256');
    expect(bundled.every((f) => !('sha256' in f))).toBe(true);
    const { stdout: names } = await execa('tar', ['-t', '-j', '-f', bundle]);
    expect(names.trim().split('\n').at(-1)).toMatch(/\/SHA256SUMS$/);
    const { stdout, exitCode } = await execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: root, reject: false });
    expect(exitCode, stdout).toBe(0);
    const checked = stdout.trim().split('\n');
    expect(checked.every((l) => l.endsWith(': OK'))).toBe(true);
    expect(checked.map((l) => l.slice(0, -': OK'.length)).sort()).toEqual(['manifest.json', manifest.core.bundlePath, ...bundled.map((f) => f.bundlePath!)].sort());
    for (const f of bundled) expect(sha256(await readFile(join(root, f.bundlePath!))), f.path).toBe(sha256(await readFile(f.path)));
  });

  it('includes dlopened libraries, the dynamic loader and libthread_db, each with the source that found it', () => {
    const find = (re: RegExp) => manifest.files.find((f) => re.test(f.path));
    expect(find(/plugin\.so$/)?.sources).toContain('nt_file');
    expect(find(/libz\.so/)?.sources).toEqual(expect.arrayContaining(['nt_file', 'link_map']));
    expect(find(/ld-linux-x86-64\.so\.2$/)?.role).toBe('interpreter');
    expect(find(/libthread_db\.so\.1$/)?.role).toBe('libthread_db');
    expect(find(/crashme$/)?.sources).toContain('command-line');
    expect(json.exact).toBe(true);
    expect(manifest.files.every((f) => f.status === 'ok')).toBe(true);
    for (const f of manifest.files.filter((x) => x.role !== 'libthread_db')) expect(f.buildIdOnDisk, f.path).toBe(f.buildIdInCore);
  });

  it('makes every other name a relative symlink that stays inside the sysroot', async () => {
    const sysroot = join(root, 'sysroot');
    const soname = join(sysroot, env.program.libDir, 'libfoo.so.1');
    expect((await lstat(soname)).isSymbolicLink()).toBe(true);
    expect(await readlink(soname)).toBe('libfoo.so.1.2.3');
    for (const l of manifest.links) {
      const target = await readlink(join(root, l.path));
      expect(target.startsWith('/'), l.path).toBe(false);
      expect(join(dirname(join(root, l.path)), target).startsWith(`${sysroot}/`)).toBe(true);
    }
  });

  it('lets gdb resolve every shared library from inside the sysroot', async () => {
    const sysroot = join(root, 'sysroot');
    // Executable and core as arguments (no gdb quoting involved); the sysroot before they load.
    const r = await execa('gdb', ['-batch', '-nx', '-iex', `set sysroot ${sysroot}`, '-ex', 'info sharedlibrary', '-ex', 'bt', join(sysroot, env.program.exe), join(root, manifest.core.bundlePath)], { reject: false });
    const rows = r.stdout.split('\n').filter((l) => /^0x[0-9a-f]+\s+0x[0-9a-f]+\s+(Yes|No)/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(5);
    for (const row of rows) {
      expect(row, `${row}\n${r.stderr}`).not.toMatch(/\sNo\s/);
      expect(row.slice(row.indexOf('/'))).toContain(sysroot);
    }
    expect(r.stdout).toMatch(/crash_here[\s\S]*foo_crash[\s\S]*main/);
  });

  it('is self-describing: inspect shows the manifest without unpacking, as text and as JSON', async () => {
    const text = await corepack(['inspect', bundle]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^bundle: +.*crash\.tbz2 \(bzip2, /m);
    expect(text.stdout).toMatch(/^signal: +SIGSEGV \(11\), SEGV_MAPERR/m);
    expect(text.stdout).toContain(`ok                 library      ${env.program.lib}`);
    expect(text.stdout).toContain('every file matched the crash when it was collected.');
    const json = await corepack(['inspect', bundle, '--json']);
    expect(JSON.parse(json.stdout)).toEqual(manifest);
    // A tarball that is not a bundle is named as such.
    const other = join(env.work, 'other.tar.gz');
    await execa('tar', ['-czf', other, '-C', dirname(env.program.lib), 'libfoo.so.1.2.3']);
    const bad = await corepack(['inspect', other]);
    expect(bad.exitCode).toBe(3);
    expect(bad.stderr).toMatch(/not a corepack bundle \(its first entry is "libfoo\.so\.1\.2\.3", not <name>\/manifest\.json\)/);
  });

  it('writes .tar.zst and .tar.gz as well, readable by GNU tar', async () => {
    for (const [name, flag] of [['b.tar.zst', '--zstd'], ['b.tar.gz', '-z']] as const) {
      const out = join(env.work, name);
      const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', out]);
      expect(run.exitCode, run.stderr).toBe(0);
      const { manifest: m } = await unpack(out, flag);
      expect(m.files.length).toBe(manifest.files.length);
    }
  });
});

describe('collect of a core that names its files', () => {
  it('does not run ldd: the core says what was mapped, ldd only what this machine would load now', async () => {
    // An ldd first on PATH that records each run, then does what ldd does.
    const bin = await mkdtemp(join(env.work, 'bin-'));
    const log = join(bin, 'ldd.log');
    await writeFile(join(bin, 'ldd'), `#!/bin/sh\necho "$@" >> '${log}'\nexec /usr/bin/ldd "$@"\n`, { mode: 0o755 });
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', join(env.work, 'no-ldd.tar.zst')], { env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await readFile(log, 'utf8').catch(() => '')).toBe('');
  });
});

describe('collect after the customer changed the system', () => {
  it('reports a library rebuilt since the crash with both build IDs, and a deleted plugin, and still writes the bundle', async () => {
    const { manifest: before } = await unpack(await collectJson('before.tbz2'), '-j');
    const oldId = before.files.find((f) => f.path === env.program.lib)!.buildIdOnDisk;
    await rebuildLibfoo(env.program.libDir, 7);
    const pluginCopy = join(env.work, 'plugin.so.bak');
    await copyFile(env.program.plugin, pluginCopy);
    await unlink(env.program.plugin);
    try {
      const out = join(env.work, 'after.tbz2');
      const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', out]);
      expect(run.exitCode).toBe(4);
      const newId = (await execa('eu-readelf', ['-n', env.program.lib])).stdout.match(/Build ID: ([0-9a-f]+)/)![1];
      expect(newId).not.toBe(oldId);
      expect(run.stderr).toContain(`REPLACED SINCE THE CRASH: ${env.program.lib} was replaced after the crash: build ID on disk ${newId}, in the core ${oldId}`);
      expect(run.stderr).toContain(`MISSING: ${env.program.plugin} no longer exists`);
      const { manifest } = await unpack(out, '-j');
      expect(manifest.files.find((f) => f.path === env.program.lib)).toMatchObject({ status: 'build-id-mismatch', buildIdOnDisk: newId, buildIdInCore: oldId });
      expect(manifest.files.find((f) => f.path === env.program.plugin)).toMatchObject({ status: 'missing', bundlePath: null });
    } finally {
      await copyFile(pluginCopy, env.program.plugin);
      await rebuildLibfoo(env.program.libDir, 1);
    }
  });
});

describe('collect interrupted', () => {
  it('SIGINT mid-way leaves no output file and no temporary file, and exits 130', async () => {
    // A core padded to 3 GiB with a hole: its checksum alone takes seconds.
    const big = join(env.work, 'big.core');
    await copyFile(env.crash.core, big);
    await truncate(big, 3 * 1024 ** 3);
    const out = join(env.work, 'big.tbz2');
    const child = execa(process.execPath, [BIN, 'collect', big, '-e', env.program.exe, '-o', out], { reject: false });
    // Interrupt once it is writing: the temporary file beside the output exists.
    for (let i = 0; i < 1500 && !(await readdir(env.work)).some((n) => n.includes('corepack-tmp')); i++) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr)).toMatch(/interrupted by SIGINT; no partial output was left behind/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
    expect((await readdir(env.work)).filter((n) => n.includes('corepack-tmp'))).toEqual([]);
    await rm(big);
  });
});

async function collectJson(name: string): Promise<string> {
  const out = join(env.work, name);
  const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', out]);
  expect(run.exitCode, run.stderr).toBe(0);
  return out;
}

describe('collect options and environment', () => {
  it('--with-debug bundles the separate debug file for a build ID and reports their size', async () => {
    // A debug directory laid out like /usr/lib/debug, holding libfoo's debug info.
    const debugDir = await mkdtemp(join(env.work, 'debug-'));
    const id = (await execa('eu-readelf', ['-n', env.program.lib])).stdout.match(/Build ID: ([0-9a-f]+)/)![1]!;
    const target = join(debugDir, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
    await execa('mkdir', ['-p', dirname(target)]);
    await execa('objcopy', ['--only-keep-debug', env.program.lib, target]);
    const out = join(env.work, 'debug.tbz2');
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', out, '--with-debug', '--debug-dir', debugDir]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/debug files: 1, [\d.]+ (KiB|MiB)/);
    const { root, manifest } = await unpack(out, '-j');
    const dbg = manifest.files.find((f) => f.role === 'debug')!;
    expect(dbg.bundlePath).toBe(`debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`);
    expect(sha256(await readFile(join(root, dbg.bundlePath!)))).toBe(sha256(await readFile(target)));
  });

  it('names the package to install when no compressor for the format is installed (exit 6)', async () => {
    const emptyPath = await mkdtemp(join(env.work, 'path-'));
    const run = await execa(process.execPath, [BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', join(env.work, 'nope.tbz2')], { reject: false, env: { PATH: emptyPath } });
    expect(run.exitCode).toBe(6);
    expect(run.stderr).toMatch(/no bzip2 program is installed \(looked for lbzip2, pbzip2, bzip2\)/);
    expect(run.stderr).toMatch(/install lbzip2 .*a format that works here: \.tar\.gz/);
    await expect(stat(join(env.work, 'nope.tbz2'))).rejects.toThrow(/ENOENT/);
  });

  it('takes the executable from the core when -e is omitted, and says so', async () => {
    const out = join(env.work, 'noexe.tar.gz');
    const run = await corepack(['collect', env.crash.core, '-o', out]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toContain(`executable taken from the core: ${env.program.exe}`);
    const { manifest } = await unpack(out, '-z');
    expect(manifest.executable).toEqual({ path: env.program.exe, chosenBy: 'core' });
  });

  it('--root naming this machine\'s own / (directly or through a link) is no other root: the manifest says null, no "looked up under /"', async () => {
    const slash = join(env.work, 'link-to-slash');
    await symlink('/', slash).catch(() => undefined);
    for (const given of ['/', slash]) {
      const out = join(env.work, 'root-slash.tar.gz');
      const run = await corepack(['collect', env.crash.core, '--root', given, '-o', out]);
      expect(run.exitCode, run.stderr).toBe(0);
      expect(run.stderr).not.toMatch(/root: /);
      const { manifest } = await unpack(out, '-z');
      expect(manifest.root, given).toBeNull();
      expect(manifest).not.toHaveProperty('rootLookup');
      expect(manifest.files.some((f) => 'lookedUp' in f)).toBe(false);
      expect((await corepack(['inspect', out])).stdout).not.toMatch(/collected with --root/);
      await unlink(out);
    }
  });

  it('-e naming another program than the one that crashed: refused (exit 2), naming the core, its executable and build ID', async () => {
    const buildId = async (file: string): Promise<string> => /Build ID: ([0-9a-f]+)/.exec((await execa('readelf', ['-n', file])).stdout)![1]!;
    const [crashed, other] = await Promise.all([buildId(env.program.exe), buildId('/bin/ls')]);
    const out = join(env.work, 'wrong-exe.tbz2');
    const run = await corepack(['collect', env.crash.core, '-e', '/bin/ls', '-o', out]);
    expect(run.exitCode, run.stderr).toBe(2);
    const [line, hint] = run.stderr.trim().split('\n');
    expect(line).toBe(`corepack: error: -e /bin/ls is not the program that crashed: its build ID is ${other}, but ${env.crash.core} was dumped by ${env.program.exe} with build ID ${crashed}`);
    expect(hint).toContain(`pass -e ${env.program.exe}`);
    expect(run.stderr).not.toMatch(/replaced after the crash/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('-e naming a copy of the program that crashed, elsewhere: accepted, the build ID decides', async () => {
    const copy = join(env.work, 'copy-of-crashme');
    await copyFile(env.program.exe, copy);
    const out = join(env.work, 'copy-exe.tar.gz');
    const run = await corepack(['collect', env.crash.core, '-e', copy, '-o', out]);
    expect(run.exitCode, run.stderr).toBe(0);
    const { manifest } = await unpack(out, '-z');
    expect(manifest.files.find((f) => f.role === 'executable')).toMatchObject({ path: copy, status: 'ok', aliases: [env.program.exe] });
  });

  it('-o in a directory that does not exist: exit 7, naming the output and the directory, never the temporary file', async () => {
    const missingDir = join(env.work, 'no-such-dir');
    const out = join(missingDir, 'x.tbz2');
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', out]);
    expect(run.exitCode, run.stderr).toBe(7);
    expect(run.stderr.split('\n')[0]).toBe(`corepack: error: cannot write ${out}: the directory ${missingDir} does not exist; no bundle was written`);
    expect(run.stderr).not.toContain('.corepack-tmp-');
    await expect(stat(missingDir)).rejects.toThrow(/ENOENT/);
  });

  it('draws a progress bar on stderr only when it is a terminal', async () => {
    const out = join(env.work, 'tty.tar.gz');
    // script(1) gives the command a pseudo-terminal.
    const cmd = [process.execPath, BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', out].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const tty = await execa('script', ['-qec', cmd, '/dev/null'], { reject: false });
    expect(tty.exitCode).toBe(0);
    expect(tty.stdout).toMatch(/\r(checksum|bundling)\s+\[[#.]+\]\s+\d+%/);
    const plain = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', out]);
    expect(plain.stderr).not.toMatch(/\[[#.]{30}\]/);
  });
});

describe('collect --with-debug by .gnu_debuglink', () => {
  it('bundles the file a stripped library links to, where gdb and replay find it', async () => {
    // A second install whose libfoo is stripped and points at libfoo.debug beside it.
    const prog = await buildCrashProgram();
    try {
      const debug = join(prog.libDir, 'libfoo.debug');
      await execa('objcopy', ['--only-keep-debug', prog.lib, debug]);
      await execa('objcopy', ['--strip-debug', `--add-gnu-debuglink=${debug}`, prog.lib], { cwd: prog.libDir });
      const c = await makeCrash('segv-main', { program: prog });
      const out = join(env.work, 'debuglink.tbz2');
      const emptyDebugDir = await mkdtemp(join(env.work, 'nodebug-'));
      const run = await corepack(['collect', c.core, '-e', prog.exe, '-o', out, '--with-debug', '--debug-dir', emptyDebugDir]);
      expect(run.exitCode, run.stderr).toBe(0);
      const { root, manifest } = await unpack(out, '-j');
      const entry = manifest.files.find((f) => f.role === 'debug' && f.sources.includes('debuglink'))!;
      expect(entry.bundlePath).toBe(`sysroot${prog.libDir}/.debug/libfoo.debug`);
      expect(sha256(await readFile(join(root, entry.bundlePath!)))).toBe(sha256(await readFile(debug)));
      // replay finds it in the bundle and gdb reads lines from it.
      const replay = await corepack(['replay', out, '--batch', '--dir', await mkdtemp(join(env.work, 'replay-'))]);
      expect(replay.exitCode, replay.stderr).toBe(0);
      expect(replay.stdout).toMatch(/separate\s+.*libfoo\.so\.1\.2\.3 → .*\/lib\/\.debug\/libfoo\.debug \(from the bundle, by debuglink\)/);
      // Line numbers in the stripped library come from the bundled debug file.
      expect(replay.stdout).toMatch(/crash_here \(\) at \S*libfoo\.c:\d+/);
      await c.cleanup();
    } finally {
      await rm(dirname(prog.dir), { recursive: true, force: true });
    }
  });
});
