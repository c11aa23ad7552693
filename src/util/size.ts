/**
 * The one reader of sizes as people write them, for every option and
 * setting that takes one (--split, --stack-cap, the handler's configuration,
 * the bench's --size): "25M", "1G", "1.5G", "10MiB", "512k", "262144".
 * K, M, G and T are powers of 1024 ("MiB", "MB" and "M" read the same); a
 * fraction needs a unit and must come to whole bytes.
 */
const UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export interface ParsedSize {
  bytes: number;
  /** Whether a unit was written (the bench refuses a bare number: the unit is what people get wrong). */
  unit: boolean;
}

/** The size `text` says, or undefined when it says none. */
export function readSize(text: string): ParsedSize | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = m[2] !== '' || m[3] !== undefined;
  if (m[1]!.includes('.') && m[2] === '') return undefined;
  const bytes = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  return Number.isSafeInteger(bytes) ? { bytes, unit } : undefined;
}

/** Bytes, or undefined when `text` is not a size. */
export function parseSize(text: string): number | undefined {
  return readSize(text)?.bytes;
}
