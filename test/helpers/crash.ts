/**
 * Test-fixture factory: builds test/fixtures/c/crashme (plus libfoo and the
 * plugin) and makes it crash for real, producing a kernel core file, or a
 * gdb `gcore` when the kernel would not write one where we can find it.
 *
 * Layout of a build (all paths canonical, under a fresh mkdtemp dir):
 *
 *   <tmp>/corepack-test-XXXXXX/
 *     app dir "x"/              dir     (space and double quote on purpose)
 *       crashme                 exe     (RUNPATH = libDir)
 *       lib/                    libDir
 *         libfoo.so.1.2.3       lib     (soname libfoo.so.1)
 *         libfoo.so.1 -> libfoo.so.1.2.3
 *         libfoo.so   -> libfoo.so.1
 *         plugin.so             plugin
 *     cwd/                      where the program runs; holds core.<pid>
 *
 * Every external command gets an argv array (never a shell string), so the
 * awkward directory name needs no quoting anywhere.
 */
import { afterAll, beforeAll } from 'vitest';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crashLockPrefix, withCorePatternRead } from './corepattern.js';

export type CrashMode = 'segv-main' | 'segv-thread' | 'segv-thread-lib' | 'abort-plugin';
export type CoreMethod = 'kernel' | 'gcore';

export interface CrashProgram {
  dir: string; // install dir; its name contains a space and a double quote
  exe: string; // absolute path of the executable
  libDir: string; // holds libfoo.so* and plugin.so
  lib: string; // real path of libfoo.so.1.2.3
  plugin: string; // path of plugin.so
}

export interface CrashFixture extends CrashProgram {
  core: string; // absolute path of the core file
  method: CoreMethod;
  mode: CrashMode;
  pid: number; // pid of the crashed process
  cleanup(): Promise<void>;
}

export interface CoreResult {
  core: string;
  pid: number;
  method: CoreMethod;
}

export interface MakeCoreOptions {
  /** Working directory of the program; the core ends up in it. */
  cwd: string;
  /** Extra environment variables (on top of process.env). */
  env?: Record<string, string | undefined>;
  /** Skip the kernel and take the core with gdb's gcore. */
  forceGcore?: boolean;
  /** The signal the program must die of; default: any core-dumping signal. */
  signal?: NodeJS.Signals;
  /** Kill the program (and fail) after this long; default 30 s. */
  timeoutMs?: number;
}

export interface MakeCrashOptions {
  /** FOO_VARIANT for libfoo; default 1. Ignored with `program`. */
  variant?: number;
  forceGcore?: boolean;
  /**
   * Crash an already built program instead of building a new one. Its files
   * then belong to the caller: cleanup() removes only the crash's own temp
   * dir (holding cwd and the core), and `dir` is the program's dir.
   */
  program?: CrashProgram;
  /** Extra environment for the crashing program (CRASHME_HEAP_MIB …). */
  env?: Record<string, string>;
}

const SRC_DIR = fileURLToPath(new URL('../fixtures/c/', import.meta.url));
const INSTALL_DIR_NAME = 'app dir "x"';
const LIB_REAL = 'libfoo.so.1.2.3';
const CFLAGS = ['-g', '-O0'];

const MODE_SIGNAL: Record<CrashMode, NodeJS.Signals> = {
  'segv-main': 'SIGSEGV',
  'segv-thread': 'SIGSEGV',
  'segv-thread-lib': 'SIGSEGV',
  'abort-plugin': 'SIGABRT',
};

// Signals whose default action dumps core (signal(7)).
const CORE_SIGNALS: ReadonlySet<string> = new Set([
  'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGQUIT', 'SIGSEGV', 'SIGSYS', 'SIGTRAP', 'SIGXCPU', 'SIGXFSZ',
]);

const GDB = ['gdb', '-batch', '-nx', '-iex', 'set debuginfod enabled off'] as const;

/** A fresh `corepack-test-XXXXXX` dir, canonicalised so paths match what the kernel records. */
async function makeTempRoot(): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-test-')));
}

async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

function gcc(args: string[]): Promise<unknown> {
  // execa rejects with the full command line and gcc's stderr in the message.
  return execa('gcc', args, { stdin: 'ignore' });
}

function compileLibfoo(output: string, variant: number): Promise<unknown> {
  // libfoo.c pads its code with FOO_VARIANT * 256 bytes.
  if (!Number.isInteger(variant) || variant < 1) throw new Error(`libfoo variant must be a positive integer, not ${variant}`);
  return gcc([
    ...CFLAGS, '-fPIC', '-shared', `-DFOO_VARIANT=${variant}`,
    '-Wl,-soname,libfoo.so.1', '-Wl,--build-id',
    '-o', output, path.join(SRC_DIR, 'libfoo.c'),
  ]);
}

/**
 * Compile crashme, libfoo (FOO_VARIANT = opts.variant, default 1) and the
 * plugin. opts.dir is the install dir to create (default:
 * `<fresh mkdtemp>/app dir "x"`); removing it, or its mkdtemp parent, is up
 * to the caller.
 */
export async function buildCrashProgram(opts: { variant?: number; dir?: string } = {}): Promise<CrashProgram> {
  const wanted = opts.dir === undefined ? path.join(await makeTempRoot(), INSTALL_DIR_NAME) : path.resolve(opts.dir);
  await fs.mkdir(path.join(wanted, 'lib'), { recursive: true });
  const dir = await fs.realpath(wanted);
  const libDir = path.join(dir, 'lib');
  const lib = path.join(libDir, LIB_REAL);
  const plugin = path.join(libDir, 'plugin.so');
  const exe = path.join(dir, 'crashme');

  await Promise.all([
    compileLibfoo(lib, opts.variant ?? 1),
    gcc([...CFLAGS, '-fPIC', '-shared', '-Wl,--build-id', '-o', plugin, path.join(SRC_DIR, 'plugin.c')]),
  ]);
  await fs.symlink(LIB_REAL, path.join(libDir, 'libfoo.so.1'));
  await fs.symlink('libfoo.so.1', path.join(libDir, 'libfoo.so'));
  await gcc([
    ...CFLAGS, '-pthread', '-Wl,--build-id', '-o', exe, path.join(SRC_DIR, 'crashme.c'),
    '-L', libDir, '-lfoo',
    // -Xlinker passes libDir verbatim; -Wl,-rpath,<dir> would split it at commas.
    '-Xlinker', '-rpath', '-Xlinker', libDir,
    // dlopen lives in libc since glibc 2.34; older ones need libdl.
    '-ldl',
  ]);
  return { dir, exe, libDir, lib, plugin };
}

/**
 * Recompile libfoo.so.1.2.3 in libDir with another FOO_VARIANT (new build ID,
 * new addresses). Like a package upgrade, the new file replaces the old one
 * by rename, so the symlinks stay and a running process keeps its old inode.
 */
export async function rebuildLibfoo(libDir: string, variant: number): Promise<void> {
  const target = path.join(libDir, LIB_REAL);
  const temp = path.join(libDir, `.${LIB_REAL}.rebuild-${process.pid}`);
  try {
    await compileLibfoo(temp, variant);
    await fs.rename(temp, target);
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** Build crashme (unless opts.program is given) and crash it in `mode`. */
export async function makeCrash(mode: CrashMode, opts: MakeCrashOptions = {}): Promise<CrashFixture> {
  const root = await makeTempRoot();
  const cleanup = () => removeDir(root);
  try {
    const program = opts.program ?? (await buildCrashProgram({ variant: opts.variant, dir: path.join(root, INSTALL_DIR_NAME) }));
    const cwd = path.join(root, 'cwd');
    await fs.mkdir(cwd);
    const result = await makeCore([program.exe, mode, program.plugin], {
      cwd,
      signal: MODE_SIGNAL[mode],
      forceGcore: opts.forceGcore,
      ...(opts.env ? { env: opts.env } : {}),
    });
    return { ...program, ...result, mode, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Run `cmd` (argv; cmd[0] is the program) in opts.cwd, expect it to die of a
 * core-dumping signal, and return its core: `<opts.cwd>/core.<pid>`.
 *
 * The kernel writes the core unless core_pattern pipes it to a handler
 * (systemd-coredump, apport, ...) or no core file shows up; then the program
 * runs again under gdb, which stops at the fatal signal and writes a core
 * with `gcore` (method 'gcore').
 */
export async function makeCore(cmd: string[], opts: MakeCoreOptions): Promise<CoreResult> {
  if (cmd.length === 0) throw new Error('makeCore: empty command');
  const cwd = path.resolve(opts.cwd);
  const kernel = opts.forceGcore ? undefined : await kernelCore(cmd, { ...opts, cwd });
  const result = kernel ?? (await gcoreCore(cmd, { ...opts, cwd }));
  await assertElfCore(result.core);
  return result;
}

// ---------------------------------------------------------------------------
// Kernel cores

export interface CorePattern {
  dir: string; // directory the kernel writes into (absolute)
  name: RegExp; // file name of this pid's core
}

/**
 * Where a crash of `pid` run in `cwd` leaves its core, according to
 * /proc/sys/kernel/core_pattern (see core(5)); undefined when the kernel
 * hands cores to a pipe or the pattern is beyond us.
 */
export function parseCorePattern(pattern: string, usesPid: boolean, cwd: string, pid: number): CorePattern | undefined {
  if (pattern === '' || pattern.startsWith('|')) return undefined;
  const full = path.resolve(cwd, pattern); // a relative pattern is relative to the crashing process's cwd
  const dir = path.dirname(full);
  if (dir.includes('%')) return undefined; // specifiers in directory names: not worth globbing for
  const base = path.basename(full);
  let re = '';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c !== '%' || i === base.length - 1) {
      re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      continue;
    }
    const spec = base[++i]!;
    // %p is the pid as we see it; anything else (%e, %t, %h, %P, ...) may be anything.
    re += spec === 'p' ? String(pid) : spec === '%' ? '%' : '.*';
  }
  // core_uses_pid appends ".PID" only when the pattern has no %p of its own.
  if (usesPid && !/(^|[^%])(%%)*%p/.test(base)) re += `\\.${pid}`;
  return { dir, name: new RegExp(`^${re}$`) };
}

async function readProcSys(name: string): Promise<string> {
  return (await fs.readFile(`/proc/sys/kernel/${name}`, 'utf8')).replace(/\n$/, '');
}

/**
 * Regular files in `dir`, each with an identity that changes when the file
 * is replaced or rewritten: with a fixed pattern such as `core` the kernel
 * unlinks and recreates a file of the same name.
 */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await fs.readdir(dir).catch(() => [] as string[])) {
    const st = await fs.stat(path.join(dir, entry)).catch(() => undefined);
    if (st?.isFile()) files.set(entry, `${st.ino}:${st.mtimeMs}:${st.size}`);
  }
  return files;
}

// The pattern is read under the shared lock too: read before it, it could be another
// checkout's test handler (a |pipe, set under the exclusive lock), and the crash then
// fell back to gcore (minicore.test's alternate-stack case stopped at SIGSEGV, not SIGABRT).
function kernelCore(cmd: string[], opts: MakeCoreOptions & { cwd: string }): Promise<CoreResult | undefined> {
  return withCorePatternRead(() => kernelCoreLocked(cmd, opts));
}

async function kernelCoreLocked(cmd: string[], opts: MakeCoreOptions & { cwd: string }): Promise<CoreResult | undefined> {
  const pattern = await readProcSys('core_pattern');
  const usesPid = (await readProcSys('core_uses_pid').catch(() => '0')) === '1';
  // The file name depends on the pid; its directory does not.
  const patternDir = parseCorePattern(pattern, usesPid, opts.cwd, 0)?.dir;
  if (patternDir === undefined) return undefined;
  const dirs = [...new Set([opts.cwd, patternDir])];
  const before = await Promise.all(dirs.map(snapshot));

  // `exec` keeps the pid, so the child's pid is the crashing program's pid.
  // The suite's lock, shared: no test changes core_pattern while this program can crash.
  const child = execa('bash', ['-c', `${crashLockPrefix()}ulimit -c unlimited; exec "$@"`, 'bash', ...cmd], runOptions(opts));
  const pid = child.pid;
  const result = await child;
  if (pid === undefined) throw new Error(`makeCore: could not start ${cmd[0]}: ${result.message ?? ''}`);
  checkFatalSignal(cmd, result, opts.signal);

  // The process is reaped only after the kernel has finished writing its
  // core, so any core is complete by now.
  const { name } = parseCorePattern(pattern, usesPid, opts.cwd, pid)!;
  const found: string[] = [];
  for (const [i, dir] of dirs.entries()) {
    for (const [entry, id] of await snapshot(dir)) {
      if (name.test(entry) && before[i]!.get(entry) !== id) found.push(path.join(dir, entry));
    }
  }
  // None: e.g. RLIMIT_CORE could not be raised, or cwd is not writable.
  if (found.length === 0) return undefined;
  if (found.length > 1) throw new Error(`makeCore: several new files match core_pattern ${pattern}: ${found.join(', ')}`);

  // Rename to core.PID inside cwd: whoever owns cwd can clean up, and a
  // later crash in the same cwd cannot overwrite this one's `core`.
  const core = path.join(opts.cwd, `core.${pid}`);
  if (found[0] !== core) await moveFile(found[0]!, core);
  return { core, pid, method: 'kernel' };
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await fs.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await fs.copyFile(from, to);
    await fs.rm(from);
  }
}

// ---------------------------------------------------------------------------
// gdb fallback

async function gcoreCore(cmd: string[], opts: MakeCoreOptions & { cwd: string }): Promise<CoreResult> {
  // gdb takes the rest of the `gcore` line as the file name; only a newline
  // could break that.
  const temp = path.join(opts.cwd, `core.gcore-${process.pid}-${Date.now()}`);
  if (temp.includes('\n')) throw new Error(`makeCore: cwd contains a newline: ${JSON.stringify(opts.cwd)}`);
  const result = await execa(
    GDB[0],
    [
      ...GDB.slice(1),
      // Real crashes happen with ASLR on; gdb would turn it off.
      '-ex', 'set disable-randomization off',
      // Keep gdb's default startup-with-shell: it quotes program and
      // arguments itself, whereas without a shell it re-splits them at spaces.
      '-ex', 'run',
      '-ex', 'info proc',
      '-ex', `gcore ${temp}`,
      '--args', ...cmd,
    ],
    runOptions(opts),
  );
  const output = `${result.stdout}\n${result.stderr}`;
  const signal = /received signal (SIG[A-Z0-9]+)/.exec(output)?.[1];
  const pid = Number(/^process (\d+)$/m.exec(output)?.[1]);
  const describe = () => `${cmd.join(' ')} under gdb`;
  if (!signal || !CORE_SIGNALS.has(signal) || (opts.signal && signal !== opts.signal)) {
    await fs.rm(temp, { force: true });
    throw new Error(
      `${describe()}: expected it to stop at ${opts.signal ?? 'a core-dumping signal'}, ` +
        `got ${signal ?? 'no signal'}\n--- gdb output ---\n${output}`,
    );
  }
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${describe()}: no pid in gdb output\n${output}`);
  const core = path.join(opts.cwd, `core.${pid}`);
  try {
    await fs.rename(temp, core);
  } catch (err) {
    throw new Error(`${describe()}: gcore wrote no core (${String(err)})\n--- gdb output ---\n${output}`);
  }
  return { core, pid, method: 'gcore' };
}

// ---------------------------------------------------------------------------
// Shared checks

function runOptions(opts: MakeCoreOptions & { cwd: string }) {
  return {
    cwd: opts.cwd,
    env: opts.env,
    reject: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  } as const;
}

interface RunOutcome {
  signal?: string;
  exitCode?: number;
  timedOut: boolean;
  stdout: unknown;
  stderr: unknown;
  message?: string;
}

/** Throw unless the program died of `expected` (or of any core-dumping signal). */
function checkFatalSignal(cmd: string[], result: RunOutcome, expected: NodeJS.Signals | undefined): void {
  const ok = result.signal !== undefined && !result.timedOut &&
    (expected ? result.signal === expected : CORE_SIGNALS.has(result.signal));
  if (ok) return;
  const how = result.timedOut
    ? 'timed out'
    : result.signal
      ? `died of ${result.signal}`
      : result.exitCode !== undefined
        ? `exited with code ${result.exitCode}`
        : `failed to run (${result.message ?? 'unknown error'})`;
  throw new Error(
    `${cmd.join(' ')}: expected it to die of ${expected ?? 'a core-dumping signal'}, but it ${how}\n` +
      `--- stderr ---\n${String(result.stderr)}\n--- stdout ---\n${String(result.stdout)}`,
  );
}

/** Fail early, with a clear message, if `file` is not an ELF core (e_type ET_CORE). */
async function assertElfCore(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(18), 0, 18, 0);
    const isElf = bytesRead === 18 && buffer.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'));
    if (!isElf || buffer.readUInt16LE(16) !== 4) throw new Error(`${file} is not an ELF core file`);
  } finally {
    await handle.close();
  }
}

export interface CrashEnv {
  program: CrashProgram;
  crash: CrashFixture;
  /** A scratch directory for the test file's own outputs. */
  work: string;
}

/**
 * The usual set-up of an end-to-end test file: build the program once, crash
 * it once in `mode`, give the file a scratch directory, and remove all of it
 * afterwards. The returned object is filled in by beforeAll.
 */
export function useCrash(mode: CrashMode, scratchPrefix = 'corepack-work-'): CrashEnv {
  const env = {} as CrashEnv;
  beforeAll(async () => {
    env.program = await buildCrashProgram();
    env.crash = await makeCrash(mode, { program: env.program });
    env.work = await fs.mkdtemp(path.join(os.tmpdir(), scratchPrefix));
  });
  afterAll(async () => {
    await env.crash?.cleanup();
    if (env.program) await fs.rm(path.dirname(env.program.dir), { recursive: true, force: true });
    if (env.work) await fs.rm(env.work, { recursive: true, force: true });
  });
  return env;
}
