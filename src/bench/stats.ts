/**
 * Pure helpers of the benchmark: size parsing, medians and ranges, and the
 * formatting of bytes, seconds and ratios. No I/O (unit-tested in
 * test/bench-smoke.test.ts).
 */

import { readSize } from '../util/size.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/**
 * "64M", "64MiB", "64mb", "1G", "1.5G", "512K" → bytes (binary units). A bare
 * number is refused: the unit is what people get wrong.
 */
export function parseSize(text: string): number {
  const size = readSize(text);
  if (!size?.unit) throw new Error(`invalid size "${text}": give a number with a unit, e.g. 64M, 1G, 4G`);
  if (size.bytes <= 0) throw new Error(`invalid size "${text}": must be positive`);
  return size.bytes;
}

/** "64M,1G" or repeated options → sizes in bytes, in the order given, without duplicates. */
export function parseSizeList(texts: readonly string[]): number[] {
  const out: number[] = [];
  for (const t of texts) for (const part of t.split(',')) if (part.trim()) out.push(parseSize(part));
  return [...new Set(out)];
}

export interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median, min and max of the samples; null when there are none. */
export function summarize(xs: readonly number[]): Stats | null {
  if (xs.length === 0) return null;
  return { n: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** a / b, or null when either is missing or b is not positive. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || !(b > 0) || !Number.isFinite(a)) return null;
  return a / b;
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'n/a';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v} B`;
  return `${v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** Seconds for a table cell: "8 ms", "123 ms", "3.45 s", "123 s". */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return 'n/a';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 100) return `${s.toFixed(2)} s`;
  return `${s.toFixed(0)} s`;
}

/**
 * "3.45 s (3.40–3.61)": the median, with the range when there is more than
 * one sample; the range drops the unit when it is the median's.
 */
export function formatStats(st: Stats | null, fmt: (v: number) => string = formatSeconds): string {
  if (!st) return 'n/a';
  const med = fmt(st.median);
  if (st.n < 2) return med;
  const unit = (t: string): string => t.slice(t.lastIndexOf(' ') + 1);
  const lo = fmt(st.min);
  const hi = fmt(st.max);
  const same = lo.includes(' ') && unit(lo) === unit(med) && unit(hi) === unit(med);
  const bare = (t: string): string => (same ? t.slice(0, t.lastIndexOf(' ')) : t);
  return `${med} (${bare(lo)}–${bare(hi)})`;
}

export function formatRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return 'n/a';
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}
