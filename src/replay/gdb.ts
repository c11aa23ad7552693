/**
 * Running gdb on a replay script: interactively (gdb gets the terminal), or
 * in batch mode for a support ticket (signal, crashed thread, libraries,
 * every thread's backtrace, on stdout).
 */
// execa is imported where gdb is run: resolving gdb, before replay starts, must not load it.
import { MissingToolError } from '../util/errors.js';
import { which } from '../util/which.js';
import { GdbFailedError } from './errors.js';
import { EM } from '../elf/constants.js';
import { HOST_MACHINE } from '../elf/arch.js';
import { gdbArchitecture } from './arch.js';

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
export async function chooseDebugger(opts: { explicit: string | null; arch: string; machine: number }): Promise<DebuggerChoice> {
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

export interface BatchResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** One line saying what went wrong, when gdb failed. */
  failure: string | null;
}

/**
 * gdb -batch -nx -x SCRIPT -ex ...: -nx keeps the developer's ~/.gdbinit out
 * of the output, so two runs on two machines print the same.
 */
export async function runBatch(gdb: string, script: string, extraArgs: readonly string[], opts: { cwd?: string; afterLibraries?: readonly string[] } = {}): Promise<BatchResult> {
  const args = ['-batch', '-nx', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', 'set confirm off', '-x', script];
  for (const c of batchCommands(opts.afterLibraries)) args.push('-ex', c);
  args.push(...extraArgs);
  const { execa } = await import('execa');
  const r = await execa(gdb, args, { reject: false, stdin: 'ignore', all: false, env: { LC_ALL: 'C' }, maxBuffer: 256 * 1024 * 1024, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  if (r.failed && r.exitCode === undefined) {
    const code = (r as unknown as { code?: string }).code;
    if (code === 'ENOENT' || code === 'EACCES') throw gdbMissing(gdb, `cannot run ${gdb} (${code})`, { cause: r });
    throw new GdbFailedError(gdb, `gdb failed: ${r.shortMessage ?? r.message}`, { cause: r });
  }
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  let failure: string | null = null;
  // An error in the script (file, core-file) does not change gdb's exit status in batch mode.
  const scriptError = /^(.*): Error in sourced command file:\n(.*)$/m.exec(stderr);
  const noRegisters = /Couldn't find general-purpose registers in core file|^#0\s+<unavailable> in \?\? \(\)/m.exec(`${stderr}\n${stdout}`);
  const unknownArch = scriptError ? /^Undefined item: "(.*)"\.$/.exec(scriptError[2]!) : null;
  if (unknownArch) failure = `${gdb} does not support ${unknownArch[1]} cores (set architecture ${unknownArch[1]}: undefined item); install gdb-multiarch or pass --gdb`;
  else if (scriptError) failure = `gdb could not load the crash: ${scriptError[2]}`;
  else if (noRegisters) failure = `${gdb} cannot read the core's registers (${noRegisters[0].trim()}): it does not support this core's architecture; install gdb-multiarch or pass --gdb`;
  else if (r.exitCode !== 0) failure = `gdb exited with code ${r.exitCode ?? r.signal}: ${stderr.trim().split('\n').pop() ?? ''}`;
  else if (!stdout.includes(SECTION.threads)) failure = 'gdb printed no backtraces';
  return { exitCode: r.exitCode ?? 1, stdout, stderr, failure };
}

/**
 * gdb with the terminal. Ctrl-C belongs to gdb (it interrupts a command);
 * corepack ignores SIGINT meanwhile so it does not die under gdb.
 */
export async function runInteractive(gdb: string, script: string, extraArgs: readonly string[], cwd?: string): Promise<number> {
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    const { execa } = await import('execa');
    const r = await execa(gdb, ['-q', '-x', script, ...extraArgs], { stdio: 'inherit', reject: false, ...(cwd ? { cwd } : {}) });
    if (r.failed && r.exitCode === undefined && !r.signal) {
      throw gdbMissing(gdb, `cannot run ${gdb}: ${r.shortMessage ?? r.message}`, { cause: r });
    }
    return r.exitCode ?? 128 + 2;
  } finally {
    process.off('SIGINT', ignore);
  }
}
