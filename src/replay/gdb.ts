/**
 * Running gdb on a replay script: interactively (gdb gets the terminal), or
 * in batch mode for a support ticket (signal, crashed thread, libraries,
 * every thread's backtrace, on stdout). Every debugger run goes through one
 * launcher, runDebugger, which puts it in the sandbox (src/replay/sandbox.ts)
 * unless there is none, and says in its result whether it did.
 */
// execa is imported where gdb is run: resolving gdb, before replay starts, must not load it.
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { MissingToolError } from '../util/errors.js';
import { which } from '../util/which.js';
import { GdbFailedError } from './errors.js';
import { EM } from '../elf/constants.js';
import { HOST_MACHINE } from '../elf/arch.js';
import { gdbArchitecture } from './arch.js';
import type { ArchName } from '../elf/arch.js';
import { bwrapArgs, debuggerPaths, hostLayout, passedEnvironment, tiocstiFilter, type SandboxState } from './sandbox.js';

/** gdb is missing: what to install, and the option that names another one. */
function gdbMissing(gdb: string, detail: string, options?: ErrorOptions): MissingToolError {
  return new MissingToolError('gdb', [gdb], 'gdb', 'apt-get install gdb', { how: 'pass', choices: ['--gdb PATH'] }, detail, options);
}

/** The gdb to run: `gdb` (--gdb: a path, or a name looked up on PATH); MissingToolError otherwise. */
export async function resolveGdb(gdb: string): Promise<string> {
  const found = await which(gdb);
  if (found) return found;
  throw gdbMissing(gdb, gdb.includes('/') ? `gdb not found: ${gdb} does not exist or is not executable` : `${gdb} is not installed (not found on PATH)`);
}

/** Does this gdb know the architecture? Distribution gdbs are often built for the host only. */
async function supports(gdb: string, gdbArch: string): Promise<boolean> {
  const { execa } = await import('execa');
  const r = await execa(gdb, ['-batch', '-nx', '-ex', `set architecture ${gdbArch}`], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' }, timeout: 30_000 });
  return r.exitCode === 0 && !/Undefined item|not compatible/.test(`${String(r.stdout)}${String(r.stderr)}`);
}

export interface DebuggerChoice {
  /** Path of the gdb to run. */
  path: string;
  /** `set architecture` argument for the core, when known. */
  architecture: string | undefined;
}

/**
 * The gdb that can read a core of `arch`: --gdb when given; else the host's
 * gdb when the core is of this machine, else gdb-multiarch, else a gdb that
 * says it supports the architecture. MissingToolError naming the package otherwise.
 */
export async function chooseDebugger(opts: { explicit: string | null; arch: ArchName; machine: number }): Promise<DebuggerChoice> {
  const architecture = gdbArchitecture(opts.arch);
  if (opts.explicit !== null) return { path: await resolveGdb(opts.explicit), architecture };
  const native = opts.machine === HOST_MACHINE || (HOST_MACHINE === EM.EM_X86_64 && opts.machine === EM.EM_386);
  const order = native ? ['gdb', 'gdb-multiarch'] : ['gdb-multiarch', 'gdb'];
  for (const name of order) {
    const p = await which(name);
    if (!p) continue;
    if (native && name === 'gdb') return { path: p, architecture };
    if (architecture === undefined || (await supports(p, architecture))) return { path: p, architecture };
  }
  if (native) throw gdbMissing('gdb', 'gdb is not installed (not found on PATH)');
  throw new MissingToolError(
    `a gdb for ${opts.arch} cores`,
    order,
    'gdb-multiarch',
    'apt-get install gdb-multiarch',
    { how: 'pass', choices: ['--gdb PATH'] },
    `no debugger for ${opts.arch} cores on this machine (${order.join(' and ')}: not installed, or built for other architectures only)`,
  );
}

/** Before a long extraction: --gdb must exist, or at least one gdb must be installed. */
export async function checkSomeDebugger(explicit: string | null): Promise<void> {
  if (explicit !== null) {
    await resolveGdb(explicit);
    return;
  }
  if (!(await which('gdb')) && !(await which('gdb-multiarch'))) throw gdbMissing('gdb', 'gdb is not installed (not found on PATH)');
}

/** Section markers in batch output; stable, so support tooling can split on them. */
export const SECTION = {
  crashed: '=== crashed thread ===',
  libraries: '=== shared libraries ===',
  threads: '=== threads ===',
} as const;

/** The commands batch mode runs after the script, in order. */
export function batchCommands(afterLibraries: readonly string[] = []): string[] {
  const echo = (s: string) => `echo \\n${s}\\n`;
  return [echo(SECTION.crashed), 'thread', 'bt', echo(SECTION.libraries), 'info sharedlibrary', ...afterLibraries, echo(SECTION.threads), 'thread apply all bt'];
}

/**
 * Debugger options that name a script file (one or two dashes): gdb's
 * `-x FILE`, `--command=FILE`, `-ix FILE`, `--init-command=FILE`; lldb's
 * `-s FILE`, `-S FILE`, `--source`, `--source-before-file` (gdb's `-s` is a
 * symbol file: a file as well).
 */
export const DEBUGGER_FILE_OPTIONS: ReadonlySet<string> = new Set(['x', 'command', 'ix', 'init-command', 's', 'S', 'source', 'source-before-file']);

/** The files that debugger arguments name with DEBUGGER_FILE_OPTIONS: the sandbox makes them readable. */
export function scriptFiles(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--?([a-zA-Z-]+)(?:=(.*))?$/.exec(args[i]!);
    if (!m || !DEBUGGER_FILE_OPTIONS.has(m[1]!)) continue;
    const file = m[2] ?? args[++i];
    if (file !== undefined && file.startsWith('/')) out.push(file);
  }
  return out;
}

/** One debugger run: what to run, where, and what it may read. */
export interface DebuggerLaunch {
  /** The debugger (gdb, gdb-multiarch, lldb), resolved to a path. */
  program: string;
  args: readonly string[];
  /** Working directory (DIR/.corepack/cwd: empty, inside the replay directory). */
  cwd: string;
  /** Files and directories the debugger reads: the replay directory, fetched debug files. Bound read-only when sandboxed; each must exist. */
  readable: readonly string[];
  /** Files the user named (scripts after --): bound read-only when present. */
  userFiles?: readonly string[];
  /** Environment variables the debugger needs (LC_ALL=C for parsed output, …). */
  env?: Readonly<Record<string, string>>;
  /** Whether to sandbox (probeSandbox's answer). */
  sandbox: SandboxState;
}

export interface DebuggerRun {
  exitCode: number;
  /** Captured in batch mode; empty interactively. */
  stdout: string;
  stderr: string;
  /** Whether the debugger ran sandboxed, and how (or why not): every report shows it. */
  sandbox: SandboxState;
}

/** The command that runs the launch: bwrap around the debugger, or the debugger itself. */
async function command(launch: DebuggerLaunch, interactive: boolean): Promise<{ file: string; args: string[]; env: Record<string, string>; extendEnv: boolean; seccomp?: Buffer }> {
  const env = { ...(launch.env ?? {}) };
  if (!launch.sandbox.sandboxed) return { file: launch.program, args: [...launch.args], env, extendEnv: true };
  const seccomp = interactive ? tiocstiFilter() : undefined;
  const spec = {
    readOnly: [...launch.readable, ...(await debuggerPaths(launch.program, process.env.HOME))],
    readOnlyIfPresent: launch.userFiles ?? [],
    cwd: launch.cwd,
    env: { ...passedEnvironment(process.env), ...env },
    interactive,
    seccompFd: seccomp ? 3 : undefined,
  };
  const args = [...bwrapArgs(await hostLayout(), spec, launch.sandbox.userNamespace), launch.program, ...launch.args];
  return { file: launch.sandbox.bwrap, args, env: {}, extendEnv: false, ...(seccomp ? { seccomp } : {}) };
}

/** bwrap's own failure to start the debugger inside ("bwrap: execvp gdb: No such file or directory"). */
function sandboxStartFailure(stderr: string): string | undefined {
  return /^bwrap: (.*)$/m.exec(stderr)?.[1];
}

/**
 * Runs a debugger, sandboxed when launch.sandbox says so: in batch mode
 * (stdin closed, output captured), or interactively with the terminal.
 * Ctrl-C belongs to the debugger then (it interrupts a command): corepack
 * ignores SIGINT meanwhile so it does not die under it.
 */
export async function runDebugger(launch: DebuggerLaunch, mode: 'batch' | 'interactive'): Promise<DebuggerRun> {
  const interactive = mode === 'interactive';
  const cmd = await command(launch, interactive);
  const { execa } = await import('execa');
  const ignore = () => {};
  if (interactive) process.on('SIGINT', ignore);
  try {
    const stdio = interactive ? (['inherit', 'inherit', 'inherit'] as const) : (['ignore', 'pipe', 'pipe'] as const);
    const r = await execa(cmd.file, cmd.args, {
      reject: false,
      stdio: cmd.seccomp ? [...stdio, cmd.seccomp] : [...stdio],
      env: cmd.env,
      extendEnv: cmd.extendEnv,
      maxBuffer: 256 * 1024 * 1024,
      ...(launch.sandbox.sandboxed ? {} : { cwd: launch.cwd }),
    });
    if (r.failed && r.exitCode === undefined && !r.signal && !r.timedOut) {
      const code = (r as unknown as { code?: string }).code;
      if (code === 'ENOENT' || code === 'EACCES') throw gdbMissing(cmd.file, `cannot run ${cmd.file} (${code})`, { cause: r });
      throw new GdbFailedError(launch.program, `${path.basename(launch.program)} failed: ${r.shortMessage ?? r.message}`, { cause: r });
    }
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    const inside = launch.sandbox.sandboxed && r.exitCode !== 0 ? sandboxStartFailure(stderr) : undefined;
    if (inside) throw new GdbFailedError(launch.program, `the sandbox could not start ${path.basename(launch.program)}: ${inside} (pass --no-sandbox to run it without one)`);
    const bySignal = r.signal ? 128 + (osConstants.signals[r.signal] ?? 0) : 1;
    return { exitCode: r.exitCode ?? bySignal, stdout, stderr, sandbox: launch.sandbox };
  } finally {
    if (interactive) process.off('SIGINT', ignore);
  }
}

export interface BatchResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** One line saying what went wrong, when gdb failed. */
  failure: string | null;
  /** Whether gdb ran sandboxed. */
  sandbox: SandboxState;
}

/** A gdb run on a replay script: the launch without its arguments. */
export type GdbLaunch = Omit<DebuggerLaunch, 'args'> & { script: string; extraArgs: readonly string[] };

/**
 * gdb -batch -nx -x SCRIPT -ex ...: -nx keeps the developer's ~/.gdbinit out
 * of the output, so two runs on two machines print the same.
 */
export async function runBatch(launch: GdbLaunch, opts: { afterLibraries?: readonly string[] } = {}): Promise<BatchResult> {
  const gdb = launch.program;
  const args = ['-batch', '-nx', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', 'set confirm off', '-x', launch.script];
  for (const c of batchCommands(opts.afterLibraries)) args.push('-ex', c);
  args.push(...launch.extraArgs);
  const r = await runDebugger({ ...launch, args, env: { ...launch.env, LC_ALL: 'C' } }, 'batch');
  const { stdout, stderr } = r;
  let failure: string | null = null;
  // An error in the script (file, core-file) does not change gdb's exit status in batch mode.
  const scriptError = /^(.*): Error in sourced command file:\n(.*)$/m.exec(stderr);
  const noRegisters = /Couldn't find general-purpose registers in core file|^#0\s+<unavailable> in \?\? \(\)/m.exec(`${stderr}\n${stdout}`);
  const unknownArch = scriptError ? /^Undefined item: "(.*)"\.$/.exec(scriptError[2]!) : null;
  if (unknownArch) failure = `${gdb} does not support ${unknownArch[1]} cores (set architecture ${unknownArch[1]}: undefined item); install gdb-multiarch or pass --gdb`;
  else if (scriptError) failure = `gdb could not load the crash: ${scriptError[2]}`;
  else if (noRegisters) failure = `${gdb} cannot read the core's registers (${noRegisters[0].trim()}): it does not support this core's architecture; install gdb-multiarch or pass --gdb`;
  else if (r.exitCode !== 0) failure = `gdb exited with code ${r.exitCode}: ${stderr.trim().split('\n').pop() ?? ''}`;
  else if (!stdout.includes(SECTION.threads)) failure = 'gdb printed no backtraces';
  return { exitCode: r.exitCode, stdout, stderr, failure, sandbox: r.sandbox };
}

/** lldb is missing. */
function lldbMissing(detail: string): MissingToolError {
  return new MissingToolError('lldb', ['lldb'], 'lldb', 'apt-get install lldb', { how: 'use gdb (the default)', choices: ['corepack-crash replay without --lldb'] }, detail);
}

/** The lldb to run, or MissingToolError. */
export async function resolveLldb(): Promise<string> {
  const found = await which('lldb');
  if (found) return found;
  throw lldbMissing('lldb is not installed (not found on PATH)');
}

/** A debugger run on a replay script (gdb's or lldb's): the launch without its arguments. */
export type ScriptLaunch = GdbLaunch;

/**
 * lldb -b -s SCRIPT: the crashed thread, the images and every thread's
 * backtrace, split into the same sections as gdb's batch output (lldb
 * echoes each command it runs, which is where each section starts).
 */
export async function runLldbBatch(launch: ScriptLaunch): Promise<BatchResult> {
  const commands: Array<[string, string]> = [
    [SECTION.crashed, 'thread backtrace'],
    [SECTION.libraries, 'image list'],
    [SECTION.threads, 'thread backtrace all'],
  ];
  const args = ['-b', '-x', '-s', launch.script, ...commands.flatMap(([, c]) => ['-o', c]), ...launch.extraArgs];
  const r = await runDebugger({ ...launch, args, env: { ...launch.env, LC_ALL: 'C' } }, 'batch');
  let stdout = r.stdout;
  for (const [marker, c] of commands) stdout = stdout.replace(`(lldb) ${c}\n`, `\n${marker}\n(lldb) ${c}\n`);
  let failure: string | null = null;
  const loadError = /^error: (.*)$/m.exec(`${r.stderr}\n${r.stdout}`);
  if (r.exitCode !== 0) failure = `lldb exited with code ${r.exitCode}: ${(loadError?.[1] ?? r.stderr.trim().split('\n').pop()) || ''}`;
  else if (!/^\s*\* thread #\d+/m.test(r.stdout)) failure = `lldb could not load the crash${loadError ? `: ${loadError[1]}` : ''}`;
  return { exitCode: r.exitCode, stdout, stderr: r.stderr, failure, sandbox: r.sandbox };
}

/** lldb with the terminal; resolves to lldb's exit status. */
export async function runLldbInteractive(launch: ScriptLaunch): Promise<number> {
  const r = await runDebugger({ ...launch, args: ['-x', '-s', launch.script, ...launch.extraArgs] }, 'interactive');
  return r.exitCode;
}

/** gdb with the terminal; resolves to gdb's exit status. */
export async function runInteractive(launch: GdbLaunch): Promise<number> {
  const r = await runDebugger({ ...launch, args: ['-q', '-x', launch.script, ...launch.extraArgs] }, 'interactive');
  return r.exitCode;
}
