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
import { decompressFrom, type CompressedSource, type Decompressed } from './sink.js';
import { isLayerError, openLayeredSource, type BundleSource, type SourceOptions } from './source.js';
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
  /**
   * The bundle's byte layers (a split set, age), opened already by whoever
   * probed the input: read from here instead of opening them again (a second
   * decryption). stageBundle destroys it when done.
   */
  layered?: BundleSource | undefined;
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
  const layered = opts.layered ?? (await openLayeredSource(bundlePath, opts));
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

type Codec = Awaited<ReturnType<typeof codecFor>>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Internal: the onManifest hook asked to stop; not an error of the bundle. */
const STOPPED = new Error('extraction stopped after the manifest');

/**
 * The first failure of an extraction ends it: the decompressor is killed,
 * and `ended` rejects, so that no step waits for data that cannot come.
 * What fails after it is a consequence, and dropped.
 */
class FirstFailure {
  failed = false;
  error: unknown = undefined;
  /** The onManifest hook asked to stop: the run ends, and not as an error. */
  stopped = false;
  /** Rejects with the first failure; never resolves. */
  readonly ended: Promise<never>;
  private rejectEnded: (err: unknown) => void = () => {};
  private stopWork: () => void = () => {};

  constructor() {
    this.ended = new Promise<never>((_, reject) => (this.rejectEnded = reject));
    this.ended.catch(() => {});
  }

  /** What a failure must stop at once (the decompressor). */
  stops(stop: () => void): void {
    this.stopWork = stop;
  }

  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.error = err;
    this.stopWork();
    this.rejectEnded(err);
  }
}

/** What one extraction has written and learnt so far: the one object its steps share. */
interface Extraction {
  /** The extracted bundle root, inside the private temp dir. */
  readonly root: string;
  /** Where free space is checked once the manifest says how much is coming. */
  readonly targetDir: string;
  readonly onManifest: StageOptions['onManifest'];
  /** The absolute cap on decompressed bytes (StageOptions.maxBytes). */
  readonly cap: number;
  readonly run: FirstFailure;
  readonly files: Map<string, ExtractedFile>;
  readonly symlinks: Map<string, string>;
  /** Directories made, relative to root ('' is root itself). */
  readonly dirs: Set<string>;
  readonly notes: string[];
  manifest: Manifest | undefined;
  checksums: Map<string, string> | undefined;
  /** What the policy (policy.ts) decides the next entry from; this file only records it. */
  readonly soFar: Mutable<ExtractionSoFar>;
  /** Decompressed bytes allowed (the manifest sets it once read), and fed to the parser so far. */
  budget: number;
  fed: number;
}

function newExtraction(root: string, targetDir: string, opts: StageOptions): Extraction {
  const files = new Map<string, ExtractedFile>();
  const symlinks = new Map<string, string>();
  const dirs = new Set<string>(['']);
  return {
    root,
    targetDir,
    onManifest: opts.onManifest,
    cap: opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES,
    run: new FirstFailure(),
    files,
    symlinks,
    dirs,
    notes: [],
    manifest: undefined,
    checksums: undefined,
    soFar: {
      rootName: undefined,
      declared: undefined,
      seen: (rel: string): Seen | undefined => (dirs.has(rel) ? 'dir' : files.has(rel) ? 'file' : symlinks.has(rel) ? 'symlink' : undefined),
      entries: 0,
      extraBytes: 0,
      checksumsName: undefined,
      checksumsSeen: false,
    },
    budget: BUDGET_BEFORE_MANIFEST,
    fed: 0,
  };
}

/**
 * Decompresses `source` and writes every entry the policy allows under
 * `root`. Resolves to null when onManifest asked to stop; throws the first
 * failure (a refusal, the decompressor's, an abort) once nothing runs.
 */
async function extractInto(source: CompressedSource, root: string, codec: Codec | undefined, opts: StageOptions, targetDir: string): Promise<Extracted | null> {
  const x = newExtraction(root, targetDir, opts);
  const { run } = x;
  const stream = decompressFrom(codec, source);
  run.stops(() => stream.kill());
  const onAbort = () => run.fail(abortReason(opts.signal!));
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const parser = tarParser(run);
  const parsed = new Promise<void>((resolve) => parser.on('end', resolve));
  const entries = handleEntriesInOrder(parser, x);
  feedParser(stream, codec, parser, x);
  try {
    await runToEnd(run, parsed, entries, stream.done);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // Let an in-flight entry handler finish before the caller removes its directory.
    await entries.drained().catch(() => {});
  }
  if (run.stopped) return null;
  if (run.failed) throw run.error;
  return completed(x);
}

/**
 * node-tar's Parser, only to split the stream into headers and data: its
 * warnings and errors are refusals. Only our header checks decide; it must
 * not decompress a second layer (gzip inside the bundle) behind the byte
 * budget's back.
 */
function tarParser(run: FirstFailure): Parser {
  const parser = new Parser({ strict: false, zstd: false, brotli: false, maxDecompressionRatio: Number.POSITIVE_INFINITY, maxMetaEntrySize: 1024 * 1024 });
  parser.on('warn', (code: string, message: string) => run.fail(refuse(tarMessage(code, message))));
  parser.on('error', (err: Error) => run.fail(refuse(tarMessage('', err.message))));
  parser.on('ignoredEntry', (e: ReadEntry) => run.fail(refuse(`entry ${show(e.path)} has an unsupported type (${e.type})`)));
  return parser;
}

/** Tasks run one at a time, in the order added. */
class InOrder {
  private last: Promise<void> = Promise.resolve();

  add(task: () => Promise<void>): void {
    this.last = this.last.then(task);
  }

  /** Settles when every task added so far has. */
  drained(): Promise<void> {
    return this.last;
  }
}

/** Every entry is handled in archive order; an entry's data flows only once its file is open. */
function handleEntriesInOrder(parser: Parser, x: Extraction): InOrder {
  const queue = new InOrder();
  // A sparse file's facts come in the pax header before it, which node-tar's parser does not keep.
  let sparseNext: SparseHeader | null = null;
  parser.on('meta', (body: string) => {
    const sp = parseSparsePax(body);
    if (sp) sparseNext = sp;
  });
  parser.on('entry', (entry: ReadEntry) => {
    const sparse = sparseNext;
    sparseNext = null;
    queue.add(() => handleInTurn(entry, sparse, x));
  });
  return queue;
}

/** One entry's turn: skipped once the run failed; a failure of its own ends the run. */
async function handleInTurn(entry: ReadEntry, sparse: SparseHeader | null, x: Extraction): Promise<void> {
  if (x.run.failed) {
    entry.resume();
    return;
  }
  try {
    await handleEntry(entry, sparse, x);
  } catch (err) {
    x.run.fail(err);
  } finally {
    // A paused entry never ends, and the parser waits for its end before the next one.
    entry.resume();
  }
}

/** What the policy decides for one entry, done: a directory, a symlink or a file. */
async function handleEntry(entry: ReadEntry, sparse: SparseHeader | null, x: Extraction): Promise<void> {
  // A sparse file is judged by its real name and size (sparse.ts); its stored bytes are the map and the data.
  const real = sparse ? sparseFacts(entry, sparse) : { path: entry.path, size: entry.size };
  const d = decideEntry({ path: real.path, type: entry.type, size: real.size, mode: entry.mode, linkpath: entry.linkpath }, x.soFar);
  x.soFar.entries++;
  x.soFar.rootName = d.rootName;
  if (d.action === 'skip') return;
  for (const dir of d.parents) await makeDir(x, dir);
  if (d.action === 'mkdir') return makeDir(x, d.rel);
  if (d.action === 'symlink') return makeSymlink(x, d.rel, d.target, entry.path);
  if (sparse && (d.isManifest || d.isChecksums)) throw refuse(`entry ${show(real.path)} is stored sparse; corepack writes it as a plain file`, real.path);
  x.soFar.extraBytes += d.extraBytes;
  x.notes.push(...d.notes);
  const placer = sparse ? sparsePlacer(new SparseMapReader(entry.size ?? 0, d.size), real.path) : null;
  const written = await writeFileEntry(entry, { rel: d.rel, size: d.size, mode: d.mode, keep: d.isManifest || d.isChecksums, placer }, x);
  if (!written) return;
  if (d.isChecksums) recordChecksums(x, written.kept!);
  else if (d.isManifest) await recordManifest(x, written.kept!, written.sha256);
}

/** Creates `rel` (relative to root) as a real directory; the policy made sure nothing of ours is there. */
async function makeDir(x: Extraction, rel: string): Promise<void> {
  if (x.dirs.has(rel)) return;
  const abs = path.join(x.root, rel);
  try {
    await fs.mkdir(abs, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = await fs.lstat(abs);
    if (!st.isDirectory()) throw refuse(`${show(rel)} is not a directory (writing through a symlink is refused)`, rel);
  }
  x.dirs.add(rel);
}

async function makeSymlink(x: Extraction, rel: string, target: string, entryPath: string): Promise<void> {
  await fs.symlink(target, path.join(x.root, rel)).catch((err) => rethrowExists(err, entryPath));
  x.symlinks.set(rel, target);
}

/** A regular file entry as the policy allowed it. */
interface FileToWrite {
  /** Relative to the bundle root. */
  rel: string;
  /** Its real size (a sparse entry's, not its stored bytes'). */
  size: number;
  mode: number;
  /** Keep its bytes in memory too (manifest.json, SHA256SUMS): they are read once written. */
  keep: boolean;
  /** Where a sparse entry's stored bytes go; null for a plain one. */
  placer: SparsePlacer | null;
}

/** A file entry written whole: its sha256, and its bytes when they were to be kept. */
interface WrittenFile {
  sha256: string;
  kept: Buffer | undefined;
}

/**
 * Writes one file entry: created exclusively, its bytes hashed as they will
 * read back, its mode and recorded time set. Recorded in `x.files` once
 * complete; null (nothing recorded) when the run failed meanwhile.
 */
async function writeFileEntry(entry: ReadEntry, f: FileToWrite, x: Extraction): Promise<WrittenFile | null> {
  const handle = await createExclusive(path.join(x.root, f.rel), f.mode, entry.path);
  let content: FileContent;
  try {
    content = await writeEntryData(entry, handle, f, x.run.ended);
    await handle.chmod(f.mode);
    // The recorded time, not the extraction's: gdb warns "exec file is newer than core file" when the core comes out first.
    if (entry.mtime) await handle.utimes(entry.mtime, entry.mtime);
  } finally {
    await handle.close();
  }
  if (x.run.failed) return null;
  checkComplete(entry.path, content.length, f.size);
  const sha256 = content.sha256();
  x.files.set(f.rel, { path: f.rel, size: f.size, sha256, mode: f.mode });
  return { sha256, kept: content.kept && Buffer.concat(content.kept) };
}

/** Creates a file for an entry: never through a symlink, never over an earlier entry. */
function createExclusive(abs: string, mode: number, entryPath: string): Promise<fs.FileHandle> {
  return fs.open(abs, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode).catch((err) => rethrowExists(err, entryPath));
}

/**
 * The bytes of one file entry, hashed in file order as they will read back
 * (a sparse entry's gaps as the zeros they extract to).
 */
class FileContent {
  private readonly hash = createHash('sha256');
  /** Bytes accounted for (hashed) so far. */
  length = 0;
  /** Some bytes were left as holes: the file gets its length by truncate. */
  holes = false;
  /** The bytes themselves, when asked to keep them. */
  readonly kept: Buffer[] | undefined;

  constructor(keep: boolean) {
    this.kept = keep ? [] : undefined;
  }

  /** Accounts for zeros up to offset `at`. */
  zerosTo(at: number): void {
    while (this.length < at) {
      const n = Math.min(ZEROS.length, at - this.length);
      this.hash.update(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n));
      this.length += n;
    }
  }

  /** Accounts for `chunk` at offset `at`; false when it need not be written (a run of zeros becomes a hole). */
  add(at: number, chunk: Buffer): boolean {
    this.zerosTo(at);
    this.length += chunk.length;
    this.hash.update(chunk);
    this.kept?.push(chunk);
    // A run of zeros (a core's untouched pages) is left a hole: hashed, not written.
    if (!this.kept && isHole(chunk)) {
      this.holes = true;
      return false;
    }
    return true;
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}

/**
 * Writes with a window: up to WRITE_WINDOW bytes may wait for the disk
 * before the entry (and so the parser and the decompressor) is paused, until
 * half has been written. Pausing on every 64 KiB chunk until its write
 * returned stalled the decompressor on a full pipe (replay of a 64 MiB core:
 * -0.2 s of 2.7 s). Each chunk is written at its own offset, strictly after
 * the one before it: the bytes on disk are the bytes hashed, whatever order
 * events arrive in.
 */
class WriteWindow {
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private paused = false;

  constructor(
    private readonly handle: fs.FileHandle,
    private readonly entry: ReadEntry,
    private readonly onError: (err: unknown) => void,
  ) {}

  write(chunk: Buffer, at: number): void {
    this.queued += chunk.length;
    this.queue = this.queue
      .then(() => writeAt(this.handle, chunk, at))
      .then(() => {
        this.queued -= chunk.length;
        if (this.paused && this.queued <= WRITE_WINDOW / 2) {
          this.paused = false;
          this.entry.resume();
        }
      });
    this.queue.catch(this.onError);
    if (!this.paused && this.queued >= WRITE_WINDOW) {
      this.paused = true;
      this.entry.pause();
    }
  }

  /** Settles when every write so far is done. */
  drained(): Promise<void> {
    return this.queue;
  }
}

/** Streams an entry's data into `handle` until its end; a sparse entry's pieces each go to their offset. */
async function writeEntryData(entry: ReadEntry, handle: fs.FileHandle, f: FileToWrite, runEnded: Promise<never>): Promise<FileContent> {
  const content = new FileContent(f.keep);
  await new Promise<void>((resolve, reject) => {
    // A failure elsewhere (budget, decompressor) stops the feed: never wait for an end that cannot come.
    runEnded.catch(reject);
    const window = new WriteWindow(handle, entry, reject);
    const take = (at: number, chunk: Buffer): void => {
      if (content.add(at, chunk)) window.write(chunk, at);
    };
    entry.on('data', (chunk: Buffer) => {
      if (!f.placer) return take(content.length, chunk);
      try {
        for (const [at, piece] of f.placer.pieces(chunk)) take(at, piece);
      } catch (err) {
        reject(err);
      }
    });
    entry.on('end', () => window.drained().then(resolve, reject));
    entry.on('error', reject);
  });
  if (f.placer) {
    f.placer.finish();
    // What follows the last region is zeros up to the real size.
    if (content.length < f.size) content.holes = true;
    content.zerosTo(f.size);
  }
  // Holes at the end exist only once the file has its full length.
  if (content.holes) await handle.truncate(content.length);
  return content;
}

/** SHA256SUMS, the last entry, is read as soon as it is written. */
function recordChecksums(x: Extraction, bytes: Buffer): void {
  x.checksums = parseChecksums(new TextDecoder().decode(bytes));
  x.soFar.checksumsSeen = true;
}

/**
 * manifest.json, the first entry: from here on the policy knows every
 * declared size and the budget is their sum. The caller may already hold
 * this bundle, extracted and verified: then the run stops here.
 */
async function recordManifest(x: Extraction, bytes: Buffer, sha256: string): Promise<void> {
  const manifest = manifestFromBytes(bytes);
  x.manifest = manifest;
  x.soFar.declared = declaredSizes(manifest);
  x.soFar.checksumsName = manifest.checksums;
  x.budget = budgetAfterManifest(manifest, x.cap, x.fed);
  if (x.onManifest && (await x.onManifest(manifest, sha256)) === 'stop') {
    x.run.stopped = true;
    x.run.fail(STOPPED);
    return;
  }
  await checkFreeSpace(x.targetDir, declaredBytes(manifest));
}

/**
 * Feeds the decompressed stream to the parser, counting every byte against
 * the budget. The decompressor's end or failure ends the feed: a failed one
 * explains a short stream better than the tar parser would.
 */
function feedParser(stream: Decompressed, codec: Codec | undefined, parser: Parser, x: Extraction): void {
  const { run } = x;
  const output = stream.output;
  let first = true;
  output.on('data', (chunk: Buffer) => {
    if (run.failed) return;
    if (first) {
      first = false;
      if (codec && detectFormat(chunk)) return run.fail(refuse('it is compressed twice (a compressed file inside the compressed bundle)'));
    }
    x.fed += chunk.length;
    try {
      checkBudget(x.fed, x.budget, x.manifest !== undefined);
    } catch (err) {
      return run.fail(err);
    }
    if (!parser.write(chunk)) {
      output.pause();
      parser.once('drain', () => output.resume());
    }
  });
  output.on('end', () => {
    stream.done.then(
      () => {
        if (!run.failed) parser.end();
      },
      () => {},
    );
  });
  output.on('error', (err: Error) => run.fail(refuse(`cannot read it: ${err.message}`)));
  stream.done.catch((err: unknown) => run.fail(decompressionFailure(err, codec)));
}

/** Why the decompressed stream ended badly: a layer in front (split parts, decryption) names its own failure. */
function decompressionFailure(err: unknown, codec: Codec | undefined): unknown {
  if (isLayerError(err)) return err;
  const why = (err as Error).message;
  return codec ? refuse(`the compressed data is truncated or corrupt (${why})`, null, { cause: err }) : refuse(`cannot read it: ${why}`, null, { cause: err });
}

/**
 * Waits for the parser's end, every entry handled and the decompressor's
 * exit, in that order, unless the run fails first; a stop asked for by
 * onManifest is not an error.
 */
async function runToEnd(run: FirstFailure, parsed: Promise<void>, entries: InOrder, decompressed: Promise<void>): Promise<void> {
  try {
    await Promise.race([run.ended, parsed]);
    await Promise.race([run.ended, entries.drained()]);
    await Promise.race([run.ended, decompressed.catch(() => {})]);
    if (run.failed && !run.stopped) throw run.error;
  } catch (err) {
    if (!run.stopped) throw err;
  }
}

/** The extraction as stageBundle returns it, once the archive is known to be a whole corepack bundle. */
function completed(x: Extraction): Extracted {
  const { manifest, checksums, soFar } = x;
  if (soFar.rootName === undefined || manifest === undefined) throw refuse(`it has no ${MANIFEST_NAME}: not a corepack bundle`);
  // Cut short exactly between two entries, a tar stream still parses: the missing last entry tells.
  if (manifest.checksums !== undefined && checksums === undefined) {
    throw refuse(`it has no ${manifest.checksums} (always the last entry, listing every file's sha256): the bundle is truncated`, manifest.checksums);
  }
  return { rootName: soFar.rootName, manifest, files: x.files, symlinks: x.symlinks, notes: x.notes, checksums };
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

/** Where a sparse entry's stored bytes go. */
interface SparsePlacer {
  /** The file offsets and bytes of the data in `chunk` (none while the map is still coming). */
  pieces(chunk: Buffer): Array<[number, Buffer]>;
  /** Throws when the data ended before the map's last region. */
  finish(): void;
}

/**
 * Where a sparse entry's stored bytes go: the map first (checked, see
 * SparseMapReader), then each data byte at its region's offset.
 */
function sparsePlacer(map: SparseMapReader, name: string): SparsePlacer {
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
