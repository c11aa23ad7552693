/**
 * Auxiliary vectors: (a_type, a_val) word pairs up to AT_NULL. Linux and
 * NetBSD store them bare in a note; FreeBSD prefixes an int with the entry
 * size. One walker serves all three.
 */
import type { Decoder } from './decoder.js';

export interface AuxvPair {
  a_type: number;
  a_val: bigint;
}

/** The pairs from byte `first` of `d` up to AT_NULL or the end of the descriptor. */
export function decodeAuxvPairs(d: Decoder, first = 0): AuxvPair[] {
  const w = d.wordSize;
  const out: AuxvPair[] = [];
  for (let off = first; off + 2 * w <= d.length; off += 2 * w) {
    const type = Number(d.word(off));
    if (type === 0) break;
    out.push({ a_type: type, a_val: d.word(off + w) });
  }
  return out;
}
