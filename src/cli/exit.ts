/**
 * Exit codes, documented in the README and `corepack --help`. Scripts and
 * support tooling branch on them, so they never change meaning.
 */
export const EXIT = {
  /** Everything worked and everything was exact. */
  OK: 0,
  /** A bug in corepack: an error it did not expect. Please report it. */
  INTERNAL: 1,
  /** The command line was wrong. */
  USAGE: 2,
  /** The input is not usable: not an ELF core, truncated, malformed, unreadable, or a hostile bundle. */
  BAD_INPUT: 3,
  /** collect wrote the bundle but it is not exact: a file was missing or replaced since the crash. */
  INCOMPLETE: 4,
  /** replay found the bundle corrupt (checksum) or not matching the core (build ID); or gdb failed. */
  VERIFY_FAILED: 5,
  /** A tool corepack needs is not installed (gdb, a compressor). */
  MISSING_TOOL: 6,
  /** The output could not be written: disk full, file size limit, permissions. Nothing partial was left. */
  WRITE_FAILED: 7,
  /** Interrupted by SIGINT (128 + 2) or SIGTERM (128 + 15); nothing partial was left behind. */
  INTERRUPTED: 130,
  TERMINATED: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error that ends the command with a one-line message and a chosen exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** What the user can do about it, printed on a second line. */
    readonly hint?: string,
  ) {
    super(message);
  }
}
