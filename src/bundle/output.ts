/**
 * Where collect's compressed bytes go: the one seam between the bundle
 * pipeline and the files on disk. Without layers that is one temporary file
 * renamed into place when complete; with --encrypt-to the bytes are
 * encrypted (encrypt.ts) before anything reaches the disk, and the name gets
 * `.age`; with --split they become a set of parts and their index
 * (split.ts). Either way nothing appears under a final name before
 * commit(), and discard() leaves nothing behind.
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Transform, type Writable } from 'node:stream';
import { errnoOf, OutputWriteError } from '../util/errors.js';
import { createSplitOutput } from './split.js';
import { AGE_EXTENSION, type Encryptor } from './encrypt.js';

/** The byte layers between the compressor and the disk, as options.ts normalised them. */
export interface OutputLayers {
  /** --split: the largest part, in bytes; null: one file. */
  splitBytes: number | null;
  /** --encrypt-to/--passphrase, checked (cli/collect.ts makes it); null: not encrypted. */
  encrypt: Encryptor | null;
}

/** The bundle's name on disk: `.age` added when it is encrypted (split parts are cut from that name). */
export function layeredName(output: string, layers: OutputLayers): string {
  return layers.encrypt ? `${output}${AGE_EXTENSION}` : output;
}

/** True when the compressed bytes go through a layer (else the compressor writes the file itself). */
export function hasLayers(layers: OutputLayers): boolean {
  return layers.splitBytes !== null || layers.encrypt !== null;
}

export interface BundleOutput {
  /** Takes the compressed bundle. */
  writable: Writable;
  /** Resolves once every byte written is on disk; rejects with an OutputWriteError (or a domain error such as TooManyPartsError). */
  written: Promise<void>;
  /** Bytes the bundle has on disk (all parts together), once written. */
  readonly size: number;
  /** Puts the files under their final names; returns them (for a split set, the parts then the index). */
  commit(): Promise<string[]>;
  /** Removes everything written. */
  discard(): Promise<void>;
}

/** Errors of the files being written are about the output, whatever their temporary names. */
function asOutputError(output: string, err: unknown): Error {
  if (err instanceof OutputWriteError || !(err instanceof Error) || errnoOf(err) === undefined) return err as Error;
  return new OutputWriteError(output, errnoOf(err), undefined, { cause: err });
}

/**
 * Opens the output for the bundle `output` (absolute). `tempFor(final)` names
 * the temporary file beside each final one.
 */
export async function openBundleOutput(bundle: string, layers: OutputLayers, tempFor: (final: string) => string): Promise<BundleOutput> {
  const output = layeredName(bundle, layers);
  // The plaintext is encrypted in memory, chunk by chunk: only ciphertext is ever written.
  const encrypt = layers.encrypt ? await layers.encrypt.stream() : null;
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      cb(null, chunk);
    },
  });
  let sink: { writable: Writable; commit(): Promise<string[]>; discard(): Promise<void> };
  if (layers.splitBytes !== null) {
    sink = createSplitOutput(output, layers.splitBytes, tempFor);
  } else {
    const tmp = tempFor(output);
    const ws = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    sink = {
      writable: ws,
      async commit() {
        // Data on disk before the name: a crash after the rename cannot expose a torn bundle.
        const fh = await fs.open(tmp, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fs.rename(tmp, output);
        return [output];
      },
      async discard() {
        ws.destroy();
        await fs.unlink(tmp).catch(() => undefined);
      },
    };
  }
  counter.pipe(sink.writable);
  encrypt?.pipe(counter);
  // A sink that fails (disk full, too many parts) must stop the writer: the compressor would block on a full pipe.
  sink.writable.on('error', (err) => {
    counter.destroy(err);
    encrypt?.destroy(err);
  });
  const written = new Promise<void>((resolve, reject) => {
    sink.writable.on('finish', resolve);
    sink.writable.on('error', (err) => reject(asOutputError(output, err)));
    counter.on('error', (err) => reject(asOutputError(output, err)));
    encrypt?.on('error', (err) => reject(asOutputError(output, err)));
  });
  written.catch(() => undefined); // the caller awaits it; not an unhandled rejection meanwhile
  return {
    writable: encrypt ?? counter,
    written,
    get size() {
      return size;
    },
    async commit() {
      try {
        return await sink.commit();
      } catch (err) {
        await sink.discard();
        throw err instanceof Error && errnoOf(err) !== undefined ? new OutputWriteError(output, errnoOf(err), undefined, { cause: err }) : err;
      }
    },
    async discard() {
      encrypt?.destroy();
      counter.destroy();
      await sink.discard();
    },
  };
}
