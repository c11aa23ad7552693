/**
 * Running one command and measuring it: wall time, and peak memory two ways.
 *
 * - cpu: user + system seconds of the whole tree (GNU time %U + %S: they
 *   include waited-for children). Less sensitive than wall time to other
 *   load on the machine; for parallel compressors it exceeds wall time.
 * - Wall time: process.hrtime around the child, from spawn to exit (GNU
 *   time's %e has only 10 ms resolution, too coarse for inspect).
 * - maxRssKiB: GNU time's %M (/usr/bin/time -f %M). It is ru_maxrss of the
 *   child time waited for, which the kernel computes as the maximum over that
 *   process and every descendant it waited for: the RSS of the single largest
 *   process in the tree, NOT the sum. For `corepack collect` that is
 *   max(node, compressor); for a `bash -c 'tar | lbzip2 > out'` pipeline it
 *   is max(bash, tar, lbzip2). Null when /usr/bin/time is missing.
 * - treeRssKiB: the largest SUM of VmRSS over the whole process tree (time
 *   itself excluded), sampled every 50 ms from /proc. This is what the
 *   machine must have free at once (node + its compressor child). Sampling
 *   can miss a peak shorter than 50 ms; for runs under ~100 ms it is rough.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface RunSpec {
  argv: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep stdout (e.g. collect --json); otherwise it goes to /dev/null. */
  captureStdout?: boolean;
  /** Exit codes that count as success; default [0]. */
  okCodes?: readonly number[];
  timeoutMs?: number;
}

export interface Sample {
  wall: number;
  /** User + system CPU seconds of the whole tree (GNU time %U + %S); null without GNU time. */
  cpu: number | null;
  maxRssKiB: number | null;
  treeRssKiB: number | null;
}

export interface RunResult extends Sample {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class RunError extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
  }
}

let timeAvailable: boolean | undefined;
export function haveGnuTime(): boolean {
  timeAvailable ??= existsSync(GNU_TIME);
  return timeAvailable;
}

/** Direct children of pid (all its threads' children), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS over root's descendants (root itself excluded). */
export function treeRss(root: number): number {
  let sum = 0;
  const stack = childrenOf(root);
  const seen = new Set<number>();
  while (stack.length) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    sum += rssKiB(pid);
    stack.push(...childrenOf(pid));
  }
  return sum;
}

export const TIME_FORMAT = '%e %M %U %S';

/** The last "<wall> <maxrss> <user> <sys>" line GNU time wrote (it prefixes notes such as "Command exited with non-zero status 4"). */
export function parseTimeOutput(text: string): { seconds: number; maxRssKiB: number; cpu: number } | null {
  const lines = text.trim().split('\n').reverse();
  for (const l of lines) {
    const m = /^(\d+(?:\.\d+)?) (\d+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/.exec(l.trim());
    if (m) return { seconds: Number(m[1]), maxRssKiB: Number(m[2]), cpu: Number(m[3]) + Number(m[4]) };
  }
  return null;
}

/** Runs argv once, measured. Rejects with RunError on a disallowed exit code or a signal. */
export async function run(spec: RunSpec): Promise<RunResult> {
  const useTime = haveGnuTime();
  const dir = useTime ? await mkdtemp(join(tmpdir(), 'corepack-bench-time-')) : undefined;
  const timeFile = dir ? join(dir, 'time') : undefined;
  const argv = useTime ? [GNU_TIME, '-f', TIME_FORMAT, '-o', timeFile!, '--', ...spec.argv] : [...spec.argv];
  try {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', spec.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 64 * 1024) stderr += s;
    });
    let tree = 0;
    const sample = (): void => {
      if (child.pid !== undefined) tree = Math.max(tree, useTime ? treeRss(child.pid) : treeRss(child.pid) + rssKiB(child.pid));
    };
    const timer = setInterval(sample, 50);
    const killer = spec.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), spec.timeoutMs) : undefined;
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    clearInterval(timer);
    if (killer) clearTimeout(killer);
    const timed = timeFile ? parseTimeOutput(await readFile(timeFile, 'utf8').catch(() => '')) : null;
    // GNU time reports the command's own exit status as its own.
    const result: RunResult = {
      wall,
      cpu: timed?.cpu ?? null,
      maxRssKiB: timed?.maxRssKiB ?? null,
      treeRssKiB: tree > 0 ? tree : null,
      exitCode: code,
      signal,
      stdout,
      stderr,
    };
    const ok = spec.okCodes ?? [0];
    if (signal || code === null || !ok.includes(code)) {
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = stderr.trim().split('\n').filter((l) => !/^Command (exited|terminated)/.test(l)).slice(-3).join(' | ');
      throw new RunError(`${spec.argv.slice(0, 3).join(' ')} ${why}${detail ? `: ${detail}` : ''}`, result);
    }
    return result;
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
