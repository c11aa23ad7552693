/**
 * The crash-time handler's figures (`npm run bench -- --handler`): how long
 * the kernel holds the crashing task, and how long from the crash to a
 * complete bundle in the spool, with `corepack handle` in core_pattern,
 * against the floor: a pipe handler that only copies the core to a file
 * (`|/bin/sh -c cat>FILE`), with the same core_pipe_limit.
 *
 * The crash's moment is the workload's last line before it faults
 * ("…, crashing" on stderr); the task is released when its parent's wait
 * returns (with core_pipe_limit > 0 the kernel waits for the handler).
 *
 * This changes core_pattern, so it runs only when asked, as root, holding
 * an exclusive flock on the suite's core_pattern lock and on every file in
 * $COREPACK_CORE_PATTERN_LOCKS (colon-separated), restoring core_pattern and
 * core_pipe_limit whatever happens.
 */
import { execa, type ResultPromise } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from './scenarios.js';
import { summarize, type Stats } from './stats.js';
import { layoutFor, type WorkloadProgram } from './workload.js';

export interface HandlerFigures {
  heapBytes: number;
  runs: number;
  /** Fault to task released, ms: corepack handle, and `cat > file`. */
  heldMs: { corepack: Stats | null; cat: Stats | null };
  /** Fault to a complete bundle in the spool (corepack) or to the copied core (cat), ms. */
  toOutputMs: { corepack: Stats | null; cat: Stats | null };
  bundleBytes: number | null;
  coreBytes: number | null;
}

const PATTERN = '/proc/sys/kernel/core_pattern';
const PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';

function lockFiles(): string[] {
  return [join(tmpdir(), 'corepack-suite-core-pattern.lock'), ...(process.env.COREPACK_CORE_PATTERN_LOCKS ?? '').split(':').filter(Boolean)];
}

async function withLockedPattern<T>(fn: () => Promise<T>): Promise<T> {
  const argv: string[] = [];
  for (const l of lockFiles()) argv.push('flock', '-x', '-w', '600', l);
  const holder: ResultPromise = execa(argv[0]!, [...argv.slice(1), 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdin: 'pipe', reject: false });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    void holder.then((r) => reject(new Error(`could not lock core_pattern: ${String(r.stderr)}`)));
  });
  const saved = { pattern: readFileSync(PATTERN, 'utf8').replace(/\n$/, ''), limit: readFileSync(PIPE_LIMIT, 'utf8').trim() };
  const restore = (): void => {
    writeFileSync(PATTERN, saved.pattern);
    writeFileSync(PIPE_LIMIT, saved.limit);
  };
  process.on('exit', restore);
  try {
    return await fn();
  } finally {
    restore();
    process.removeListener('exit', restore);
    holder.stdin!.end();
    await holder;
  }
}

/** Runs the workload to its crash; ms from its "crashing" line to its release, and to `done()` turning true (null: the output is complete at the release). */
async function timedCrash(prog: WorkloadProgram, heapBytes: number, cwd: string, done: (() => Promise<boolean>) | null): Promise<{ held: number; toOutput: number }> {
  const { heapMiB, sparseMiB, noneMiB } = layoutFor(heapBytes);
  const child = execa('bash', ['-c', 'ulimit -c unlimited; exec "$@"', 'bash', prog.exe, String(heapMiB), String(sparseMiB), String(noneMiB)], { cwd, reject: false, stdin: 'ignore', timeout: 600_000 });
  let fault = 0;
  child.stderr!.on('data', (d: Buffer) => {
    if (!fault && d.toString().includes('crashing')) fault = performance.now();
  });
  let output = 0;
  const poll = (async () => {
    if (!done) return;
    while (!output) {
      if (fault && (await done())) output = performance.now();
      else await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const r = await child;
  const released = performance.now();
  if (r.signal !== 'SIGSEGV' || !fault) throw new Error(`the workload did not crash as expected (${r.signal ?? r.exitCode})`);
  if (!done) output = released;
  await Promise.race([poll, new Promise((res) => setTimeout(res, 30_000))]);
  if (!output) throw new Error('no output appeared within 30 s of the task\'s release');
  return { held: released - fault, toOutput: output - fault };
}

export async function measureHandler(prog: WorkloadProgram, heapBytes: number, root: string, runs: number, log: (s: string) => void): Promise<HandlerFigures> {
  const dir = join(root, `handler-${Math.round(heapBytes / 1048576)}M`);
  const state = join(dir, 'state');
  const spool = join(dir, 'spool');
  const cwd = join(dir, 'cwd');
  await mkdir(cwd, { recursive: true });
  await mkdir(state, { recursive: true });
  const config = join(dir, 'handler.json');
  await writeFile(config, JSON.stringify({ spool, rateLimit: { perExecutable: 1000, overall: 1000, windowSeconds: 60 } }));
  const wrapper = join(dir, 'h');
  await writeFile(wrapper, `#!/bin/sh\nexport COREPACK_STATE_DIR='${state}'\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
  const copied = join(dir, 'copied.core');
  const samples = { corepack: [] as number[], cat: [] as number[], corepackOut: [] as number[], catOut: [] as number[] };
  let bundleBytes: number | null = null;
  let coreBytes: number | null = null;
  await withLockedPattern(async () => {
    for (let i = 1; i <= runs; i++) {
      // The floor: the kernel's pipe copied to a file, nothing else.
      writeFileSync(PIPE_LIMIT, '16');
      writeFileSync(PATTERN, `|/bin/sh -c cat>${copied}`);
      log(`  handler run ${i}/${runs}: cat > file`);
      await rm(copied, { force: true });
      const c = await timedCrash(prog, heapBytes, cwd, null);
      samples.cat.push(c.held);
      samples.catOut.push(c.held);
      coreBytes = await stat(copied).then((st) => st.size, () => null);
      await rm(copied, { force: true });

      // corepack handle, installed as a user would over the plain pattern "core" (the core is also passed on to cwd/core).
      writeFileSync(PATTERN, 'core');
      const inst = await execa(process.execPath, [BIN, 'handler', 'install', '--exe', wrapper, '--config', config], { env: { COREPACK_STATE_DIR: state }, reject: false });
      if (inst.exitCode !== 0) throw new Error(`handler install failed: ${inst.stderr}`);
      log(`  handler run ${i}/${runs}: corepack handle`);
      await rm(spool, { recursive: true, force: true });
      const bundled = async (): Promise<boolean> => (await readdir(spool).catch(() => [] as string[])).some((n) => n.startsWith('crash-'));
      try {
        const h = await timedCrash(prog, heapBytes, cwd, bundled);
        samples.corepack.push(h.held);
        samples.corepackOut.push(h.toOutput);
        const names = await readdir(spool);
        bundleBytes = (await stat(join(spool, names.find((n) => n.startsWith('crash-'))!))).size;
      } finally {
        await execa(process.execPath, [BIN, 'handler', 'uninstall', '--force'], { env: { COREPACK_STATE_DIR: state }, reject: false });
        await rm(join(cwd, 'core'), { force: true });
      }
    }
  });
  await rm(dir, { recursive: true, force: true });
  return {
    heapBytes,
    runs,
    heldMs: { corepack: summarize(samples.corepack), cat: summarize(samples.cat) },
    toOutputMs: { corepack: summarize(samples.corepackOut), cat: summarize(samples.catOut) },
    bundleBytes,
    coreBytes,
  };
}

export function formatHandlerFigures(figs: readonly HandlerFigures[]): string {
  const ms = (s: Stats | null): string => (s ? `${(s.median / 1000).toFixed(2)} s (${(s.min / 1000).toFixed(2)}–${(s.max / 1000).toFixed(2)})` : 'n/a');
  const x = (a: Stats | null, b: Stats | null): string => (a && b && b.median > 0 ? `${(a.median / b.median).toFixed(2)}×` : 'n/a');
  const lines = ['', 'crash-time handler (corepack handle in core_pattern vs |/bin/sh -c cat>FILE, core_pipe_limit 16):'];
  for (const f of figs) {
    lines.push(`  ${Math.round(f.heapBytes / 1048576)} MiB heap (core ${f.coreBytes ? `${(f.coreBytes / 1048576).toFixed(1)} MiB` : '?'}, bundle ${f.bundleBytes ? `${(f.bundleBytes / 1048576).toFixed(1)} MiB` : '?'}, median of ${f.runs}):`);
    lines.push(`    task held:        corepack ${ms(f.heldMs.corepack)} vs cat ${ms(f.heldMs.cat)}: ${x(f.heldMs.corepack, f.heldMs.cat)}`);
    lines.push(`    crash to output:  bundle ${ms(f.toOutputMs.corepack)} vs copied core ${ms(f.toOutputMs.cat)}: ${x(f.toOutputMs.corepack, f.toOutputMs.cat)}`);
  }
  return `${lines.join('\n')}\n`;
}
