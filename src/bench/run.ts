/**
 * `npm run bench`: corepack against the tools it replaces, on real cores of
 * a workload it builds and crashes itself (examples/bench-workload.c).
 *
 *   node dist/bench/run.js [--size 64M,1G] [--runs 3] [--quick] [--json] [--out FILE] [--keep]
 *
 * Everything is measured on the same files, on the same machine, in the same
 * run, interleaved (corepack, then its alternatives, run after run), after an
 * unmeasured warm-up collect that puts every file in the page cache, with
 * `sync` (unmeasured) before every measured command.
 */
import { Command, InvalidArgumentError } from 'commander';
import { rmSync } from 'node:fs';
import { mkdtemp, realpath, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSION } from '../version.js';
import { evaluateGoals } from './goals.js';
import { describeMachine } from './machine.js';
import { haveGnuTime, run, RunError } from './measure.js';
import { formatJson, formatReport } from './report.js';
import { BENCH_ENV, BIN, compressors, pairs, replayAvailable, resetDir, singleExecutable, sizeOf, which, type Context, type Job } from './scenarios.js';
import { formatBytes, parseSizeList, ratio, summarize, MiB } from './stats.js';
import type { BenchResults, Figure, Measured, RunSample, SizeResult } from './types.js';
import { buildWorkload, crashWorkload, layoutFor, type WorkloadProgram } from './workload.js';
import { formatHandlerFigures, measureHandler, type HandlerFigures } from './handler.js';

interface Options {
  size?: string[];
  runs?: number;
  quick?: boolean;
  json?: boolean;
  out?: string;
  keep?: boolean;
  handler?: boolean;
  handlerOnly?: boolean;
}

const T0 = Date.now();
const log = (s: string): void => void process.stderr.write(`bench [${((Date.now() - T0) / 1000).toFixed(0).padStart(4)} s]: ${s}\n`);

/** Runs per figure by default, and for heaps of LARGE_HEAP and more (a 1 GiB run of every figure takes ~6 min on 2 cores). */
const DEFAULT_RUNS = 3;
const DEFAULT_LARGE_RUNS = 1;
const LARGE_HEAP = 512 * MiB;

const METHOD = [
  'wall time: process.hrtime from spawn to exit of each command (node startup included for corepack: that is what a user waits for).',
  'peak RSS "max proc": GNU /usr/bin/time %M = ru_maxrss of the waited-for tree = the largest single process (node, or its compressor child; for a bash pipeline the largest of bash/tar/compressor), not the sum.',
  'peak RSS "tree": the sum of VmRSS over the whole process tree, sampled from /proc every 50 ms (may miss peaks shorter than that). The memory goal uses the larger of the two.',
  'alternatives use the same compressor program and flags corepack uses (src/bundle/formats.ts), fed by `tar -cf - -P <files>` (GNU tar) over the same files: the core, then every file the corepack bundle holds (from collect --json).',
  '`tar cjf` is the older script: `tar -cjf out -P <files>`, GNU tar running single-threaded bzip2 (-9, its default).',
  'replay by hand: the bundle decompressed with the same program corepack would use, `tar -x`, then `gdb -batch -nx` with a script: set sysroot; file; core-file; thread apply all bt. Both sides run with DEBUGINFOD_URLS empty.',
  'before every measured command the bench runs `sync` (unmeasured), so no command pays for the writeback of an earlier one\'s output; corepack collect fsyncs its own bundle, which is part of its time.',
  'page cache is warm: an unmeasured collect (.tar.zst) reads every file first. Cold cores on a busy disk are slower for every tool alike.',
  'replay uses the bundle the first corepack .tbz2 collect run wrote (the default format).',
  'corepack/alt < 1 means corepack is faster; the speed-up goals are stated as alt/corepack.',
];

function parseRuns(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError('must be an integer from 1 to 100');
  return n;
}

interface Slot {
  job: Job;
  samples: RunSample[];
  outputBytes: number | null;
  unavailable: string | null;
}

/** `sync`, unmeasured: writeback of earlier outputs would otherwise land in the next measurement. */
async function syncDisks(): Promise<void> {
  await run({ argv: ['sync'] }).catch(() => undefined);
}

async function measureJob(slot: Slot): Promise<void> {
  if (slot.unavailable) return;
  const j = slot.job;
  if (j.scratchDir) await resetDir(j.scratchDir);
  if (j.output) await rm(j.output, { force: true });
  try {
    await j.prepare?.();
  } catch (err) {
    slot.unavailable = `not measured: ${(err as Error).message}`;
    log(`${j.label}: ${slot.unavailable}`);
    return;
  }
  // Dirty pages of the previous command's output must not be written back while this one runs.
  await syncDisks();
  try {
    const r = await run({ argv: j.argv, env: j.env ?? BENCH_ENV, captureStdout: j.captureStdout ?? false, timeoutMs: 3_600_000 });
    slot.samples.push({ wall: r.wall, cpu: r.cpu, maxRssKiB: r.maxRssKiB, treeRssKiB: r.treeRssKiB });
    if (j.output) slot.outputBytes = await sizeOf(j.output);
    if (j.output && j.keepOutputAs && (await sizeOf(j.keepOutputAs)) === null) await rename(j.output, j.keepOutputAs);
  } catch (err) {
    slot.unavailable = `failed: ${err instanceof RunError ? err.message : (err as Error).message}`;
    log(`${j.label}: ${slot.unavailable}`);
  } finally {
    if (j.output) await rm(j.output, { force: true });
    if (j.scratchDir) await rm(j.scratchDir, { recursive: true, force: true });
  }
}

function toMeasured(slot: Slot | undefined, fallback: { label: string; unavailable: string }): Measured {
  if (!slot) return { label: fallback.label, command: '', samples: [], wall: null, cpu: null, maxRssKiB: null, treeRssKiB: null, outputBytes: null, unavailable: fallback.unavailable };
  const nums = (f: (s: RunSample) => number | null): number[] => slot.samples.map(f).filter((v): v is number => v !== null);
  return {
    label: slot.job.label,
    command: slot.job.command,
    samples: slot.samples,
    wall: slot.unavailable ? null : summarize(nums((s) => s.wall)),
    cpu: slot.unavailable ? null : summarize(nums((s) => s.cpu)),
    maxRssKiB: slot.unavailable ? null : summarize(nums((s) => s.maxRssKiB)),
    treeRssKiB: slot.unavailable ? null : summarize(nums((s) => s.treeRssKiB)),
    outputBytes: slot.outputBytes,
    unavailable: slot.unavailable,
  };
}

async function missingTool(job: Job): Promise<string | null> {
  for (const t of job.needs) if (!(await which(t))) return `${t} not installed`;
  return null;
}

async function benchSize(prog: WorkloadProgram, heapBytes: number, root: string, runs: number, replayOk: boolean): Promise<SizeResult> {
  const dir = join(root, `heap-${Math.round(heapBytes / MiB)}M`);
  const work = join(dir, 'work');
  await resetDir(work);
  log(`heap ${formatBytes(heapBytes)}: crashing the workload`);
  const core = await crashWorkload(prog, heapBytes, join(dir, 'crash'));
  await syncDisks();
  log(`  core ${formatBytes(core.size)} (${formatBytes(core.diskSize)} on disk) by ${core.method} in ${core.seconds.toFixed(1)} s`);

  // Unmeasured warm-up: page cache and the file list, with the fastest format (zstd when installed).
  const comps = await compressors();
  const warmComp = comps.find((c) => c.format === 'zstd') ?? comps[0]!;
  const warmBundle = join(work, `warm-up${warmComp.ext}`);
  log(`  warm-up collect ${warmComp.ext} (unmeasured)`);
  const warm = await run({ argv: [process.execPath, BIN, 'collect', core.core, '-e', prog.exe, '-o', warmBundle, '--json'], env: BENCH_ENV, captureStdout: true });
  await rm(warmBundle, { force: true });
  const collected = JSON.parse(warm.stdout) as { files: Array<{ path: string; bundled: boolean; size: number | null }> };
  const files = [{ path: core.core, size: core.size }];
  for (const f of collected.files) {
    if (!f.bundled) continue;
    const size = await sizeOf(f.path);
    if (size === null) log(`  warning: ${f.path} is in the bundle but not on disk here; left out of the tar list`);
    else files.push({ path: f.path, size });
  }
  // The replay figure replays the bundle the first corepack .tbz2 collect run leaves behind.
  const replay: Context['replay'] = comps.some((c) => c.format === 'bzip2')
    ? { available: replayOk, bundle: join(work, 'replay-bundle.tbz2'), byHandScript: join(work, 'by-hand.gdb') }
    : null;

  const ctx: Context = { work, core: core.core, exe: prog.exe, files: files.map((f) => f.path), compressors: comps, singleExecutable: await singleExecutable(), replay };
  const plan = pairs(ctx);
  const slots = new Map<string, Slot>();
  for (const p of plan) {
    for (const j of [p.corepack, ...p.alternatives]) {
      if ('argv' in j) slots.set(j.label, { job: j, samples: [], outputBytes: null, unavailable: await missingTool(j) });
    }
  }
  for (let i = 1; i <= runs; i++) {
    for (const p of plan) {
      for (const j of [p.corepack, ...p.alternatives]) {
        if (!('argv' in j)) continue;
        const slot = slots.get(j.label)!;
        if (slot.unavailable) continue;
        log(`  run ${i}/${runs}: ${j.label}`);
        await measureJob(slot);
      }
    }
  }

  const figures: Figure[] = plan.map((p) => {
    const cp = 'argv' in p.corepack ? toMeasured(slots.get(p.corepack.label), { label: p.corepack.label, unavailable: 'missing' }) : toMeasured(undefined, { label: 'corepack', unavailable: p.corepack.unavailable });
    return {
      id: p.id,
      title: p.title,
      corepack: cp,
      comparisons: p.alternatives.map((a) => {
        const label = 'argv' in a ? a.label : a.ref;
        const alt = toMeasured(slots.get(label), { label, unavailable: 'not measured' });
        return { alt, timeRatio: ratio(cp.wall?.median, alt.wall?.median), sizeRatio: ratio(cp.outputBytes, alt.outputBytes) };
      }),
      notes: p.notes,
    };
  });
  const miniCore = await measureMiniCore(ctx, comps);
  await rm(dir, { recursive: true, force: true });
  return {
    heapBytes: core.heapBytes,
    runs,
    core: { size: core.size, diskSize: core.diskSize, sparseBytes: core.sparseBytes, noneBytes: core.noneBytes, method: core.method, seconds: core.seconds },
    files,
    figures,
    miniCore,
  };
}

/** Sizes of collect --stacks-only for this core: one unmeasured run, its --json result read. */
async function measureMiniCore(ctx: Context, comps: Awaited<ReturnType<typeof compressors>>): Promise<SizeResult['miniCore']> {
  const comp = comps.find((c) => c.format === 'zstd') ?? comps[0];
  if (!comp) return null;
  const out = join(ctx.work, `mini-sizes${comp.ext}`);
  try {
    const r = await run({ argv: [process.execPath, BIN, 'collect', ctx.core, '-e', ctx.exe, '-o', out, '--stacks-only', '--json'], env: BENCH_ENV, captureStdout: true });
    const j = JSON.parse(r.stdout) as { size: number; miniCore: { size: number; bytes: number; ranges: number } | null };
    if (!j.miniCore) return null;
    log(`  mini core ${formatBytes(j.miniCore.size)} (${j.miniCore.ranges} ranges), bundle ${formatBytes(j.size)}`);
    return { coreBytes: j.miniCore.size, bundleBytes: j.size, bundleFormat: comp.ext, memoryBytes: j.miniCore.bytes, ranges: j.miniCore.ranges };
  } catch (err) {
    log(`  collect --stacks-only failed: ${(err as Error).message}`);
    return null;
  } finally {
    await rm(out, { force: true });
  }
}

async function checkSpace(root: string, sizes: number[]): Promise<void> {
  // One size at a time: the core (heap + stacks, on disk), up to three bundles, an extracted copy for replay.
  const need = Math.max(...sizes.map((s) => layoutFor(s).heapMiB * MiB)) * 4 + 256 * MiB;
  const fs = await statfs(root);
  const free = fs.bavail * fs.bsize;
  if (free < need) throw new Error(`not enough free space in ${root}: ${formatBytes(free)} free, the largest size needs about ${formatBytes(need)} (set TMPDIR elsewhere or use a smaller --size)`);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('bench')
    .description('Benchmark corepack inspect/collect/replay against eu-unstrip, GNU tar + compressors and gdb by hand, on real cores.')
    .option('--size <sizes...>', 'heap sizes of the crashing workload, e.g. 64M 1G or 64M,1G (default: 64M,1G)')
    .option('--runs <n>', `runs per figure, at every size; the table shows the median and min–max (default: ${DEFAULT_RUNS} for heaps under ${formatBytes(LARGE_HEAP)}, ${DEFAULT_LARGE_RUNS} from ${formatBytes(LARGE_HEAP)} on, to keep the default run near 10 minutes on 2 cores)`, parseRuns)
    .option('--quick', 'smoke test: one run, 64M only (unless --size/--runs say otherwise)')
    .option('--json', 'print the results as JSON on stdout instead of the table')
    .option('--out <file>', 'also write the JSON results to FILE')
    .option('--keep', 'keep the temporary directory (cores, bundles) for inspection')
    .option('--handler', 'also measure the crash-time handler (root; changes core_pattern under an exclusive flock, see src/bench/handler.ts): task hold time and crash-to-bundle time vs cat > file')
    .option('--handler-only', 'measure only the crash-time handler figures');
  program.parse(argv);
  const opts = program.opts<Options>();
  const runsFor = (heap: number): number => opts.runs ?? (opts.quick ? 1 : heap >= LARGE_HEAP ? DEFAULT_LARGE_RUNS : DEFAULT_RUNS);
  const sizes = parseSizeList(opts.size ?? (opts.quick ? ['64M'] : ['64M', '1G']));
  if (sizes.some((s) => s < MiB)) throw new Error('--size must be at least 1M');

  const startedAt = new Date();
  const loadBefore = loadavg()[0]!;
  const root = await realpath(await mkdtemp(join(tmpdir(), 'corepack-bench-')));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!opts.keep) rmSync(root, { recursive: true, force: true });
    process.stderr.write(`bench: interrupted (${sig}); temporary files removed\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await stat(BIN);
    await checkSpace(root, sizes);
    if (!haveGnuTime()) log('/usr/bin/time (GNU time) is missing: peak RSS comes only from /proc sampling');
    log(`temporary directory ${root}`);
    const [machine, prog, replayOk] = await Promise.all([describeMachine(), buildWorkload(root), replayAvailable()]);
    log(`workload built (library compiled as ${prog.libLanguage}); replay ${replayOk ? 'available' : 'not available in this build'}`);
    if (opts.handlerOnly) {
      const figs: HandlerFigures[] = [];
      for (const s of sizes) figs.push(await measureHandler(prog, s, root, runsFor(s), log));
      process.stdout.write(opts.json ? `${JSON.stringify(figs, null, 2)}\n` : formatHandlerFigures(figs));
      return 0;
    }
    const results: SizeResult[] = [];
    for (const s of sizes) results.push(await benchSize(prog, s, root, runsFor(s), replayOk));
    const handlerFigs: HandlerFigures[] = [];
    if (opts.handler) for (const s of sizes) handlerFigs.push(await measureHandler(prog, s, root, runsFor(s), log));
    const bench: BenchResults = {
      tool: 'corepack-bench',
      corepackVersion: VERSION,
      startedAt: startedAt.toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      machine,
      load: { before: loadBefore, after: loadavg()[0]! },
      options: { sizes, runs: sizes.map(runsFor), quick: Boolean(opts.quick) },
      replayAvailable: replayOk,
      method: METHOD,
      sizes: results,
      goals: evaluateGoals(results),
    };
    if (opts.out) {
      await writeFile(opts.out, formatJson(bench));
      log(`results written to ${opts.out}`);
    }
    process.stdout.write(opts.json ? (handlerFigs.length ? `${JSON.stringify({ ...bench, handler: handlerFigs }, null, 2)}\n` : formatJson(bench)) : formatReport(bench) + (handlerFigs.length ? formatHandlerFigures(handlerFigs) : ''));
    return 0;
  } finally {
    if (opts.keep) log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

main(process.argv).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`bench: error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
