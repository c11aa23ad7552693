/**
 * Bundle compression formats: chosen by file name when writing, detected by
 * content when reading, and run through the fastest compressor process that
 * is installed (node-tar only writes the tar stream; it has no bzip2, and its
 * zstd path throws on Node 20).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import * as zlib from 'node:zlib';
import { createGzip, createGunzip, constants as zlibConstants } from 'node:zlib';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { trace } from '../util/trace.js';
import { MissingToolError } from '../util/errors.js';
import { which } from '../util/which.js';
import { retainedStdout } from '../util/childout.js';
import { CodecError, type CodecMode } from './errors.js';
import type { Format } from './magic.js';

export { detectFormat, type Format } from './magic.js';


export interface FormatInfo {
  format: Format;
  extensions: readonly string[];
  /** Compressor programs, fastest first: [command, args for compress, args for decompress]. */
  programs: ReadonlyArray<readonly [string, readonly string[], readonly string[]]>;
  /** Debian package that provides a program, for the error message. */
  debianPackages: string;
}

export const FORMATS: readonly FormatInfo[] = [
  {
    format: 'bzip2',
    extensions: ['.tbz2', '.tar.bz2', '.tbz'],
    programs: [
      ['lbzip2', ['-c', '-9'], ['-d', '-c']],
      ['pbzip2', ['-c', '-9'], ['-d', '-c']],
      ['bzip2', ['-c', '-9'], ['-d', '-c']],
    ],
    debianPackages: 'lbzip2 (fastest), pbzip2 or bzip2',
  },
  {
    format: 'zstd',
    extensions: ['.tar.zst', '.tzst'],
    programs: [['zstd', ['-c', '-q', '-T0', '-6'], ['-d', '-c', '-q']]],
    debianPackages: 'zstd',
  },
  {
    format: 'gzip',
    extensions: ['.tar.gz', '.tgz'],
    programs: [
      ['pigz', ['-c', '-6'], ['-d', '-c']],
      // gzip itself, single-threaded, before Node's zlib: a process reads a large file itself (sink.ts).
      ['gzip', ['-c', '-6'], ['-d', '-c']],
      // Node's zlib is always there: see codecFor().
    ],
    debianPackages: 'pigz (fastest) or gzip; none needed (built in)',
  },
];

export const DEFAULT_EXTENSION = '.tbz2';

/** The format a bundle name asks for, or undefined when its extension is not one we write. */
export function formatForName(name: string): FormatInfo | undefined {
  const lower = name.toLowerCase();
  return FORMATS.find((f) => f.extensions.some((e) => lower.endsWith(e)));
}

export function supportedExtensions(): string {
  return FORMATS.flatMap((f) => f.extensions).join(', ');
}

export interface Codec {
  /** Program name used ("lbzip2", "zstd", "zlib"), for reports. */
  program: string;
  /** A separate process, which can read its input from a file descriptor itself (zlib in process cannot usefully). */
  readsFiles: boolean;
  /**
   * A duplex stream: write input bytes, read transformed bytes. With `toFd`,
   * the transformed bytes go straight to that open file descriptor instead
   * (a compressor process writes to it itself: no relay through Node, no
   * copy) and `output` is null. With `fromFd`, the process reads its input
   * from that descriptor itself, and `input` is null.
   */
  stream(io?: CodecIo): CodecStream;
}

export interface CodecIo {
  /** Open file descriptor the transformed bytes are written to. */
  toFd?: number | undefined;
  /** Open file descriptor the input is read from (from its current offset). */
  fromFd?: number | undefined;
}

export interface CodecStream {
  /** Write side; null when the input comes from a file descriptor. */
  input: NodeJS.WritableStream | null;
  /** Read side; null when the output goes to a file descriptor. */
  output: NodeJS.ReadableStream | null;
  /** Resolves when the process (or zlib) finished successfully; rejects with a clear message otherwise. */
  done: Promise<void>;
  /** Stops the process, for interrupts. */
  kill(): void;
}

/** zstd in Node's zlib, where this Node has it (Node ≥ 22.15; the single executable's Node 24). */
const zlibZstd = zlib as unknown as { createZstdCompress?: () => Transform; createZstdDecompress?: () => Transform };
export const ZLIB_HAS_ZSTD = typeof zlibZstd.createZstdCompress === 'function' && typeof zlibZstd.createZstdDecompress === 'function';

function zlibCodec(mode: CodecMode, format: 'gzip' | 'zstd' = 'gzip'): Codec {
  const make = (): Transform => {
    if (format === 'zstd') return mode === 'compress' ? zlibZstd.createZstdCompress!() : zlibZstd.createZstdDecompress!();
    return mode === 'compress' ? createGzip({ level: 6 }) : createGunzip({ finishFlush: zlibConstants.Z_SYNC_FLUSH });
  };
  return {
    program: format === 'zstd' ? 'zlib zstd' : 'zlib',
    readsFiles: false,
    stream({ toFd, fromFd }: CodecIo = {}): CodecStream {
      trace(`${mode} ${format === 'zstd' ? 'zlib zstd' : 'zlib'}`);
      const t: Transform = make();
      if (fromFd !== undefined) {
        const source = createReadStream('', { fd: fromFd, autoClose: false, highWaterMark: 1 << 20 });
        source.on('error', (err) => t.destroy(err));
        source.pipe(t);
      }
      if (toFd !== undefined) {
        // In process, so the bytes pass through Node anyway: written to the descriptor, which stays open.
        const file = createWriteStream('', { fd: toFd, autoClose: false });
        const done = pipeline(t, file).catch((err: NodeJS.ErrnoException) => {
          throw err.code ? err : new CodecError('zlib', mode, err.message, { cause: err });
        });
        return { input: fromFd === undefined ? t : null, output: null, done, kill: () => t.destroy() };
      }
      const done = new Promise<void>((resolve, reject) => {
        t.on('end', resolve);
        t.on('error', (err) => reject(new CodecError('zlib', mode, err.message, { cause: err })));
      });
      return { input: fromFd === undefined ? t : null, output: t, done, kill: () => t.destroy() };
    },
  };
}

/** What a compressor's one-line complaint says about its output, as an errno code (it wrote to our file itself). */
function outputErrno(signal: string | undefined, stderr: string): string | undefined {
  if (signal === 'SIGXFSZ' || /File too large/i.test(stderr)) return 'EFBIG';
  if (/No space left on device/i.test(stderr)) return 'ENOSPC';
  if (/Disk quota exceeded/i.test(stderr)) return 'EDQUOT';
  if (/Read-only file system/i.test(stderr)) return 'EROFS';
  return undefined;
}

/**
 * A compressor process. node:child_process rather than execa: all it takes is
 * spawn, stderr's first line and the exit status, and not loading execa puts
 * the decompressor ~60 ms earlier at the start of replay and inspect (execa's
 * import measured 0.13 s against node's bare 0.07 s start here).
 */
function processCodec(program: string, path: string, args: readonly string[], mode: CodecMode): Codec {
  return {
    program,
    readsFiles: true,
    stream({ toFd, fromFd }: CodecIo = {}): CodecStream {
      trace(`${mode} ${program}`);
      const child = spawn(path, [...args], { stdio: [fromFd ?? 'pipe', toFd ?? 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8');
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
      const output = toFd === undefined ? retainedStdout(child) : null;
      return {
        input: fromFd === undefined ? child.stdin! : null,
        output,
        done,
        kill: () => {
          child.kill('SIGKILL');
        },
      };
    },
  };
}

/**
 * The fastest installed codec for `format`. Throws a MissingToolError naming
 * the packages to install, and the formats that would work, when none is there.
 */
export async function codecFor(format: Format, mode: CodecMode): Promise<Codec> {
  const info = FORMATS.find((f) => f.format === format)!;
  for (const [cmd, cArgs, dArgs] of info.programs) {
    const path = await which(cmd);
    if (path) return processCodec(cmd, path, mode === 'compress' ? cArgs : dArgs, mode);
  }
  if (format === 'gzip') return zlibCodec(mode);
  if (format === 'zstd' && ZLIB_HAS_ZSTD) return zlibCodec(mode, 'zstd');
  const looked = info.programs.map((p) => p[0]);
  throw new MissingToolError(
    `a ${format} program`,
    looked,
    info.debianPackages,
    `apt-get install ${looked[0]}`,
    { how: 'use a format that works here:', choices: await availableFormats() },
    `no ${format} program is installed (looked for ${looked.join(', ')})`,
  );
}

/**
 * The bundle name's extension when -o does not choose one: .tbz2 where a
 * bzip2 program is installed; else zstd (its program, or Node's zlib where it
 * has zstd), else gzip (Node's zlib is always there), with the one line that
 * says so. -o NAME.tbz2 still insists on bzip2.
 */
export async function defaultBundleExtension(): Promise<{ extension: string; note: string | null }> {
  const bzip2 = FORMATS.find((f) => f.format === 'bzip2')!;
  for (const [cmd] of bzip2.programs) if (await which(cmd)) return { extension: DEFAULT_EXTENSION, note: null };
  const none = `no bzip2 program is installed (${bzip2.programs.map((p) => p[0]).join(', ')})`;
  if (await which('zstd')) return { extension: '.tar.zst', note: `${none}: writing the bundle as .tar.zst with zstd instead` };
  if (ZLIB_HAS_ZSTD) return { extension: '.tar.zst', note: `${none}: writing the bundle as .tar.zst with Node's built-in zstd instead` };
  return { extension: '.tar.gz', note: `${none}: writing the bundle as .tar.gz with ${(await which('pigz')) ? 'pigz' : (await which('gzip')) ? 'gzip' : "Node's built-in gzip"} instead` };
}

/** Extensions of the formats this machine can write right now. */
export async function availableFormats(): Promise<string[]> {
  const out: string[] = [];
  for (const f of FORMATS) {
    let ok = f.format === 'gzip' || (f.format === 'zstd' && ZLIB_HAS_ZSTD);
    for (const [cmd] of f.programs) if (!ok && (await which(cmd))) ok = true;
    if (ok) out.push(f.extensions[0]!);
  }
  return out;
}

