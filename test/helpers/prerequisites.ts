/**
 * vitest globalSetup: before any test runs, check that the programs the suite
 * spawns are installed, and stop with one message naming the Debian packages
 * that provide the missing ones. Without it a machine lacking, say, elfutils
 * fails six tests deep inside with `spawn eu-unstrip ENOENT` stack traces.
 *
 * The list is what test/ runs itself (execa/execFileSync calls) plus what the
 * corepack it runs spawns (gdb, tar, a compressor). Optional tools (lldb,
 * GNU time, cross toolchains) are not here: the tests that use them skip
 * visibly when they are absent. zlib1g (libz.so.1, which crashme dlopens) is
 * not checked: gdb and elfutils depend on it.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Prerequisite {
  program: string;
  /** The Debian package that installs it (as in .ci/run and the README). */
  pkg: string;
  /** What the suite runs it for. */
  why: string;
}

export const PREREQUISITES: readonly Prerequisite[] = [
  { program: 'gcc', pkg: 'gcc', why: 'compiles the crash programs' },
  { program: 'gdb', pkg: 'gdb', why: 'replay, gcore fallback, backtrace oracle' },
  { program: 'eu-readelf', pkg: 'elfutils', why: 'build-ID and note oracle' },
  { program: 'eu-unstrip', pkg: 'elfutils', why: 'module oracle' },
  { program: 'objcopy', pkg: 'binutils', why: 'separate debug files' },
  { program: 'readelf', pkg: 'binutils', why: 'section oracle' },
  { program: 'strip', pkg: 'binutils', why: 'stripped libraries' },
  { program: 'tar', pkg: 'tar', why: 'GNU tar reads the bundles' },
  { program: 'bzip2', pkg: 'bzip2', why: '.tbz2 bundles' },
  { program: 'gzip', pkg: 'gzip', why: '.tar.gz bundles' },
  { program: 'zstd', pkg: 'zstd', why: '.tar.zst bundles' },
  { program: 'lz4', pkg: 'lz4', why: 'cores stored as systemd-coredump stores them (.lz4)' },
  { program: 'xz', pkg: 'xz-utils', why: 'cores stored as systemd-coredump stores them (.xz)' },
  { program: 'setfattr', pkg: 'attr', why: "systemd-coredump's user.coredump.* xattrs on test cores" },
  { program: 'getfattr', pkg: 'attr', why: 'corepack reads those xattrs with it' },
  { program: 'script', pkg: 'bsdutils', why: 'a pseudo-terminal for the progress bar and typed passphrases' },
  { program: 'age', pkg: 'age', why: 'the other age implementation: decrypts what collect encrypts, and the reverse' },
  { program: 'age-keygen', pkg: 'age', why: 'X25519 identities for the encryption tests' },
  { program: 'bash', pkg: 'bash', why: 'ulimit -c before a crash' },
  { program: 'bwrap', pkg: 'bubblewrap', why: "replay's sandbox around gdb" },
  { program: 'debuginfod', pkg: 'debuginfod', why: 'a real debuginfod server for replay to fetch debug info from' },
  { program: 'python3', pkg: 'python3', why: 'a pseudo-terminal for interactive replay; ioctls inside the sandbox' },
  { program: 'flock', pkg: 'util-linux', why: "the suite's core_pattern lock around every crash" },
  { program: 'chromium', pkg: 'chromium', why: "a real browser renders report's HTML page (headless)" },
];

/** The first executable `program` on PATH, or undefined. */
export function onPath(program: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** One line naming what is missing and the apt-get line that installs it; undefined when nothing is. */
export function missingPrerequisites(path?: string, list: readonly Prerequisite[] = PREREQUISITES): string | undefined {
  const missing = list.filter((p) => onPath(p.program, path) === undefined);
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((p) => p.pkg))];
  const programs = missing.map((p) => `${p.program} (${p.pkg}: ${p.why})`).join(', ');
  return `the tests need programs that are not on PATH: ${programs}. Install them with: apt-get install ${packages.join(' ')}`;
}

export default function setup(): void {
  const message = missingPrerequisites();
  if (message === undefined) return;
  // One message and a nonzero exit, before any test file is even collected.
  process.stderr.write(`\ncorepack tests: ${message}\n(.ci/run installs everything the tests need.)\n\n`);
  process.exit(1);
}
