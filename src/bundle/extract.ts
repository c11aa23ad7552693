/**
 * Safe extraction of an untrusted bundle.
 *
 * A bundle comes from a customer's machine, by mail or a ticket system: the
 * developer who replays it must not be harmed by a hostile or broken one.
 * node-tar's own extractor is not used because, measured: as root it chowns to
 * the archive's owner, `preserveOwner: false` still keeps mode 4755, `strict`
 * refuses an entry but keeps writing the later ones, and its default
 * decompression-ratio limit aborts a legitimate, mostly-zero core. Instead,
 * node-tar's Parser only splits the stream into headers and data, and this
 * file decides about and writes every entry itself:
 *
 *  - Every header is validated BEFORE anything is written: regular files,
 *    directories and symlinks only (hard links, devices, fifos are refused);
 *    a path must be valid UTF-8, relative, normalised, without `..`, control
 *    characters or backslashes, and inside the one top-level directory.
 *  - A symlink must sit under sysroot/ (or debug/), have a relative target in
 *    normal form (`..` only as a leading prefix) and resolve lexically inside
 *    that tree. Because its own directory is a real directory (next point),
 *    leading `..` climb real parents, so the lexical check is also the real
 *    one: a chain of such links can never leave the tree.
 *  - Nothing is written through a symlink: every parent directory is checked
 *    with lstat (or created by us), and files are created with
 *    O_CREAT|O_EXCL|O_NOFOLLOW, so an entry can neither follow nor replace an
 *    earlier one.
 *  - Modes become 0644 or 0755 (the exec bit is kept, setuid/setgid/sticky are
 *    dropped); owners are ignored (files belong to whoever runs replay, never
 *    chowned, even as root).
 *  - Decompressed bytes are counted against a budget: the manifest (always the
 *    first entry) declares every file's size, so the budget is their sum plus
 *    room for tar headers, under an absolute cap. A bomb stops there, and each
 *    file's header size must match the manifest before a byte is written.
 *  - Everything goes into a fresh private temp dir inside the target dir; the
 *    caller verifies the checksums and only then renames it into place, so a
 *    refused bundle leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { abortReason, NotEnoughSpaceError } from '../util/errors.js';
import { NotABundleError } from './errors.js';
import { codecFor, detectFormat, type Format } from './formats.js';
import { MANIFEST_NAME, type Manifest } from './manifest.js';
import { parseChecksums } from './checksums.js';
import { parseSparsePax, SparseMapReader, type SparseHeader } from './sparse.js';
import { decompressFrom, type CompressedSource } from './sink.js';
import { isLayerError, openLayeredSource, type SourceOptions } from './source.js';
import {
  BUDGET_BEFORE_MANIFEST,
  budgetAfterManifest,
  checkBudget,
  checkComplete,
  declaredBytes,
  declaredSizes,
  decideEntry,
  DEFAULT_MAX_BUNDLE_BYTES,
  manifestFromBytes,
  refuse,
  type ExtractionSoFar,
  type Seen,
} from './policy.js';

export { checkEntryPath, checkLinkTarget, declaredBytes, DEFAULT_MAX_BUNDLE_BYTES, MAX_MANIFEST_BYTES, refuse } from './policy.js';

/** Bytes of one entry that may be queued for writing before the parser is paused. */
const WRITE_WINDOW = 8 * 1024 * 1024;

export interface ExtractedFile {
  /** Path relative to the bundle root, e.g. "sysroot/usr/lib/libc.so.6". */
  path: string;
  size: number;
  sha256: string;
  mode: number;
}

export interface StagedBundle {
  /** The temp dir holding everything (inside the target dir). */
  tempDir: string;
  /** The extracted bundle root inside tempDir. */
  root: string;
  /** The bundle's top-level directory name in the tar (informative only; never used in a path). */
  rootName: string;
  manifest: Manifest;
  /** Regular files by bundle-relative path, with their sha256 computed while writing. */
  files: Map<string, ExtractedFile>;
  /** Symlinks by bundle-relative path → target. */
  symlinks: Map<string, string>;
  /** What SHA256SUMS lists (schema 2), path → sha256; undefined for schema 1 (the manifest carries them). */
  checksums: Map<string, string> | undefined;
  /** Compression detected from the content, and the program that undid it. */
  format: Format | 'tar';
  program: string;
  /** Things neutralised rather than refused (setuid bits dropped, extra files), one line each. */
  notes: string[];
  /** Moves the extracted root to `dest` (which must not exist) and removes the temp dir. */
  commit(dest: string): Promise<void>;
  /** Removes everything written. */
  discard(): Promise<void>;
}

export interface StageOptions extends SourceOptions {
  /** Absolute cap on decompressed bytes. */
  maxBytes?: number;
  /** Aborting stops the decompressor and removes what was written. */
  signal?: AbortSignal;
  /**
   * Called once the manifest (the first entry) has been read and validated,
   * with the sha256 of its bytes. Returning 'stop' ends the extraction there:
   * everything written is removed and stageBundle resolves to null (the
   * caller already has this bundle).
   */
  onManifest?: (manifest: Manifest, manifestSha256: string) => Promise<'continue' | 'stop'>;
}

const show = (p: string) => JSON.stringify(p);

async function checkFreeSpace(dir: string, need: number): Promise<void> {
  try {
    const st = await fs.statfs(dir);
    const free = st.bavail * st.bsize;
    if (free < need) throw new NotEnoughSpaceError(dir, need, free);
  } catch (err) {
    if (err instanceof NotEnoughSpaceError) throw err;
    // statfs unsupported here: the write itself will report ENOSPC.
  }
}

/**
 * Decompresses and extracts `bundlePath` into a fresh temp dir inside
 * `targetDir` (which must exist). Throws an UnsafeBundleError for a refused bundle,
 * after removing everything it wrote.
 */
export async function stageBundle(bundlePath: string, targetDir: string, opts: StageOptions = {}): Promise<StagedBundle | null> {
  // A split set or an encrypted bundle comes through its byte layers (source.ts) as a stream.
  const layered = await openLayeredSource(bundlePath, opts);
  if (layered) {
    try {
      return await stageBundleFrom({ stream: layered.stream }, bundleFormat(layered.head, bundlePath), targetDir, opts);
    } finally {
      layered.stream.destroy();
    }
  }
  const fh = await fs.open(bundlePath, 'r');
  try {
    return await stageFrom(fh, bundlePath, targetDir, opts);
  } finally {
    await fh.close();
  }
}

async function stageFrom(fh: fs.FileHandle, bundlePath: string, targetDir: string, opts: StageOptions): Promise<StagedBundle | null> {
  // A positional read: the file offset stays at 0 for the decompressor, which reads the descriptor itself.
  const head = Buffer.alloc(512);
  const headLen = (await fh.read(head, 0, 512, 0)).bytesRead;
  return stageBundleFrom({ fd: fh.fd }, bundleFormat(head.subarray(0, headLen), bundlePath), targetDir, opts);
}

/** The compression the first bytes of a bundle show, 'tar' for a plain tar; anything else is refused. */
function bundleFormat(head: Buffer, bundlePath: string): Format | 'tar' {
  const format = detectFormat(head);
  if (format) return format;
  if (head.length === 512 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  throw new NotABundleError(bundlePath, 'neither bzip2, gzip, zstd nor tar data');
}

/**
 * Extracts a bundle read from `source` (its compression `format` already
 * known) into a fresh temp dir inside `targetDir`: the seam for byte-stream
 * layers in front of the compressed bundle (decryption, joining parts), which
 * pass a `stream` source. stageBundle is this with the bundle file's
 * descriptor, after detecting the format from its first bytes.
 */
export async function stageBundleFrom(source: CompressedSource, format: Format | 'tar', targetDir: string, opts: StageOptions = {}): Promise<StagedBundle | null> {
  const codec = format === 'tar' ? undefined : await codecFor(format, 'decompress');
  const tempDir = await fs.mkdtemp(path.join(targetDir, '.corepack-extract-'));
  await fs.chmod(tempDir, 0o700);
  const root = path.join(tempDir, 'bundle');
  await fs.mkdir(root, { mode: 0o755 });
  const discard = () => fs.rm(tempDir, { recursive: true, force: true });
  try {
    const result = await extractInto(source, root, codec, opts, targetDir);
    if (result === null) {
      await discard();
      return null;
    }
    return {
      tempDir,
      root,
      ...result,
      format,
      program: codec?.program ?? 'none',
      async commit(dest: string) {
        await fs.rename(root, dest);
        await discard();
      },
      discard,
    };
  } catch (err) {
    await discard();
    throw err;
  }
}

interface Extracted {
  rootName: string;
  manifest: Manifest;
  files: Map<string, ExtractedFile>;
  symlinks: Map<string, string>;
  notes: string[];
  checksums: Map<string, string> | undefined;
}

/** Internal: the onManifest hook asked to stop; not an error of the bundle. */
const STOPPED = new Error('extraction stopped after the manifest');

async function extractInto(
  source: CompressedSource,
  root: string,
  codec: Awaited<ReturnType<typeof codecFor>> | undefined,
  opts: StageOptions,
  targetDir: string,
): Promise<Extracted | null> {
  const cap = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  // What was written so far: the policy (policy.ts) decides from it, this function only records it.
  const files = new Map<string, ExtractedFile>();
  const symlinks = new Map<string, string>();
  const dirs = new Set<string>(['']);
  const notes: string[] = [];
  let manifest: Manifest | undefined;
  let checksums: Map<string, string> | undefined;
  let stopped = false;
  const so: { -readonly [K in keyof ExtractionSoFar]: ExtractionSoFar[K] } = {
    rootName: undefined,
    declared: undefined,
    seen: (rel: string): Seen | undefined => (dirs.has(rel) ? 'dir' : files.has(rel) ? 'file' : symlinks.has(rel) ? 'symlink' : undefined),
    entries: 0,
    extraBytes: 0,
    checksumsName: undefined,
    checksumsSeen: false,
  };
  let budget = BUDGET_BEFORE_MANIFEST;
  let fed = 0;

  let failure: unknown;
  let rejectRun: (err: unknown) => void = () => {};
  const runDone = new Promise<void>((_, reject) => (rejectRun = reject));
  runDone.catch(() => {});

  const stream = decompressFrom(codec, source);
  const output = stream.output;
  const fail = (err: unknown) => {
    if (failure !== undefined) return;
    failure = err;
    stream.kill();
    rejectRun(err);
  };
  const onAbort = () => fail(abortReason(opts.signal!));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  // Only our header checks decide; node-tar must not decompress a second
  // layer (gzip inside the bundle) behind the byte budget's back.
  const parser = new Parser({ strict: false, zstd: false, brotli: false, maxDecompressionRatio: Number.POSITIVE_INFINITY, maxMetaEntrySize: 1024 * 1024 });
  parser.on('warn', (code: string, message: string) => fail(refuse(tarMessage(code, message))));
  parser.on('error', (err: Error) => fail(refuse(tarMessage('', err.message))));
  parser.on('ignoredEntry', (e: ReadEntry) => fail(refuse(`entry ${show(e.path)} has an unsupported type (${e.type})`)));

  // A sparse file's facts come in the pax header before it, which node-tar's parser does not keep.
  let sparseNext: SparseHeader | null = null;
  parser.on('meta', (body: string) => {
    const sp = parseSparsePax(body);
    if (sp) sparseNext = sp;
  });

  /** Every entry is handled in order; an entry's data flows only once its file is open. */
  let chain: Promise<void> = Promise.resolve();
  parser.on('entry', (entry: ReadEntry) => {
    const sparse = sparseNext;
    sparseNext = null;
    chain = chain.then(async () => {
      if (failure !== undefined) {
        entry.resume();
        return;
      }
      try {
        await handleEntry(entry, sparse);
      } catch (err) {
        fail(err);
      } finally {
        // A paused entry never ends, and the parser waits for its end before the next one.
        entry.resume();
      }
    });
  });

  async function handleEntry(entry: ReadEntry, sparse: SparseHeader | null): Promise<void> {
    // A sparse file is judged by its real name and size (sparse.ts); its stored bytes are the map and the data.
    const real = sparse ? sparseFacts(entry, sparse) : { path: entry.path, size: entry.size };
    const d = decideEntry({ path: real.path, type: entry.type, size: real.size, mode: entry.mode, linkpath: entry.linkpath }, so);
    so.entries++;
    so.rootName = d.rootName;
    if (d.action === 'skip') return;
    for (const dir of d.parents) await makeDir(dir);
    if (d.action === 'mkdir') {
      await makeDir(d.rel);
      return;
    }
    if (d.action === 'symlink') {
      await fs.symlink(d.target, path.join(root, d.rel)).catch((err) => rethrowExists(err, entry.path));
      symlinks.set(d.rel, d.target);
      return;
    }
    const { rel, size, mode } = d;
    if (sparse && (d.isManifest || d.isChecksums)) throw refuse(`entry ${show(real.path)} is stored sparse; corepack writes it as a plain file`, real.path);
    so.extraBytes += d.extraBytes;
    notes.push(...d.notes);
    const abs = path.join(root, rel);
    const handle = await fs
      .open(abs, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode)
      .catch((err) => rethrowExists(err, entry.path));
    const hash = createHash('sha256');
    const keep = d.isManifest || d.isChecksums ? ([] as Buffer[]) : undefined;
    let holes = false;
    // Bytes of the file accounted for (hashed), in file order: a sparse file's gaps are hashed as the zeros they extract to.
    let written = 0;
    const place = sparse ? sparsePlacer(new SparseMapReader(entry.size ?? 0, size), real.path) : null;
    const hashZerosTo = (at: number): void => {
      while (written < at) {
        const n = Math.min(ZEROS.length, at - written);
        hash.update(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n));
        written += n;
      }
    };
    try {
      await new Promise<void>((resolve, reject) => {
        // A failure elsewhere (budget, decompressor) stops the feed: never wait for an end that cannot come.
        runDone.catch(reject);
        // Each chunk is written at its own offset, strictly after the one before it:
        // the bytes on disk are the bytes hashed, whatever order events arrive in.
        let queue: Promise<void> = Promise.resolve();
        // Backpressure with a window: up to WRITE_WINDOW bytes may wait for the
        // disk before the parser (and the decompressor) are paused. Pausing on
        // every 64 KiB chunk until its write returned stalled the decompressor
        // on a full pipe (replay of a 64 MiB core: -0.2 s of 2.7 s).
        let queued = 0;
        let paused = false;
        const take = (at: number, chunk: Buffer): void => {
          hashZerosTo(at);
          written += chunk.length;
          hash.update(chunk);
          keep?.push(chunk);
          // A run of zeros (a core's untouched pages) is left a hole: hashed, not written.
          if (!keep && isHole(chunk)) {
            holes = true;
            return;
          }
          queued += chunk.length;
          queue = queue
            .then(() => writeAt(handle, chunk, at))
            .then(() => {
              queued -= chunk.length;
              if (paused && queued <= WRITE_WINDOW / 2) {
                paused = false;
                entry.resume();
              }
            });
          queue.catch(reject);
          if (!paused && queued >= WRITE_WINDOW) {
            paused = true;
            entry.pause();
          }
        };
        entry.on('data', (chunk: Buffer) => {
          if (!place) return take(written, chunk);
          try {
            for (const [at, piece] of place.pieces(chunk)) take(at, piece);
          } catch (err) {
            reject(err);
          }
        });
        entry.on('end', () => queue.then(resolve, reject));
        entry.on('error', reject);
      });
      if (place) {
        place.finish();
        // What follows the last region is zeros up to the real size.
        if (written < size) holes = true;
        hashZerosTo(size);
      }
      // Holes at the end exist only once the file has its full length.
      if (holes) await handle.truncate(written);
      await handle.chmod(mode);
      // The recorded time, not the extraction's: gdb warns "exec file is newer than core file" when the core comes out first.
      if (entry.mtime) await handle.utimes(entry.mtime, entry.mtime);
    } finally {
      await handle.close();
    }
    if (failure !== undefined) return;
    checkComplete(entry.path, written, size);
    const sha256 = hash.digest('hex');
    files.set(rel, { path: rel, size, sha256, mode });
    if (keep && d.isChecksums) {
      checksums = parseChecksums(new TextDecoder().decode(Buffer.concat(keep)));
      so.checksumsSeen = true;
    } else if (keep) {
      manifest = manifestFromBytes(Buffer.concat(keep));
      so.declared = declaredSizes(manifest);
      so.checksumsName = manifest.checksums;
      budget = budgetAfterManifest(manifest, cap, fed);
      // The caller may already hold this bundle, extracted and verified: then stop here.
      if (opts.onManifest && (await opts.onManifest(manifest, sha256)) === 'stop') {
        stopped = true;
        fail(STOPPED);
        return;
      }
      await checkFreeSpace(targetDir, declaredBytes(manifest));
    }
  }

  /** Creates `rel` (relative to root) as a real directory; the policy made sure nothing of ours is there. */
  async function makeDir(rel: string): Promise<void> {
    if (dirs.has(rel)) return;
    const abs = path.join(root, rel);
    try {
      await fs.mkdir(abs, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const st = await fs.lstat(abs);
      if (!st.isDirectory()) throw refuse(`${show(rel)} is not a directory (writing through a symlink is refused)`, rel);
    }
    dirs.add(rel);
  }

  // Feed the decompressed stream to the parser, counting every byte.
  let first = true;
  const parsed = new Promise<void>((resolve) => parser.on('end', resolve));
  output.on('data', (chunk: Buffer) => {
    if (failure !== undefined) return;
    if (first) {
      first = false;
      if (codec && detectFormat(chunk)) return fail(refuse('it is compressed twice (a compressed file inside the compressed bundle)'));
    }
    fed += chunk.length;
    try {
      checkBudget(fed, budget, manifest !== undefined);
    } catch (err) {
      return fail(err);
    }
    if (!parser.write(chunk)) {
      output.pause();
      parser.once('drain', () => output.resume());
    }
  });
  output.on('end', () => {
    // A decompressor that failed explains a short stream better than the tar parser would.
    stream.done.then(
      () => {
        if (failure === undefined) parser.end();
      },
      () => {},
    );
  });
  output.on('error', (err: Error) => fail(refuse(`cannot read it: ${err.message}`)));
  stream.done.catch((err: unknown) =>
    // A layer in front (split parts, decryption) names its own failure.
    isLayerError(err) ? fail(err) : fail(codec ? refuse(`the compressed data is truncated or corrupt (${(err as Error).message})`, null, { cause: err }) : refuse(`cannot read it: ${(err as Error).message}`, null, { cause: err })),
  );

  try {
    await Promise.race([runDone, parsed]);
    await Promise.race([runDone, chain]);
    await Promise.race([runDone, stream.done.catch(() => {})]);
    if (failure !== undefined && !stopped) throw failure;
  } catch (err) {
    if (!stopped) throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // Let an in-flight entry handler finish before the caller removes its directory.
    await chain.catch(() => {});
  }
  if (stopped) return null;
  if (failure !== undefined) throw failure;
  if (so.rootName === undefined || manifest === undefined) throw refuse(`it has no ${MANIFEST_NAME}: not a corepack bundle`);
  // Cut short exactly between two entries, a tar stream still parses: the missing last entry tells.
  if (manifest.checksums !== undefined && checksums === undefined) {
    throw refuse(`it has no ${manifest.checksums} (always the last entry, listing every file's sha256): the bundle is truncated`, manifest.checksums);
  }
  return { rootName: so.rootName, manifest, files, symlinks, notes, checksums };
}

/** Zero chunks at least this long are not written (the file gets a hole): a page or more. */
const MIN_HOLE = 4096;
const ZEROS = Buffer.alloc(1 << 16);

/**
 * True when `chunk` is all zeros and long enough to be worth a hole.
 * Compared 64 KiB at a time against a zero buffer (memcmp speed); the
 * decompressor's chunks are 64 KiB or less.
 */
function isHole(chunk: Buffer): boolean {
  if (chunk.length < MIN_HOLE) return false;
  for (let off = 0; off < chunk.length; off += ZEROS.length) {
    const part = chunk.subarray(off, off + ZEROS.length);
    if (part.compare(ZEROS, 0, part.length) !== 0) return false;
  }
  return true;
}

/** Writes all of `chunk` at `position` (a write may be partial). */
async function writeAt(handle: fs.FileHandle, chunk: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

/** A sparse entry's real name and size, from its pax header; refused when it is not the 1.0 form corepack writes. */
function sparseFacts(entry: ReadEntry, sp: SparseHeader): { path: string; size: number } {
  if (sp.major !== '1' || sp.minor !== '0') throw refuse(`entry ${show(entry.path)} is a sparse file in GNU tar's format ${sp.major ?? '0'}.${sp.minor ?? '?'}; only 1.0 is read`, entry.path);
  if (sp.name === undefined || sp.realSize === undefined) throw refuse(`entry ${show(entry.path)} is a sparse file without GNU.sparse.name and GNU.sparse.realsize`, entry.path);
  if (entry.type !== 'File' && entry.type !== 'OldFile') throw refuse(`entry ${show(sp.name)} is marked sparse but is not a regular file`, sp.name);
  return { path: sp.name, size: sp.realSize };
}

/**
 * Where a sparse entry's stored bytes go: the map first (checked, see
 * SparseMapReader), then each data byte at its region's offset.
 */
function sparsePlacer(map: SparseMapReader, name: string): { pieces(chunk: Buffer): Array<[number, Buffer]>; finish(): void } {
  let region = 0;
  let inRegion = 0;
  const fail = (err: unknown): never => {
    throw refuse(`entry ${show(name)}: ${(err as Error).message}`, name);
  };
  return {
    pieces(chunk: Buffer): Array<[number, Buffer]> {
      let data: Buffer | null;
      try {
        data = map.push(chunk);
      } catch (err) {
        return fail(err);
      }
      const out: Array<[number, Buffer]> = [];
      if (!data) return out;
      const regions = map.regions!;
      let off = 0;
      while (off < data.length) {
        const r = regions[region];
        if (!r) return fail(new Error('it holds more data than its sparse map lists'));
        const n = Math.min(r.length - inRegion, data.length - off);
        out.push([r.offset + inRegion, data.subarray(off, off + n)]);
        off += n;
        inRegion += n;
        if (inRegion === r.length) {
          region++;
          inRegion = 0;
        }
      }
      return out;
    },
    finish(): void {
      if (!map.regions || region < map.regions.length) fail(new Error('it is truncated (its sparse data ends early)'));
    },
  };
}

function rethrowExists(err: unknown, entryPath: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') throw refuse(`entry ${show(entryPath)} appears twice`);
  if (code === 'ELOOP' || code === 'ENOTDIR') throw refuse(`entry ${show(entryPath)} would be written through a symlink`);
  throw err;
}

function tarMessage(code: string, message: string): string {
  if (/truncated/i.test(message)) return 'the archive is truncated';
  if (/Unrecognized archive format/i.test(message)) return 'not a tar archive inside';
  return `tar ${code ? `${code}: ` : ''}${message}`;
}
