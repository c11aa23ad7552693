/**
 * The command line: parses arguments with commander, runs one command, and
 * turns every failure into one line on stderr and a documented exit code.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, exitCodesHelp } from './exit.js';
import { exitOnEarlyInterrupt } from './signals.js';
import { describeError, UsageError } from './errors.js';
import type { CollectFlags, ReplayFlags } from './options.js';
import type { InspectFlags } from './inspect.js';
import type { ReportFlags } from './report.js';
import { versionText } from '../version.js';
import { DEFAULT_DEBUG_DIR } from '../util/debugfiles.js';
import { collectValues, IDENTITY_ENV } from './keys.js';
import { DEFAULT_ATTACH_MAX_BYTES } from '../collect/limits.js';

export { describeError };

export function buildProgram(argv: readonly string[] = process.argv): Command {
  const program = new Command();
  // Set before any subcommand is added: commander copies these settings to
  // subcommands only when they are created.
  program.exitOverride();
  // Commander's own messages ("error: unknown option '--bogus'") take the prefix every other error line has.
  program.configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.startsWith('error:') ? `corepack: ${s}` : s) });
  program
    .name('corepack-crash')
    .description('Make a crash debuggable anywhere: bundle a core with the exact executable and libraries it had mapped, and replay it in gdb.')
    // --version is answered in main() before commander parses: it may ask git, which start-up never does.
    .option('-V, --version', 'print the version, the commit it was built from and the Node.js it runs on')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ corepack-crash inspect core.1234
  $ corepack-crash inspect core.1234 --json | jq .signal
  $ corepack-crash collect core.1234 -e /opt/app/bin/server     # at the customer's site
  $ sudo corepack-crash list                                      # cores systemd-coredump, apport, ABRT kept
  $ sudo corepack-crash collect --latest server --stacks-only --encrypt-to age1…
  $ corepack-crash replay crash-1234.tbz2
  $ corepack-crash replay crash-1234.tbz2 --batch > ticket.txt
  $ corepack-crash report crash-1234.tbz2 > ticket.md            # verdict, stacks, signature

${exitCodesHelp()}

This is corepack the crash bundler. Node.js ships an unrelated \`corepack\` (its
package-manager shim): run this one as corepack-crash, or npx corepack-crash.`,
    );

  program
    .command('inspect')
    .description('Show what a core says (command, signal, threads with PC/SP, modules with build IDs), or what a bundle holds.')
    .argument('<core>', 'a core file, or a bundle made by collect (its manifest is shown without unpacking it)')
    .option('--json', 'print one JSON object on stdout (schema in the README)')
    .option('-e, --exe <path>', 'the executable, for cores that lack its headers (qemu-user, gcore): its program headers complete the module list')
    .option('--root <dir>', 'the directory the process saw as / (container root, chroot, qemu -L): link_map names are looked up there')
    .option('--identity <file>', `show an encrypted bundle's manifest, decrypting with the age identities in FILE (repeatable; also $${IDENTITY_ENV})`, collectValues)
    .option('--passphrase', 'decrypt a passphrase-encrypted bundle, asking on the terminal')
    .option('--passphrase-file <file>', 'decrypt with the passphrase on the first line of FILE (- for standard input)')
    .addHelpText(
      'after',
      `
Examples:
  $ corepack-crash inspect core.1234
  $ corepack-crash inspect core.1234 --json > crash.json
  $ corepack-crash inspect ticket-4711.tbz2          # who collected it, what crashed, the state of every file`,
    )
    .action(async (core: string, flags: InspectFlags) => {
      // Each command loads its own modules: start-up stays short for the light ones.
      const { inspectCommand, normalizeInspectOptions } = await import('./inspect.js');
      process.exitCode = await inspectCommand(core, normalizeInspectOptions(flags));
    });

  program
    .command('collect')
    .description('Write one bundle with the core, the executable and the exact shared libraries the process had mapped.')
    .argument('[core]', 'the core: a core file, a compressed core (systemd-coredump), an apport .crash report or an ABRT directory (only read, never changed)')
    .option('--latest [name]', 'collect the newest core that `corepack-crash list` finds (of the executable NAME, if given)')
    .option('-e, --exe <path>', 'the executable that crashed (default: the one the core names, else the one its store recorded)')
    .option('--root <dir>', "the directory the process saw as / (a container's merged root, a chroot, qemu -L): every path from the core is looked up there, never on this machine")
    .option('-o, --output <bundle>', 'bundle to write; the extension picks the format: .tbz2/.tar.bz2, .tar.gz/.tgz, .tar.zst/.tzst (default: <core>.tbz2)')
    .option('--with-debug', 'also bundle separate debug files found for the build IDs (under --debug-dir: .build-id/, and by .gnu_debuglink)')
    .option('--debug-dir <dir>', `where --with-debug looks for .build-id/ (default: ${DEFAULT_DEBUG_DIR}, the one under --root DIR when given)`)
    .option('--encrypt-to <recipient>', "encrypt the bundle for this age recipient (age1…, the vendor's public key; repeatable); the output gets .age", collectValues)
    .option('--recipients-file <file>', 'encrypt for every age1… recipient in FILE (one per line, # comments; repeatable)', collectValues)
    .option('--passphrase', 'encrypt with a passphrase typed on the terminal (asked twice) instead of recipients')
    .option('--passphrase-file <file>', 'encrypt with the passphrase on the first line of FILE (- for standard input, /dev/fd/N for a descriptor)')
    .option('--attach <glob>', 'bundle the files matching GLOB (fast-glob; quote it) under attachments/, e.g. logs and configuration; a directory takes everything under it (repeatable)', collectValues)
    .option('--attach-max <size>', `skip (and name) an attachment larger than SIZE (default: ${DEFAULT_ATTACH_MAX_BYTES / 1024 / 1024}M)`)
    .option('--split <size>', 'write the bundle as parts NAME.001, NAME.002, … of at most SIZE bytes (K, M, G: powers of 1024), plus the index NAME-parts.sha256; attach them all')
    .option('--json', 'print the result (path, size, per-file status) as JSON on stdout')
    .option('--stacks-only', 'bundle a mini core instead of the core: the threads\' stacks, registers and loader state, no heap (small enough for a ticket; the manifest lists every range kept)')
    .option('--stack-cap <size>', 'with --stacks-only: keep at most SIZE bytes of each stack, the innermost (crashing) frames (e.g. 256K, 1M; default: whole stacks)')
    .addHelpText(
      'after',
      `
Examples:
  $ corepack-crash collect core.1234 -e /opt/app/bin/server
  $ corepack-crash collect core.1234 --split 25M          # core.1234.tbz2.001, .002, … and core.1234.tbz2-parts.sha256
  $ corepack-crash collect core.1234 --attach '/var/log/app/*.log' --attach /etc/app/
  $ corepack-crash collect core.1234 --encrypt-to age1…   # core.1234.tbz2.age; the vendor runs: age -d -i key.txt core.1234.tbz2.age | tar xj
  $ corepack-crash collect core.1234 -o ticket-4711.tar.zst
  $ corepack-crash collect core.1234 --stacks-only      # no heap: a few hundred KB
  $ corepack-crash collect core.1234 --with-debug --json > collect.json

Exit code 0 means every file matched the crash; 4 means the bundle was written
but a file was missing or replaced since the crash (the messages say which).`,
    )
    .action(async (core: string | undefined, flags: CollectFlags) => {
      const { collectCommand } = await import('./collect.js');
      process.exitCode = await collectCommand(core, flags);
    });

  program
    .command('list')
    .description('List the cores on this machine, oldest first: time, pid, signal, executable, size, form and path.')
    .argument('[dir...]', 'directories to look in (default: the working directory, /var/lib/systemd/coredump, /var/lib/apport/coredump, /var/crash, /var/spool/abrt)')
    .option('--json', 'print { cores, unreadable, dirs } as JSON on stdout')
    .addHelpText(
      'after',
      `
Only headers, notes and metadata are read (a compressed core's notes come from
the start of its stream). What cannot be read (permissions) is named.

Examples:
  $ corepack-crash list
  $ sudo corepack-crash list /var/lib/systemd/coredump --json
  $ corepack-crash collect --latest server          # bundle the newest core of "server"`,
    )
    .action(async (dirs: string[], opts: { json?: boolean }) => {
      const { listCommand } = await import('./list.js');
      process.exitCode = await listCommand(dirs, opts);
    });

  program
    .command('handle')
    .description("The kernel's core handler: core_pattern starts it with the core on standard input (corepack-crash handler install sets that up).")
    .argument('[specifiers...]', 'X=VALUE for each core_pattern specifier the handler line passes (P=%P p=%p s=%s …)')
    .option('--json', 'print what was done as JSON on stdout (the kernel discards it; for trying it by hand)')
    .addHelpText(
      'after',
      `
Reads the core from standard input while the kernel holds the crashed process
(core_pipe_limit > 0), takes every mapped file through /proc/PID/map_files,
writes one bundle into the spool, and passes the core on to the previous
core_pattern. Options come from the configuration file (default
/etc/corepack/handler.json); what happened goes to the system log.

Example (what the kernel runs):
  |/usr/local/bin/corepack-crash handle P=%P p=%p i=%i s=%s c=%c d=%d t=%t u=%u g=%g e=%e`,
    )
    .action(async (specifiers: string[], flags: { json?: boolean }) => {
      const { handleCommand } = await import('./handler.js');
      process.exitCode = await handleCommand(specifiers, flags);
    });

  const handler = program.command('handler').description("Install corepack as the kernel's core handler, undo that, or show what it caught.");
  handler
    .command('install')
    .description('Point core_pattern at corepack-crash handle, keeping the previous pattern (the core still goes there) and raising core_pipe_limit from 0.')
    .option('--exe <path>', 'the program the kernel starts (default: this single executable, or /usr/local/bin/corepack-crash)')
    .option('--config <file>', 'the configuration the handler reads (default: /etc/corepack/handler.json; absent: every default)')
    .option('--pipe-limit <n>', 'core_pipe_limit to set when it is 0 (default: 16, as systemd sets it)')
    .option('--json', 'print the install record as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ sudo corepack-crash handler install
  $ sudo corepack-crash handler install --config /etc/corepack/handler.json
  $ sudo corepack-crash handler status
  $ sudo corepack-crash handler uninstall        # core_pattern and core_pipe_limit as they were`,
    )
    .action(async (flags: { exe?: string; config?: string; pipeLimit?: string; json?: boolean }) => {
      const { handlerInstallCommand } = await import('./handler.js');
      process.exitCode = await handlerInstallCommand(flags);
    });
  handler
    .command('uninstall')
    .description('Restore core_pattern and core_pipe_limit exactly as install found them.')
    .option('--force', 'restore them even though core_pattern was changed since install')
    .option('--json', 'print what was restored as JSON')
    .action(async (flags: { force?: boolean; json?: boolean }) => {
      const { handlerUninstallCommand } = await import('./handler.js');
      process.exitCode = await handlerUninstallCommand(flags);
    });
  handler
    .command('status')
    .description('What core_pattern holds, what install replaced, whether the configuration is valid, the spool, the last captures.')
    .option('--json', 'print the status as JSON')
    .action(async (flags: { json?: boolean }) => {
      const { handlerStatusCommand } = await import('./handler.js');
      process.exitCode = await handlerStatusCommand(flags);
    });

  program
    .command('doctor')
    .description('What this machine can do: compressors, free space, core_pattern, ulimit -c, crash stores, pipe handlers; gdb, gdb-multiarch, lldb, the sandbox, debuginfod. Each missing thing names its Debian and RHEL package.')
    .option('--json', 'print { version, canCollect, checks: [{ area, name, status, text, install, data }] } as JSON')
    .option('--probe', 'find out whether the kernel runs core_pattern programs: as root, sets core_pattern to a test handler for a moment, crashes a shell, and puts it back')
    .addHelpText(
      'after',
      `
Exit codes: 0 this machine can collect (a writable directory with room for a
bundle: gzip is built in, so some format can always be written); 6 it cannot
(the lines marked missing say why). Lines marked warn or missing elsewhere
name what to install.

Examples:
  $ corepack-crash doctor
  $ corepack-crash doctor --json | jq '.checks[] | select(.status != "ok")'
  $ sudo corepack-crash doctor --probe          # before: sudo corepack-crash handler install`,
    )
    .action(async (flags: { json?: boolean; probe?: boolean }) => {
      const { doctorCommand } = await import('./doctor.js');
      process.exitCode = await doctorCommand(flags);
    });

  program
    .command('report')
    .description('The crash as a person reads it: a one-sentence verdict, the crashing stack with source lines, threads grouped, modules, and a signature that finds the same crash in other tickets.')
    .argument('<input>', 'a bundle made by collect (any format, split or encrypted), or a core file (read with this machine\'s files)')
    .option('--format <format>', 'md (Markdown for a ticket), html (one self-contained page), json, or text (default: from -o\'s extension; text on a terminal, else md)')
    .option('-o, --output <file>', 'write the report to FILE (atomically: the old file or the new one, never half of it)')
    .option('--json', 'the same as --format json')
    .option('--no-debugger', 'do not run gdb: the report has what the core says (each thread\'s PC as module+offset), no symbols')
    .option('--gdb <path>', "the gdb to run (default: gdb for this machine's cores, gdb-multiarch for other architectures)")
    .option('-e, --exe <path>', 'for a core: the executable, when the one the core names is not on this machine as it was')
    .option('--source <dir>', 'show source lines from the program\'s sources in DIR (repeatable)', collectValues)
    .option('--dir <dir>', 'for a bundle: extract into DIR (default: the cache directory replay uses)')
    .option('--no-sandbox', 'run gdb without the bubblewrap sandbox')
    .option('--host-thread-db', "use this machine's libthread_db instead of the bundle's")
    .option('--debuginfod <url>', 'ask this debuginfod server for debug info the bundle lacks (repeatable; default: $DEBUGINFOD_URLS)', collectValues)
    .option('--identity <file>', `decrypt an encrypted bundle with the age identities in FILE (repeatable; also $${IDENTITY_ENV})`, collectValues)
    .option('--passphrase', 'decrypt a passphrase-encrypted bundle, asking on the terminal')
    .option('--passphrase-file <file>', 'decrypt with the passphrase on the first line of FILE (- for standard input)')
    .addHelpText(
      'after',
      `
Frames come from gdb's Python API (templates/report.py), run in replay's
sandbox; without gdb the report still has the verdict, each thread's PC as
module+offset and the modules, and says that symbols come with gdb.

The signature (cp1-…) is made of the signal and the function and module
names of the crashing thread's top frames (abort/assert glue skipped), never
addresses: the same bug gives the same signature in another build and run.

Exit codes: 0 report written; 3 not a core or bundle, or an unsafe one; 5 a
bundled file does not match the core's build ID, or gdb could not load the
crash (the report is still written, without symbols); 6 --gdb names no gdb;
7 -o cannot be written.

Examples:
  $ corepack-crash report crash-1234.tbz2 > ticket.md           # Markdown for the ticket
  $ corepack-crash report crash-1234.tbz2 -o crash-1234.html    # one page, opens in the attachment preview
  $ corepack-crash report crash-1234.tbz2 --json | jq -r .signature.hash
  $ corepack-crash report core.1234 --format text               # a core, with this machine's files
  $ corepack-crash report core.1234 --no-debugger               # no gdb: modules and PCs only
  $ corepack-crash report crash-1234.tbz2 --source ~/src/app    # with source lines`,
    )
    .action(async (input: string, flags: ReportFlags) => {
      const { reportCommand } = await import('./report.js');
      process.exitCode = await reportCommand(input, flags);
    });

  program
    .command('replay')
    .description(
      'Debug a bundle made by collect: extract it safely, verify every file (sha256) and build ID against the core, ' +
        'report debug info, write gdb and lldb scripts, and start gdb with the customer\'s own executable and libraries.',
    )
    .argument('<bundle>', 'the bundle (.tbz2, .tar.gz, .tar.zst; compression is detected from the content), or any part of a split one (NAME.001, …)')
    .argument('[gdb-args...]', 'arguments for gdb, after -- (gdb runs in an empty directory, DIR/.corepack/cwd; -x FILE is made absolute against this one)')
    .option('--dir <dir>', 'extract into DIR (default: a cache directory per bundle under $XDG_CACHE_HOME/corepack/bundles, reused next time)')
    .option('--batch', 'no interactive gdb: print the signal, the crashed thread, the shared libraries and every thread\'s backtrace on stdout')
    .option('--json', 'print a JSON report on stdout instead of the text report; without --batch, gdb is not started')
    .option('--gdb <path>', "the gdb to run (default: gdb for this machine's cores, gdb-multiarch for other architectures)")
    .option('--identity <file>', `decrypt an encrypted bundle (.age) with the age identities in FILE (as age-keygen writes them; repeatable; also $${IDENTITY_ENV}, several separated by ':')`, collectValues)
    .option('--passphrase', 'decrypt a passphrase-encrypted bundle, asking for the passphrase on the terminal')
    .option('--passphrase-file <file>', 'decrypt with the passphrase on the first line of FILE (- for standard input)')
    .option('--host-thread-db', "use this machine's libthread_db instead of the bundle's (the bundle's is native code gdb loads, inside the sandbox)")
    .option('--no-sandbox', 'run gdb without the bubblewrap sandbox: with your files and network, and the bundle\'s libthread_db (a warning says so)')
    .option('--lldb', 'debug with lldb (on DIR/replay.lldb) instead of gdb, in the same sandbox; with --batch, every thread\'s backtrace')
    .option('--source <dir>', 'let the debugger read the program\'s sources in DIR (read-only in the sandbox; repeatable)', collectValues)
    .option('--debuginfod <url>', 'ask this debuginfod server for debug info the bundle lacks, by build ID (repeatable; default: $DEBUGINFOD_URLS)', collectValues)
    .addHelpText(
      'after',
      `
The bundle is untrusted: entries outside its directory, absolute paths, "..",
symlinks leaving the sysroot, hard links, devices and fifos are refused;
setuid bits and owners are dropped; the decompressed size is capped by what
manifest.json declares. Scripts from the bundle are never auto-loaded.

gdb runs in a bubblewrap sandbox: no network, the replay directory
read-only, a private /tmp and HOME, none of your other files (scripts given
with -x after --, and --source directories, are readable). Without bwrap, or where it cannot make a
sandbox, replay says so and loads this machine's libthread_db instead of the
bundle's. --no-sandbox turns it off. With DEBUGINFOD_URLS set (or
--debuginfod URL), corepack fetches missing debug info by build ID into
debuginfod's cache (~/.cache/debuginfod_client) and gives it to gdb.

Files written into DIR (printed in the report):
  DIR/bundle/       the extracted bundle (manifest.json, core/, sysroot/, debug/)
  DIR/replay.gdb    gdb script:  gdb -x DIR/replay.gdb
  DIR/replay.lldb   lldb script: lldb -s DIR/replay.lldb

Exit codes: 3 unsafe or malformed bundle; 5 a file fails its checksum (nothing
is extracted), a bundled file does not match the core's build ID (--batch,
--json), or gdb could not load the crash; 6 gdb is not installed. Interactive
replay exits with gdb's status.

Examples:
  $ corepack-crash replay crash-1234.tbz2
  $ corepack-crash replay crash-1234.tbz2 --dir /tmp/crash-1234
  $ corepack-crash replay crash-1234.tbz2 --batch > ticket.txt
  $ corepack-crash replay crash-1234.tbz2 --json | jq .buildIds
  $ corepack-crash replay crash-1234.tbz2 -- -ex 'frame 1' -ex 'info locals'
  $ corepack-crash replay crash-1234.tbz2 --batch --debuginfod https://debuginfod.debian.net
  $ corepack-crash replay crash-1234.tbz2 --source ~/src/app -- -x ~/.gdbinit
  $ corepack-crash replay crash-1234.tbz2 --lldb --batch
  $ corepack-crash replay crash-1234.tbz2 --no-sandbox
  $ lldb -s ~/.cache/corepack/bundles/0123456789abcdef/replay.lldb`,
    )
    .action(async (bundle: string, gdbArgs: string[], flags: ReplayFlags) => {
      if (gdbArgs.length > 0 && !argv.includes('--')) {
        throw new UsageError(`unexpected argument ${JSON.stringify(gdbArgs[0])}`, 'arguments for gdb go after --, e.g. corepack-crash replay BUNDLE -- -ex "info registers"');
      }
      const { replayCommand } = await import('./replay.js');
      const { normalizeGdbArgs, normalizeReplayOptions } = await import('./options.js');
      process.exitCode = await replayCommand(bundle, normalizeGdbArgs(gdbArgs), normalizeReplayOptions(flags));
    });

  return program;
}

/**
 * The first operand of the (sub)command that ran (the core, the bundle), for
 * errors about bytes that name no file: never an option such as --json,
 * which the program's own raw arguments would give.
 */
function firstOperand(program: Command): string | undefined {
  let cmd = program;
  for (;;) {
    const sub = cmd.commands.find((c) => c.name() === cmd.args[0]);
    if (!sub) break;
    cmd = sub;
  }
  if (cmd === program) return undefined;
  const first: unknown = cmd.processedArgs[0];
  return typeof first === 'string' ? first : undefined;
}

export async function main(argv: string[]): Promise<number> {
  // bin/corepack.js did it first; another entry (the single executable) may not have.
  exitOnEarlyInterrupt();
  if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
    process.stdout.write(`${versionText()}\n`);
    return 0;
  }
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with code 0.
      return err.exitCode === 0 ? 0 : EXIT.USAGE;
    }
    const { message, hint, code } = describeError(err, firstOperand(program));
    process.stderr.write(`corepack: error: ${message}\n`);
    if (hint) process.stderr.write(`corepack: ${hint}\n`);
    if (process.env.COREPACK_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}


