/**
 * The one place where an error becomes what the user sees: a message line, an
 * optional hint line, and an exit code. Domain modules throw errors named for
 * what went wrong (src/util/errors.ts, src/bundle/errors.ts,
 * src/replay/errors.ts, src/collect/errors.ts, src/input/errors.ts,
 * src/elf/errors.ts) and never
 * choose a code; this table does, once, so the same failure ends the same
 * way from every command.
 */
import { FormatError } from '../elf/errors.js';
import {
  BadOptionError,
  errnoReason,
  InterruptedError,
  isErrnoError,
  MissingToolError,
  NotEnoughSpaceError,
  OutputWriteError,
} from '../util/errors.js';
import {
  BundledCoreError,
  CodecError,
  DecryptError,
  EncryptedBundleError,
  FileChangedError,
  IdentityFileError,
  ManifestError,
  NotABundleError,
  PartSetError,
  TooManyPartsError,
  UnsafeBundleError,
} from '../bundle/errors.js';
import { BundleVerifyError, GdbFailedError, ReplayDirError, UnsafeScriptPathError } from '../replay/errors.js';
import { RootDirectoryError, WrongExecutableError } from '../collect/errors.js';
import { CoreInputError, NoCoreFoundError, NoSpaceError } from '../input/errors.js';
import { CoreStreamError, DeadlineError, HandlerConfigError, HandlerInstallError } from '../capture/errors.js';
import { EXIT, type ExitCode } from './exit.js';
import { IDENTITY_ENV } from './keys.js';

/** The command line itself is wrong (an argument in the wrong place). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    reason: string,
    readonly remedy?: string,
  ) {
    super(reason);
  }
}

interface Rule<E extends Error> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  error: abstract new (...args: any[]) => E;
  code: ExitCode | ((e: E) => ExitCode);
  hint?: (e: E) => string | undefined;
}

const rule = <E extends Error>(error: Rule<E>['error'], code: Rule<E>['code'], hint?: Rule<E>['hint']): Rule<Error> => ({ error, code, hint }) as Rule<Error>;

/** errno codes that mean the output could not be written, wherever they come from. */
const WRITE_ERRNO: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS']);

/** Error class → exit code and hint. The first rule whose class matches decides. */
export const ERROR_RULES: readonly Rule<Error>[] = [
  rule(UsageError, EXIT.USAGE, (e: UsageError) => e.remedy),
  rule(BadOptionError, EXIT.USAGE, (e: BadOptionError) => e.remedy),
  rule(WrongExecutableError, EXIT.USAGE, (e: WrongExecutableError) =>
    e.coreExecutable ? `pass -e ${e.coreExecutable} (or leave -e out to use the path the core names), or -e with a copy whose build ID is ${e.coreBuildId}` : `pass -e with the executable whose build ID is ${e.coreBuildId}`,
  ),
  rule(RootDirectoryError, EXIT.USAGE, () => 'pass the directory the crashed process saw as / (for a docker container: docker inspect -f \'{{.GraphDriver.Data.MergedDir}}\' CONTAINER)'),
  // Bad input: the core or the bundle is not usable as it is.
  rule(FormatError, EXIT.BAD_INPUT),
  rule(UnsafeBundleError, EXIT.BAD_INPUT),
  rule(NotABundleError, EXIT.BAD_INPUT),
  rule(ManifestError, EXIT.BAD_INPUT),
  rule(BundledCoreError, EXIT.BAD_INPUT),
  rule(UnsafeScriptPathError, EXIT.BAD_INPUT),
  // A split bundle with a part missing or damaged, or without its index: ask for the file named.
  rule(PartSetError, EXIT.BAD_INPUT, (e: PartSetError) => (e.part !== null ? `ask for ${e.file.split('/').pop()} again; nothing was extracted` : undefined)),
  rule(TooManyPartsError, EXIT.USAGE, () => 'pass a larger --split size'),
  // Encrypted for someone else, or no key given: bad input for whoever holds no key.
  rule(EncryptedBundleError, EXIT.BAD_INPUT, (e: EncryptedBundleError) => {
    if (e.foreignOnly) return 'corepack decrypts X25519 and passphrase bundles; the age CLI reads the others: age -d -i KEY BUNDLE.age > BUNDLE, then replay BUNDLE';
    if (e.wrongPassphrase) return 'check the passphrase with the sender and pass it again (--passphrase asks on the terminal, --passphrase-file FILE reads its first line)';
    if (e.passphrase) return 'it was encrypted with a passphrase: pass --passphrase (asks on the terminal) or --passphrase-file FILE';
    if (e.tried.length) return 'it was encrypted for another key: ask the sender which public key they used';
    return e.passphrase ? 'pass --passphrase (asks on the terminal) or --passphrase-file FILE' : `pass --identity KEYFILE (or set ${IDENTITY_ENV}=KEYFILE)`;
  }),
  rule(DecryptError, EXIT.BAD_INPUT, () => 'ask for the bundle again (a transfer may have damaged it)'),
  rule(IdentityFileError, EXIT.USAGE, () => 'pass an identity file as age-keygen writes it (AGE-SECRET-KEY-1…)'),
  // A stored core (compressed, an apport report, an ABRT directory) that holds no usable core.
  rule(CoreInputError, EXIT.BAD_INPUT),
  rule(NoCoreFoundError, EXIT.BAD_INPUT, () => 'run corepack-crash list to see the cores found, or name the core'),
  // A file kept changing on every attempt: the input cannot be bundled consistently right now.
  rule(FileChangedError, EXIT.BAD_INPUT),
  // Decompressing, a codec failure means bad data; compressing, our output could not be made.
  rule(CodecError, (e: CodecError) => (e.mode === 'decompress' ? EXIT.BAD_INPUT : EXIT.WRITE_FAILED)),
  rule(BundleVerifyError, EXIT.VERIFY_FAILED, () => 'ask for the bundle again (a transfer may have damaged it); nothing was extracted'),
  rule(GdbFailedError, EXIT.VERIFY_FAILED),
  rule(MissingToolError, EXIT.MISSING_TOOL, (e: MissingToolError) => {
    const { how, choices } = e.alternatives;
    return `install ${e.packages} (e.g. ${e.install})${choices.length ? `, or ${how} ${choices.join(', ')}` : ''}`;
  }),
  rule(ReplayDirError, EXIT.WRITE_FAILED, (e: ReplayDirError) =>
    e.cache ? 'the cache directory is not writable: set XDG_CACHE_HOME to a directory you can write to, or pass --dir DIR' : e.outOfSpace ? 'free some space, or pass --dir on a larger file system' : 'pass --dir with a directory you can write to',
  ),
  rule(OutputWriteError, EXIT.WRITE_FAILED, (e: OutputWriteError) =>
    e.code === 'EFBIG'
      ? 'the file size limit (ulimit -f) stops it: raise the limit (ulimit -f unlimited), or cut the bundle with --split SIZE'
      : e.outOfSpace ? 'free some space or write the bundle elsewhere with -o' : e.code === 'ENOENT' ? 'create the directory first, or name another output with -o' : undefined,
  ),
  rule(NotEnoughSpaceError, EXIT.WRITE_FAILED, () => 'free some space, or pass --dir on a larger file system'),
  rule(NoSpaceError, EXIT.WRITE_FAILED, () => 'set TMPDIR to a directory with more free space'),
  rule(InterruptedError, (e: InterruptedError) => (e.signal === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED)),
  // The crash-time handler (corepack handle, corepack handler …).
  rule(HandlerConfigError, EXIT.USAGE, () => 'fix the configuration file (corepack-crash handler status checks it); until then crashes are passed on, not bundled'),
  rule(HandlerInstallError, EXIT.USAGE, (e: HandlerInstallError) => e.remedy),
  rule(CoreStreamError, EXIT.BAD_INPUT),
  rule(DeadlineError, EXIT.INTERNAL),
];

/** The system-call error `err` is, or the first one in its chain of causes (an error that wraps one). */
function systemErrorIn(err: unknown): (NodeJS.ErrnoException & { code: string; syscall: string }) | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (isErrnoError(e)) return e as NodeJS.ErrnoException & { code: string; syscall: string };
  }
  return undefined;
}

export interface Described {
  message: string;
  hint?: string;
  code: ExitCode;
}

/**
 * The line the user sees for `err`, its hint, and the exit code. `subject` is
 * the file the command was working on, for errors that do not name one.
 */
export function describeError(err: unknown, subject?: string): Described {
  for (const r of ERROR_RULES) {
    if (!(err instanceof r.error)) continue;
    const code = typeof r.code === 'function' ? r.code(err) : r.code;
    const hint = r.hint?.(err);
    // FormatError and CodecError are about bytes, not files: say which file.
    const message = (err instanceof FormatError || err instanceof CodecError) && subject ? `${subject}: ${err.message}` : err.message;
    return { message, ...(hint ? { hint } : {}), code };
  }
  const sys = systemErrorIn(err);
  if (sys) {
    const reason = errnoReason(sys.code) ?? sys.message;
    // The file the system call named; a call on a descriptor (read, write) names none, and then the
    // command's input is only what it was working on, not necessarily the file that failed.
    const message = sys.path !== undefined ? `${sys.path}: ${reason}` : `${sys.syscall}: ${reason}${subject ? ` (while working on ${subject})` : ''}`;
    return { message, code: WRITE_ERRNO.has(sys.code) ? EXIT.WRITE_FAILED : EXIT.BAD_INPUT };
  }
  const e = err as Error | undefined;
  return { message: `internal error: ${e?.message ?? String(err)} (set COREPACK_DEBUG=1 for a stack trace, and please report it)`, code: EXIT.INTERNAL };
}
