/**
 * A core of a process that ran in a container: a real kernel core of xcrash
 * run under chroot(8) (we are root), with its own copy of the loader and
 * libc, its program at /opt/app, and a libz.so.1 of its own where the host
 * has the real zlib (same path, another build ID). The kernel names every
 * file by its path inside the root. collect --root must bundle the
 * container's files and be exact; without --root it must not be.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/bundle/manifest.js';
import { corepack, type CliRun } from './helpers/cli.js';
import { chrootCrash, type ContainerCrash } from './helpers/foreign.js';

// The fixture copies this machine's x86-64 loader and libc into the root.
const isRoot = process.getuid?.() === 0 && process.arch === 'x64';
if (!isRoot) console.warn('container.test.ts skipped: chroot needs root on an x86-64 machine');

let c: ContainerCrash;
let withRoot: { run: CliRun; manifest: Manifest };
let withoutRoot: CliRun;

async function buildId(file: string): Promise<string> {
  const { stdout } = await execa('eu-readelf', ['-n', file]);
  return /Build ID: ([0-9a-f]+)/.exec(stdout)![1]!;
}

describe.skipIf(!isRoot)('a chroot container core', () => {
  beforeAll(async () => {
    c = await chrootCrash();
    const out = path.join(c.top, 'with-root.tbz2');
    const run = await corepack(['collect', c.core, '--root', c.root, '-o', out]);
    const manifest = JSON.parse((await corepack(['inspect', out, '--json'])).stdout) as Manifest;
    withRoot = { run, manifest };
    withoutRoot = await corepack(['collect', c.core, '-o', path.join(c.top, 'without-root.tbz2')]);
  });

  afterAll(async () => {
    if (c) await fs.rm(c.top, { recursive: true, force: true });
  });

  it('the fixture is what the test needs: the host has a different libz.so.1 at the same path', async () => {
    expect(await buildId(c.containerLibz)).not.toBe(await buildId(c.libzPath));
  });

  it('collect --root: exact, and the container\'s own libz.so.1 is bundled (its build ID, not the host\'s)', async () => {
    expect(withRoot.run.exitCode, withRoot.run.stderr).toBe(0);
    expect(withRoot.run.stderr).toContain('every file matches the crash exactly');
    const m = withRoot.manifest;
    expect(m.root).toBe(c.root);
    const libz = m.files.find((f) => f.path === c.libzPath);
    expect(libz?.status).toBe('ok');
    expect(libz?.buildIdOnDisk).toBe(await buildId(c.containerLibz));
    expect(libz?.buildIdInCore).toBe(libz?.buildIdOnDisk);
    // Paths are the container's, as the process saw them.
    expect(m.files.map((f) => f.path)).toEqual(expect.arrayContaining(['/opt/app/bin/xcrash', '/opt/app/lib/libxfoo.so.1', '/opt/app/plugins/libplugin.so']));
  });

  it('the loader\'s absolute symlink (/lib64/...) is followed inside the root, and kept as an alias', () => {
    const loader = withRoot.manifest.files.find((f) => f.role === 'interpreter');
    expect(loader?.status).toBe('ok');
    expect(loader?.path.startsWith(c.root)).toBe(false);
    expect(loader?.path).toBe(`${path.dirname(c.libzPath)}/ld-linux-x86-64.so.2`);
    expect(loader?.aliases).toContain('/lib64/ld-linux-x86-64.so.2');
    const link = withRoot.manifest.links.find((l) => l.path === 'sysroot/lib64/ld-linux-x86-64.so.2');
    expect(link?.target).toBe('../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
  });

  it('collect without --root: not exact (exit 4), the host\'s libz named as not the process\'s, and the --root hint', () => {
    expect(withoutRoot.exitCode, withoutRoot.stderr).toBe(4);
    expect(withoutRoot.stderr).toContain(`REPLACED SINCE THE CRASH: ${c.libzPath}`);
    expect(withoutRoot.stderr).toContain('MISSING: /opt/app/bin/xcrash');
    expect(withoutRoot.stderr).toMatch(/pass --root DIR/);
  });

  it('collect --root --with-debug takes the root\'s own /usr/lib/debug, by build ID and by .gnu_debuglink (issue 18)', async () => {
    // The container's libz has its debug file under the container's /usr/lib/debug/.build-id;
    // libxfoo is stripped with a .gnu_debuglink to the container's /usr/lib/debug/opt/app/lib/.
    const id = await buildId(c.containerLibz);
    const byId = path.join(c.root, 'usr/lib/debug/.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
    await fs.mkdir(path.dirname(byId), { recursive: true });
    await execa('objcopy', ['--only-keep-debug', c.containerLibz, byId]);
    const xfoo = path.join(c.root, 'opt/app/lib/libxfoo.so.1');
    const xfooDebugDir = path.join(c.root, 'usr/lib/debug/opt/app/lib');
    await fs.mkdir(xfooDebugDir, { recursive: true });
    const saved = path.join(c.top, 'libxfoo.so.1.orig');
    await fs.copyFile(xfoo, saved);
    try {
      await execa('objcopy', ['--only-keep-debug', xfoo, path.join(xfooDebugDir, 'libxfoo.so.1.debug')]);
      // objcopy --add-gnu-debuglink wants the debug file by its name in the working directory.
      await execa('objcopy', ['--strip-debug', '--add-gnu-debuglink=libxfoo.so.1.debug', xfoo], { cwd: xfooDebugDir });
      const out = path.join(c.top, 'with-debug.tbz2');
      const run = await corepack(['collect', c.core, '--root', c.root, '--with-debug', '-o', out, '--json']);
      expect(run.exitCode, run.stdout).toBe(0);
      const debug = (JSON.parse((await corepack(['inspect', out, '--json'])).stdout) as Manifest).files.filter((f) => f.role === 'debug');
      expect(debug.map((f) => [f.path, f.bundlePath]).sort()).toEqual([
        ['/usr/lib/debug/opt/app/lib/libxfoo.so.1.debug', 'sysroot/opt/app/lib/.debug/libxfoo.so.1.debug'],
        [`/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`, `debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`],
      ].sort());
    } finally {
      await fs.copyFile(saved, xfoo);
      await fs.rm(path.join(c.root, 'usr/lib/debug'), { recursive: true, force: true });
    }
  });

  it('--root naming no directory: a usage error, exit 2', async () => {
    const run = await corepack(['collect', c.core, '--root', path.join(c.top, 'nope'), '-o', path.join(c.top, 'x.tbz2')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/--root .*nope: no such directory/);
  });
});
