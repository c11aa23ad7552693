/**
 * Exit codes, documented in the README and `corepack --help` (whose list is
 * generated from this table). Scripts and support tooling branch on them, so
 * they never change meaning. Which error ends in which code: ./errors.ts.
 */
export const EXIT_CODES = {
  OK: { code: 0, help: 'success; for collect: every file matched the crash exactly' },
  INTERNAL: { code: 1, help: 'internal error in corepack (please report it; COREPACK_DEBUG=1 prints the stack)' },
  USAGE: { code: 2, help: 'usage error: an option or argument cannot be used (collect -e naming another program than the one that crashed, too)' },
  BAD_INPUT: { code: 3, help: 'bad input: not a core, truncated or malformed file, unreadable, corrupt compressed data, unsafe bundle' },
  INCOMPLETE: { code: 4, help: 'collect: bundle written, but not exact: a file missing, replaced since the crash or of another architecture, a loaded object with no file, or the core cut short (its notes complete)' },
  VERIFY_FAILED: { code: 5, help: "replay: bundle corrupt or not matching its core's build IDs, or gdb failed" },
  MISSING_TOOL: { code: 6, help: 'a required tool (gdb, gdb-multiarch for another architecture\'s core, a compressor) is not installed' },
  WRITE_FAILED: { code: 7, help: 'the output could not be written (disk full, quota, file size limit, read-only, no such directory, the compressor failed); nothing partial left' },
  INTERRUPTED: { code: 130, help: 'interrupted (SIGINT, 128 + 2): no partial output left' },
  TERMINATED: { code: 143, help: 'terminated (SIGTERM, 128 + 15): no partial output left' },
} as const;

type Name = keyof typeof EXIT_CODES;
export type ExitCode = (typeof EXIT_CODES)[Name]['code'];

/** EXIT.USAGE === 2, and so on. */
export const EXIT = Object.fromEntries(Object.entries(EXIT_CODES).map(([name, e]) => [name, e.code])) as { readonly [K in Name]: (typeof EXIT_CODES)[K]['code'] };

/** The "Exit codes:" block of `corepack --help`, from the table above. */
export function exitCodesHelp(): string {
  const rows = Object.values(EXIT_CODES).map((e) => `  ${String(e.code).padEnd(4)} ${e.help}`);
  return `Exit codes:\n${rows.join('\n')}`;
}
