/** Runs the built CLI (bin/corepack.js → dist/) as a user would, capturing everything. */
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/corepack.js', import.meta.url));

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function corepack(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  const r = await execa(process.execPath, [BIN, ...args], { reject: false, cwd: opts.cwd, env: opts.env, timeout: 120_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A one-line error: "corepack: error: …", at most one hint line, and no stack trace. */
export function expectOneLineError(run: CliRun): string {
  const lines = run.stderr.trim().split('\n');
  if (!lines[0]?.startsWith('corepack: error: ')) throw new Error(`expected a corepack error line, got:\n${run.stderr}`);
  if (lines.length > 2) throw new Error(`expected one error line (and at most one hint), got:\n${run.stderr}`);
  if (/\n\s+at /.test(run.stderr)) throw new Error(`stack trace leaked:\n${run.stderr}`);
  return lines[0];
}
