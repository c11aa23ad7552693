/**
 * Running a codec: the one process runner for every compressor and
 * decompressor program, and the same shape for the built-in zlib. The input
 * and the output are each a pipe or an open file descriptor the program
 * reads or writes itself (so a bundle's compressed bytes need not pass
 * through Node).
 *
 * node:child_process rather than execa: all it takes is spawn, stderr's
 * first line and the exit status, and not loading execa puts the
 * decompressor ~60 ms earlier at the start of replay and inspect.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MissingToolError } from '../util/errors.js';
import { trace } from '../util/trace.js';
import { which } from '../util/which.js';
import { retainedStdout } from '../util/childout.js';
import { CODECS, packagesText, programsFor, type BuiltinCodec } from './codecs.js';
import { CodecError, type CodecMode } from './errors.js';
import type { Compression } from './magic.js';

export interface CodecIo {
  /** Open file descriptor the transformed bytes are written to (from its current offset). */
  toFd?: number | undefined;
  /** Open file descriptor the input is read from (from its current offset). */
  fromFd?: number | undefined;
}

export interface CodecStream {
  /** Write side; null when the input comes from a file descriptor. */
  input: Writable | null;
  /** Read side; null when the output goes to a file descriptor. */
  output: Readable | null;
  /** Resolves when the program (or zlib) finished successfully; rejects with a CodecError otherwise. */
  done: Promise<void>;
  /** Stops it (after a failure, an interrupt, or once the consumer has what it needs). */
  kill(): void;
}

export interface Codec {
  /** What runs, for reports: "lbzip2", "zstd", "zlib". */
  program: string;
  mode: CodecMode;
  /**
   * A separate process, which can read its input from a file descriptor
   * itself: the bundle writer gives a large file a compressed frame of its
   * own that way (bundle/sink.ts). The built-in zlib would only relay it.
   */
  readsFiles: boolean;
  /** Starts one run. */
  stream(io?: CodecIo): CodecStream;
}

/** What works without the missing program, for its error: "use a format that works here: .tar.gz". */
export interface Alternatives {
  how: string;
  choices: readonly string[];
}

// Programs still running when corepack exits (Ctrl-C included) are killed: none is left behind.
const running = new Set<ChildProcess>();
let hooked = false;
function track(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  running.add(child);
  child.on('close', () => running.delete(child));
}

/** What a compressor's one-line complaint says about its output, as an errno code (it wrote to our file itself). */
function outputErrno(signal: string | undefined, stderr: string): string | undefined {
  if (signal === 'SIGXFSZ' || /File too large/i.test(stderr)) return 'EFBIG';
  if (/No space left on device/i.test(stderr)) return 'ENOSPC';
  if (/Disk quota exceeded/i.test(stderr)) return 'EDQUOT';
  if (/Read-only file system/i.test(stderr)) return 'EROFS';
  return undefined;
}

/** The codec that runs `path` (the program `program`) with `args`. */
export function programCodec(program: string, path: string, args: readonly string[], mode: CodecMode): Codec {
  return {
    program,
    mode,
    readsFiles: true,
    stream({ toFd, fromFd }: CodecIo = {}): CodecStream {
      trace(`${mode} ${program}`);
      const child = spawn(path, [...args], { stdio: [fromFd ?? 'pipe', toFd ?? 'pipe', 'pipe'] });
      track(child);
      let stderr = '';
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('error', () => undefined); // a reset after a kill: the exit status says why
      child.stderr!.on('data', (s: string) => {
        if (stderr.length < 4096) stderr += s;
      });
      const done = new Promise<void>((resolve, reject) => {
        child.on('error', (err) => reject(new CodecError(program, mode, err.message, { cause: err })));
        child.on('close', (code, signal) => {
          if (code === 0 && !signal) return resolve();
          const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          const detail = stderr.trim().split('\n')[0] ?? '';
          const errno = toFd === undefined ? undefined : outputErrno(signal ?? undefined, detail);
          reject(new CodecError(program, mode, `${why}${detail ? `: ${detail}` : ''}`, undefined, errno));
        });
      });
      done.catch(() => undefined); // observed by the caller; never an unhandled rejection meanwhile
      // EPIPE when the program stops reading (it failed, or was stopped): `done` says why.
      child.stdin?.on('error', () => undefined);
      const output = toFd === undefined ? retainedStdout(child) : null;
      return {
        input: fromFd === undefined ? child.stdin! : null,
        output,
        done,
        kill: () => {
          output?.destroy();
          child.stdout?.destroy();
          child.kill('SIGKILL');
        },
      };
    },
  };
}

/** The built-in codec in the same shape: the bytes pass through Node, which does the work. */
export function builtinCodec(b: BuiltinCodec, mode: CodecMode): Codec {
  return {
    program: b.name,
    mode,
    readsFiles: false,
    stream({ toFd, fromFd }: CodecIo = {}): CodecStream {
      trace(`${mode} ${b.name}`);
      const t: Transform = b.transform(mode);
      const wrap = (err: unknown): CodecError | NodeJS.ErrnoException =>
        (err as NodeJS.ErrnoException).code && !(err as NodeJS.ErrnoException).code!.startsWith('Z_') ? (err as NodeJS.ErrnoException) : new CodecError(b.name, mode, (err as Error).message, { cause: err });
      if (fromFd !== undefined) {
        const source = createReadStream('', { fd: fromFd, autoClose: false, highWaterMark: 1 << 20 });
        source.on('error', (err) => t.destroy(err));
        source.pipe(t);
      }
      let done: Promise<void>;
      if (toFd !== undefined) {
        // Written to the descriptor, which stays open.
        done = pipeline(t, createWriteStream('', { fd: toFd, autoClose: false })).catch((err: unknown) => {
          throw wrap(err);
        });
      } else {
        done = new Promise<void>((resolve, reject) => {
          t.on('end', resolve);
          t.on('error', (err) => reject(wrap(err)));
        });
      }
      done.catch(() => undefined);
      return { input: fromFd === undefined ? t : null, output: toFd === undefined ? t : null, done, kill: () => t.destroy() };
    },
  };
}

/** Whether `c` can run in `mode` here: one of its programs is installed, or it is built in. */
export async function isAvailable(c: Compression, mode: CodecMode): Promise<boolean> {
  if (CODECS[c].builtin) return true;
  for (const p of programsFor(c, mode)) if (await which(p.program)) return true;
  return false;
}

/**
 * The fastest installed implementation of `c`: its first program found on
 * PATH, else its built-in one. Throws a MissingToolError naming the programs
 * looked for and the packages that bring them when there is neither.
 */
export async function codecFor(c: Compression, mode: CodecMode, alternatives: () => Promise<Alternatives> = async () => ({ how: '', choices: [] })): Promise<Codec> {
  const programs = programsFor(c, mode);
  for (const p of programs) {
    const path = await which(p.program);
    if (path) return programCodec(p.program, path, mode === 'compress' ? p.compress! : p.decompress!, mode);
  }
  const builtin = CODECS[c].builtin;
  if (builtin) return builtinCodec(builtin, mode);
  const looked = programs.map((p) => p.program);
  throw new MissingToolError(
    programs.length === 1 ? looked[0]! : `a ${c} program`,
    looked,
    packagesText(c, mode),
    `apt-get install ${programs[0]!.debianPackage}`,
    await alternatives(),
    `no ${c} program is installed (looked for ${looked.join(', ')})`,
  );
}
