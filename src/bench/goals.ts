/**
 * The goals the benchmark reports against, and their verdicts. Pure: it only
 * reads measured results (unit-tested in test/bench-smoke.test.ts).
 */
import { formatBytes, formatRatio, MiB, ratio } from './stats.js';
import type { Figure, FigureId, GoalResult, Measured, SizeResult, Verdict } from './types.js';

export const LIMITS = {
  inspectVsEuUnstrip: 2,
  inspectFlat: 1.5,
  /** Issue 22: at the compressor's limit on large cores (heaps from largeHeap on); 15% for the fixed costs on small ones. */
  collectVsSameCompressor: 1.0,
  collectCpuVsSameCompressor: 1.05,
  collectSmallVsSameCompressor: 1.15,
  largeHeap: 512 * 1024 * 1024,
  bundleSizeVsSameCompressor: 1.0,
  tbz2SpeedupVsTarCjf: 2,
  zstSpeedupVsTarCjf: 10,
  peakMemoryBytes: 200 * MiB,
  replayVsByHand: 1.2,
  /** collect --stacks-only of the 1 GiB-heap crash (issue 14): the mini core, and its bundle for a 10 MB ticket attachment. */
  miniCoreBytes: 1 * MiB,
  miniCoreFraction: 0.001,
  miniBundleBytes: 10_000_000,
  miniGoalFromHeap: 1024 * MiB,
} as const;

/** PASS when every value is within the limit, FALL SHORT when any is not, N/A when there is nothing to judge. */
export function verdict(values: ReadonlyArray<number | null>, limit: number, cmp: '<=' | '>='): Verdict {
  const known = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (known.length === 0) return 'N/A';
  return known.every((v) => (cmp === '<=' ? v <= limit : v >= limit)) ? 'PASS' : 'FALL SHORT';
}

/** "64 MiB .tbz2: 1.32× (limit ≤ 1.15×)" */
export function detailLine(what: string, value: number | null, limit: number, cmp: '<=' | '>=', why?: string): string {
  const shown = value === null ? `n/a${why ? ` (${why})` : ''}` : formatRatio(value);
  const ok = value === null ? '' : (cmp === '<=' ? value <= limit : value >= limit) ? '' : '  <-- falls short';
  return `${what}: ${shown} (goal ${cmp === '<=' ? '≤' : '≥'} ${formatRatio(limit)})${ok}`;
}

function figure(s: SizeResult, id: FigureId): Figure | undefined {
  return s.figures.find((f) => f.id === id);
}

function alt(f: Figure | undefined, labelStart: string): Measured | undefined {
  return f?.comparisons.find((c) => c.alt.label.startsWith(labelStart))?.alt;
}

const EXT: Record<string, string> = { 'collect-tbz2': '.tbz2', 'collect-tgz': '.tar.gz', 'collect-zst': '.tar.zst' };

/** The peak memory of one measured command: the larger of GNU time's %M and the sampled tree sum, bytes. */
export function peakBytes(m: Measured): number | null {
  const a = m.maxRssKiB ? m.maxRssKiB.max : null;
  const b = m.treeRssKiB ? m.treeRssKiB.max : null;
  if (a === null && b === null) return null;
  return Math.max(a ?? 0, b ?? 0) * 1024;
}

/**
 * " (+7.2 KiB, +0.03%)": what a ratio rounded to 1.00× hides, so that a size
 * goal missed by a few kilobytes says by how much.
 */
export function sizeDifference(corepackBytes: number | null | undefined, altBytes: number | null | undefined): string {
  if (corepackBytes == null || altBytes == null || altBytes <= 0 || corepackBytes === altBytes) return '';
  const d = corepackBytes - altBytes;
  return ` (${d > 0 ? '+' : '−'}${formatBytes(Math.abs(d))}, ${d > 0 ? '+' : '−'}${((Math.abs(d) / altBytes) * 100).toFixed(2)}%)`;
}

export function evaluateGoals(sizes: readonly SizeResult[]): GoalResult[] {
  const goals: GoalResult[] = [];
  const sz = (s: SizeResult): string => formatBytes(s.heapBytes);

  // 1. inspect vs eu-unstrip, from the npm package and from the single executable
  {
    const rows = sizes.flatMap((s) =>
      (['inspect', 'inspect-sea'] as const).flatMap((id) => {
        const f = figure(s, id);
        if (!f) return [];
        const r = f.comparisons[0]?.timeRatio ?? null;
        const what = id === 'inspect' ? 'npm package' : 'single executable';
        return [{ r, line: detailLine(`${sz(s)} core, ${what}`, r, LIMITS.inspectVsEuUnstrip, '<=', f.corepack.unavailable ?? f.comparisons[0]?.alt.unavailable ?? undefined) }];
      }),
    );
    goals.push({ id: 'inspect-vs-eu-unstrip', goal: `inspect ≤ ${LIMITS.inspectVsEuUnstrip}× the time of eu-unstrip -n --core (npm package and single executable)`, verdict: verdict(rows.map((x) => x.r), LIMITS.inspectVsEuUnstrip, '<='), details: rows.map((x) => x.line) });
  }

  // 2. inspect flat in core size
  {
    const timed = sizes
      .map((s) => ({ s, t: figure(s, 'inspect')?.corepack.wall?.median ?? null }))
      .filter((x): x is { s: SizeResult; t: number } => x.t !== null)
      .sort((a, b) => a.s.core.size - b.s.core.size);
    let r: number | null = null;
    let line = 'needs two core sizes (run without --quick, or with --size 64M,1G)';
    if (timed.length >= 2) {
      const small = timed[0]!;
      const large = timed[timed.length - 1]!;
      r = ratio(large.t, small.t);
      line = detailLine(`inspect time, ${formatBytes(large.s.core.size)} core / ${formatBytes(small.s.core.size)} core`, r, LIMITS.inspectFlat, '<=');
    }
    goals.push({ id: 'inspect-flat', goal: `inspect flat in core size (largest/smallest core time ≤ ${LIMITS.inspectFlat}×)`, verdict: verdict([r], LIMITS.inspectFlat, '<='), details: [line] });
  }

  // 3. collect vs tar | same compressor: wall and CPU, on large cores at the limit, on small ones within 15%
  {
    const rows: Array<{ ok: boolean | null; line: string }> = [];
    for (const s of sizes) {
      const large = s.heapBytes >= LIMITS.largeHeap;
      const wallLimit = large ? LIMITS.collectVsSameCompressor : LIMITS.collectSmallVsSameCompressor;
      const cpuLimit = large ? LIMITS.collectCpuVsSameCompressor : LIMITS.collectSmallVsSameCompressor;
      for (const id of ['collect-tbz2', 'collect-tgz', 'collect-zst'] as const) {
        const f = figure(s, id);
        if (!f) continue;
        const c = f.comparisons[0];
        const why = f.corepack.unavailable ?? c?.alt.unavailable ?? undefined;
        const r = c?.timeRatio ?? null;
        const cpu = ratio(f.corepack.cpu?.median, c?.alt.cpu?.median);
        rows.push({ ok: r === null ? null : r <= wallLimit, line: detailLine(`${sz(s)} ${EXT[id]} vs ${c?.alt.label ?? '?'}, wall`, r, wallLimit, '<=', why) });
        rows.push({ ok: cpu === null ? null : cpu <= cpuLimit, line: detailLine(`${sz(s)} ${EXT[id]} vs ${c?.alt.label ?? '?'}, cpu`, cpu, cpuLimit, '<=', why) });
      }
    }
    const known = rows.filter((x) => x.ok !== null);
    const v: Verdict = known.length === 0 ? 'N/A' : known.every((x) => x.ok) ? 'PASS' : 'FALL SHORT';
    goals.push({
      id: 'collect-vs-same-compressor',
      goal: `collect ≤ ${LIMITS.collectVsSameCompressor}× wall and ≤ ${LIMITS.collectCpuVsSameCompressor}× CPU of GNU tar piped into the same compressor for heaps of ${formatBytes(LIMITS.largeHeap)} and more; ≤ ${LIMITS.collectSmallVsSameCompressor}× both below`,
      verdict: v,
      details: rows.map((x) => x.line),
    });
  }

  // 3b. bundle size vs tar | same compressor over the same files
  {
    const rows: Array<{ r: number | null; line: string }> = [];
    for (const s of sizes) {
      for (const id of ['collect-tbz2', 'collect-tgz', 'collect-zst'] as const) {
        const f = figure(s, id);
        const c = f?.comparisons[0];
        if (!c) continue;
        rows.push({ r: c.sizeRatio, line: detailLine(`${sz(s)} ${EXT[id]} size vs ${c.alt.label}`, c.sizeRatio, LIMITS.bundleSizeVsSameCompressor, '<=', c.alt.unavailable ?? undefined) + sizeDifference(f!.corepack.outputBytes, c.alt.outputBytes) });
      }
    }
    goals.push({ id: 'bundle-size', goal: `bundle ≤ ${LIMITS.bundleSizeVsSameCompressor}× the size of GNU tar piped into the same compressor`, verdict: verdict(rows.map((x) => x.r), LIMITS.bundleSizeVsSameCompressor, '<='), details: rows.map((x) => x.line) });
  }

  // 4./5. speed-up over `tar cjf`
  for (const [id, limit, gid, ext] of [
    ['collect-tbz2', LIMITS.tbz2SpeedupVsTarCjf, 'tbz2-vs-tar-cjf', '.tbz2'],
    ['collect-zst', LIMITS.zstSpeedupVsTarCjf, 'zst-vs-tar-cjf', '.tar.zst'],
  ] as const) {
    const rows = sizes.map((s) => {
      const f = figure(s, id);
      const cjf = alt(f, 'tar cjf');
      const speedup = ratio(cjf?.wall?.median, f?.corepack.wall?.median);
      // What the same compressor fed by GNU tar reaches: no bundler can do much better.
      const same = f?.comparisons[0]?.alt;
      const bound = ratio(cjf?.wall?.median, same?.wall?.median);
      const limitNote = bound === null ? '' : `; ${same!.label} itself: ${formatRatio(bound)}`;
      return { r: speedup, line: detailLine(`${sz(s)} tar cjf time / corepack ${ext} time`, speedup, limit, '>=') + limitNote };
    });
    goals.push({ id: gid, goal: `collect ${ext} ≥ ${limit}× faster than the old script's \`tar cjf\` (single-threaded bzip2)`, verdict: verdict(rows.map((x) => x.r), limit, '>='), details: rows.map((x) => x.line) });
  }

  // 6. peak memory of every corepack run
  {
    const rows: Array<{ v: number | null; line: string }> = [];
    for (const s of sizes) {
      for (const f of s.figures) {
        const v = peakBytes(f.corepack);
        if (v === null) continue;
        const over = v > LIMITS.peakMemoryBytes ? '  <-- falls short' : '';
        rows.push({ v, line: `${sz(s)} ${f.title}: ${formatBytes(v)} (goal ≤ ${formatBytes(LIMITS.peakMemoryBytes)})${over}` });
      }
    }
    const v = verdict(rows.map((x) => x.v), LIMITS.peakMemoryBytes, '<=');
    goals.push({ id: 'peak-memory', goal: `peak memory of every corepack run ≤ ${formatBytes(LIMITS.peakMemoryBytes)} at every size`, verdict: v, details: rows.length ? rows.map((x) => x.line) : ['n/a (/usr/bin/time missing and nothing sampled)'] });
  }

  // 7. replay
  {
    const rows = sizes.map((s) => {
      const f = figure(s, 'replay');
      const r = f?.comparisons[0]?.timeRatio ?? null;
      return { r, line: detailLine(`${sz(s)} core`, r, LIMITS.replayVsByHand, '<=', f?.corepack.unavailable ?? undefined) };
    });
    goals.push({ id: 'replay-vs-by-hand', goal: `replay --batch ≤ ${LIMITS.replayVsByHand}× the by-hand route (tar x + gdb -batch with a sysroot script)`, verdict: verdict(rows.map((x) => x.r), LIMITS.replayVsByHand, '<='), details: rows.map((x) => x.line) });
  }
  // 8. mini core size (collect --stacks-only), judged on heaps of 1 GiB and more; smaller ones are shown
  {
    const judged: Array<boolean | null> = [];
    const details: string[] = [];
    for (const s of sizes) {
      const m = s.miniCore;
      if (!m) {
        details.push(`${sz(s)} core: n/a (collect --stacks-only failed)`);
        continue;
      }
      const fraction = m.coreBytes / s.core.size;
      const ok = m.coreBytes <= LIMITS.miniCoreBytes && fraction <= LIMITS.miniCoreFraction && m.bundleBytes <= LIMITS.miniBundleBytes;
      const counts = s.heapBytes >= LIMITS.miniGoalFromHeap;
      if (counts) judged.push(ok);
      details.push(
        `${sz(s)} core (${formatBytes(s.core.size)}): mini core ${formatBytes(m.coreBytes)} = ${(fraction * 100).toFixed(3)}% (${m.ranges} ranges, ${formatBytes(m.memoryBytes)} of memory), bundle ${formatBytes(m.bundleBytes)} ${m.bundleFormat}` +
          (counts ? (ok ? '' : '  <-- falls short') : ' (shown; the goal is for heaps of 1 GiB)'),
      );
    }
    const v: Verdict = judged.length === 0 ? 'N/A' : judged.every(Boolean) ? 'PASS' : 'FALL SHORT';
    goals.push({
      id: 'mini-core-size',
      goal: `collect --stacks-only of the 1 GiB-heap crash: mini core ≤ ${formatBytes(LIMITS.miniCoreBytes)} and ≤ ${LIMITS.miniCoreFraction * 100}% of the core, bundle ≤ 10 MB`,
      verdict: v,
      details,
    });
  }
  return goals;
}
