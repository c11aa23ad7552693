/**
 * SHA256SUMS, a schema-2 bundle's last entry: one `<sha256>  <path>` line per
 * file, paths relative to the bundle root, in the text format GNU
 * `sha256sum -c` reads, so anyone can check an extracted bundle with
 * standard tools (`cd <root> && sha256sum -c SHA256SUMS`).
 *
 * It comes last because collect computes the hashes while it writes the
 * files: every byte is read once. Reading it back is strict: the entry is
 * untrusted, and a line that is not exactly what collect writes refuses the
 * bundle rather than being skipped (a skipped line would be a file nobody
 * checked).
 */
import { UnsafeBundleError } from './errors.js';
import { CHECKSUMS_NAME, isSafeRelativePath } from './manifest.js';

export { CHECKSUMS_NAME };

/** Path → sha256, in the order listed. */
export type Checksums = ReadonlyMap<string, string>;

/**
 * The entry's text. Paths never need sha256sum's backslash escaping: bundle
 * paths have no backslash, newline or other control character (manifest.ts).
 */
export function formatChecksums(sums: Iterable<readonly [path: string, sha256: string]>): string {
  let out = '';
  for (const [p, sha] of sums) out += `${sha}  ${p}\n`;
  return out;
}

const LINE = /^([0-9a-f]{64}) [ *](.+)$/;

/** Parses SHA256SUMS text from a bundle; throws an UnsafeBundleError naming the line that is wrong. */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  if (text !== '' && !text.endsWith('\n')) throw bad('its last line is cut short (no newline): the bundle is truncated or was edited');
  const lines = text === '' ? [] : text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const m = LINE.exec(line);
    if (!m) throw bad(`line ${i + 1} is not "<64 hex digits>  <path>"`);
    const p = m[2]!;
    if (!isSafeRelativePath(p)) throw bad(`line ${i + 1} names an unsafe path ${JSON.stringify(p)}`);
    if (p === CHECKSUMS_NAME) throw bad(`line ${i + 1} lists ${CHECKSUMS_NAME} itself`);
    if (sums.has(p)) throw bad(`${JSON.stringify(p)} is listed twice`);
    sums.set(p, m[1]!);
  });
  if (sums.size === 0) throw bad('it lists no files');
  return sums;
}

function bad(why: string): UnsafeBundleError {
  return new UnsafeBundleError(`${CHECKSUMS_NAME}: ${why}`, CHECKSUMS_NAME);
}
