/**
 * Reading a bundle's manifest without unpacking it: decompress just far
 * enough to parse the first tar entry (manifest.json), then stop. This is
 * what makes a bundle self-describing for `corepack inspect`. The entries
 * before the manifest are judged by the same policy extraction uses
 * (policy.ts), so inspect and replay accept and refuse the same bundles.
 */
import { open } from 'node:fs/promises';
import { Parser, type ReadEntry } from 'tar';
import { NotABundleError } from './errors.js';
import { codecFor, type Format } from './formats.js';
import type { Manifest } from './manifest.js';
import { decompressFrom, type Decompressed } from './sink.js';
import { isLayerError, openLayeredSource, type BundleSource, type SourceOptions } from './source.js';
import { decideEntry, manifestFromBytes, type ExtractionSoFar } from './policy.js';

export async function readBundleManifest(path: string, format: Format, opts: SourceOptions & { source?: BundleSource | undefined } = {}): Promise<Manifest> {
  const codec = await codecFor(format, 'decompress');
  // A split set or an encrypted bundle comes through its byte layers (source.ts) as a stream:
  // the caller's, when it opened them already (one decryption), else opened here.
  const layered = opts.source ?? (await openLayeredSource(path, opts));
  if (layered) return readManifestFrom(decompressFrom(codec, { stream: layered.stream }), path);
  const fh = await open(path, 'r');
  try {
    return await readManifestFrom(decompressFrom(codec, { fd: fh.fd }), path);
  } finally {
    await fh.close();
  }
}

/** The manifest from a decompressed bundle stream; stops (kills) it once the first entry has been read. */
export async function readManifestFrom(cs: Decompressed, path: string): Promise<Manifest> {
  // Stopping early makes the decompressor die of SIGPIPE or be killed: expected.
  cs.done.catch(() => undefined);

  const bad = (why: string): NotABundleError => new NotABundleError(path, why);
  // Only directories can come before the manifest; nothing is written, so they are only remembered.
  const dirs = new Set<string>(['']);
  const so: { -readonly [K in keyof ExtractionSoFar]: ExtractionSoFar[K] } = {
    rootName: undefined,
    declared: undefined,
    seen: (rel) => (dirs.has(rel) ? 'dir' : undefined),
    entries: 0,
    extraBytes: 0,
  };
  try {
    return await new Promise<Manifest>((resolve, reject) => {
      let done = false;
      const parser = new Parser({
        onReadEntry: (entry: ReadEntry) => {
          if (done) return entry.resume();
          try {
            const d = decideEntry({ path: entry.path, type: entry.type, size: entry.size, mode: entry.mode, linkpath: entry.linkpath }, so);
            so.entries++;
            so.rootName = d.rootName;
            if (d.action === 'mkdir') for (const dir of [...d.parents, d.rel]) dirs.add(dir);
            if (d.action !== 'write' || !d.isManifest) return entry.resume();
          } catch (err) {
            done = true;
            reject(err);
            return entry.resume();
          }
          done = true;
          const chunks: Buffer[] = [];
          entry.on('data', (c: Buffer) => chunks.push(c));
          entry.on('end', () => {
            try {
              resolve(manifestFromBytes(Buffer.concat(chunks)));
            } catch (err) {
              reject(err);
            }
          });
        },
      });
      parser.on('error', (err: Error) => reject(bad(err.message)));
      // No entries at all: when the decompressor failed, that failure is the news (corrupt data), not the empty archive.
      parser.on('end', () => {
        cs.done.then(
          () => reject(bad('it holds no entries')),
          (err: unknown) => reject(err),
        );
      });
      cs.output.on('error', (err: Error) => reject(bad(err.message)));
      // A layer in front (split parts, decryption) that fails names its own failure.
      cs.done.catch((err: unknown) => {
        if (isLayerError(err)) reject(err);
      });
      cs.output.pipe(parser as unknown as NodeJS.WritableStream);
    });
  } finally {
    cs.kill();
  }
}
