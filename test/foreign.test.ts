/**
 * Cores of another architecture, written by qemu-user (no NT_FILE, and the
 * ELF headers and program headers not in the core): real aarch64 programs
 * built with the Debian cross compiler, run and crashed under qemu-aarch64,
 * collected with --root (the guest root qemu -L was given) and replayed with
 * gdb-multiarch. Skipped visibly when the tools are not installed.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corepack, expectOneLineError, type CliRun } from './helpers/cli.js';
import { runBatch } from '../src/replay/gdb.js';
import { AARCH64, buildGuestRoot, missingTool, qemuCore, type GuestRoot } from './helpers/foreign.js';
import { frames, section } from './helpers/gdbOutput.js';

const TOOLS = [AARCH64.cc, AARCH64.qemu, 'gdb-multiarch'];
const missing = await missingTool(TOOLS);
const haveSysroot = await fs.stat(path.join(AARCH64.sysroot, 'lib', AARCH64.loader)).then(() => true, () => false);
const skip = missing !== undefined || !haveSysroot;
if (skip) console.warn(`foreign.test.ts skipped: ${missing ?? `${AARCH64.sysroot} (libc6-dev-arm64-cross)`} is not installed`);
const haveLldb = (await missingTool(['lldb'])) === undefined;
if (!skip && !haveLldb) console.warn('foreign.test.ts: lldb is not installed; the lldb script is not run');

const KINDS = ['pie', 'nopie'] as const;
type Kind = (typeof KINDS)[number];

let g: GuestRoot;
const cores = new Map<Kind, string>();
const bundles = new Map<Kind, { run: CliRun; out: string }>();
const replays = new Map<Kind, CliRun>();



describe.skipIf(skip)('qemu-aarch64 cores (no NT_FILE, no ELF headers in memory)', () => {
  beforeAll(async () => {
    g = await buildGuestRoot(AARCH64);
    for (const kind of KINDS) cores.set(kind, await qemuCore(AARCH64, g, g.exes[`xcrash-${kind}`]!, [g.plugin]));
    await Promise.all(
      KINDS.map(async (kind) => {
        const out = path.join(g.top, `${kind}.tbz2`);
        bundles.set(kind, { run: await corepack(['collect', cores.get(kind)!, '--root', g.root, '-o', out]), out });
      }),
    );
    for (const kind of KINDS) replays.set(kind, await corepack(['replay', bundles.get(kind)!.out, '--batch', '--dir', path.join(g.top, `replay-${kind}`)]));
  });

  afterAll(async () => {
    if (g) await fs.rm(g.top, { recursive: true, force: true });
  });

  it('inspect alone knows no module (the core does not hold them); with --root it lists every one from link_map', async () => {
    const core = cores.get('pie')!;
    const bare = await corepack(['inspect', core, '--json']);
    expect(bare.exitCode, bare.stderr).toBe(0);
    expect(JSON.parse(bare.stdout).modules).toEqual([]);
    // Not silently: the user is told what would complete the picture.
    expect(JSON.parse(bare.stdout).warnings.join('\n')).toMatch(/program headers \(AT_PHDR 0x[0-9a-f]+\) are not in the core.*pass -e EXE, and --root DIR/);

    const run = await corepack(['inspect', core, '--root', g.root, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const s = JSON.parse(run.stdout);
    expect(s.arch).toBe('aarch64');
    const byKind = (k: string) => s.modules.filter((m: { kind: string }) => m.kind === k);
    expect(byKind('executable')).toHaveLength(1);
    expect(byKind('executable')[0].headersInCore).toBe(false);
    // PIE under qemu-aarch64 runs at 0x5500000000: the bias is AT_ENTRY − e_entry.
    expect(byKind('executable')[0].loadBias).toBe('0x5500000000');
    expect(byKind('interpreter').map((m: { linkMapName: string }) => m.linkMapName)).toEqual(['/lib/ld-linux-aarch64.so.1']);
    expect(byKind('library').map((m: { linkMapName: string }) => m.linkMapName).sort()).toEqual(['/lib/libc.so.6', g.lib, g.plugin].sort());
    // The crashed thread's pc is placed in libxfoo.
    const crashed = s.threads.find((t: { crashed: boolean }) => t.crashed);
    expect(crashed.pcModule).toBe('libxfoo.so.1');
  });

  it('inspect -e: the executable\'s headers from its file place it at AT_ENTRY − e_entry', async () => {
    const run = await corepack(['inspect', cores.get('pie')!, '-e', g.exes['xcrash-pie']!, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const exe = JSON.parse(run.stdout).modules.find((m: { kind: string }) => m.kind === 'executable');
    expect(exe).toMatchObject({ loadBias: '0x5500000000', start: '0x5500000000', headersInCore: false });
    expect(exe.sources).toContain('file_headers');
  });

  it.each(KINDS)('%s: collect --root bundles the guest root\'s files, records the root, and is exact', async (kind) => {
    const { run } = bundles.get(kind)!;
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toContain('every file matches the crash exactly');
    const m = JSON.parse((await corepack(['inspect', bundles.get(kind)!.out, '--json'])).stdout);
    expect(m.root).toBe(g.root);
    expect(m.gaps).toEqual([]);
    const paths = m.files.map((f: { path: string }) => f.path).sort();
    expect(paths).toEqual(['/lib/ld-linux-aarch64.so.1', '/lib/libc.so.6', '/lib/libthread_db.so.1', g.lib, `/opt/app/bin/xcrash-${kind}`, g.plugin].sort());
    // Never the host's: every file came from inside the root.
    for (const f of m.files) expect(f.status).toBe('ok');
  });

  it('collect without --root: not exact (exit 4), the missing guest files named, and a hint to pass --root', async () => {
    const run = await corepack(['collect', cores.get('pie')!, '-o', path.join(g.top, 'noroot.tbz2')]);
    expect(run.exitCode, run.stderr).toBe(4);
    expect(run.stderr).toContain('MISSING: /lib/libc.so.6');
    expect(run.stderr).toContain(`MISSING: ${g.lib}`);
    expect(run.stderr).toMatch(/pass --root DIR/);
    expect(run.stderr).toContain("docker inspect -f '{{.GraphDriver.Data.MergedDir}}' CONTAINER");
    expect(run.stderr).toContain('the bundle is NOT exact');
  });

  it('-e naming a program of another architecture: named, not bundled, not exact', async () => {
    const run = await corepack(['collect', cores.get('nopie')!, '--root', g.root, '-e', '/bin/true', '-o', path.join(g.top, 'wrongarch.tbz2'), '--json']);
    expect(run.exitCode, run.stderr).toBe(4);
    const j = JSON.parse(run.stdout);
    const exe = j.files.find((f: { role: string }) => f.role === 'executable');
    expect(exe).toMatchObject({ status: 'wrong-architecture', bundled: false });
    expect(exe.message).toMatch(/is for another machine \(e_machine \d+, the core's is 183\)/);
    expect(j.warnings.join('\n')).toMatch(/the executable file is for another machine/);
  });

  it('a link_map name that resolves to no file (a plugin dlopen()ed as ./libplugin.so, no NT_FILE to say which): named, exit 4', async () => {
    const run = path.join(g.cwd, 'relative');
    await fs.mkdir(run, { recursive: true });
    await fs.copyFile(path.join(g.root, g.plugin), path.join(run, 'libplugin.so'));
    // qemu resolves the guest's relative name against its own working directory.
    const core = await qemuCore(AARCH64, g, g.exes['xcrash-pie']!, ['./libplugin.so'], run);
    const c = await corepack(['collect', core, '--root', g.root, '-o', path.join(g.top, 'relative.tbz2'), '--json']);
    expect(c.exitCode, c.stderr).toBe(4);
    const j = JSON.parse(c.stdout);
    expect(j.exact).toBe(false);
    expect(j.gaps).toEqual([expect.stringMatching(/^the loader had "\.\/libplugin\.so" loaded \(at 0x[0-9a-f]+\), a relative name no mapping in the core resolves/)]);
    expect(j.files.every((f: { status: string }) => f.status === 'ok')).toBe(true);
  });

  it('a guest library outside the guest root (issue 18, defect 11): found at the host path as qemu -L did, recorded per file, exact, replayed', async () => {
    // qemu -L looks /…/outside/libplugin.so up under the root, and opens the host's own file when the root lacks it.
    const outside = path.join(g.top, 'outside plugins', 'libplugin.so');
    await fs.mkdir(path.dirname(outside), { recursive: true });
    await fs.copyFile(path.join(g.root, g.plugin), outside);
    const core = await qemuCore(AARCH64, g, g.exes['xcrash-pie']!, [outside]);
    const out = path.join(g.top, 'outside.tbz2');
    const run = await corepack(['collect', core, '--root', g.root, '-o', out, '--json']);
    expect(run.exitCode, run.stdout).toBe(0);
    const j = JSON.parse(run.stdout);
    const byPath = new Map(j.files.map((f: { path: string }) => [f.path, f]));
    expect(byPath.get(outside)).toMatchObject({ status: 'ok', bundled: true });
    const m = JSON.parse((await corepack(['inspect', out, '--json'])).stdout);
    expect(m.rootLookup).toBe('qemu');
    const looked = Object.fromEntries(m.files.map((f: { path: string; lookedUp: string }) => [f.path, f.lookedUp]));
    // The guest's own libc under the root, never the host's /lib/libc.so.6 (another machine's).
    expect(looked).toEqual({ [outside]: 'host', '/lib/libc.so.6': 'root', '/lib/ld-linux-aarch64.so.1': 'root', '/lib/libthread_db.so.1': 'root', [g.lib]: 'root', '/opt/app/bin/xcrash-pie': 'root' });
    const shown = JSON.parse((await corepack(['inspect', core, '--root', g.root, '--json'])).stdout);
    expect(shown.writer).toBe('qemu-user');
    expect(shown.modules.find((m: { linkMapName?: string }) => m.linkMapName === outside)).toMatchObject({ kind: 'library', headersInCore: false });
    const text = await corepack(['collect', core, '--root', g.root, '-o', path.join(g.top, 'outside-text.tbz2')]);
    expect(text.stderr).toContain(`root: a qemu-user core: every path was looked up under ${g.root} first, then at this machine's own path, as qemu -L does (5 found under it, 1 on this machine`);
    const replay = await corepack(['replay', out, '--batch', '--dir', path.join(g.top, 'replay-outside')]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(section(replay.stdout, 'shared libraries')).toContain(`/bundle/sysroot${outside}`);
    expect(frames(section(replay.stdout, 'crashed thread')).slice(0, 4)).toEqual(['foo_crash', 'foo_crash', 'foo_crash', 'worker']);
  });

  it('gdb-multiarch alone cannot place the PIE (frames are ??): the control for the next test', async () => {
    const dir = path.join(g.top, 'replay-pie');
    const r = await execa(
      'gdb-multiarch',
      ['-batch', '-nx', '-ex', 'set debuginfod enabled off', '-ex', `set sysroot ${path.join(dir, 'bundle/sysroot')}`, '-ex', `file ${path.join(dir, 'bundle/sysroot/opt/app/bin/xcrash-pie')}`, '-ex', `core-file ${path.join(dir, '.corepack/core')}`, '-ex', 'bt'],
      { reject: false, cwd: path.join(dir, '.corepack/cwd') },
    );
    expect(frames(String(r.stdout))).not.toContain('foo_crash');
  });

  it.each(KINDS)('%s: replay --batch shows the aarch64 backtrace: foo_crash x3, worker; main in the other thread', (kind) => {
    const run = replays.get(kind)!;
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(frames(section(run.stdout, 'crashed thread')).slice(0, 4)).toEqual(['foo_crash', 'foo_crash', 'foo_crash', 'worker']);
    expect(frames(section(run.stdout, 'threads'))).toContain('main');
    const libs = section(run.stdout, 'shared libraries');
    expect(libs).toMatch(/\/bundle\/sysroot\/lib\/libc\.so\.6/);
    expect(libs).toMatch(/\/bundle\/sysroot\/opt\/app\/lib\/libxfoo\.so\.1/);
  });

  it('the gdb script sets the architecture and places the PIE; the lldb script names the triple', async () => {
    const dir = path.join(g.top, 'replay-pie');
    const gdbScript = await fs.readFile(path.join(dir, 'replay.gdb'), 'utf8');
    expect(gdbScript).toMatch(/^set architecture aarch64$/m);
    expect(gdbScript).toMatch(/^symbol-file -o 0x5500000000 ".*\/xcrash-pie"$/m);
    expect(gdbScript).toMatch(/^sharedlibrary$/m);
    expect(replays.get('pie')!.stdout).toMatch(/the core does not let gdb place every module/);
    const json = await corepack(['replay', bundles.get('pie')!.out, '--json', '--dir', dir]);
    expect(JSON.parse(json.stdout)).toMatchObject({ architecture: 'aarch64', placement: [expect.stringMatching(/^symbol-file -o 0x5500000000 /), 'sharedlibrary'] });
    const lldb = await fs.readFile(path.join(dir, 'replay.lldb'), 'utf8');
    expect(lldb).toMatch(/^target create --arch aarch64-unknown-linux-gnu --core /m);
    // The non-PIE runs where it was linked: nothing to place.
    expect(await fs.readFile(path.join(g.top, 'replay-nopie', 'replay.gdb'), 'utf8')).not.toMatch(/^symbol-file -o/m);
  });

  it.skipIf(!haveLldb)('lldb reads the foreign core with the written script', async () => {
    const r = await execa('lldb', ['-b', '-s', path.join(g.top, 'replay-pie', 'replay.lldb'), '-o', 'thread backtrace'], { reject: false, timeout: 60_000 });
    const out = String(r.stdout);
    expect(out).toContain('(aarch64) was loaded');
    expect(out.match(/libxfoo\.so\.1`foo_crash/g)?.length).toBe(3);
    expect(out).toMatch(/xcrash-pie`worker/);
  });

  it('--gdb naming the host gdb (x86-64 only): an error naming the architecture, not exit 0 with ??', async () => {
    const run = await corepack(['replay', bundles.get('pie')!.out, '--batch', '--gdb', 'gdb', '--dir', path.join(g.top, 'replay-hostgdb')]);
    expect(run.exitCode).toBe(5);
    // gdb's own messages come first; corepack's verdict is the last line.
    expect(run.stderr.trim().split('\n').pop()).toMatch(/^corepack: error: .*gdb does not support aarch64 cores .*install gdb-multiarch/);
  });

  it('a gdb that reads the core without the architecture set (the issue\'s measurement): its ?? output is a failure', async () => {
    const dir = path.join(g.top, 'replay-pie');
    const script = path.join(g.top, 'no-arch.gdb');
    await fs.writeFile(script, `set sysroot ${path.join(dir, 'bundle/sysroot')}\ncore-file ${path.join(dir, '.corepack/core')}\n`);
    const r = await runBatch({ program: 'gdb', script, extraArgs: [], cwd: g.top, readable: [], sandbox: { sandboxed: false, reason: 'disabled', description: 'not sandboxed (a test of the output check)' } });
    expect(r.stderr).toMatch(/Couldn't find general-purpose registers in core file/);
    expect(r.failure).toMatch(/cannot read the core's registers/);
  });

  it('no gdb-multiarch and a host-only gdb: exit 6 naming the package', async () => {
    // This machine's programs, less gdb-multiarch.
    const bin = path.join(g.top, 'bin-without-gdb-multiarch');
    await fs.mkdir(bin, { recursive: true });
    for (const name of await fs.readdir('/usr/bin')) if (name !== 'gdb-multiarch') await fs.symlink(path.join('/usr/bin', name), path.join(bin, name));
    const run = await corepack(['replay', bundles.get('pie')!.out, '--batch', '--dir', path.join(g.top, 'replay-nomulti')], { env: { PATH: bin } });
    expect(run.exitCode).toBe(6);
    expect(expectOneLineError(run)).toMatch(/no debugger for aarch64 cores/);
    expect(run.stderr).toContain('apt-get install gdb-multiarch');
  });
});
