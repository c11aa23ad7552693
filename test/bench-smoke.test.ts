/**
 * The benchmark's pure parts: size parsing, medians and ranges, ratio and
 * goal-verdict formatting, GNU time output parsing. Nothing here is timed.
 */
import { describe, expect, it } from 'vitest';
import { formatBytes, formatRatio, formatSeconds, formatStats, GiB, median, MiB, parseSize, parseSizeList, ratio, summarize } from '../src/bench/stats.js';
import { detailLine, evaluateGoals, LIMITS, peakBytes, sizeDifference, verdict } from '../src/bench/goals.js';
import { replayAvailable } from '../src/bench/scenarios.js';
import { parseTimeOutput } from '../src/bench/measure.js';
import { layoutFor } from '../src/bench/workload.js';
import { table } from '../src/bench/report.js';
import type { Figure, Measured, SizeResult } from '../src/bench/types.js';

describe('parseSize', () => {
  it('reads binary units with optional iB/B', () => {
    expect(parseSize('64M')).toBe(64 * MiB);
    expect(parseSize('64MiB')).toBe(64 * MiB);
    expect(parseSize('64mb')).toBe(64 * MiB);
    expect(parseSize('1G')).toBe(GiB);
    expect(parseSize('4G')).toBe(4 * GiB);
    expect(parseSize('1.5G')).toBe(1.5 * GiB);
    expect(parseSize('512K')).toBe(512 * 1024);
    expect(parseSize(' 2 g ')).toBe(2 * GiB);
  });
  it('refuses bare numbers, junk and zero', () => {
    expect(() => parseSize('64')).toThrow(/unit/);
    expect(() => parseSize('M')).toThrow();
    expect(() => parseSize('-1G')).toThrow();
    expect(() => parseSize('0M')).toThrow(/positive/);
    expect(() => parseSize('1X')).toThrow();
  });
  it('splits lists and drops duplicates', () => {
    expect(parseSizeList(['64M,1G'])).toEqual([64 * MiB, GiB]);
    expect(parseSizeList(['64M', '1G', '1024M'])).toEqual([64 * MiB, GiB]);
  });
  it('lays the workload out from the heap size', () => {
    expect(layoutFor(64 * MiB)).toEqual({ heapMiB: 64, sparseMiB: 16, noneMiB: 64 });
    expect(layoutFor(GiB)).toEqual({ heapMiB: 1024, sparseMiB: 256, noneMiB: 1024 });
  });
});

describe('statistics', () => {
  it('median of odd and even counts, unsorted input untouched', () => {
    const xs = [3, 1, 2];
    expect(median(xs)).toBe(2);
    expect(xs).toEqual([3, 1, 2]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(() => median([])).toThrow();
  });
  it('summarize gives n, median, min, max', () => {
    expect(summarize([5, 1, 9])).toEqual({ n: 3, median: 5, min: 1, max: 9 });
    expect(summarize([])).toBeNull();
  });
  it('ratio is null for missing or zero denominators', () => {
    expect(ratio(6, 3)).toBe(2);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(null, 3)).toBeNull();
    expect(ratio(3, undefined)).toBeNull();
  });
});

describe('formatting', () => {
  it('seconds, bytes, ratios', () => {
    expect(formatSeconds(0.0084)).toBe('8 ms');
    expect(formatSeconds(3.456)).toBe('3.46 s');
    expect(formatSeconds(123.4)).toBe('123 s');
    expect(formatSeconds(null)).toBe('n/a');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(64 * MiB)).toBe('64 MiB');
    expect(formatBytes(1.5 * GiB)).toBe('1.5 GiB');
    expect(formatBytes(null)).toBe('n/a');
    expect(formatRatio(1.234)).toBe('1.23×');
    expect(formatRatio(12.34)).toBe('12.3×');
    expect(formatRatio(null)).toBe('n/a');
  });
  it('median with min–max, the range without a repeated unit', () => {
    expect(formatStats({ n: 3, median: 3.45, min: 3.4, max: 3.61 })).toBe('3.45 s (3.40–3.61)');
    expect(formatStats({ n: 3, median: 0.9, min: 0.8, max: 1.2 })).toBe('900 ms (800 ms–1.20 s)');
    expect(formatStats({ n: 1, median: 2, min: 2, max: 2 })).toBe('2.00 s');
    expect(formatStats(null)).toBe('n/a');
  });
  it('pads table columns', () => {
    expect(table([['a', 'bb', 'c'], ['ccc', 'd', 'e']])).toEqual(['a    bb  c', 'ccc  d   e']);
  });
});

describe('GNU time output', () => {
  it('takes the last "%e %M %U %S" line, after notes', () => {
    expect(parseTimeOutput('Command exited with non-zero status 4\n1.23 45678 0.50 0.25\n')).toEqual({ seconds: 1.23, maxRssKiB: 45678, cpu: 0.75 });
    expect(parseTimeOutput('')).toBeNull();
  });
});

describe('goal verdicts', () => {
  it('PASS, FALL SHORT, N/A', () => {
    expect(verdict([1.1, 1.0], 1.15, '<=')).toBe('PASS');
    expect(verdict([1.1, 1.2], 1.15, '<=')).toBe('FALL SHORT');
    expect(verdict([12, 9], 10, '>=')).toBe('FALL SHORT');
    expect(verdict([null], 10, '>=')).toBe('N/A');
    expect(verdict([null, 11], 10, '>=')).toBe('PASS');
  });
  it('detail lines mark what falls short', () => {
    expect(detailLine('64 MiB .tbz2', 1.32, 1.15, '<=')).toBe('64 MiB .tbz2: 1.32× (goal ≤ 1.15×)  <-- falls short');
    expect(detailLine('64 MiB .tbz2', 1.1, 1.15, '<=')).toBe('64 MiB .tbz2: 1.10× (goal ≤ 1.15×)');
    expect(detailLine('replay', null, 1.2, '<=', 'replay: not available in this build')).toBe('replay: n/a (replay: not available in this build) (goal ≤ 1.20×)');
  });

  const m = (label: string, wall: number | null, rssKiB: number | null = null, extra: Partial<Measured> = {}): Measured => ({
    label,
    command: label,
    samples: [],
    wall: wall === null ? null : { n: 3, median: wall, min: wall, max: wall },
    cpu: null,
    maxRssKiB: rssKiB === null ? null : { n: 3, median: rssKiB, min: rssKiB, max: rssKiB },
    treeRssKiB: null,
    outputBytes: null,
    unavailable: wall === null ? 'replay: not available in this build' : null,
    ...extra,
  });
  const fig = (id: Figure['id'], cp: Measured, alts: Measured[]): Figure => ({
    id,
    title: id,
    corepack: cp,
    comparisons: alts.map((alt) => ({ alt, timeRatio: ratio(cp.wall?.median, alt.wall?.median), sizeRatio: null })),
    notes: [],
  });
  const size = (heap: number, inspect: number, tbz2: number, miniCore: SizeResult['miniCore'] = null): SizeResult => ({
    heapBytes: heap,
    miniCore,
    runs: 3,
    core: { size: heap * 2, diskSize: heap, sparseBytes: heap / 4, noneBytes: heap, method: 'kernel', seconds: 1 },
    files: [],
    figures: [
      fig('inspect', m('corepack inspect', inspect, 60_000), [m('eu-unstrip -n --core', 0.1)]),
      fig('collect-tbz2', m('corepack collect', tbz2, 250_000), [m('tar | lbzip2 -c -9', 2), m('tar cjf (bzip2)', 10)]),
      fig('replay', m('corepack', null), [m('by hand', 2)]),
    ],
  });

  it('evaluates every goal from measured figures', () => {
    const goals = evaluateGoals([size(64 * MiB, 0.15, 2.1), size(GiB, 0.2, 3)]);
    const by = Object.fromEntries(goals.map((g) => [g.id, g.verdict]));
    expect(by['inspect-vs-eu-unstrip']).toBe('PASS'); // 1.5×, 2×
    expect(by['inspect-flat']).toBe('PASS'); // 1.33×
    expect(by['collect-vs-same-compressor']).toBe('FALL SHORT'); // 1.05× (≤ 1.15× at 64 MiB), 1.5× (≤ 1.0× at 1 GiB)
    expect(by['bundle-size']).toBe('N/A'); // no sizes measured
    expect(by['tbz2-vs-tar-cjf']).toBe('PASS'); // 4.8×, 3.3×
    expect(by['zst-vs-tar-cjf']).toBe('N/A'); // no zstd figure
    expect(by['peak-memory']).toBe('FALL SHORT'); // 250000 KiB > 200 MiB
    expect(by['replay-vs-by-hand']).toBe('N/A');
    expect(goals.find((g) => g.id === 'replay-vs-by-hand')!.details[0]).toMatch(/not available in this build/);
  });

  it('judges the mini core size on the 1 GiB heap only: ≤ 1 MiB, ≤ 0.1% of the core, bundle ≤ 10 MB', () => {
    const mini = (coreBytes: number, bundleBytes = 3_000_000) => ({ coreBytes, bundleBytes, bundleFormat: '.tar.zst', memoryBytes: coreBytes / 2, ranges: 30 });
    const goal = (sizes: SizeResult[]) => evaluateGoals(sizes).find((g) => g.id === 'mini-core-size')!;
    // The small heap's mini core is over 0.1% of its core but is only shown.
    expect(goal([size(64 * MiB, 0.2, 2.1, mini(300_000)), size(GiB, 0.25, 3, mini(400_000))]).verdict).toBe('PASS');
    expect(goal([size(GiB, 0.25, 3, mini(3 * MiB))]).verdict).toBe('FALL SHORT');
    expect(goal([size(GiB, 0.25, 3, mini(400_000, 11_000_000))]).verdict).toBe('FALL SHORT');
    expect(goal([size(64 * MiB, 0.2, 2.1, mini(300_000))]).verdict).toBe('N/A');
    expect(goal([size(GiB, 0.25, 3)]).details[0]).toMatch(/n\/a/);
  });

  it('collect: at the limit (wall 1.0×, cpu 1.05×) from a 512 MiB heap, within 15% below; the single executable\'s inspect counts too', () => {
    const withCpu = (label: string, wall: number, cpu: number): Measured => m(label, wall, null, { cpu: { n: 1, median: cpu, min: cpu, max: cpu } });
    const at = (heap: number, wall: number, cpu: number, seaInspect: number | null): SizeResult => ({
      ...size(heap, 0.15, 2),
      figures: [
        fig('inspect', m('corepack inspect', 0.15), [m('eu-unstrip -n --core', 0.1)]),
        fig('inspect-sea', seaInspect === null ? m('sea', null) : m('sea', seaInspect), [m('eu-unstrip -n --core', 0.1)]),
        fig('collect-zst', withCpu('corepack collect', wall, cpu), [withCpu('tar | zstd', 1, 1)]),
      ],
    });
    const goal = (sizes: SizeResult[], id: string) => evaluateGoals(sizes).find((g) => g.id === id)!;
    expect(goal([at(64 * MiB, 1.14, 1.14, null)], 'collect-vs-same-compressor').verdict).toBe('PASS');
    expect(goal([at(GiB, 1.0, 1.05, null)], 'collect-vs-same-compressor').verdict).toBe('PASS');
    expect(goal([at(GiB, 1.01, 1.0, null)], 'collect-vs-same-compressor').verdict).toBe('FALL SHORT');
    const cpu = goal([at(GiB, 0.99, 1.06, null)], 'collect-vs-same-compressor');
    expect(cpu.verdict).toBe('FALL SHORT');
    expect(cpu.details.join('\n')).toMatch(/cpu: 1\.06× \(goal ≤ 1\.05×\)  <-- falls short/);
    // The single executable's figure: judged when measured, named when not.
    expect(goal([at(GiB, 1, 1, 0.25)], 'inspect-vs-eu-unstrip').verdict).toBe('FALL SHORT');
    const unbuilt = goal([at(GiB, 1, 1, null)], 'inspect-vs-eu-unstrip');
    expect(unbuilt.verdict).toBe('PASS');
    expect(unbuilt.details.join('\n')).toMatch(/single executable: n\/a/);
  });

  it('flatness needs two sizes', () => {
    const goals = evaluateGoals([size(64 * MiB, 0.2, 2.1)]);
    expect(goals.find((g) => g.id === 'inspect-flat')!.verdict).toBe('N/A');
  });

  it('peak memory is the larger of %M and the tree sum', () => {
    expect(peakBytes(m('x', 1, 1000, { treeRssKiB: { n: 1, median: 3000, min: 3000, max: 3000 } }))).toBe(3000 * 1024);
    expect(peakBytes(m('x', 1, null))).toBeNull();
    expect(LIMITS.peakMemoryBytes).toBe(200 * MiB);
  });
});

describe('what the bench reports about a goal missed by little', () => {
  it('a size ratio shown as 1.00× says by how many bytes it is over', () => {
    expect(sizeDifference(24_500_000 + 7373, 24_500_000)).toBe(' (+7.2 KiB, +0.03%)');
    expect(sizeDifference(1000, 1000)).toBe('');
    expect(sizeDifference(null, 1000)).toBe('');
  });
});

describe('the bench finds the commands it measures', () => {
  // Its probe matched "Usage: corepack replay" and said replay was "not available
  // in this build" once the command was named corepack-crash.
  it('replay is available in this build (its --help is read as the CLI prints it)', async () => {
    expect(await replayAvailable()).toBe(true);
  });
});
