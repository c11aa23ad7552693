/**
 * Running gdb on a replay script: interactively (gdb gets the terminal), or
 * in batch mode for a support ticket (signal, crashed thread, libraries,
 * every thread's backtrace, on stdout).
 */
// execa is imported where gdb is run: resolving gdb, before replay starts, must not load it.
import { MissingToolError } from '../util/errors.js';
import { which } from '../util/which.js';
import { GdbFailedError } from './errors.js';

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

/** Section markers in batch output; stable, so support tooling can split on them. */
export const SECTION = {
  crashed: '=== crashed thread ===',
  libraries: '=== shared libraries ===',
  threads: '=== threads ===',
} as const;

/** The commands batch mode runs after the script, in order. */
export function batchCommands(): string[] {
  const echo = (s: string) => `echo \\n${s}\\n`;
  return [echo(SECTION.crashed), 'thread', 'bt', echo(SECTION.libraries), 'info sharedlibrary', echo(SECTION.threads), 'thread apply all bt'];
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
export async function runBatch(gdb: string, script: string, extraArgs: readonly string[]): Promise<BatchResult> {
  const args = ['-batch', '-nx', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', 'set confirm off', '-x', script];
  for (const c of batchCommands()) args.push('-ex', c);
  args.push(...extraArgs);
  const { execa } = await import('execa');
  const r = await execa(gdb, args, { reject: false, stdin: 'ignore', all: false, env: { LC_ALL: 'C' }, maxBuffer: 256 * 1024 * 1024 });
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
  if (scriptError) failure = `gdb could not load the crash: ${scriptError[2]}`;
  else if (r.exitCode !== 0) failure = `gdb exited with code ${r.exitCode ?? r.signal}: ${stderr.trim().split('\n').pop() ?? ''}`;
  else if (!stdout.includes(SECTION.threads)) failure = 'gdb printed no backtraces';
  return { exitCode: r.exitCode ?? 1, stdout, stderr, failure };
}

/**
 * gdb with the terminal. Ctrl-C belongs to gdb (it interrupts a command);
 * corepack ignores SIGINT meanwhile so it does not die under gdb.
 */
export async function runInteractive(gdb: string, script: string, extraArgs: readonly string[]): Promise<number> {
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    const { execa } = await import('execa');
    const r = await execa(gdb, ['-q', '-x', script, ...extraArgs], { stdio: 'inherit', reject: false });
    if (r.failed && r.exitCode === undefined && !r.signal) {
      throw gdbMissing(gdb, `cannot run ${gdb}: ${r.shortMessage ?? r.message}`, { cause: r });
    }
    return r.exitCode ?? 128 + 2;
  } finally {
    process.off('SIGINT', ignore);
  }
}
