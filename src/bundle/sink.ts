/**
 * The compressed side of writing a bundle: the tar stream goes into a
 * compressor, and the compressor's output goes to ONE target.
 *
 * The usual target is the open file descriptor of the bundle being written:
 * the compressor process writes to it itself, so the compressed bytes are
 * never relayed through Node (measured with --cpu-prof on a 1.3 GiB core:
 * reading them from the compressor's pipe and writing them to the file took
 * ~0.3 s of the main thread plus GC of a Buffer per 64 KiB). A byte-stream
 * layer around the compressed bundle (encryption, splitting into parts) is
 * a `stream` target instead: the compressor's output is piped into it.
 *
 * Over a file target, a large file is a compressed frame of its own, read
 * by the compressor itself (compressTo, below): neither its bytes nor their
 * compressed form pass through Node.
 */
import { createReadStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { abortReason, errnoOf } from '../util/errors.js';
import { streamSink, type TarSink } from './create.js';
import { CodecError } from './errors.js';
import type { Codec, CodecIo } from './formats.js';

export type CompressedTarget =
  /** An open file the compressor writes to directly; the caller syncs and closes it. */
  | { fd: number }
  /** Any writable (a layer around the compressed bytes); ended when the compressor ends. */
  | { stream: NodeJS.WritableStream };

export interface CompressedOutput {
  /**
   * Where the tar stream goes; a write resolves when the compressor took it
   * (backpressure). Over a file target it also has `copyWhole`: the
   * compressor reads a large file itself.
   */
  tar: TarSink;
  /** Ends the tar stream; resolves once every compressed byte reached the target. */
  finish(): Promise<void>;
  /** Stops the compressor (after a failure, or an interrupt). */
  abort(): void;
}

/** How long a write failure (EPIPE) waits for the compressor's own, better, explanation. */
const EXPLAIN_MS = 5000;

/** One compressor process (or zlib) fed through its pipe. */
interface Fed {
  sink: TarSink;
  /** Ends its input; resolves once its output is complete. */
  end(): Promise<void>;
  kill(): void;
}

/** Starts a compressor whose input is written by us and whose output goes to `io`'s target (or is piped to `into`). */
function feed(codec: Codec, io: CodecIo, into: NodeJS.WritableStream | null, signal: AbortSignal | undefined): Fed {
  const cs = codec.stream(io);
  const input = cs.input!;
  let done: Promise<void> = cs.done;
  if (into) {
    cs.output!.pipe(into);
    done = Promise.all([cs.done, finished(into)]).then(() => undefined);
  }
  done.catch(() => undefined); // observed by every write and by end()
  // A failure on the far side must stop the writer now: a dead compressor never drains its pipe.
  const failed = done.then(() => new Promise<never>(() => {}));
  failed.catch(() => undefined);
  const sink = streamSink(input);
  input.on('error', () => undefined); // EPIPE: explained by `done`
  const explain = async (err: unknown): Promise<never> => {
    // Writing into the pipe of a compressor that died says only EPIPE; its exit says why.
    if (errnoOf(err) === 'EPIPE') {
      const why = await Promise.race([done.then(() => undefined, (e: unknown) => e), new Promise((r) => setTimeout(r, EXPLAIN_MS).unref())]);
      if (why instanceof Error) throw why;
    }
    throw err;
  };
  return {
    sink: {
      async write(chunk: Buffer): Promise<void> {
        if (signal?.aborted) throw abortReason(signal);
        await Promise.race([sink.write(chunk), failed]).catch(explain);
      },
    },
    async end(): Promise<void> {
      input.end();
      await done;
    },
    kill: () => cs.kill(),
  };
}

/**
 * Compresses the tar stream into `target`.
 *
 * Over a file target with a compressor program, the output is a sequence of
 * frames (zstd frames, bzip2 streams, gzip members: each format reads their
 * concatenation as one stream, and so do tar -x and every decompressor):
 * what we write (headers, padding, small files) goes through one compressor's
 * pipe, and a large file is a frame of its own, compressed by a process that
 * reads the file itself — its bytes never pass through Node, and no pipe sits
 * between the page cache and the compressor. The processes run one after the
 * other on the same descriptor, so their output lands in order.
 */
export function compressTo(codec: Codec, target: CompressedTarget, signal?: AbortSignal): CompressedOutput {
  if ('stream' in target) {
    const one = feed(codec, {}, target.stream, signal);
    return {
      tar: one.sink,
      finish: () => one.end(),
      abort(): void {
        one.kill();
        (target.stream as NodeJS.WritableStream & { destroy?: () => void }).destroy?.();
      },
    };
  }
  let current: Fed | null = null;
  let copying: { kill(): void } | null = null;
  let abandoned = false;
  // No compressor starts once the output is given up: nothing would end or
  // kill it (a writer still running after abort(), the core's entry written
  // ahead, would start one), it would keep corepack from exiting, and the
  // descriptor it was given may be closed and reused by then.
  const mayStart = (): void => {
    if (signal?.aborted) throw abortReason(signal);
    if (abandoned) throw new Error('the compressed output was abandoned: no compressor starts after abort()');
  };
  const io = { toFd: target.fd };
  const tar: TarSink = {
    async write(chunk: Buffer): Promise<void> {
      if (!current) {
        mayStart();
        current = feed(codec, io, null, signal);
      }
      return current.sink.write(chunk);
    },
  };
  if (codec.readsFiles) {
    tar.copyWhole = async (fd: number): Promise<void> => {
      mayStart();
      // The frame before must be complete on disk before the next process writes after it.
      if (current) {
        const prev = current;
        current = null;
        await prev.end();
      }
      mayStart();
      const cs = codec.stream({ toFd: target.fd, fromFd: fd });
      copying = cs;
      try {
        await cs.done;
      } finally {
        copying = null;
      }
    };
  }
  return {
    tar,
    async finish(): Promise<void> {
      if (current) await current.end();
      current = null;
    },
    abort(): void {
      abandoned = true;
      current?.kill();
      copying?.kill();
    },
  };
}

/** The errno a failed compressed write comes down to, when it is about the output (full disk, size limit). */
export function outputErrnoOf(err: unknown): string | undefined {
  if (err instanceof CodecError && err.mode === 'compress') return err.outputErrno;
  return errnoOf(err);
}

/**
 * Where replay (and inspect) read a compressed bundle from: ONE source. The
 * usual one is the open bundle file, which the decompressor process reads
 * itself (no relay of compressed bytes through Node); a byte-stream layer
 * in front of it (decryption, joining parts) is a `stream` source.
 */
export type CompressedSource = { fd: number } | { stream: NodeJS.ReadableStream };

export interface Decompressed {
  /** The tar stream. */
  output: NodeJS.ReadableStream;
  /** Settles when the decompressor finished: rejects with a CodecError when the data is bad. */
  done: Promise<void>;
  /** Stops reading (the decompressor is killed; a stream source is destroyed). */
  kill(): void;
}

/** Decompresses `source` with `codec`; without a codec (a plain tar) the source is the tar stream. */
export function decompressFrom(codec: Codec | undefined, source: CompressedSource): Decompressed {
  if ('stream' in source) {
    const destroy = (): void => void (source.stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    if (!codec) return { output: source.stream, done: finished(source.stream), kill: destroy };
    const cs = codec.stream();
    source.stream.pipe(cs.input!);
    cs.input!.on('error', () => undefined); // EPIPE when the decompressor dies: reported by `done`
    // A layer that fails (a damaged part, a failed decryption) says why better than the decompressor would.
    const sourceFailed = new Promise<never>((_, reject) =>
      source.stream.on('error', (err) => {
        reject(err);
        cs.kill();
      }),
    );
    sourceFailed.catch(() => undefined);
    return {
      output: cs.output!,
      done: Promise.race([sourceFailed, cs.done]),
      kill: () => {
        destroy();
        cs.kill();
      },
    };
  }
  if (!codec) {
    const rs = createReadStream('', { fd: source.fd, autoClose: false, highWaterMark: 1 << 20 });
    return { output: rs, done: finished(rs), kill: () => rs.destroy() };
  }
  const cs = codec.stream({ fromFd: source.fd });
  return { output: cs.output!, done: cs.done, kill: () => cs.kill() };
}
