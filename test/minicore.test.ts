/**
 * `collect --stacks-only` end to end, on real kernel cores of crashme whose
 * heap is filled with a marker text (CRASHME_HEAP_MIB): the mini bundle
 * replays in the real gdb with the same backtraces, `info threads` and
 * errno in every thread as the full bundle; eu-unstrip and inspect see the
 * same modules and build IDs in the mini core; and the marker, present all
 * over the full core, is nowhere in the mini bundle.
 */
import { execa } from 'execa';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/bundle/manifest.js';
import { fileURLToPath } from 'node:url';
import { buildCrashProgram, makeCore, makeCrash, type CrashFixture, type CrashMode, type CrashProgram } from './helpers/crash.js';
import { corepack, type CliRun } from './helpers/cli.js';

/** The text crashme writes over its heap (it holds only a shifted copy, so the text is in no file). */
const MARKER = Buffer.from('SECRET-HEAP-MARKER');

interface Case {
  mode: CrashMode;
  heapMiB: number;
  what: string;
}

const CASES: Case[] = [
  { mode: 'segv-main', heapMiB: 4, what: 'a crash in main (in libfoo)' },
  { mode: 'segv-thread-lib', heapMiB: 4, what: 'a crash in a worker thread inside libfoo' },
  { mode: 'abort-plugin', heapMiB: 4, what: "an abort inside the dlopen'ed plugin" },
  { mode: 'segv-thread', heapMiB: 96, what: 'a crash with a large heap (96 MiB)' },
];

/** What gdb shows of the crash that a mini core must keep the same. */
const GDB_EXTRA = ['--', '-ex', 'echo @@info-threads@@\\n', '-ex', 'info threads', '-ex', 'echo @@errno@@\\n', '-ex', 'thread apply all print errno'];

interface Result {
  crash: CrashFixture;
  full: { bundle: string; replay: CliRun; dir: string };
  mini: { bundle: string; replay: CliRun; dir: string; core: string; manifest: Manifest; collect: CliRun };
}

let program: CrashProgram;
let work: string;
const results = new Map<CrashMode, Result>();

async function collectAndReplay(c: Case, crash: CrashFixture, kind: 'full' | 'mini'): Promise<{ bundle: string; replay: CliRun; dir: string; collect: CliRun }> {
  const bundle = path.join(work, `${c.mode}-${kind}.tar.zst`);
  const collect = await corepack(['collect', crash.core, '-o', bundle, ...(kind === 'mini' ? ['--stacks-only'] : [])]);
  expect(collect.exitCode, collect.stderr).toBe(0);
  const dir = path.join(work, `replay-${c.mode}-${kind}`);
  const replay = await corepack(['replay', bundle, '--batch', '--dir', dir, ...GDB_EXTRA]);
  expect(replay.exitCode, replay.stderr).toBe(0);
  return { bundle, replay, dir, collect };
}

/** The mini core as the bundle holds it, unpacked with GNU tar (not with corepack's own reader). */
async function unpackCore(bundle: string, into: string): Promise<{ core: string; manifest: Manifest }> {
  await fs.mkdir(into, { recursive: true });
  await execa('tar', ['-xf', bundle, '-C', into]);
  const [root] = await fs.readdir(into);
  const manifest = JSON.parse(await fs.readFile(path.join(into, root!, 'manifest.json'), 'utf8')) as Manifest;
  return { core: path.join(into, root!, manifest.core.bundlePath), manifest };
}

beforeAll(async () => {
  program = await buildCrashProgram();
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-minicore-')));
  // One at a time: the large-heap core is written while nothing else competes for the disk.
  for (const c of CASES) {
    const crash = await makeCrash(c.mode, { program, env: { CRASHME_HEAP_MIB: String(c.heapMiB) } });
    const [full, mini] = await Promise.all([collectAndReplay(c, crash, 'full'), collectAndReplay(c, crash, 'mini')]);
    const unpacked = await unpackCore(mini.bundle, path.join(work, `unpacked-${c.mode}`));
    results.set(c.mode, { crash, full, mini: { ...mini, ...unpacked } });
  }
});

afterAll(async () => {
  await Promise.all([...results.values()].map((r) => r.crash.cleanup()));
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** Everything gdb printed about the crash, from the signal on, with the replay directory's name taken out. */
function gdbView(r: { replay: CliRun; dir: string }): string {
  const out = r.replay.stdout;
  return out.slice(out.indexOf('=== signal ===')).split(r.dir).join('<DIR>');
}

function between(out: string, from: string, to?: string): string {
  const start = out.indexOf(from);
  if (start < 0) throw new Error(`no ${from} in:\n${out}`);
  const end = to ? out.indexOf(to, start + from.length) : -1;
  return out.slice(start + from.length, end < 0 ? undefined : end);
}

/** Whether `needle` occurs anywhere in the file, read in chunks (the full core is tens of MiB). */
async function fileContains(file: string, needle: Buffer): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const joined = Buffer.concat([tail, chunk]);
    if (joined.includes(needle)) return true;
    tail = joined.subarray(Math.max(0, joined.length - needle.length + 1));
  }
  return false;
}

describe.each(CASES)('collect --stacks-only: $what', (c) => {
  const r = (): Result => results.get(c.mode)!;

  it('replays with the same backtrace in every thread, the same info threads and errno in every thread', () => {
    const { full, mini } = r();
    const fullView = gdbView(full);
    expect(gdbView(mini)).toBe(fullView);
    // Not vacuous: every thread has frames, thread ids from libthread_db, and an errno value.
    const threads = [...between(fullView, '=== threads ===', '@@info-threads@@').matchAll(/^Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP \d+\)\)/gm)];
    expect(threads.length).toBe(4);
    const infoThreads = between(fullView, '@@info-threads@@\n', '@@errno@@');
    expect(infoThreads.match(/^[* ] +\d+ +Thread 0x[0-9a-f]+ \(LWP \d+\)/gm)).toHaveLength(4);
    const errno = between(fullView, '@@errno@@\n');
    expect(errno.match(/^\$\d+ = -?\d+$/gm)).toHaveLength(4);
    expect(errno).not.toMatch(/Cannot find thread-local storage/);
  });

  it('eu-unstrip -n --core and corepack inspect see the same modules and build IDs', async () => {
    const { crash, mini } = r();
    const [fullU, miniU] = await Promise.all([execa('eu-unstrip', ['-n', '--core', crash.core]), execa('eu-unstrip', ['-n', '--core', mini.core])]);
    expect(miniU.stdout).toBe(fullU.stdout);
    expect(fullU.stdout.split('\n').length).toBeGreaterThanOrEqual(6);
    const [fullI, miniI] = await Promise.all([corepack(['inspect', crash.core, '--json']), corepack(['inspect', mini.core, '--json'])]);
    const f = JSON.parse(fullI.stdout) as { modules: unknown[]; threads: unknown[]; miniCore?: unknown };
    const m = JSON.parse(miniI.stdout) as { modules: unknown[]; threads: unknown[]; miniCore?: { cutFrom: { path: string; size: number } } };
    expect(m.modules).toEqual(f.modules);
    expect(m.threads).toEqual(f.threads);
    expect(f.miniCore).toBeUndefined();
    expect(m.miniCore?.cutFrom).toMatchObject({ path: crash.core, size: (await fs.stat(crash.core)).size });
  });

  it('leaves the heap out: the marker all over the full core is nowhere in the mini bundle', async () => {
    const { crash, mini } = r();
    expect(await fileContains(crash.core, MARKER)).toBe(true);
    expect(await fileContains(mini.core, MARKER)).toBe(false);
    const { stdout } = await execa('zstd', ['-dc', mini.bundle], { encoding: 'buffer', maxBuffer: 256 << 20 });
    expect(Buffer.from(stdout).includes(MARKER)).toBe(false);
  });

  it('lists every range kept, with why, and nothing the mini core does not hold', async () => {
    const { crash, mini } = r();
    const mc = mini.manifest.miniCore!;
    expect(mc.cutFrom).toMatchObject({ path: crash.core, size: (await fs.stat(crash.core)).size });
    expect(mc.cutFrom.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(mc.ranges.length).toBeGreaterThan(10);
    for (const x of mc.ranges) expect(x.why).not.toBe('');
    const whys = mc.ranges.map((x) => x.why).join('\n');
    for (const kind of ['stack of thread', 'RELRO', 'link_map of', 'r_debug', 'DTV of thread', 'struct pthread', 'vDSO image']) expect(whys).toContain(kind);
    // The ranges are exactly the mini core's PT_LOADs.
    const { stdout } = await execa('eu-readelf', ['-l', mini.core]);
    const loads = stdout.split('\n').filter((l) => /^\s+LOAD\s/.test(l)).map((l) => {
      const f = l.trim().split(/\s+/);
      return { start: BigInt(f[2]!), size: BigInt(f[4]!) };
    });
    expect(loads.map((l) => `0x${l.start.toString(16)}-0x${(l.start + l.size).toString(16)}`)).toEqual(mc.ranges.map((x) => `${x.start}-${x.end}`));
    expect(loads.reduce((a, l) => a + Number(l.size), 0)).toBe(mc.bytes);
    // Small: well under 1% of the full core.
    expect((await fs.stat(mini.core)).size).toBeLessThan((await fs.stat(crash.core)).size / 20);
  });
});

describe('the mini core on its own', () => {
  it('inspect says it is a mini core and what it was cut from; the bundle says so too', async () => {
    const { crash, mini } = results.get('segv-main')!;
    const text = await corepack(['inspect', mini.core]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^mini core: +cut by collect --stacks-only from ${crash.core.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`, 'm'));
    expect(text.stdout).toContain('the heap and other memory were left out');
    const b = await corepack(['inspect', mini.bundle]);
    expect(b.stdout).toMatch(/^mini core: +cut by collect --stacks-only from .*ranges, .* of memory kept/m);
    expect(mini.collect.stderr).toMatch(/mini core \(--stacks-only\): \d+ ranges/);
    // replay says so before gdb's output, naming the full core to ask for.
    expect(mini.replay.stdout.slice(0, mini.replay.stdout.indexOf('=== signal ==='))).toMatch(new RegExp(`^  mini core: .*heap memory is not in it.*Ask for ${crash.core.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(sha256 [0-9a-f]{64}\\)`, 'm'));
  });

  it('gdb says it cannot read heap memory that was left out, instead of showing zeros', async () => {
    const { mini, crash } = results.get('segv-main')!;
    // heap_blocks (crashme's .bss, kept) points at the heap array (dropped).
    const run = await execa('gdb', ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', 'print heap_blocks[0][0]', program.exe, mini.core], { reject: false });
    expect(run.stdout + run.stderr).toMatch(/Cannot access memory at address 0x[0-9a-f]+/);
    const full = await execa('gdb', ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', 'print/c heap_blocks[0][0]', program.exe, crash.core], { reject: false });
    expect(full.stdout).toMatch(/= 83 'S'/);
  });

  // lldb is optional (gdb is the default): checked where it is installed.
  const lldb = execa('lldb', ['--version'], { reject: false }).then((r) => r.exitCode === 0);
  it('lldb reads the mini core too: every thread, and the crashing frames (when lldb is installed)', async (ctx) => {
    if (!(await lldb)) ctx.skip();
    const { mini } = results.get('segv-main')!;
    const run = await execa('lldb', ['-b', '-c', mini.core, program.exe, '-o', 'thread list', '-o', 'bt'], { reject: false, timeout: 60_000 });
    expect(run.stdout.match(/^[* ] thread #\d+: tid = \d+/gm), run.stdout).toHaveLength(4);
    const names = [...run.stdout.matchAll(/frame #\d+: 0x[0-9a-f]+ [^`]+`(\w+)/g)].map((m) => m[1]);
    expect(names.slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
  });

  it('--stack-cap keeps the innermost frames of a stack and says what it dropped', async () => {
    const { crash } = results.get('segv-main')!;
    const bundle = path.join(work, 'capped.tar.zst');
    const run = await corepack(['collect', crash.core, '-o', bundle, '--stacks-only', '--stack-cap', '4K']);
    expect(run.exitCode, run.stderr).toBe(0);
    const { manifest } = await unpackCore(bundle, path.join(work, 'unpacked-capped'));
    expect(manifest.miniCore!.stackCap).toBe(4096);
    const cut = manifest.miniCore!.ranges.filter((x) => x.why.includes(`stack of thread ${crash.pid} (the innermost 4096 bytes`));
    expect(cut).toHaveLength(1);
    const replay = await corepack(['replay', bundle, '--batch', '--dir', path.join(work, 'replay-capped')]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    const crashed = between(replay.stdout, '=== crashed thread ===', '=== ');
    expect([...crashed.matchAll(/^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(/gm)].map((m) => m[1]).slice(0, 3)).toEqual(['crash_here', 'foo_crash', 'main']);
  });
});

describe('thread-local variables of every kind', () => {
  const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/c/${name}`, import.meta.url));
  let exe: string;
  let core: string;
  let miniCore: string;

  beforeAll(async () => {
    const dir = path.join(work, 'tls');
    await fs.mkdir(path.join(dir, 'cwd'), { recursive: true });
    exe = path.join(dir, 'tlsthreads');
    const plugin = path.join(dir, 'tlsplugin.so');
    await execa('gcc', ['-g', '-O0', '-fPIC', '-shared', '-o', plugin, fixture('tlsplugin.c')]);
    await execa('gcc', ['-g', '-O0', '-pthread', '-o', exe, fixture('tlsthreads.c'), '-ldl']);
    core = (await makeCore([exe, plugin], { cwd: path.join(dir, 'cwd'), signal: 'SIGSEGV' })).core;
    const bundle = path.join(dir, 'tls.tar.zst');
    const run = await corepack(['collect', core, '-o', bundle, '--stacks-only']);
    expect(run.exitCode, run.stderr).toBe(0);
    miniCore = (await unpackCore(bundle, path.join(dir, 'unpacked'))).core;
  });

  it('errno, a __thread variable of the executable in every thread, and a dlopen\'ed module\'s malloc\'ed TLS block print as on the full core', async () => {
    const gdb = async (c: string): Promise<string[]> => {
      const r = await execa('gdb', ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', 'thread 1', '-ex', 'print tls_plugin_value', '-ex', 'print tls_plugin_buffer[0]', '-ex', 'thread apply all print errno', '-ex', 'thread apply all print tls_counter', exe, c], { reject: false });
      return r.stdout.split('\n').filter((l) => /^\$\d+ = /.test(l));
    };
    const [full, mini] = await Promise.all([gdb(core), gdb(miniCore)]);
    expect(mini).toEqual(full);
    // Not vacuous: the values the program set. The kernel lists threads in no fixed order, so per-thread values are compared as sets.
    const values = full.map((l) => l.replace(/^\$\d+ = /, ''));
    expect(values.slice(0, 2)).toEqual(['4242', "120 'x'"]);
    expect(values.slice(2, 5).sort()).toEqual(['33', '40', '41']); // errno: main, worker 0, worker 1
    expect(values.slice(5, 8).sort()).toEqual(['0', '1', '7']); // tls_counter: workers 0 and 1, main's initial 7
  });
});

describe('a crash handler on a malloc\'ed alternate signal stack', () => {
  let exe: string;
  let core: string;
  let miniCore: string;
  let manifest: Manifest;

  beforeAll(async () => {
    const dir = path.join(work, 'sigalt');
    await fs.mkdir(path.join(dir, 'cwd'), { recursive: true });
    exe = path.join(dir, 'sigaltstack');
    await execa('gcc', ['-g', '-O0', '-o', exe, fileURLToPath(new URL('./fixtures/c/sigaltstack.c', import.meta.url))]);
    core = (await makeCore([exe], { cwd: path.join(dir, 'cwd'), signal: 'SIGABRT' })).core;
    const bundle = path.join(dir, 'sigalt.tar.zst');
    const run = await corepack(['collect', core, '-o', bundle, '--stacks-only']);
    expect(run.exitCode, run.stderr).toBe(0);
    ({ core: miniCore, manifest } = await unpackCore(bundle, path.join(dir, 'unpacked')));
  });

  it('keeps the alternate stack only up to its end (not the heap above it) and the interrupted stack with the crashing frames', async () => {
    const bt = async (c: string): Promise<string[]> => {
      const r = await execa('gdb', ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', 'echo @@bt@@\\n', '-ex', 'bt', exe, c], { reject: false });
      return r.stdout.slice(r.stdout.indexOf('@@bt@@')).split('\n').filter((l) => l.startsWith('#'));
    };
    const [full, mini] = await Promise.all([bt(core), bt(miniCore)]);
    expect(mini).toEqual(full);
    expect(full.join('\n')).toMatch(/on_segv[^]*<signal handler called>[^]*crash_here[^]*main/);
    const whys = manifest.miniCore!.ranges.map((r) => r.why).join('\n');
    expect(whys).toMatch(/alternate signal stack of thread \d+/);
    expect(whys).toMatch(/stack of thread \d+ interrupted by a signal handler on its alternate stack/);
    expect(await fileContains(core, MARKER)).toBe(true);
    expect(await fileContains(miniCore, MARKER)).toBe(false);
  });
});
