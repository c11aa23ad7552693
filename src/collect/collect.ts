/**
 * `collect`: write one bundle holding the core, the executable and the exact
 * libraries the process had mapped, plus the manifest.
 *
 * The bundle is written to a temporary file beside the destination and
 * renamed into place only when complete, so an error, Ctrl-C or a full disk
 * never leaves a partial bundle under the final name. The core is only read.
 */
import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CoreFile } from '../core/open.js';
import { summaryJson } from '../core/json.js';
import { abortReason, OUT_OF_SPACE_CODES, OutputWriteError, errnoOf } from '../util/errors.js';
import { manifestRootOf, realRoot, type ProcessRoot } from '../util/rootfs.js';
import { codecFor, formatForName, type Codec, type Format, type FormatInfo } from '../bundle/formats.js';
import { CHECKSUMS_NAME, isExact, MANIFEST_FORMAT, MANIFEST_NAME, MANIFEST_SCHEMA, type HostInfo, type Manifest, type ManifestFile, type ManifestMiniCore } from '../bundle/manifest.js';
import { RootDirectoryError } from './errors.js';
import { formatChecksums } from '../bundle/checksums.js';
import { FileChangedError, TarWriter } from '../bundle/create.js';
import { compressTo, outputErrnoOf, type CompressedOutput } from '../bundle/sink.js';
import { compressAhead, type AheadOutput } from '../bundle/ahead.js';
import { hasLayers, layeredName, openBundleOutput, type BundleOutput, type OutputLayers } from '../bundle/output.js';
import { VERSION } from '../version.js';
import { hostInfo } from './host.js';
import { planBundle, rootLookupOf, type CollectPlan, type PlannedFile } from './plan.js';
import { planAttachments, sha256Prefix, type AttachOptions } from './attach.js';
import { describeTruncation, type Truncation } from '../core/truncation.js';
import type { CoreSummary } from '../core/model.js';
import { originWarnings, type CoreOrigin } from '../input/origin.js';
import { withoutStoredSuffix } from '../input/form.js';
import { makeMiniCore, type MadeMiniCore, type MiniCoreOptions } from './minicore/make.js';
import { hex } from '../util/text.js';

/** What to collect, complete and checked (src/cli/options.ts makes it from the command line). */
export interface CollectOptions {
  /** The core, absolute. */
  core: string;
  /** -e, absolute; null: the executable the core names. */
  executable: string | null;
  /**
   * --root, absolute (HOST_ROOT without one). The directory the crashed
   * process saw as `/` (a container's merged root, a chroot, qemu -L): every
   * path from the core is looked up there and never on this machine.
   */
  root: ProcessRoot;
  /** The bundle to write, absolute. */
  output: string;
  /** The format the output's name asks for. */
  format: FormatInfo;
  withDebug: boolean;
  /** Where --with-debug looks for .build-id/ and debuglink targets, absolute; null: /usr/lib/debug of the process's root. */
  debugDir: string | null;
  /** --attach: patterns, the per-file cap, and what relative patterns are relative to. */
  attach: AttachOptions;
  /** The byte layers between the compressor and the disk (--encrypt-to, --split). */
  layers: OutputLayers;
  /**
   * Where and in what form the core was found (src/input) when `core` is a
   * plain copy unpacked from it: named in the manifest, and the source of
   * the default -e.
   */
  origin?: CoreOrigin | undefined;
  /** --stacks-only: bundle a mini core cut from the core instead of the core itself; null: the whole core. */
  miniCore: MiniCoreOptions | null;
}

/** How a run is watched and stopped: not options of the bundle, so none has a default. */
export interface CollectHooks {
  /** Progress callback: phase, bytes done, bytes total. */
  onProgress?: ((phase: 'write', done: number, total: number) => void) | undefined;
  signal?: AbortSignal | undefined;
}

export interface CollectResult {
  /** The bundle written; for a split set its first part. */
  output: string;
  /** Every file written: the bundle, or a split set's parts and then its index. */
  files: string[];
  /** Bundle size in bytes (compressed; a split set's parts together). */
  size: number;
  format: Format;
  compressor: string;
  manifest: Manifest;
  /** The sha256 of every file written, by bundle-relative path (what SHA256SUMS lists). */
  checksums: ReadonlyMap<string, string>;
  /** Every file present and matching the core's build IDs, and nothing the core knows of left out. */
  exact: boolean;
  /** Not exact, and the paths look like another root's: the user should pass --root. */
  suggestRoot: boolean;
}

/** What marks corepack's temporary files (and the pid that writes each), so a later run can remove those of killed runs. */
export const TEMPORARY_MARK = '.corepack-tmp-';
const TMP_MARK = TEMPORARY_MARK;

/** The bundle's top-level directory: the output's name without its extension, made safe. */
export function bundleRootName(output: string): string {
  let name = basename(output);
  const fmt = formatForName(name);
  const ext = fmt?.extensions.find((e) => name.toLowerCase().endsWith(e));
  if (ext) name = name.slice(0, -ext.length);
  name = name.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, '_');
  return name || 'bundle';
}

/** Removes temporary files that earlier runs of corepack left behind when they were killed, and only those. */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = new RegExp(`^\\..+${TMP_MARK.replace(/[.]/g, '\\.')}(\\d+)$`).exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (alive) continue; // another collect is writing it right now
    await unlink(join(dir, name)).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** Attempts at a consistent bundle when files change while they are read (a package upgrade running). */
const MAX_ATTEMPTS = 3;

export async function collect(opts: CollectOptions, hooks: CollectHooks = {}): Promise<CollectResult> {
  const notes: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      return await collectOnce(opts, hooks, notes);
    } catch (err) {
      if (!(err instanceof FileChangedError) || attempt >= MAX_ATTEMPTS) throw err;
      // Start over from the core: the new plan sees the file as it is now
      // (a replaced library then shows up as a build-ID mismatch).
      notes.push(`${err.summary}; collected again (attempt ${attempt + 1})`);
    }
  }
}

async function collectOnce(opts: CollectOptions, hooks: CollectHooks, notes: string[]): Promise<CollectResult> {
  const { signal } = hooks;
  // Before the long part: an output that cannot be created fails now, under its own name.
  await checkOutputDir(opts.output);
  // Host facts (getconf) while the core is read and the plan made: a fixed cost that counts at small sizes.
  const host = hostInfo();
  host.catch(() => undefined);
  const codec = await codecFor(opts.format.format, 'compress');
  const progress = new Progress(hooks.onProgress);
  // The core's frame starts now, before its notes are read and the plan made (bundle/ahead.ts).
  const ahead = await startCoreAhead(opts, codec, progress.tick, signal);
  try {
    const read = await readCore(opts);
    const plan = await planBundle(read.summary, { ...opts, root: read.processRoot, executable: opts.executable ?? read.metadataExe, crashTimeMs: await crashTime(opts.origin, foundAtOf(opts)) });
    // --stacks-only: a mini core takes the full core's place in the bundle (the full core is only read).
    // It is streamed into the bundle from the full core: no file of its own, so no plaintext beside an encrypted output.
    const mini = opts.miniCore ? await makeMiniCore(opts.core, foundAtOf(opts), opts.miniCore, { signal }) : undefined;
    try {
      const contents = await describeContents(opts, read, plan, await host, notes, mini, ahead?.coreStat);
      progress.total = contents.bytes;
      const target = await openTarget(opts, codec, ahead, signal);
      const { checksums, files } = await writeTarget(target, opts, signal, (tar) => writeEntries(tar, opts, contents, { ahead, mini }, progress.tick));
      const size = target.layered ? target.layered.size : (await stat(opts.output)).size;
      return { output: files[0]!, files, size, format: opts.format.format, compressor: codec.program, manifest: contents.manifest, checksums, exact: isExact(contents.manifest), suggestRoot: plan.suggestRoot };
    } finally {
      await mini?.close();
    }
  } finally {
    await ahead?.release();
  }
}

/** Where the core was found: its store's file, or the core itself. */
function foundAtOf(opts: CollectOptions): string {
  return opts.origin?.path ?? opts.core;
}

/** Bytes written, for the progress bar: counted from the core's first byte, which may come before the total is known. */
class Progress {
  done = 0;
  total = 0;
  constructor(private readonly report: CollectHooks['onProgress']) {}
  readonly tick = (n: number): void => {
    this.done += n;
    if (this.total > 0) this.report?.('write', this.done, this.total);
  };
}

/** What the core's notes tell before planning. */
interface ReadCore {
  /** --root, canonical (HOST_ROOT: this machine's). */
  processRoot: ProcessRoot;
  summary: CoreSummary;
  truncation: Truncation | undefined;
  /** Said of the input itself: cut short, what its store recorded. */
  inputWarnings: string[];
  /** The executable from the store's metadata, when the core names none and -e was not given. */
  metadataExe: string | null;
}

async function readCore(opts: CollectOptions): Promise<ReadCore> {
  // A core cut short with complete notes is still worth sending: bundled, with a warning, and not exact.
  const processRoot = await canonicalRoot(opts.root);
  const core = await CoreFile.open(opts.core, { allowTruncated: true, executable: opts.executable ?? undefined, root: processRoot });
  let summary: CoreSummary;
  let truncation: Truncation | undefined;
  try {
    summary = core.summary;
    truncation = describeTruncation(core.elf, summary.threads);
  } finally {
    await core.close();
  }
  const inputWarnings = [...(truncation ? [truncation.message] : []), ...(opts.origin ? originWarnings(opts.origin, summary) : [])];
  // -e defaults to the core's own executable; failing that, to the one its store recorded.
  const metadataExe = opts.executable === null && !summary.executable ? (opts.origin?.executable ?? null) : null;
  if (metadataExe) inputWarnings.push(`the core names no executable; using ${metadataExe} from the ${opts.origin!.store} metadata`);
  return { processRoot, summary, truncation, inputWarnings, metadataExe };
}

/** Everything that goes into the bundle, and its manifest: known before any byte of it is read. */
interface Contents {
  manifest: Manifest;
  /** The bundle's top directory. */
  root: string;
  /** The core's path in the bundle (core/NAME). */
  coreName: string;
  coreSize: number;
  /** The full core when it was planned: it must be the same once read. */
  coreStat: Stats;
  bundled: Array<PlannedFile & { source: string }>;
  attached: Awaited<ReturnType<typeof planAttachments>>;
  links: CollectPlan['links'];
  /** The bytes to read, for progress. */
  bytes: number;
}

async function describeContents(opts: CollectOptions, read: ReadCore, plan: CollectPlan, host: HostInfo, notes: string[], mini: MadeMiniCore | undefined, coreStat: Stats | undefined): Promise<Contents> {
  const { output } = opts;
  const foundAt = foundAtOf(opts);
  const st = coreStat ?? (await stat(opts.core));
  const coreSize = mini ? mini.size : st.size;
  const bundled = plan.files.filter((f): f is PlannedFile & { source: string } => f.source !== null);
  // --attach: the customer's logs and configuration, never collect's own output.
  // (The bundle, its .age, its parts and index, and their temporaries all start with its name.)
  const attached = await planAttachments(opts.attach, (p) => dirname(p) === dirname(output) && basename(p).replace(/^\./, '').startsWith(basename(output)));
  // Attachments alone are hashed before writing, so the manifest can carry their sha256 (they are small:
  // capped by --attach-max); what is written is checked against it.
  for (const a of attached.files) a.sha256 = await sha256Prefix(a.source, a.size);
  const coreName = coreNameOf(opts);
  const { processRoot, summary, truncation } = read;
  // No pass over the files before writing: the manifest (the first entry)
  // says everything known before reading them, and the checksums, computed
  // as the bytes go into the tar stream, are the last entry (SHA256SUMS).
  const manifest: Manifest = {
    ...manifestHead(host, { bundlePath: coreName, originalPath: foundAt, size: coreSize }, summary, plan),
    links: plan.links,
    warnings: [...read.inputWarnings, ...summary.warnings, ...plan.warnings, ...attached.warnings, ...notes, ...(mini?.warnings ?? [])],
    ...(opts.origin ? { origin: opts.origin } : {}),
    ...(truncation ? { truncation } : {}),
    ...(attached.files.length ? { attachments: attached.files.map((a) => ({ path: a.path, bundlePath: a.bundlePath, size: a.size, sha256: a.sha256!, linkTarget: a.linkTarget })) } : {}),
    ...(mini ? { miniCore: miniCoreManifest(mini, opts.miniCore!) } : {}),
    root: manifestRootOf(processRoot),
    ...(processRoot.kind === 'directory' ? { rootLookup: rootLookupOf(summary) } : {}),
    gaps: plan.gaps,
  };
  const bytes = coreSize + bundled.reduce((n, f) => n + (f.size ?? 0), 0) + attached.files.reduce((n, f) => n + f.size, 0);
  return { manifest, root: bundleRootName(output), coreName, coreSize, coreStat: st, bundled, attached, links: plan.links, bytes };
}

/**
 * ONE target for the compressed bytes: the temporary file, which the
 * compressor writes itself (compressTo: no relay through Node; or
 * compressAhead, begun before the plan); or, with --encrypt-to or --split,
 * the output's byte layers (output.ts: ciphertext only ever reaches the
 * disk), which write their own temporaries.
 */
interface Target {
  tar: TarWriter;
  compressed: CompressedOutput;
  /** The temporary file and its name; null with layers. */
  file: FileHandle | null;
  tmp: string;
  layered: BundleOutput | null;
}

async function openTarget(opts: CollectOptions, codec: Codec, ahead: CoreAhead | null, signal: AbortSignal | undefined): Promise<Target> {
  const tmp = tempFor(opts.output);
  if (ahead) return { tar: ahead.tar, compressed: ahead.output, file: ahead.file, tmp, layered: null };
  await removeStaleTemporaries(dirname(opts.output));
  const layered = hasLayers(opts.layers) ? await openBundleOutput(opts.output, opts.layers, tempFor) : null;
  const file = layered ? null : await openTemporary(tmp, opts.output, 'wx');
  const compressed = compressTo(codec, layered ? { stream: layered.writable } : { fd: file!.fd }, signal);
  return { tar: new TarWriter(compressed.tar), compressed, file, tmp, layered };
}

/**
 * Writes the entries into the target and puts the bundle in place: renamed
 * from its temporary, or the layers committed. On any failure nothing is left
 * (the temporary removed, the layers discarded). Resolves to the checksums
 * and the files written.
 */
async function writeTarget(target: Target, opts: CollectOptions, signal: AbortSignal | undefined, write: (tar: TarWriter) => Promise<Map<string, string>>): Promise<{ checksums: Map<string, string>; files: string[] }> {
  const { tar, compressed, file, tmp, layered } = target;
  const onAbort = (): void => {
    compressed.abort();
    tar.abort();
  };
  signal?.addEventListener('abort', onAbort);
  try {
    let checksums: Map<string, string>;
    try {
      checksums = await write(tar);
    } finally {
      await tar.close();
    }
    // If the file cannot be written (disk full, size limit) the compressor says so and exits.
    await compressed.finish();
    if (!layered) {
      await syncAndRename(file!, tmp, opts.output);
      return { checksums, files: [opts.output] };
    }
    await layered.written;
    return { checksums, files: await layered.commit() };
  } catch (err) {
    compressed.abort();
    if (layered) await layered.discard();
    else {
      await file!.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
    if (signal?.aborted) throw abortReason(signal);
    // Out of space shows up wherever the next write happened to be: the compressor's own write, too.
    const code = outputErrnoOf(err);
    if (!(err instanceof OutputWriteError) && code !== undefined && OUT_OF_SPACE_CODES.has(code)) throw new OutputWriteError(layeredName(opts.output, opts.layers), code, undefined, { cause: err });
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Every entry, in bundle order: the manifest first, SHA256SUMS (hashed as the bytes went out) last. */
async function writeEntries(tar: TarWriter, opts: CollectOptions, c: Contents, core: { ahead: CoreAhead | null; mini: MadeMiniCore | undefined }, tick: (n: number) => void): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  const inBundle = (p: string): string => `${c.root}/${p}`;
  sums.set(MANIFEST_NAME, await tar.addBuffer(inBundle(MANIFEST_NAME), Buffer.from(`${JSON.stringify(c.manifest, null, 2)}\n`)));
  const { ahead, mini } = core;
  // The core's line keeps its place in SHA256SUMS; written ahead, its hash comes after the files that follow it.
  sums.set(c.coreName, '');
  if (ahead) await tar.placeAhead();
  else {
    sums.set(c.coreName, mini ? await tar.addStream(inBundle(c.coreName), mini.size, mini.stream(), tick) : await tar.addFile(inBundle(c.coreName), opts.core, c.coreSize, false, tick));
    // The mini core was read from the full core: that must not have changed meanwhile either.
    await checkUnchanged(opts.core, c.coreStat.size, Math.floor(c.coreStat.mtimeMs));
  }
  for (const f of c.bundled) {
    sums.set(f.bundlePath!, await tar.addFile(inBundle(f.bundlePath!), f.source, f.size ?? 0, f.executableBit, tick));
    // The hash is of the bytes written; a file rewritten in place while read has a new mtime.
    await checkUnchanged(f.source, f.size ?? 0, f.mtimeMs);
  }
  for (const a of c.attached.files) {
    // A log is taken as long as it was when matched; one rewritten in place since then is read again.
    const sha = await tar.addFile(inBundle(a.bundlePath), a.source, a.size, false, tick, true);
    if (sha !== a.sha256) throw new FileChangedError(a.path, a.size, 'changed');
    sums.set(a.bundlePath, sha);
  }
  for (const l of c.links) await tar.addSymlink(inBundle(l.path), l.target);
  if (ahead) {
    sums.set(c.coreName, await ahead.sha256);
    await checkUnchanged(opts.core, c.coreStat.size, Math.floor(c.coreStat.mtimeMs));
  }
  await tar.addBuffer(inBundle(CHECKSUMS_NAME), Buffer.from(formatChecksums(sums)));
  await tar.finish();
  return sums;
}

/** The temporary name of a file collect writes: beside it, hidden, marked with our pid (removeStaleTemporaries). */
function tempFor(final: string): string {
  return join(dirname(final), `.${basename(final)}${TMP_MARK}${process.pid}`);
}

async function openTemporary(tmp: string, output: string, flags: 'wx' | 'wx+'): Promise<FileHandle> {
  return open(tmp, flags, 0o644).catch((err: unknown) => {
    throw new OutputWriteError(output, errnoOf(err), undefined, { cause: err });
  });
}

/** The core's entry, written from before the plan into the start of the bundle's temporary file (bundle/ahead.ts). */
interface CoreAhead {
  /** The bundle's temporary file. */
  file: FileHandle;
  /** The core's stat when its entry was begun: the core must be the same once read. */
  coreStat: Stats;
  output: AheadOutput;
  /** The writer of the rest of the bundle (the manifest first), with the same entry time as the core's. */
  tar: TarWriter;
  /** The sha256 of the core, once its entry is complete and compressed. */
  sha256: Promise<string>;
  /** Stops what still runs; after a failure also removes the temporaries (idempotent; harmless after success). */
  release(): Promise<void>;
}

/**
 * Begins the core's entry at once where the bundle allows it: a plain file
 * target (no --encrypt-to or --split layers) and the whole core (no
 * --stacks-only). Otherwise null: the bundle is written in order after the
 * plan. The core's entry is what TarWriter.addFile makes of any file: a
 * frame of its own for a large dense core, sparse for one with holes,
 * relayed when small.
 */
async function startCoreAhead(opts: CollectOptions, codec: Codec, tick: (n: number) => void, signal: AbortSignal | undefined): Promise<CoreAhead | null> {
  if (opts.miniCore || hasLayers(opts.layers)) return null;
  const coreStat = await stat(opts.core).catch(() => null);
  if (!coreStat?.isFile()) return null; // reading the core will name what is wrong
  await removeStaleTemporaries(dirname(opts.output));
  const tmp = tempFor(opts.output);
  // Read as well as written: where the head cannot be inserted, the bytes are moved up (ahead.ts).
  const file = await openTemporary(tmp, opts.output, 'wx+');
  const side = tempFor(`${opts.output}.rest`);
  const output = compressAhead(codec, opts.format.format, file, tmp, side, signal);
  const mtime = new Date();
  const coreTar = new TarWriter(output.ahead, mtime);
  const entry = (async () => {
    try {
      return await coreTar.addFile(`${bundleRootName(opts.output)}/${coreNameOf(opts)}`, opts.core, coreStat.size, false, tick);
    } finally {
      await coreTar.close();
    }
  })();
  const sha256 = entry.then(async (sha) => {
    await output.endAhead();
    return sha;
  });
  sha256.catch(() => undefined); // awaited before SHA256SUMS, or dropped with the bundle
  // An interrupt stops the core's entry at once: the rest of collect may be waiting for its hash.
  const stop = (): void => {
    output.abort();
    coreTar.abort();
  };
  signal?.addEventListener('abort', stop, { once: true });
  let released = false;
  return {
    file,
    coreStat,
    output,
    tar: new TarWriter(output.tar, mtime),
    sha256,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      signal?.removeEventListener('abort', stop);
      stop();
      await entry.catch(() => undefined);
      // After success the file was closed and renamed into place: these then fail, harmlessly.
      await file.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      await unlink(side).catch(() => undefined);
    },
  };
}

/** The core's path in the bundle: core/ and its name where it was found, made safe. */
function coreNameOf(opts: CollectOptions): string {
  return `core/${withoutStoredSuffix(basename(foundAtOf(opts))).replace(/[^A-Za-z0-9._+-]/g, '_') || 'core'}`;
}

/** When the process crashed: the store's record, else when the core was written. */
async function crashTime(origin: CoreOrigin | undefined, foundAt: string): Promise<number | undefined> {
  const recorded = origin?.time ? Date.parse(origin.time) : NaN;
  if (Number.isFinite(recorded)) return recorded;
  return (await stat(foundAt).catch(() => undefined))?.mtimeMs;
}

/** --root, canonical: the core's paths are compared with paths resolved under it. A --root that resolves to `/` is this machine's own. */
async function canonicalRoot(root: ProcessRoot): Promise<ProcessRoot> {
  if (root.kind === 'host') return root;
  let real: ProcessRoot;
  try {
    real = await realRoot(root);
  } catch (err) {
    throw new RootDirectoryError(root.dir, 'missing', { cause: err });
  }
  if (real.kind === 'directory' && !(await stat(real.dir)).isDirectory()) throw new RootDirectoryError(root.dir, 'not-a-directory');
  return real;
}

/** A file read while it was being rewritten in place: same size, new mtime. */
async function checkUnchanged(file: string, size: number, mtimeMs: number): Promise<void> {
  const after = await stat(file).catch(() => undefined);
  if (!after || after.size !== size || Math.floor(after.mtimeMs) !== mtimeMs) throw new FileChangedError(file, size, after ? 'changed' : 'disappeared');
}

/** The output's directory must exist and be a directory; collect never creates directories. */
async function checkOutputDir(output: string): Promise<void> {
  const dir = dirname(output);
  const st = await stat(dir).catch((err: unknown) => {
    const code = errnoOf(err);
    throw new OutputWriteError(output, code, code === 'ENOENT' || code === 'ENOTDIR' ? `the directory ${dir} does not exist` : undefined, { cause: err });
  });
  if (!st.isDirectory()) throw new OutputWriteError(output, 'ENOTDIR', `${dir} is not a directory`);
}

/** Data on disk before the name: a crash after the rename cannot expose a torn bundle. */
async function syncAndRename(file: FileHandle, tmp: string, output: string): Promise<void> {
  try {
    try {
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, output);
  } catch (err) {
    throw new OutputWriteError(output, errnoOf(err), undefined, { cause: err });
  }
}

/** The manifest's account of a mini core: what it was cut from, and every range kept with why. */
export function miniCoreManifest(mini: Pick<MadeMiniCore, 'cutFrom' | 'ranges' | 'bytes' | 'warnings'>, opts: MiniCoreOptions): ManifestMiniCore {
  return {
    cutFrom: mini.cutFrom,
    stackCap: opts.stackCap,
    bytes: mini.bytes,
    ranges: mini.ranges.map((r) => ({ start: hex(r.start), end: hex(r.end), why: r.why })),
  };
}

/** The fields every bundle's manifest starts with, whoever writes it (collect, or the crash-time handler). */
export function manifestHead(host: HostInfo, core: Manifest['core'], summary: CoreSummary, plan: CollectPlan): Pick<Manifest, 'format' | 'schema' | 'corepackVersion' | 'createdAt' | 'host' | 'core' | 'checksums' | 'executable' | 'summary' | 'files'> {
  return {
    format: MANIFEST_FORMAT,
    schema: MANIFEST_SCHEMA,
    corepackVersion: VERSION,
    createdAt: new Date().toISOString(),
    host,
    core,
    checksums: CHECKSUMS_NAME,
    executable: plan.executable,
    summary: summaryJson(summary),
    files: plan.files.map(toManifestFile),
  };
}

export function toManifestFile(f: PlannedFile): ManifestFile {
  const { source: _source, executableBit: _x, mtimeMs: _m, ctimeMs: _c, sha256: _sha, ...rest } = f;
  return rest;
}
