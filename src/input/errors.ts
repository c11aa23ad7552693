/**
 * What can go wrong while finding and unpacking a core in the form a system
 * stored it (compressed, inside an apport report, in an ABRT directory).
 *
 * Each class carries the facts as fields and the original error as `cause`;
 * only src/cli turns them into exit codes.
 */

/** Base of every error of the input layer. `path` is the file or directory the user named. */
export class CoreInputError extends Error {
  override readonly name: string = 'CoreInputError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}

/** The content is none of the forms corepack reads (by magic bytes, never by name). */
export class UnknownFormError extends CoreInputError {
  override readonly name = 'UnknownFormError';
  constructor(path: string, readonly detail: string) {
    super(path, detail);
  }
}

/** A compressed core that is corrupt, cut short, or decompresses to something that is not a core. */
export class DecompressError extends CoreInputError {
  override readonly name = 'DecompressError';
  constructor(
    path: string,
    readonly form: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(path, `${form} stream: ${problem}`, options);
  }
}

/** An apport report or ABRT directory that does not hold a usable core. */
export class ReportError extends CoreInputError {
  override readonly name = 'ReportError';
  constructor(
    path: string,
    readonly problem: string,
    /** 1-based line number in a report, when one line is to blame. */
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(path, line === undefined ? problem : `line ${line}: ${problem}`, options);
  }
}

/** Not enough free space to unpack a core into the temporary directory. */
export class NoSpaceError extends Error {
  override readonly name = 'NoSpaceError';
  constructor(
    readonly dir: string,
    /** Bytes free there once the write failed, when known. */
    readonly available: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`no space left in ${dir} while unpacking the core; nothing was left behind`, options);
  }
}

/** `list` / `collect --latest` found nothing. */
export class NoCoreFoundError extends Error {
  override readonly name = 'NoCoreFoundError';
  constructor(
    readonly dirs: readonly string[],
    readonly nameFilter: string | undefined,
  ) {
    super(`no core${nameFilter ? ` of an executable named ${JSON.stringify(nameFilter)}` : ''} found in ${dirs.join(', ')}`);
  }
}
