/**
 * Errors every layer can throw: each names what went wrong and keeps its facts
 * as fields (and the original error as `cause`). None of them knows an exit
 * code or a hint: src/cli/errors.ts maps each class to those, in one table.
 */

/** Why a system call failed, in words, for the errno codes users actually meet. */
const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, not a file',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file size limit reached',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
};

/** errno codes that mean "the output does not fit": the disk, the quota or the size limit. */
export const OUT_OF_SPACE_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** The reason for an errno code, or undefined for a code without a wording here. */
export function errnoReason(code: string | undefined): string | undefined {
  return code === undefined ? undefined : ERRNO_REASONS[code];
}

/** A Node system-call error (has string `code` and `syscall`). */
export function isErrnoError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  const e = err as NodeJS.ErrnoException | null;
  return e instanceof Error && typeof e.code === 'string' && typeof e.syscall === 'string';
}

/** The errno code of `err`, when it is a system-call error. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A program corepack needs is not installed. */
export class MissingToolError extends Error {
  override readonly name = 'MissingToolError';
  constructor(
    /** What is missing, as the user knows it: "gdb", "a bzip2 program". */
    readonly tool: string,
    /** The programs looked for, in order. */
    readonly looked: readonly string[],
    /** Debian packages that provide it, e.g. "lbzip2 (fastest), pbzip2 or bzip2". */
    readonly packages: string,
    /** The command that installs the first choice, e.g. "apt-get install gdb". */
    readonly install: string,
    /** What works without it: { how: "use a format that works here", choices: [".tar.gz"] }. */
    readonly alternatives: { readonly how: string; readonly choices: readonly string[] },
    detail?: string,
    options?: ErrorOptions,
  ) {
    super(detail ?? `${tool} is not installed (looked for ${looked.join(', ')})`, options);
  }
}

export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/** The user (SIGINT) or the system (SIGTERM) stopped the command; what it wrote was removed. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(readonly signal: InterruptSignal = 'SIGINT') {
    super(`${signal === 'SIGTERM' ? 'terminated' : 'interrupted'} by ${signal}; no partial output was left behind`);
  }
}

/** The error an aborted AbortSignal stands for: its reason, or an interruption. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new InterruptedError('SIGINT');
}

/** The output (a bundle, a replay directory) could not be written; nothing partial was left. */
export class OutputWriteError extends Error {
  override readonly name = 'OutputWriteError';
  constructor(
    /** The output the user asked for (never a hidden temporary name). */
    readonly path: string,
    /** The errno code, e.g. ENOSPC, ENOENT (its directory does not exist). */
    readonly code: string | undefined,
    /** The reason in words, when errno alone does not say it. */
    readonly reason: string = errnoReason(code) ?? 'write failed',
    options?: ErrorOptions,
    /** What the user is told was left: nothing partial. */
    outcome = 'no bundle was written',
  ) {
    super(`cannot write ${path}: ${reason}; ${outcome}`, options);
  }

  /** True when more space (or another file system) would help. */
  get outOfSpace(): boolean {
    return this.code !== undefined && OUT_OF_SPACE_CODES.has(this.code);
  }
}

/** A file system has less room than the output needs, measured before writing. */
export class NotEnoughSpaceError extends Error {
  override readonly name = 'NotEnoughSpaceError';
  constructor(
    readonly dir: string,
    readonly needBytes: number,
    readonly freeBytes: number,
  ) {
    super(`not enough space in ${dir}: the bundle needs ${needBytes} bytes, ${freeBytes} are free`);
  }
}

/** An option's value cannot be used; `remedy` says what to pass instead. */
export class BadOptionError extends Error {
  override readonly name = 'BadOptionError';
  constructor(
    /** The option as typed ("-o", "--dir"), or the argument's name. */
    readonly option: string,
    readonly value: string,
    /** What is wrong with it, a sentence that stands alone. */
    readonly reason: string,
    /** What to pass instead. */
    readonly remedy?: string,
  ) {
    super(reason);
  }
}
