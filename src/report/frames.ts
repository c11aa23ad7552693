/**
 * Frames as data: gdb runs templates/report.py (its Python API) through the
 * replay's sandboxed launcher, and the JSON it prints between two nonce
 * lines is the only thing read from its output. gdb's human-readable text is
 * never matched: it changes between versions and languages, and it carries
 * the crashed program's own strings.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { runDebugger, type DebuggerLaunch, type DebuggerRun } from '../replay/gdb.js';
import { GdbFailedError } from '../replay/errors.js';
import { TEMPLATE_DIR } from '../replay/script.js';

export const REPORT_SCRIPT = path.join(TEMPLATE_DIR, 'report.py');

/** Frames per thread gdb lists at most (unbounded recursion has hundreds of thousands). */
export const MAX_FRAMES = 4096;

export interface GdbFrame {
  pc: bigint;
  function: string | null;
  file: string | null;
  fullname: string | null;
  line: number | null;
  solib: string | null;
  inline: boolean;
  signalFrame: boolean;
}

export interface GdbThread {
  lwp: number;
  name: string | null;
  frames: GdbFrame[];
  truncated: boolean;
  error: string | null;
}

export interface GdbFrames {
  version: string;
  threads: GdbThread[];
  /** Addresses gdb found for the symbols the report reads (__abort_msg). */
  symbols: Record<string, bigint | null>;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const addr = (v: unknown): bigint | null => (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v) ? BigInt(v) : null);

function frameOf(v: unknown): GdbFrame | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const pc = addr(o.pc);
  if (pc === null) return undefined;
  return {
    pc,
    function: str(o.function),
    file: str(o.file),
    fullname: str(o.fullname),
    line: typeof o.line === 'number' && Number.isInteger(o.line) && o.line > 0 ? o.line : null,
    solib: str(o.solib),
    inline: o.inline === true,
    signalFrame: o.signalFrame === true,
  };
}

/** The JSON report.py printed between the two `nonce` lines; undefined when it is not there. */
export function parseGdbFrames(stdout: string, nonce: string): GdbFrames | undefined {
  const lines = stdout.split('\n');
  const first = lines.indexOf(nonce);
  if (first < 0 || lines[first + 2] !== nonce) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(lines[first + 1]!);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { threads?: unknown }).threads)) return undefined;
  const d = doc as { gdb?: unknown; threads: unknown[]; symbols?: Record<string, unknown> };
  const threads: GdbThread[] = [];
  for (const t of d.threads) {
    if (typeof t !== 'object' || t === null) continue;
    const o = t as Record<string, unknown>;
    if (typeof o.lwp !== 'number') continue;
    const frames = Array.isArray(o.frames) ? o.frames.map(frameOf).filter((f): f is GdbFrame => f !== undefined) : [];
    threads.push({ lwp: o.lwp, name: str(o.name), frames, truncated: o.truncated === true, error: str(o.error) });
  }
  const symbols: Record<string, bigint | null> = {};
  for (const [k, v] of Object.entries(d.symbols ?? {})) symbols[k] = addr(v);
  return { version: str(d.gdb) ?? '?', threads, symbols };
}

/** What to run gdb on: a replay script (a bundle), or an executable and a core of this machine. */
export type FramesTarget = { script: string } | { executable: string | null; core: string };

function targetArgs(t: FramesTarget): string[] {
  if ('script' in t) return ['-x', t.script];
  // Paths go in argv, never into a script line. Auto-loading is off before anything is read.
  const safe = ['-iex', 'set auto-load python-scripts off', '-iex', 'set auto-load gdb-scripts off', '-iex', 'set auto-load local-gdbinit off', '-iex', 'set debuginfod enabled off'];
  return [...safe, ...(t.executable ? [`--se=${t.executable}`] : []), `--core=${t.core}`];
}

export interface FramesRun {
  frames: GdbFrames;
  run: DebuggerRun;
}

/**
 * Runs gdb in batch mode on the target with report.py; GdbFailedError when
 * it prints no report (the crash could not be loaded).
 */
export async function framesFromGdb(launch: Omit<DebuggerLaunch, 'args'>, target: FramesTarget): Promise<FramesRun> {
  const nonce = `corepack-report-${randomBytes(16).toString('hex')}`;
  const args = ['-batch', '-nx', '-iex', 'set pagination off', '-iex', 'set width 0', '-iex', 'set confirm off', ...targetArgs(target), '-x', REPORT_SCRIPT];
  const run = await runDebugger(
    {
      ...launch,
      args,
      readable: [...launch.readable, REPORT_SCRIPT],
      env: { ...launch.env, LC_ALL: 'C', COREPACK_REPORT_NONCE: nonce, COREPACK_REPORT_MAX_FRAMES: String(MAX_FRAMES) },
    },
    'batch',
  );
  const frames = parseGdbFrames(run.stdout, nonce);
  if (!frames) {
    const last = run.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit code ${run.exitCode}`;
    throw new GdbFailedError(launch.program, `gdb printed no frames for the report: ${last}`);
  }
  return { frames, run };
}
