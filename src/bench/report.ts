/** The benchmark's report: a plain-text table for people, and the same data as JSON. */
import { peakBytes } from './goals.js';
import { formatBytes, formatRatio, formatSeconds, formatStats, ratio, type Stats } from './stats.js';
import type { BenchResults, Measured } from './types.js';

const kib = (st: Stats | null): string => (st ? formatBytes(st.max * 1024) : 'n/a');

/** "58 MiB / 61 MiB": GNU time's %M (largest process) / sampled tree sum, both the maximum over the runs. */
export function rssCell(m: Measured): string {
  if (m.unavailable) return '';
  return `${kib(m.maxRssKiB)} / ${kib(m.treeRssKiB)}`;
}

function timeCell(m: Measured): string {
  return m.unavailable ? m.unavailable : formatStats(m.wall);
}

function cpuCell(m: Measured): string {
  return m.unavailable || !m.cpu ? '' : formatSeconds(m.cpu.median);
}

/** Pads columns to a common width; a row shorter than the header leaves the rest empty. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, [...c].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - [...c].length))).join('  ').trimEnd());
}

export function formatReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`corepack-crash ${r.corepackVersion} benchmark, ${r.startedAt}; times are the median (min–max) over the runs${r.options.quick ? ' [--quick]' : ''}`);
  out.push(`machine: ${m.cpus} × ${m.cpuModel}, ${formatBytes(m.memoryBytes)} RAM, ${m.kernel}; core_pattern "${m.corePattern}"; temp files in ${m.tmpdir}`);
  out.push(`corepack source: ${m.source} (dist/ is rebuilt from it by npm run bench)`);
  out.push(`load average (1 min): ${r.load.before.toFixed(2)} before, ${r.load.after.toFixed(2)} after`);
  if (r.load.before > m.cpus / 2) {
    out.push(`warning: the machine was busy when the bench started (load ${r.load.before.toFixed(2)} on ${m.cpus} CPUs): wall times include that contention; the cpu columns are less affected`);
  }
  out.push('tools:');
  for (const [k, v] of Object.entries(m.tools)) out.push(`  ${k.padEnd(11)} ${v}`);

  for (const s of r.sizes) {
    out.push('');
    out.push(
      `== heap ${formatBytes(s.heapBytes)}, ${s.runs} run${s.runs === 1 ? '' : 's'} per figure: core ${formatBytes(s.core.size)} (${formatBytes(s.core.diskSize)} on disk; sparse region ${formatBytes(s.core.sparseBytes)}, ` +
        `PROT_NONE ${formatBytes(s.core.noneBytes)}; ${s.core.method} core in ${s.core.seconds.toFixed(1)} s); tar file list: core + ${s.files.length - 1} files, ${formatBytes(s.files.reduce((a, f) => a + f.size, 0))} ==`,
    );
    const rows: string[][] = [['figure', 'corepack', 'cpu', 'peak RSS max/tree', 'alternative', 'alternative', 'cpu', 'ratio', 'cpu ratio']];
    for (const f of s.figures) {
      f.comparisons.forEach((c, i) => {
        const first = i === 0;
        rows.push([
          first ? f.title : '',
          first ? timeCell(f.corepack) : '',
          first ? cpuCell(f.corepack) : '',
          first ? rssCell(f.corepack) : '',
          c.alt.label,
          timeCell(c.alt),
          cpuCell(c.alt),
          formatRatio(c.timeRatio),
          formatRatio(ratio(f.corepack.cpu?.median, c.alt.cpu?.median)),
        ]);
      });
      if (f.corepack.outputBytes !== null) {
        let first = true;
        for (const c of f.comparisons) {
          if (c.alt.outputBytes === null) continue;
          rows.push([first ? '  bundle size' : '', first ? formatBytes(f.corepack.outputBytes) : '', '', '', c.alt.label, formatBytes(c.alt.outputBytes), '', formatRatio(c.sizeRatio), '']);
          first = false;
        }
      }
    }
    out.push(...table(rows));
    if (s.miniCore) {
      const m = s.miniCore;
      out.push(`  mini core (collect --stacks-only): ${formatBytes(m.coreBytes)} = ${((m.coreBytes / s.core.size) * 100).toFixed(3)}% of the core (${m.ranges} ranges, ${formatBytes(m.memoryBytes)} of memory); bundle ${formatBytes(m.bundleBytes)} (${m.bundleFormat})`);
    }
    const notes = s.figures.flatMap((f) => f.notes.map((n) => `${f.title}: ${n}`));
    for (const n of notes) out.push(`  note: ${n}`);
  }

  out.push('ratio = corepack / alternative, median wall time (bundle size rows: bytes); cpu ratio: the same for user+sys CPU seconds.');
  out.push('', 'Peak memory of corepack runs (max proc / tree; goal on the larger):');
  for (const s of r.sizes) {
    const cells = s.figures.filter((f) => !f.corepack.unavailable).map((f) => `${f.title} ${formatBytes(peakBytes(f.corepack))}`);
    out.push(`  heap ${formatBytes(s.heapBytes)}: ${cells.join(', ')}`);
  }

  out.push('', 'Goals:');
  for (const g of r.goals) {
    out.push(`  ${g.verdict.padEnd(10)}  ${g.goal}`);
    for (const d of g.details) out.push(`              ${d}`);
  }
  out.push('', 'How it is measured:');
  for (const l of r.method) out.push(`  - ${l}`);
  out.push('', `total benchmark time: ${(r.seconds / 60).toFixed(1)} min`);
  return `${out.join('\n')}\n`;
}

export function formatJson(r: BenchResults): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
