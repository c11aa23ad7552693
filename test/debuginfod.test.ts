/**
 * replay and a real debuginfod server (Debian's `debuginfod -F DIR -p PORT`)
 * on 127.0.0.1, serving the debug files this test splits off its own
 * program with `objcopy --only-keep-debug`. The program runs and crashes
 * stripped, so the bundle has no DWARF: the source lines can only come from
 * the server, and gdb, in the sandbox, has no network to ask it. corepack
 * fetches by build ID into libdebuginfod's cache and hands the files in.
 * With the server stopped, and with a server that never answers, replay
 * still works, in bounded time, and says so in one line.
 */
import { execa, type ResultPromise } from 'execa';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corepack, type CliRun } from './helpers/cli.js';
import { buildCrashProgram, makeCrash, type CrashFixture, type CrashProgram } from './helpers/crash.js';
import { frames, section } from './helpers/gdbOutput.js';

let program: CrashProgram;
let crash: CrashFixture;
let work: string;
let bundle: string;
let server: ResultPromise | undefined;
let url: string;
const ids = new Map<string, string>(); // file → build ID
const runs = new Map<string, CliRun & { ms: number; home: string }>();

async function buildId(file: string): Promise<string> {
  const { stdout } = await execa('eu-readelf', ['-n', file]);
  return /Build ID: ([0-9a-f]+)/.exec(stdout)![1]!;
}

/** A port nothing listens on right now (the kernel's choice); debuginfod takes it next. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts debuginfod and waits until it serves `readyId` (it scans DIR asynchronously after it starts listening). */
async function startDebuginfod(dir: string, readyId: string): Promise<void> {
  const port = await freePort();
  const db = path.join(work, 'debuginfod.sqlite');
  server = execa('debuginfod', ['-F', '-p', String(port), '-d', db, '-t', '0', '-g', '0', '-c', '1', dir], { reject: false, stdin: 'ignore', all: true });
  url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    // (debuginfod 0.188 answers HEAD with 400: a GET whose body is dropped.)
    const r = await fetch(`${url}/buildid/${readyId}/debuginfo`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    await r?.body?.cancel().catch(() => undefined);
    if (r?.status === 200) return;
    if (server.exitCode !== undefined && server.exitCode !== null) throw new Error(`debuginfod exited: ${String((await server).all)}`);
    if (Date.now() > deadline) throw new Error(`debuginfod on ${url} did not serve ${readyId} within 30 s`);
    await new Promise((r2) => setTimeout(r2, 100));
  }
}

async function stopDebuginfod(): Promise<void> {
  if (!server) return;
  server.kill('SIGTERM');
  await server;
  server = undefined;
}

async function replay(name: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const home = path.join(work, `home-${name}`);
  await fs.mkdir(home, { recursive: true });
  const start = Date.now();
  const run = await corepack(['replay', bundle, '--batch', '--dir', path.join(work, `replay-${name}`), ...args], { env: { HOME: home, DEBUGINFOD_URLS: '', ...env } });
  runs.set(name, { ...run, ms: Date.now() - start, home });
}

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-debuginfod-')));
  program = await buildCrashProgram();
  const served = path.join(work, 'served');
  await fs.mkdir(served);
  // Split the debug info off, as a distribution does, and run the stripped files.
  for (const f of [program.exe, program.lib, program.plugin]) {
    ids.set(f, await buildId(f));
    await execa('objcopy', ['--only-keep-debug', f, path.join(served, `${path.basename(f)}.debug`)]);
    await execa('objcopy', ['--strip-debug', f]);
  }
  crash = await makeCrash('segv-main', { program });
  bundle = path.join(work, 'stripped.tar.zst');
  const c = await corepack(['collect', crash.core, '-o', bundle]);
  expect(c.exitCode, c.stderr).toBe(0);

  await startDebuginfod(served, ids.get(program.lib)!);
  await Promise.all([
    replay('option', ['--debuginfod', url]),
    replay('env', [], { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: path.join(work, 'cache-from-env') }),
    replay('none', []),
  ]);
  // The cache is what gdb's own client reads: a second replay needs no server.
  await stopDebuginfod();
  await Promise.all([
    replay('cached', ['--debuginfod', url], { HOME: runs.get('option')!.home }),
    replay('stopped', ['--debuginfod', url]),
  ]);
  // A server that accepts and never answers.
  const silent = net.createServer((sock) => sock.on('error', () => undefined).unref());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  await replay('silent', ['--debuginfod', `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`], { DEBUGINFOD_TIMEOUT: '2' });
  silent.close();
  // A server that answers every build ID with the same (wrong) debug file: a mock of a lying server.
  const wrong = await fs.readFile(path.join(served, `${path.basename(program.plugin)}.debug`));
  const liar = http.createServer((_req, res) => res.end(wrong));
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  await replay('liar', ['--debuginfod', `http://127.0.0.1:${(liar.address() as net.AddressInfo).port}`]);
  liar.close();
});

afterAll(async () => {
  await stopDebuginfod();
  await crash?.cleanup();
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function ok(name: string): string {
  const run = runs.get(name)!;
  expect(run.exitCode, `${run.stderr}\n---stdout---\n${run.stdout}`).toBe(0);
  return run.stdout;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The crashing thread's frames with their source file:line, or null where gdb had no line. */
function lines(out: string): Array<[string, string | null]> {
  const bt = section(out, 'crashed thread');
  return frames(bt).map((fn) => {
    const m = new RegExp(`^#\\d+\\s+(?:0x[0-9a-f]+ in )?${esc(fn)} \\(.*\\) at (\\S+:\\d+)$`, 'm').exec(bt);
    return [fn, m ? path.basename(m[1]!) : null];
  });
}

describe('replay with a debuginfod server', () => {
  it('control: without debuginfod the stripped files give function names, no source lines', () => {
    const out = ok('none');
    expect(lines(out).slice(0, 3)).toEqual([['crash_here', null], ['foo_crash', null], ['main', null]]);
    expect(out).toMatch(new RegExp(`symbols-only +libfoo\\.so\\.1\\.2\\.3: no debug info \\(build ID ${ids.get(program.lib)}\\)`));
  });

  it('--debuginfod URL: each module\'s debug info by build ID, reported per module, fetched into ~/.cache/debuginfod_client; gdb in the sandbox shows the source lines', async () => {
    const out = ok('option');
    const { home } = runs.get('option')!;
    expect(lines(out).slice(0, 3)).toEqual([['crash_here', expect.stringMatching(/^libfoo\.c:\d+$/)], ['foo_crash', expect.stringMatching(/^libfoo\.c:\d+$/)], ['main', expect.stringMatching(/^crashme\.c:\d+$/)]]);
    expect(out).toMatch(/^ {2}sandbox: {4}sandboxed \(bubblewrap/m);
    for (const file of [program.exe, program.lib]) {
      const cached = path.join(home, '.cache', 'debuginfod_client', ids.get(file)!, 'debuginfo');
      expect(out).toContain(`  debuginfod   ${file} → ${cached} (fetched from ${url}/buildid/${ids.get(file)}/debuginfo)`);
      expect(await buildId(cached)).toBe(ids.get(file));
    }
    // gdb was given them through links in the replay directory, with its own client off (no network inside).
    const script = await fs.readFile(path.join(work, 'replay-option', 'replay.gdb'), 'utf8');
    expect(script).toContain('set debuginfod enabled off');
    expect(script).toMatch(/^set debug-file-directory .*:.*\/\.corepack\/debuginfod$/m);
  });

  it('DEBUGINFOD_URLS and DEBUGINFOD_CACHE_PATH are read as gdb\'s own client reads them', async () => {
    const out = ok('env');
    expect(lines(out)[0]).toEqual(['crash_here', expect.stringMatching(/^libfoo\.c:\d+$/)]);
    expect(out).toContain(`→ ${path.join(work, 'cache-from-env', ids.get(program.lib)!, 'debuginfo')} (fetched from ${url}/`);
  });

  it('with the server stopped, the cache still serves: source lines, "in debuginfod\'s cache"', () => {
    const out = ok('cached');
    expect(lines(out)[0]).toEqual(['crash_here', expect.stringMatching(/^libfoo\.c:\d+$/)]);
    expect(out).toContain(`  debuginfod   ${program.lib} → ${path.join(runs.get('option')!.home, '.cache', 'debuginfod_client', ids.get(program.lib)!, 'debuginfo')} (in debuginfod's cache)`);
    // libz is not on the server: it is asked for, and the stopped server is named once.
    expect(runs.get('cached')!.stderr.match(/warning: debuginfod /g)).toHaveLength(1);
  });

  it('with the server stopped and nothing cached: replay works and says so in one line', () => {
    const out = ok('stopped');
    const run = runs.get('stopped')!;
    expect(lines(out).slice(0, 3).map(([fn]) => fn)).toEqual(['crash_here', 'foo_crash', 'main']);
    const said = run.stderr.split('\n').filter((l) => l.includes('debuginfod'));
    expect(said).toEqual([`corepack: warning: debuginfod ${url}: connection refused; not asked again in this replay`]);
    expect(out).toMatch(/the debuginfod servers could not be asked/);
  });

  it('a server that never answers costs a bounded wait (DEBUGINFOD_TIMEOUT) and one line', () => {
    const out = ok('silent');
    const run = runs.get('silent')!;
    expect(lines(out)[0]![0]).toBe('crash_here');
    expect(run.stderr.split('\n').filter((l) => l.includes('debuginfod'))).toEqual([expect.stringMatching(/^corepack: warning: debuginfod http:\/\/127\.0\.0\.1:\d+: no answer within 2 s; not asked again in this replay$/)]);
    // One wait for the server, not one per module (three modules lack debug info here).
    expect(run.ms).toBeLessThan(30_000);
  });

  it('a file whose build ID is not the one asked for is refused, named, and not given to gdb (a mock lying server)', async () => {
    const out = ok('liar');
    const run = runs.get('liar')!;
    const id = ids.get(program.lib)!;
    expect(run.stderr).toMatch(new RegExp(`^corepack: warning: debuginfod http://127\\.0\\.0\\.1:\\d+: the file served for build ID ${id} has build ID ${ids.get(program.plugin)}; ignored$`, 'm'));
    expect(lines(out)[0]).toEqual(['crash_here', null]);
    expect(out).not.toMatch(/^ {2}debuginfod {3}.*libfoo/m);
    expect(await fs.readdir(path.join(run.home, '.cache', 'debuginfod_client', id)).catch(() => [])).toEqual([]);
  });
});
