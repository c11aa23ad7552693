/**
 * Reading a bundle's manifest without unpacking it: decompress just far
 * enough to parse the first tar entry (manifest.json), then stop. This is
 * what makes a bundle self-describing for `corepack inspect`.
 */
import { createReadStream } from 'node:fs';
import { Parser, type ReadEntry } from 'tar';
import { BadManifestError, ManifestError, NotABundleError } from './errors.js';
import { codecFor, type Format } from './formats.js';
import { MANIFEST_NAME, parseManifest, type Manifest } from './manifest.js';
import { MAX_MANIFEST_BYTES } from './extract.js';

export async function readBundleManifest(path: string, format: Format): Promise<Manifest> {
  const codec = await codecFor(format, 'decompress');
  const cs = codec.stream();
  const input = createReadStream(path);
  input.pipe(cs.input as NodeJS.WritableStream);
  // Stopping early makes the decompressor die of SIGPIPE or be killed: expected.
  cs.done.catch(() => undefined);
  input.on('error', () => undefined);
  (cs.input as NodeJS.WritableStream).on('error', () => undefined);

  const bad = (why: string): NotABundleError => new NotABundleError(path, why);
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
    if (err instanceof ManifestError) throw new BadManifestError(path, err);
    throw err;
  } finally {
    input.destroy();
    cs.kill();
  }
}
