/**
 * Bundle compression formats: chosen by file name when writing, detected by
 * content when reading. The programs for each, fastest first, and the one
 * runner are the codec layer's (src/codec): this module only knows which
 * compressions a bundle may use and the names that ask for them (node-tar
 * only writes the tar stream; it has no bzip2, and its zstd path throws on
 * Node 20).
 */
import { CODECS } from '../codec/codecs.js';
import type { CodecMode } from '../codec/errors.js';
import { codecFor as codecLayerFor, isAvailable, type Codec } from '../codec/run.js';
import { which } from '../util/which.js';
import type { Format } from './magic.js';

export { detectFormat, type Format } from './magic.js';
export type { Codec, CodecIo, CodecStream } from '../codec/run.js';

export interface FormatInfo {
  format: Format;
  extensions: readonly string[];
}

/** The compressions a bundle is written in; their programs are CODECS[format] (src/codec/codecs.ts). */
export const FORMATS: readonly FormatInfo[] = [
  { format: 'bzip2', extensions: ['.tbz2', '.tar.bz2', '.tbz'] },
  { format: 'zstd', extensions: ['.tar.zst', '.tzst'] },
  { format: 'gzip', extensions: ['.tar.gz', '.tgz'] },
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

/**
 * The fastest installed codec for `format` (the codec layer's choice). Throws
 * a MissingToolError naming the packages to install, and the formats that
 * would work here, when there is none.
 */
export async function codecFor(format: Format, mode: CodecMode): Promise<Codec> {
  return codecLayerFor(format, mode, async () => ({ how: 'use a format that works here:', choices: await availableFormats() }));
}

/** The first installed program of `format`, or null. */
async function installedProgram(format: Format): Promise<string | null> {
  for (const p of CODECS[format].programs) if (p.compress && (await which(p.program))) return p.program;
  return null;
}

/**
 * The bundle name's extension when -o does not choose one: .tbz2 where a
 * bzip2 program is installed; else zstd (its program, or Node's zlib where it
 * has zstd), else gzip (Node's zlib is always there), with the one line that
 * says so. -o NAME.tbz2 still insists on bzip2.
 */
export async function defaultBundleExtension(): Promise<{ extension: string; note: string | null }> {
  if (await installedProgram('bzip2')) return { extension: DEFAULT_EXTENSION, note: null };
  const none = `no bzip2 program is installed (${CODECS.bzip2.programs.map((p) => p.program).join(', ')})`;
  const zstd = await installedProgram('zstd');
  if (zstd) return { extension: '.tar.zst', note: `${none}: writing the bundle as .tar.zst with ${zstd} instead` };
  if (CODECS.zstd.builtin) return { extension: '.tar.zst', note: `${none}: writing the bundle as .tar.zst with Node's built-in zstd instead` };
  return { extension: '.tar.gz', note: `${none}: writing the bundle as .tar.gz with ${(await installedProgram('gzip')) ?? "Node's built-in gzip"} instead` };
}

/** Extensions of the formats this machine can write right now. */
export async function availableFormats(): Promise<string[]> {
  const out: string[] = [];
  for (const f of FORMATS) if (await isAvailable(f.format, 'compress')) out.push(f.extensions[0]!);
  return out;
}
