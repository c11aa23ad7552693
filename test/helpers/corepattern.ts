/**
 * The kernel's core_pattern and core_pipe_limit are global: a test that
 * changes them must be the only thing crashing programs meanwhile, and must
 * put them back whatever happens.
 *
 * Two locks (flock(1), util-linux):
 *   - the suite's own, SUITE_CORE_PATTERN_LOCK under os.tmpdir(): every
 *     test that crashes a program holds it *shared* from before the crash
 *     until the crashed program is gone (crashLockPrefix(), which the crash
 *     helpers put before `ulimit -c`), and a test that changes the pattern
 *     holds it *exclusively*, so even a concurrent run of the suite cannot
 *     crash a program while the pattern is not its own;
 *   - /work/team/core_pattern.lock where it exists (the machine this project
 *     is developed on, where other checkouts crash programs too), taken
 *     exclusively as well.
 * The pattern is changed only inside withCorePattern(), which saves both
 * values first and restores them in `finally`, on SIGINT/SIGTERM and at exit.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SUITE_CORE_PATTERN_LOCK = path.join(os.tmpdir(), 'corepack-suite-core-pattern.lock');
const TEAM_LOCK = '/work/team/core_pattern.lock';
const PATTERN = '/proc/sys/kernel/core_pattern';
const PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';
/** How long to wait for the other crash tests to finish before giving up. */
const LOCK_WAIT_S = 600;

/**
 * A bash prefix that takes the suite's lock shared on descriptor 9; the
 * program exec'd after it inherits the descriptor, so the lock is held
 * until it dies, after the kernel wrote its core.
 */
export function crashLockPrefix(): string {
  return `exec 9>>${JSON.stringify(SUITE_CORE_PATTERN_LOCK)}; flock -s -w ${LOCK_WAIT_S} 9 || exit 99; `;
}

export interface KernelCoreSettings {
  pattern: string;
  pipeLimit: string;
}

export function readCoreSettings(): KernelCoreSettings {
  return { pattern: readFileSync(PATTERN, 'utf8').replace(/\n$/, ''), pipeLimit: readFileSync(PIPE_LIMIT, 'utf8').trim() };
}

function writeCoreSettings(s: KernelCoreSettings): void {
  writeFileSync(PATTERN, s.pattern);
  writeFileSync(PIPE_LIMIT, s.pipeLimit);
}

/**
 * Holds the locks until release() (a flock process waiting on its stdin):
 * exclusively to change the pattern, shared to read it and crash by it.
 */
async function holdLocks(mode: '-x' | '-s' = '-x'): Promise<{ release(): Promise<void> }> {
  const locks = [SUITE_CORE_PATTERN_LOCK, ...(existsSync(path.dirname(TEAM_LOCK)) ? [TEAM_LOCK] : [])];
  const argv: string[] = [];
  for (const l of locks) argv.push('flock', mode, '-w', String(LOCK_WAIT_S), l);
  const holder: ResultPromise = execa(argv[0]!, [...argv.slice(1), 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    void holder.then((r) => reject(new Error(`could not take ${locks.join(' and ')}: ${r.stderr || r.exitCode}`)));
  });
  return {
    async release() {
      holder.stdin!.end();
      await holder;
    },
  };
}

/**
 * Runs `fn` holding the locks shared: core_pattern read meanwhile stays what
 * it is until `fn` is done (a crash helper reads it, then crashes by it).
 */
export async function withCorePatternRead<T>(fn: () => Promise<T>): Promise<T> {
  const lock = await holdLocks('-s');
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * Runs `fn` holding the locks, with core_pattern and core_pipe_limit saved
 * first and restored afterwards, whatever happens.
 */
export async function withCorePattern<T>(fn: (saved: KernelCoreSettings) => Promise<T>): Promise<T> {
  const lock = await holdLocks();
  const saved = readCoreSettings();
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    writeCoreSettings(saved);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    restore();
    process.kill(process.pid, sig);
  };
  process.on('exit', restore);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(saved);
  } finally {
    restore();
    process.removeListener('exit', restore);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await lock.release();
  }
}

/** Sets core_pattern (inside withCorePattern only). */
export function setCorePattern(pattern: string): void {
  writeFileSync(PATTERN, pattern);
}
