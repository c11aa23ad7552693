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
 */
import { createReadStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { abortReason, errnoOf } from '../util/errors.js';
import { streamSink, type TarSink } from './create.js';
import { CodecError } from './errors.js';
import type { Codec } from './formats.js';

export type CompressedTarget =
  /** An open file the compressor writes to directly; the caller syncs and closes it. */
  | { fd: number }
  /** Any writable (a layer around the compressed bytes); ended when the compressor ends. */
  | { stream: NodeJS.WritableStream };

export interface CompressedOutput {
  /** Where the tar stream goes; a write resolves when the compressor took it (backpressure). */
  tar: TarSink;
  /** Ends the tar stream; resolves once every compressed byte reached the target. */
  finish(): Promise<void>;
  /** Stops the compressor (after a failure, or an interrupt). */
  abort(): void;
}

/** How long a write failure (EPIPE) waits for the compressor's own, better, explanation. */
const EXPLAIN_MS = 5000;

export function compressTo(codec: Codec, target: CompressedTarget, signal?: AbortSignal): CompressedOutput {
  const cs = 'fd' in target ? codec.stream({ toFd: target.fd }) : codec.stream();
  const input = cs.input!;
  let done: Promise<void> = cs.done;
  if ('stream' in target) {
    cs.output!.pipe(target.stream);
    done = Promise.all([cs.done, finished(target.stream)]).then(() => undefined);
  }
  done.catch(() => undefined); // observed by every write and by finish()
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
    tar: {
      async write(chunk: Buffer): Promise<void> {
        if (signal?.aborted) throw abortReason(signal);
        await Promise.race([sink.write(chunk), failed]).catch(explain);
      },
    },
    async finish(): Promise<void> {
      input.end();
      await done;
    },
    abort(): void {
      cs.kill();
      if ('stream' in target) (target.stream as NodeJS.WritableStream & { destroy?: () => void }).destroy?.();
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
