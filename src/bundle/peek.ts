/**
 * Reading a bundle's manifest without unpacking it: decompress just far
 * enough to parse the first tar entry (manifest.json), then stop. This is
 * what makes a bundle self-describing for `corepack inspect`.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Parser, type ReadEntry } from 'tar';
import { CliError, EXIT } from '../cli/exit.js';
import { codecFor, detectFormat, type Format } from './formats.js';
import { MANIFEST_NAME, parseManifest, ManifestError, type Manifest } from './manifest.js';
import { MAX_MANIFEST_BYTES } from './extract.js';

/** True when the file starts like a compressed bundle rather than an ELF core. */
export async function sniffBundle(path: string): Promise<Format | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    return detectFormat(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

export async function readBundleManifest(path: string, format: Format): Promise<Manifest> {
  const codec = await codecFor(format, 'decompress');
  const cs = codec.stream();
  const input = createReadStream(path);
  input.pipe(cs.input as NodeJS.WritableStream);
  // Stopping early makes the decompressor die of SIGPIPE or be killed: expected.
  cs.done.catch(() => undefined);
  input.on('error', () => undefined);
  (cs.input as NodeJS.WritableStream).on('error', () => undefined);

  const bad = (why: string): CliError => new CliError(`${path}: not a corepack bundle (${why})`, EXIT.BAD_INPUT);
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const parser = new Parser({
        onReadEntry: (entry: ReadEntry) => {
          const name = entry.path;
          const parts = name.split('/');
          if (entry.type !== 'File' || parts.length !== 2 || parts[1] !== MANIFEST_NAME) {
            reject(bad(`its first entry is ${JSON.stringify(name)}, not <name>/${MANIFEST_NAME}`));
            return;
          }
          if ((entry.size ?? 0) > MAX_MANIFEST_BYTES) {
            reject(bad(`its manifest is implausibly large (${entry.size} bytes)`));
            return;
          }
          const chunks: Buffer[] = [];
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        },
      });
      parser.on('error', (err: Error) => reject(bad(err.message)));
      parser.on('end', () => reject(bad('it holds no entries')));
      (cs.output as NodeJS.ReadableStream).on('error', (err: Error) => reject(bad(err.message)));
      (cs.output as NodeJS.ReadableStream).pipe(parser as unknown as NodeJS.WritableStream);
    });
    return parseManifest(text);
  } catch (err) {
    if (err instanceof ManifestError) throw new CliError(`${path}: ${err.message}`, EXIT.BAD_INPUT);
    throw err;
  } finally {
    input.destroy();
    cs.kill();
  }
}
