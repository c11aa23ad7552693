/**
 * Decompressed bytes of a core as a stream, in one shape for every producer
 * (a decompressor program, or Node's zlib for the gzip/zlib streams apport
 * embeds), so the consumers (the sparse unpacker, the notes reader of
 * `list`) need not care. The programs are the codec layer's: one table, one
 * runner (src/codec); this module only turns a codec's failure into the
 * input layer's DecompressError, which names the core.
 */
import { open } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { DecompressError } from './errors.js';
import { ZLIB_GZIP, ZLIB_INFLATE } from '../codec/codecs.js';
import { CodecError } from '../codec/errors.js';
import { builtinCodec, codecFor, type Codec, type CodecStream } from '../codec/run.js';
import type { CompressedForm } from './form.js';

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

/** What to do instead, named in the error when no decompressor is installed. */
const WITHOUT_PROGRAM = async () => ({ how: 'or decompress the core yourself and pass', choices: ['the plain core'] });

/** A running codec as a PlainStream; its failures name the core `path`. */
function plainStream(run: CodecStream, form: string, path: string): PlainStream {
  let stopped = false;
  const done = run.done.catch((err: unknown) => {
    if (stopped) return;
    if (err instanceof CodecError) {
      throw new DecompressError(path, form, `${err.program} could not decompress it (${err.detail}): the stream is corrupt or cut short`, { cause: err });
    }
    throw err;
  });
  // An unobserved rejection must not crash the process before the consumer awaits it.
  done.catch(() => undefined);
  const output = run.output as Readable;
  return {
    bytes: output as AsyncIterable<Buffer>,
    done,
    stop: () => {
      stopped = true;
      run.kill();
    },
  };
}

async function decompressor(form: CompressedForm): Promise<Codec> {
  return codecFor(form, 'decompress', WITHOUT_PROGRAM);
}

/** Decompresses a whole file: the program reads it itself, from a descriptor closed when it ends. */
export async function decompressFile(path: string, form: CompressedForm): Promise<PlainStream> {
  const codec = await decompressor(form);
  const file = await open(path, 'r');
  let run: CodecStream;
  try {
    run = codec.stream({ fromFd: file.fd });
  } catch (err) {
    await file.close();
    throw err;
  }
  // The child holds its own copy of the descriptor; ours closes once it has started or ended.
  const close = () => void file.close().catch(() => undefined);
  run.done.then(close, close);
  return plainStream(run, form, path);
}

/** A decompressor program fed through its stdin. */
export async function feedDecompressor(path: string, form: CompressedForm): Promise<FedDecompressor> {
  const run = (await decompressor(form)).stream();
  return { input: run.input as Writable, stream: plainStream(run, form, path) };
}

/** Node's zlib for gzip (apport's own header) and bare zlib (old reports). */
export function feedZlib(path: string, kind: 'gzip' | 'zlib'): FedDecompressor {
  const run = builtinCodec(kind === 'gzip' ? ZLIB_GZIP : ZLIB_INFLATE, 'decompress').stream();
  return { input: run.input as Writable, stream: plainStream(run, kind, path) };
}
