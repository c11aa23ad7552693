/**
 * Decompressed bytes of a core as a stream: from a compressor program run
 * through execa (zstd, lz4, xz, gzip, bzip2), or from Node's zlib for the
 * gzip/zlib streams apport embeds. One shape for every producer, so the
 * consumers (the sparse unpacker, the notes reader of `list`) need not care.
 */
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import * as zlib from 'node:zlib';
import { DecompressError } from './errors.js';
import { MissingToolError } from '../util/errors.js';
import { DECOMPRESSORS, type CompressedForm } from './form.js';

export interface PlainStream {
  /** The plain core's bytes, in order. */
  readonly bytes: AsyncIterable<Buffer>;
  /**
   * Settles when the producer has ended: rejects with a DecompressError
   * (corrupt or cut stream) or MissingToolError. After stop() it resolves.
   */
  readonly done: Promise<void>;
  /** Stops the producer early: the consumer has what it needs, or gave up. */
  stop(): void;
}

/** A producer that is fed compressed bytes (apport's embedded stream). */
export interface FedDecompressor {
  readonly input: Writable;
  readonly stream: PlainStream;
}

function firstLine(s: unknown): string {
  // execa hands stderr over as a Uint8Array with encoding 'buffer': String() of that is "47,42,…".
  const text = s instanceof Uint8Array ? Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('utf8') : String(s ?? '');
  return text.trim().split('\n')[0]?.replace(/^[a-z0-9]+: /i, '').trim() ?? '';
}

function watchChild(child: ResultPromise, form: CompressedForm, path: string, isStopped: () => boolean): Promise<void> {
  const d = DECOMPRESSORS[form];
  return child.then(
    () => undefined,
    (err: unknown) => {
      if (isStopped()) return undefined;
      const e = err as { code?: string; stderr?: unknown; shortMessage?: string; exitCode?: number };
      if (e.code === 'ENOENT') {
        throw new MissingToolError(d.program, [d.program], d.debianPackage, `apt-get install ${d.debianPackage}`, { how: 'or decompress the core yourself and pass', choices: ['the plain core'] },
          `${d.program} is not installed; it is needed to read a ${form}-compressed core`, { cause: err });
      }
      const why = firstLine(e.stderr) || e.shortMessage || 'it failed';
      throw new DecompressError(path, form, `${d.program} could not decompress it (${why}): the stream is corrupt or cut short`, { cause: err });
    },
  );
}

function runDecompressor(form: CompressedForm, path: string, input: { inputFile: string } | { stdin: 'pipe' }): { child: ResultPromise; stream: PlainStream } {
  const d = DECOMPRESSORS[form];
  let stopped = false;
  const child = execa(d.program, [...d.args], {
    ...input,
    encoding: 'buffer',
    buffer: { stdout: false, stderr: true },
    stripFinalNewline: false,
    // Never left running after we exit (Ctrl-C included).
    cleanup: true,
  });
  const done = watchChild(child, form, path, () => stopped);
  // An unobserved rejection must not crash the process before the consumer awaits it.
  done.catch(() => undefined);
  const stdout = child.stdout as Readable;
  // With buffer: false, execa resumes a stdout nobody reads yet on the next turn
  // of the loop, and what the program writes meanwhile is dropped: the consumer
  // (unpackToTemp, after mkdtemp and open) then starts mid-core. Paused, it
  // keeps every byte until the consumer reads (execa leaves a paused stream be).
  stdout.pause();
  return {
    child,
    stream: {
      bytes: stdout as AsyncIterable<Buffer>,
      done,
      stop: () => {
        stopped = true;
        stdout.destroy();
        child.kill('SIGTERM');
      },
    },
  };
}

/** Decompresses a whole file with its program. */
export function decompressFile(path: string, form: CompressedForm): PlainStream {
  return runDecompressor(form, path, { inputFile: path }).stream;
}

/** A decompressor program fed through its stdin. */
export function feedDecompressor(path: string, form: CompressedForm): FedDecompressor {
  const { child, stream } = runDecompressor(form, path, { stdin: 'pipe' });
  const input = child.stdin as Writable;
  // EPIPE when the program stops reading (stop(), or it failed): reported through `done`.
  input.on('error', () => undefined);
  return { input, stream };
}

/** Node's zlib for gzip (apport's own header) and bare zlib (old reports). */
export function feedZlib(path: string, kind: 'gzip' | 'zlib'): FedDecompressor {
  let stopped = false;
  const z = kind === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
  const done = new Promise<void>((resolve, reject) => {
    z.on('end', resolve);
    z.on('close', () => (stopped ? resolve() : undefined));
    z.on('error', (err) => {
      if (stopped) resolve();
      else reject(new DecompressError(path, kind, `${err.message}: the embedded core is corrupt or cut short`, { cause: err }));
    });
  });
  done.catch(() => undefined);
  return {
    input: z,
    stream: {
      bytes: z as AsyncIterable<Buffer>,
      done,
      stop: () => {
        stopped = true;
        z.destroy();
      },
    },
  };
}
