/**
 * Address ranges → values, found by binary search. A hostile core may list a
 * hundred thousand mappings and thousands of link_map entries; a linear scan
 * per lookup would take minutes.
 */
export class RangeIndex<T> {
  private readonly ranges: Array<{ start: bigint; end: bigint; value: T }> = [];

  /** Inserts in order (binary search + splice): no re-sort per insertion. */
  add(start: bigint, end: bigint, value: T): void {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]!.start <= start) lo = mid + 1;
      else hi = mid;
    }
    this.ranges.splice(lo, 0, { start, end, value });
  }

  /** The value whose range holds `addr`, if any. */
  find(addr: bigint): T | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid]!.start <= addr) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Ranges do not overlap in a sane core; look back a little for ones that do.
    for (let i = best; i >= 0 && i > best - 8; i--) {
      const r = this.ranges[i]!;
      if (addr < r.end) return r.value;
    }
    return undefined;
  }
}
