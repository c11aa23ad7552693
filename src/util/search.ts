/**
 * Binary search over address-sorted arrays. Cores may list 65535+ segments and
 * hostile ones a hundred thousand mappings; every lookup by address goes
 * through this one function instead of a linear scan.
 */

/** Index of the last element whose key is ≤ `at` in `sorted` (ascending by key), or -1 when none is. */
export function lastAtOrBelow<T>(sorted: readonly T[], key: (item: T) => bigint, at: bigint): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(sorted[mid]!) <= at) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
