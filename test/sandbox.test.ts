/**
 * replay's sandbox, against a hostile bundle: its libthread_db.so.1 is a real
 * wrapper of glibc's libthread_db (it needs the real one, so gdb's thread
 * support works through it) with a constructor that writes a marker into
 * $HOME and into the test's home directory, and connects to a port on
 * 127.0.0.1 where this test listens. gdb loads it as native code.
 *
 * Under replay (bubblewrap, the default) nothing is written and nothing
 * connects, while the backtrace, `info threads` and `errno` work with that
 * very libthread_db; without bwrap (hidden from PATH), or with a bwrap that
 * cannot make a sandbox, replay says so and loads the host's libthread_db;
 * with --no-sandbox the constructor does reach the home directory and the
 * port, which shows the test can fail.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/bundle/manifest.js';
import { bwrapArgs, readHostLayout, tiocstiFilter } from '../src/replay/sandbox.js';
import { BIN, corepack, type CliRun } from './helpers/cli.js';
import { buildCrashProgram, makeCrash, type CrashFixture, type CrashProgram } from './helpers/crash.js';
import { frames, section } from './helpers/gdbOutput.js';
import { compress, entriesFromDir, sha256, tar } from './helpers/tarWriter.js';

const MARKER = 'corepack-hostile-marker';
const FIXTURES = fileURLToPath(new URL('./fixtures/c/', import.meta.url));
const haveLldb = (await execa('lldb', ['--version'], { reject: false })).exitCode === 0;
if (!haveLldb) console.warn('sandbox.test.ts: lldb is not installed; replay --lldb is not run');

const HOSTILE_C = String.raw`
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void mark(const char *dir) {
  char p[4096];
  if (!dir) return;
  snprintf(p, sizeof p, "%s/" MARKER, dir);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) { (void)!write(fd, "pwned\n", 6); close(fd); }
}

__attribute__((constructor)) static void hostile(void) {
  mark(getenv("HOME"));
  mark(TEST_HOME);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
  a.sin_addr.s_addr = inet_addr("127.0.0.1");
  int rc = connect(s, (struct sockaddr *)&a, sizeof a);
  int err = errno;
  if (rc == 0) (void)!write(s, "pwned\n", 6);
  close(s);
  fprintf(stderr, "hostile libthread_db: constructor ran, connect: %s\n", rc == 0 ? "connected" : strerror(err));
}
`;

let program: CrashProgram;
let crash: CrashFixture;
let work: string;
let home: string; // HOME for every run here, and where the marker would land
let hostile: string; // the hostile bundle
let listener: net.Server;
const connections: string[] = [];

interface Run {
  run: CliRun;
  dir: string;
}
const runs = new Map<string, Run>();

/** gdb commands after --: info threads and errno in every thread, and a look around from gdb's shell. */
function gdbExtra(): string[] {
  // The replay directory is visible (and its parents, as bare directories); the test's other files are not.
  const look = ['/root', '/home', home, path.join(home, 'secret.txt'), '/etc/shadow', '/etc/passwd', path.join(work, 'crash.tar.zst'), hostile];
  return [
    '--',
    '-ex', 'echo @@info-threads@@\\n', '-ex', 'info threads',
    '-ex', 'echo @@errno@@\\n', '-ex', 'thread apply all print errno',
    '-ex', 'echo @@list@@\\n', '-ex', 'list thread_crash',
    '-ex', 'echo @@look@@\\n',
    '-ex', `shell for p in ${look.map((p) => `'${p}'`).join(' ')}; do test -e "$p" && echo "VISIBLE $p"; done; id -u; echo "HOME=$HOME"; echo look-done`,
  ];
}

function between(s: string, from: string, to?: string): string {
  const i = s.indexOf(from);
  if (i < 0) throw new Error(`no ${from} in:\n${s}`);
  const rest = s.slice(i + from.length);
  const j = to === undefined ? -1 : rest.indexOf(to);
  return j < 0 ? rest : rest.slice(0, j);
}

async function replay(name: string, extraFlags: string[], env: Record<string, string> = {}): Promise<Run> {
  const dir = path.join(work, `replay-${name}`);
  const run = await corepack(['replay', hostile, '--batch', '--dir', dir, ...extraFlags, ...gdbExtra()], { env: { HOME: home, ...env } });
  return { run, dir };
}

/** A directory with this machine's /usr/bin programs, less bwrap: "bwrap is not installed". */
async function pathWithout(name: string): Promise<string> {
  const bin = path.join(work, `bin-without-${name}`);
  await fs.mkdir(bin, { recursive: true });
  for (const n of await fs.readdir('/usr/bin')) if (n !== name) await fs.symlink(path.join('/usr/bin', n), path.join(bin, n));
  return bin;
}

/**
 * Files named …MARKER under `dir`, through real directories only. Node 20's
 * readdir({ recursive }) follows symlinks: through bin-without-bwrap/X11
 * (→ /usr/bin/X11 → .) it walked /usr/bin 35 levels deep, and failed the
 * run with ELOOP once.
 */
async function markersUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await markersUnder(p)));
    else if (e.name.endsWith(MARKER)) found.push(p);
  }
  return found;
}

async function markers(): Promise<string[]> {
  return [...(await markersUnder(home)), ...(await markersUnder(work))];
}

beforeAll(async () => {
  work = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-sandbox-')));
  home = path.join(work, 'home');
  await fs.mkdir(home);
  await fs.writeFile(path.join(home, 'secret.txt'), 'the developer\'s own file\n');
  listener = net.createServer((sock) => {
    connections.push(new Date().toISOString());
    sock.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;

  program = await buildCrashProgram();
  crash = await makeCrash('segv-thread', { program });
  const bundle = path.join(work, 'crash.tar.zst');
  const c = await corepack(['collect', crash.core, '-o', bundle]);
  expect(c.exitCode, c.stderr).toBe(0);

  // Unpack, put the hostile libthread_db in place of the bundled one, re-pack with matching checksums.
  const unpacked = path.join(work, 'unpacked');
  await fs.mkdir(unpacked);
  await execa('tar', ['xf', bundle, '-C', unpacked]);
  const [rootName] = await fs.readdir(unpacked);
  const root = path.join(unpacked, rootName!);
  const manifest = JSON.parse(await fs.readFile(path.join(root, 'manifest.json'), 'utf8')) as Manifest;
  const tdb = manifest.files.find((f) => f.role === 'libthread_db')!;
  expect(tdb, 'collect bundles libthread_db').toBeDefined();
  const src = path.join(work, 'hostile.c');
  await fs.writeFile(src, HOSTILE_C);
  const built = path.join(work, 'libthread_db.so.1');
  await execa('gcc', [
    '-shared', '-fPIC', '-O1', `-DPORT=${port}`, `-DTEST_HOME=${JSON.stringify(home)}`, `-DMARKER=${JSON.stringify(MARKER)}`,
    '-o', built, src,
    // A soname of its own, so that its DT_NEEDED libthread_db.so.1 is glibc's real one, which does the work.
    '-Wl,-soname,libhostile_thread_db.so', '-Wl,--no-as-needed', tdb.path,
  ]);
  const data = await fs.readFile(built);
  await fs.writeFile(path.join(root, tdb.bundlePath!), data);
  tdb.size = data.length;
  tdb.buildIdOnDisk = null;
  const sums = path.join(root, 'SHA256SUMS');
  await fs.writeFile(sums, (await fs.readFile(sums, 'utf8')).replace(new RegExp(`^[0-9a-f]{64}  ${tdb.bundlePath!.replace(/[.]/g, '\\.')}$`, 'm'), `${sha256(data)}  ${tdb.bundlePath}`));
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  hostile = path.join(work, 'hostile.tar.zst');
  await fs.writeFile(hostile, await compress(tar(await entriesFromDir(root, rootName!, manifestText)), 'zstd'));

  // A bwrap that cannot make a sandbox (as where user namespaces are disabled): a mock, the only one here.
  const fake = path.join(work, 'bin-failing-bwrap');
  await fs.mkdir(fake);
  await fs.writeFile(path.join(fake, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n', { mode: 0o755 });

  const [sandboxed, noBwrap, failing, withSource, lldbRun] = await Promise.all([
    replay('sandboxed', []),
    replay('no-bwrap', [], { PATH: await pathWithout('bwrap') }),
    replay('failing-bwrap', [], { PATH: `${fake}:/usr/bin:/bin` }),
    replay('source', ['--source', FIXTURES]),
    haveLldb
      ? corepack(['replay', hostile, '--batch', '--lldb', '--dir', path.join(work, 'replay-lldb')], { env: { HOME: home } }).then((run) => ({ run, dir: path.join(work, 'replay-lldb') }))
      : undefined,
  ]);
  runs.set('sandboxed', sandboxed).set('no-bwrap', noBwrap).set('failing-bwrap', failing).set('source', withSource);
  if (lldbRun) runs.set('lldb', lldbRun);
  // Nothing may have reached the port or the home directory before the run that is allowed to.
  runs.set('before-no-sandbox', { run: { exitCode: connections.length, stdout: (await markers()).join('\n'), stderr: '' }, dir: '' });
  runs.set('no-sandbox', await replay('no-sandbox', ['--no-sandbox']));
  // Give the listener a moment for a connection made just before gdb exited.
  await new Promise((r) => setTimeout(r, 200));
});

afterAll(async () => {
  await new Promise((r) => (listener ? listener.close(r) : r(undefined)));
  await crash?.cleanup();
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
  if (work) await fs.rm(work, { recursive: true, force: true });
});

function ok(name: string): string {
  const { run } = runs.get(name)!;
  expect(run.exitCode, `${run.stderr}\n---stdout---\n${run.stdout}`).toBe(0);
  return run.stdout;
}

/** The backtrace, info threads and errno are right: 4 threads named by libthread_db, an errno in each. */
function expectThreadsWork(out: string): void {
  expect(frames(section(out, 'crashed thread')).slice(0, 2)).toEqual(['thread_crash', 'worker_wait']);
  const infoThreads = between(out, '@@info-threads@@\n', '@@errno@@');
  // "Thread 0x… (LWP n)" is libthread_db's naming; without it gdb says "LWP n" only.
  expect(infoThreads.match(/^[* ] +\d+ +Thread 0x[0-9a-f]+ \(LWP \d+\)/gm), infoThreads).toHaveLength(4);
  const errno = between(out, '@@errno@@\n', '@@list@@');
  expect(errno.match(/^\$\d+ = -?\d+$/gm), errno).toHaveLength(4);
  expect(errno).not.toMatch(/Cannot find thread-local storage/);
}

describe('replay of a bundle whose libthread_db is hostile', () => {
  it('sandboxed (the default): the bundle\'s libthread_db runs, yet nothing is written and nothing connects', async () => {
    const out = ok('sandboxed');
    const { run, dir } = runs.get('sandboxed')!;
    // The constructor did run, inside, and its connection failed there.
    expect(run.stderr).toMatch(/hostile libthread_db: constructor ran, connect: (Connection refused|Network is unreachable)/);
    // gdb looks for libthread_db in the bundle only (it names the real library its symbols come from, via dladdr).
    expect(await fs.readFile(path.join(dir, 'replay.gdb'), 'utf8')).toMatch(new RegExp(`^set libthread-db-search-path ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/bundle/sysroot/[^:\n]+$`, 'm'));
    expect(out).toMatch(/^ {2}sandbox: {4}sandboxed \(bubblewrap/m);
    expectThreadsWork(out);
    const before = runs.get('before-no-sandbox')!.run;
    expect(before.exitCode, 'connections to the test\'s port before --no-sandbox').toBe(0);
    expect(before.stdout, 'markers written before --no-sandbox').toBe('');
  });

  it('the sandbox hides the home directory and other files, as root too; HOME is its own', () => {
    const look = between(ok('sandboxed'), '@@look@@\n');
    expect(look).toContain('look-done');
    expect(look).not.toMatch(/^VISIBLE /m);
    expect(look).toContain('HOME=/tmp/home');
    // Not vacuous: the same look from outside the sandbox sees them.
    expect(between(ok('no-sandbox'), '@@look@@\n')).toMatch(new RegExp(`^VISIBLE ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });

  it('--no-sandbox: a warning, and the constructor reaches the home directory and the port (the test can fail)', async () => {
    const out = ok('no-sandbox');
    const { run } = runs.get('no-sandbox')!;
    expect(run.stderr).toMatch(/^corepack: warning: not sandboxed \(--no-sandbox\)/m);
    expect(run.stderr).toMatch(/hostile libthread_db: constructor ran, connect: connected/);
    expect(out).toMatch(/^ {2}sandbox: {4}not sandboxed \(--no-sandbox\)/m);
    expectThreadsWork(out);
    expect(connections.length).toBeGreaterThanOrEqual(1);
    expect(await markers()).toContain(path.join(home, MARKER));
  });

  for (const [name, why] of [
    ['no-bwrap', /bubblewrap \(bwrap\) is not installed/],
    ['failing-bwrap', /bwrap cannot make a sandbox here \(bwrap: No permissions to creating new namespace/],
  ] as const) {
    it(`${name === 'no-bwrap' ? 'bwrap hidden from PATH' : 'a bwrap that cannot make a sandbox (a mock bwrap)'}: one line says so, and the host's libthread_db is loaded instead`, async () => {
      const out = ok(name);
      const { run, dir } = runs.get(name)!;
      const lines = run.stderr.split('\n').filter((l) => l.startsWith('corepack: warning: not sandboxed'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(why);
      expect(lines[0]).toMatch(/loads this machine's libthread_db, not the bundle's/);
      expect(run.stderr).not.toMatch(/hostile libthread_db/);
      const script = await fs.readFile(path.join(dir, 'replay.gdb'), 'utf8');
      expect(script).not.toMatch(/^set libthread-db-search-path/m);
      expect(script).not.toMatch(/^add-auto-load-safe-path .*libthread_db/m);
      expect(out).toMatch(/^ {2}sandbox: {4}not sandboxed: /m);
      expectThreadsWork(out);
    });
  }

  it('the program\'s sources are outside the sandbox unless --source DIR names them (read-only)', () => {
    // gdb without the file: "89\tin /…/crashme.c", the line number and no text.
    expect(between(ok('sandboxed'), '@@list@@\n', '@@look@@')).toMatch(/^\d+\tin \/\S*crashme\.c$/m);
    const listed = between(ok('source'), '@@list@@\n', '@@look@@');
    expect(listed).toMatch(/^\d+\s+static __attribute__\(\(noinline\)\) void thread_crash\(void\)$/m);
  });

  it.skipIf(!haveLldb)('replay --lldb: lldb in the same sandbox, every thread\'s backtrace, nothing written, nothing connects', async () => {
    const out = ok('lldb');
    expect(out).toMatch(/^ {2}sandbox: {4}sandboxed \(bubblewrap/m);
    const crashed = section(out, 'crashed thread');
    expect([...crashed.matchAll(/frame #\d+: 0x[0-9a-f]+ [^`]+`(\w+)/g)].map((m) => m[1]).slice(0, 2)).toEqual(['thread_crash', 'worker_wait']);
    expect(section(out, 'threads').match(/^\s*\*? ?thread #\d+/gm)).toHaveLength(4);
    const before = runs.get('before-no-sandbox')!.run;
    expect(before.exitCode).toBe(0);
    expect(before.stdout).toBe('');
  });

  it('--json says whether the debugger ran sandboxed', async () => {
    const dir = runs.get('sandboxed')!.dir;
    const [inside, outside] = await Promise.all([
      corepack(['replay', hostile, '--json', '--dir', dir], { env: { HOME: home } }),
      corepack(['replay', hostile, '--json', '--dir', dir, '--no-sandbox'], { env: { HOME: home } }),
    ]);
    expect(JSON.parse(inside.stdout).sandbox).toMatchObject({ sandboxed: true, tool: 'bubblewrap' });
    expect(JSON.parse(outside.stdout).sandbox).toMatchObject({ sandboxed: false, reason: 'disabled' });
  });
});

describe('the sandbox itself', () => {
  it('interactive gdb gets the terminal inside the sandbox (a real pty)', async () => {
    const dir = runs.get('sandboxed')!.dir;
    // Python's pty module drives corepack as a terminal user would.
    const driver = String.raw`
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
def until(marker, t=60):
    out, end = b'', time.time() + t
    while time.time() < end and marker not in out:
        if select.select([fd], [], [], 0.2)[0]:
            try: chunk = os.read(fd, 65536)
            except OSError: break
            if not chunk: break
            out += chunk
    return out
out = until(b'(gdb) ')
os.write(fd, b'info threads\n'); out += until(b'(gdb) ')
os.write(fd, b'shell tty -s && echo TTY-OK\n'); out += until(b'(gdb) ')
os.write(fd, b'quit\n'); out += until(b'\0', 10)
sys.stdout.write(out.decode(errors='replace'))
sys.stdout.write('\nEXIT %d\n' % os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
`;
    const r = await execa('python3', ['-c', driver, process.execPath, BIN, 'replay', hostile, '--dir', dir], { env: { HOME: home, TERM: 'dumb' }, reject: false, timeout: 90_000 });
    expect(r.stdout).toMatch(/^\s*sandbox: +sandboxed \(bubblewrap/m);
    expect(r.stdout.match(/Thread 0x[0-9a-f]+ \(LWP \d+\)/g)?.length).toBeGreaterThanOrEqual(4);
    expect(r.stdout).toContain('TTY-OK');
    expect(r.stdout).toMatch(/EXIT 0\s*$/);
  });

  it('the seccomp filter refuses TIOCSTI and TIOCLINUX, and lets other ioctls through (real bwrap, real kernel)', async (ctx) => {
    const filter = tiocstiFilter();
    if (!filter) ctx.skip();
    const probe = 'import fcntl, sys\nfor req in (0x5412, 0x541c, 0x5401):\n    try:\n        fcntl.ioctl(0, req, b"x" * 64)\n        print(req, "ok")\n    except OSError as e:\n        print(req, e.errno)\n';
    const layout = await readHostLayout();
    const args = bwrapArgs(layout, { readOnly: [], cwd: '/', env: {}, interactive: true, seccompFd: 3 }, true);
    const withFilter = await execa('bwrap', [...args, 'python3', '-c', probe], { stdio: ['pipe', 'pipe', 'pipe', filter!], reject: false });
    // stdin is a pipe: without the filter the kernel answers ENOTTY (25) to all three.
    expect(withFilter.stdout.trim().split('\n'), withFilter.stderr).toEqual([`${0x5412} 1`, `${0x541c} 1`, `${0x5401} 25`]);
    const without = await execa('bwrap', [...bwrapArgs(layout, { readOnly: [], cwd: '/', env: {}, interactive: true }, true), 'python3', '-c', probe], { reject: false });
    expect(without.stdout.trim().split('\n')).toEqual([`${0x5412} 25`, `${0x541c} 25`, `${0x5401} 25`]);
  });

  it('has no network: nothing listening on the host\'s 127.0.0.1 is reachable', async () => {
    const port = (listener.address() as net.AddressInfo).port;
    const before = connections.length;
    const layout = await readHostLayout();
    const r = await execa('bwrap', [...bwrapArgs(layout, { readOnly: [], cwd: '/', env: {}, interactive: false }, true), 'python3', '-c', `import socket\ntry:\n    socket.create_connection(("127.0.0.1", ${port}), 2)\n    print("connected")\nexcept OSError as e:\n    print("refused", e.errno)`], { reject: false });
    expect(r.stdout).toMatch(/^refused \d+$/);
    expect(connections.length).toBe(before);
  });
});
