/**
 * Address ranges → values, found by binary search. A hostile core may list a
 * hundred thousand mappings and thousands of link_map entries; a linear scan
 * per lookup would take minutes.
 */
import { lastAtOrBelow } from '../util/search.js';

const byStart = (r: { start: bigint }): bigint => r.start;

export class RangeIndex<T> {
  private readonly ranges: Array<{ start: bigint; end: bigint; value: T }> = [];

  /** Inserts in order (binary search + splice): no re-sort per insertion. */
  add(start: bigint, end: bigint, value: T): void {
    this.ranges.splice(lastAtOrBelow(this.ranges, byStart, start) + 1, 0, { start, end, value });
  }

  /** The value whose range holds `addr`, if any. */
  find(addr: bigint): T | undefined {
    const best = lastAtOrBelow(this.ranges, byStart, addr);
    // Ranges do not overlap in a sane core; look back a little for ones that do.
    for (let i = best; i >= 0 && i > best - 8; i--) {
      const r = this.ranges[i]!;
      if (addr < r.end) return r.value;
    }
    return undefined;
  }
}
