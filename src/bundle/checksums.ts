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
import { CHECKSUMS_NAME, isSafeRelativePath, MANIFEST_NAME, type Manifest } from './manifest.js';

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

/* Verifying an extraction against what its bundle recorded. */

export type ChecksumStatus = 'ok' | 'corrupt' | 'missing' | 'unlisted' | 'unchecked';

export interface ChecksumResult {
  /** Customer path (or "core" for the core, "manifest.json" for the manifest). */
  file: string;
  bundlePath: string;
  status: ChecksumStatus;
  expectedSha256: string | null;
  actualSha256: string | null;
  expectedSize: number | null;
  actualSize: number | null;
  message: string | null;
}

/** What extraction measured: bundle-relative path → size and sha256. */
export type Measured = ReadonlyMap<string, { size: number; sha256: string }>;

/**
 * Compares every bundled file (and the core) with the sizes manifest.json
 * declares and the sha256 its bundle recorded: in SHA256SUMS (schema 2,
 * `sums`, which also covers manifest.json itself), or in manifest.json
 * (schema 1). In schema 2 a file SHA256SUMS does not list is a failure:
 * nothing vouches for it.
 */
export function verifyChecksums(manifest: Manifest, measured: Measured, sums?: ReadonlyMap<string, string>): ChecksumResult[] {
  const out: ChecksumResult[] = [];
  const where = sums ? CHECKSUMS_NAME : 'manifest.json';
  const check = (file: string, bundlePath: string, sha: string | null, size: number | null) => {
    const got = measured.get(bundlePath);
    const base = { file, bundlePath, expectedSha256: sha, expectedSize: size, actualSha256: got?.sha256 ?? null, actualSize: got?.size ?? null };
    if (!got) out.push({ ...base, status: 'missing', message: `${file}: listed in ${where} as ${bundlePath} but missing from the bundle` });
    else if (size !== null && got.size !== size) out.push({ ...base, status: 'corrupt', message: `${file}: ${got.size} bytes, manifest.json says ${size}` });
    else if (sha === null && sums) out.push({ ...base, status: 'unlisted', message: `${file}: ${bundlePath} is not listed in ${CHECKSUMS_NAME}: nothing vouches for its contents` });
    else if (sha === null) out.push({ ...base, status: 'unchecked', message: `${file}: manifest.json records no sha256 for it` });
    else if (got.sha256 !== sha) out.push({ ...base, status: 'corrupt', message: `${file}: sha256 ${got.sha256} does not match ${where} (${sha}): the bundle is corrupt or was modified` });
    else out.push({ ...base, status: 'ok', message: null });
  };
  const expected = (bundlePath: string, schema1: string | null | undefined): string | null => (sums ? (sums.get(bundlePath) ?? null) : (schema1 ?? null));
  check('core', manifest.core.bundlePath, expected(manifest.core.bundlePath, manifest.core.sha256), manifest.core.size);
  const declared = new Set<string>([manifest.core.bundlePath]);
  for (const f of manifest.files) {
    if (f.bundlePath === null) continue;
    declared.add(f.bundlePath);
    check(f.path, f.bundlePath, expected(f.bundlePath, f.sha256), f.size);
  }
  // Attachments (collect --attach) carry their sha256 in the manifest in either schema; in schema 2 SHA256SUMS must agree.
  for (const a of manifest.attachments ?? []) {
    declared.add(a.bundlePath);
    const listed = sums?.get(a.bundlePath);
    check(JSON.stringify(a.path), a.bundlePath, sums && listed !== a.sha256 ? (listed ?? null) : a.sha256, a.size);
  }
  if (sums) {
    check(MANIFEST_NAME, MANIFEST_NAME, sums.get(MANIFEST_NAME) ?? null, null);
    // Anything else it lists (a note beside the manifest) must be there and match too.
    for (const [p, sha] of sums) if (!declared.has(p) && p !== MANIFEST_NAME) check(p, p, sha, null);
  }
  return out;
}

export function checksumFailures(results: readonly ChecksumResult[]): ChecksumResult[] {
  return results.filter((r) => r.status === 'corrupt' || r.status === 'missing' || r.status === 'unlisted');
}

