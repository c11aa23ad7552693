/**
 * What can go wrong replaying a bundle, beyond the bundle itself being bad
 * (src/bundle/errors.ts). Exit codes and hints: src/cli/errors.ts.
 */
import { checksumFailures, type ChecksumResult } from '../bundle/checksums.js';
import { OutputWriteError } from '../util/errors.js';

/** Files whose bytes do not match the checksums the bundle recorded (SHA256SUMS, or manifest.json in schema 1). Carries every result, for --json. */
export class BundleVerifyError extends Error {
  override readonly name = 'BundleVerifyError';
  readonly failures: readonly ChecksumResult[];
  constructor(readonly checksums: ChecksumResult[]) {
    const bad = checksumFailures(checksums);
    const what = (r: ChecksumResult) =>
      `${r.file} (${r.status === 'missing' ? 'missing' : r.status === 'unlisted' ? 'no checksum' : r.actualSize !== r.expectedSize && r.expectedSize !== null ? 'wrong size' : 'sha256 mismatch'})`;
    // One line, naming every file; --json has the hashes.
    super(`the bundle is corrupt: ${bad.length} file${bad.length === 1 ? '' : 's'} failed verification: ${bad.map(what).join(', ')}`);
    this.failures = bad;
  }
}

/** gdb ran but could not load the crash (or printed nothing usable). */
export class GdbFailedError extends Error {
  override readonly name = 'GdbFailedError';
  constructor(
    readonly gdb: string,
    /** One line saying what went wrong. */
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(detail, options);
  }
}

/** A path (from the bundle, or the replay directory) that cannot be put into a gdb or lldb script line safely. */
export class UnsafeScriptPathError extends Error {
  override readonly name = 'UnsafeScriptPathError';
  constructor(
    /** What the path is: "executable", "sysroot", "library directory". */
    readonly what: string,
    readonly path: string,
    /** Why, e.g. "contains a control character". */
    readonly reason: string,
  ) {
    super(`${what} ${JSON.stringify(path)} ${reason}`);
  }
}

/**
 * The replay directory (--dir, or the bundle's cache directory) cannot be
 * written: read-only, no permission, full. Named as the user knows it, never
 * by a temporary name inside it.
 */
export class ReplayDirError extends OutputWriteError {
  constructor(
    dir: string,
    code: string | undefined,
    /** True when `dir` is the cache directory (no --dir was given). */
    readonly cache: boolean,
    options?: ErrorOptions,
  ) {
    super(dir, code, undefined, options, 'nothing was extracted');
  }
}
