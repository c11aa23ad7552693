/**
 * Runs a small program and keeps its output: `getconf`, `ldd`. Plain
 * node:child_process rather than execa, because collect's start-up pays for
 * every module it loads: execa is ~260 files, measured at 0.1–0.2 s of module
 * loading on this 2-core machine, for two short commands whose stdout and
 * exit status are all we read.
 */
import { execFile } from 'node:child_process';

export interface Captured {
  /** The exit status; null when the program could not be started, was killed or timed out. */
  exitCode: number | null;
  stdout: string;
}

/** Never rejects: a program that is missing or fails is an exit code of null or non-zero. */
export function capture(file: string, args: readonly string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Captured> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: opts.timeoutMs, env: opts.env ?? process.env, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
      resolve({ exitCode: err && (err as { killed?: boolean }).killed ? null : code, stdout: String(stdout ?? '') });
    });
  });
}
