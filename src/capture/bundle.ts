/**
 * The bundle of a crash caught as it happens. Where collect reads a finished
 * core and looks the files up on disk, this reads the process itself while
 * the kernel holds it: the core's memory through /proc/PID/mem (livecore.ts),
 * every mapped object through /proc/PID/map_files/START-END — the very file
 * the process had mapped, even when its path now holds a newer version or
 * nothing — and paths under /proc/PID/root, the process's own root.
 *
 * The full core streams from the kernel's pipe straight into the tar entry
 * (its size is known from the program headers); a mini core is cut from
 * /proc/PID/mem and streamed likewise. Neither, nor any library, touches the
 * disk in the clear: the tar stream goes into the compressor's pipe, and
 * with encryption only ciphertext reaches the spool.
 */
import { open, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { CoreFile } from '../core/open.js';
import type { CoreSummary } from '../core/model.js';
import { readFileElfInfo } from '../core/image.js';
import { codecFor } from '../bundle/formats.js';
import { CHECKSUMS_NAME, isExact, MANIFEST_NAME, relativeLinkTarget, sysrootPath, type Manifest, type ManifestCapture, type ManifestLink } from '../bundle/manifest.js';
import { formatChecksums } from '../bundle/checksums.js';
import { TarWriter } from '../bundle/create.js';
import { compressTo } from '../bundle/sink.js';
import { hasLayers, openBundleOutput, type OutputLayers } from '../bundle/output.js';
import { bundleRootName, manifestHead, miniCoreManifest, removeStaleTemporaries, TEMPORARY_MARK } from '../collect/collect.js';
import { hostInfo } from '../collect/host.js';
import { planBundle, type PlannedFile } from '../collect/plan.js';
import { planAttachments, sha256Prefix } from '../collect/attach.js';
import { selectMiniCoreRanges } from '../collect/minicore/select.js';
import { layOutMiniCore } from '../collect/minicore/write.js';
import { abortReason } from '../util/errors.js';
import { manifestRootOf, rootAt, underRoot } from '../util/rootfs.js';
import type { HandlerConfig } from './config.js';

export interface LiveProcess {
  /** The crashed process's pid as this handler sees it (%P: the initial PID namespace). */
  pid: number;
  /** /proc/PID, where everything about the process is read. */
  proc: string;
}

export interface CaptureBundleInput {
  live: LiveProcess;
  /** The core opened over LiveCoreReader: notes from the stream, memory from /proc/PID/mem. */
  core: CoreFile;
  config: HandlerConfig;
  layers: OutputLayers;
  /** The bundle to write, in the spool. */
  output: string;
  capture: ManifestCapture;
  /** The full core's bytes as they arrive (null with stacksOnly: the mini core comes from memory). */
  coreStream: AsyncIterable<Uint8Array> | null;
  signal: AbortSignal;
}

export interface CaptureBundleResult {
  files: string[];
  size: number;
  manifest: Manifest;
  exact: boolean;
}

/** /proc/PID/map_files names a mapping by its addresses, as lowercase hex without 0x. */
export function mapFilesEntry(proc: string, start: bigint, end: bigint): string {
  return `${proc}/map_files/${start.toString(16)}-${end.toString(16)}`;
}

/**
 * Points every planned file the process had mapped at its mapping: the
 * source becomes /proc/PID/map_files/…, and the status says what that file
 * is — the one mapped, whatever the path holds now.
 */
export async function takeFilesFromMappings(files: PlannedFile[], summary: CoreSummary, proc: string): Promise<string[]> {
  const warnings: string[] = [];
  for (const f of files) {
    if (f.role === 'debug' || f.role === 'libthread_db') continue;
    const names = new Set([f.path, ...f.aliases]);
    const m = summary.mappings.find((x) => names.has(x.path));
    if (!m) continue;
    const source = mapFilesEntry(proc, m.start, m.end);
    let st;
    let info;
    try {
      st = await stat(source);
      info = await readFileElfInfo(source);
    } catch (err) {
      warnings.push(`${f.path}: its mapping could not be read through ${source} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); taken from the path instead`);
      continue;
    }
    const was = f.status;
    f.source = source;
    f.size = st.size;
    f.mtimeMs = Math.floor(st.mtimeMs);
    f.ctimeMs = st.ctimeMs;
    f.executableBit = (st.mode & 0o111) !== 0;
    f.buildIdOnDisk = info.buildId ?? null;
    f.bundlePath = sysrootPath(f.path);
    if (!f.sources.includes('map_files')) f.sources.push('map_files');
    if (f.buildIdInCore && f.buildIdOnDisk !== f.buildIdInCore) {
      f.status = 'build-id-mismatch';
      f.message = `${f.path}: the file mapped has build ID ${f.buildIdOnDisk ?? 'none'}, the core records ${f.buildIdInCore}`;
    } else {
      f.status = 'ok';
      f.message =
        was === 'ok'
          ? null
          : `read from the process's own mapping: ${m.deleted ? 'the path had been deleted or replaced when it crashed' : 'the path holds another file now'}${was === 'build-id-mismatch' ? ' (a newer version is on disk)' : was === 'missing' || was === 'deleted-at-crash' ? ' (no file is there now)' : ''}`;
    }
  }
  return warnings;
}

/** Alias links for files that had no source when the plan was made (a deleted library found through its mapping). */
function missingLinks(files: PlannedFile[], links: ManifestLink[]): ManifestLink[] {
  const have = new Set(links.map((l) => l.path));
  const taken = new Set(files.filter((f) => f.bundlePath).map((f) => f.bundlePath!));
  const out = [...links];
  for (const f of files) {
    if (!f.source || f.role === 'debug') continue;
    for (const a of f.aliases) {
      if (!a.startsWith('/')) continue;
      const path = sysrootPath(a);
      if (have.has(path) || taken.has(path)) continue;
      have.add(path);
      out.push({ path, target: relativeLinkTarget(a, f.path) });
    }
  }
  return out.filter((l) => !out.some((o) => o !== l && l.path.startsWith(`${o.path}/`)));
}

export async function writeCaptureBundle(input: CaptureBundleInput, onProgress?: (done: number) => void): Promise<CaptureBundleResult> {
  const { live, core, config, output, signal } = input;
  const summary = core.summary;
  const host = hostInfo();
  host.catch(() => undefined);
  const root = rootAt(`${live.proc}/root`);
  const plan = await planBundle(summary, { core: `${live.proc} (core_pattern)`, executable: null, withDebug: false, debugDir: null, root });
  const mapWarnings = await takeFilesFromMappings(plan.files, summary, live.proc);
  const links = missingLinks(plan.files, plan.links);
  // Messages about paths "under /proc/PID/root" mean the process's own root.
  const gaps = plan.gaps.map((g) => g.replaceAll(underRoot(root), ''));
  const codec = await codecFor(config.format.format, 'compress');
  if (signal.aborted) throw abortReason(signal);

  let mini;
  if (config.stacksOnly) {
    const sel = await selectMiniCoreRanges(
      { summary, memory: core.memory, notes: core.notes, decoder: (n) => core.elf.decoder(n.desc, n.descOffset, `${n.name} note`), fileSize: core.elf.reader.size },
      { stackCap: config.stackCap },
    );
    const cutFrom = { path: input.capture.coreFrom, size: core.elf.reader.size, sha256: null };
    const layout = await layOutMiniCore(core, sel.ranges, { cutFrom, ranges: sel.ranges.length, bytes: sel.bytes, stackCap: config.stackCap });
    mini = { layout, made: { cutFrom, ranges: sel.ranges, bytes: sel.bytes, warnings: sel.warnings } };
  }
  const bundled = plan.files.filter((f): f is PlannedFile & { source: string } => f.source !== null);
  const attached = await planAttachments({ patterns: config.attach, maxBytes: config.attachMax, cwd: '/' }, (p) => p.startsWith(`${config.spool}/`));
  for (const a of attached.files) a.sha256 = await sha256Prefix(a.source, a.size);

  const coreSize = mini ? mini.layout.size : core.elf.reader.size;
  const rootName = bundleRootName(output);
  const coreName = `core/core.${summary.process.pid ?? live.pid}`;
  const manifest: Manifest = {
    ...manifestHead(await host, { bundlePath: coreName, originalPath: input.capture.coreFrom, size: coreSize }, summary, plan),
    links,
    warnings: [...summary.warnings, ...plan.warnings.map((w) => w.replaceAll(underRoot(root), '')), ...mapWarnings, ...attached.warnings, ...(mini?.made.warnings ?? [])],
    ...(attached.files.length ? { attachments: attached.files.map((a) => ({ path: a.path, bundlePath: a.bundlePath, size: a.size, sha256: a.sha256!, linkTarget: a.linkTarget })) } : {}),
    ...(mini ? { miniCore: miniCoreManifest(mini.made, { stackCap: config.stackCap }) } : {}),
    root: manifestRootOf(rootAt(input.capture.root)),
    gaps,
    capture: input.capture,
  };

  const dir = config.spool;
  await removeStaleTemporaries(dir);
  const tempFor = (final: string): string => join(dir, `.${basename(final)}${TEMPORARY_MARK}${process.pid}`);
  const tmp = tempFor(output);
  const sums = new Map<string, string>();
  const layered = hasLayers(input.layers) ? await openBundleOutput(output, input.layers, tempFor) : null;
  // Bundles are root's: the spool is 0700, and the files 0600 inside it.
  let file: FileHandle | null = null;
  if (!layered) file = await open(tmp, 'wx', 0o600);
  const compressed = compressTo(codec, layered ? { stream: layered.writable } : { fd: file!.fd }, signal);
  const onAbort = (): void => compressed.abort();
  signal.addEventListener('abort', onAbort);
  let files: string[];
  let done = 0;
  const tick = (n: number): void => {
    done += n;
    onProgress?.(done);
  };
  try {
    const tar = new TarWriter(compressed.tar);
    sums.set(MANIFEST_NAME, await tar.addBuffer(`${rootName}/${MANIFEST_NAME}`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)));
    const coreBytes = mini ? mini.layout.bytes() : input.coreStream!;
    sums.set(coreName, await tar.addStream(`${rootName}/${coreName}`, coreSize, coreBytes, tick));
    for (const f of bundled) sums.set(f.bundlePath!, await tar.addFile(`${rootName}/${f.bundlePath}`, f.source, f.size ?? 0, f.executableBit, tick));
    for (const a of attached.files) sums.set(a.bundlePath, await tar.addFile(`${rootName}/${a.bundlePath}`, a.source, a.size, false, tick, true));
    for (const l of links) await tar.addSymlink(`${rootName}/${l.path}`, l.target);
    await tar.addBuffer(`${rootName}/${CHECKSUMS_NAME}`, Buffer.from(formatChecksums(sums)));
    await tar.finish();
    await compressed.finish();
    if (layered) {
      await layered.written;
      files = await layered.commit();
    } else {
      await file!.sync();
      await file!.close();
      file = null;
      const { rename } = await import('node:fs/promises');
      await rename(tmp, output);
      files = [output];
    }
  } catch (err) {
    compressed.abort();
    if (layered) await layered.discard();
    else {
      await file?.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
    if (signal.aborted) throw abortReason(signal);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const size = layered ? layered.size : (await stat(output)).size;
  return { files, size, manifest, exact: isExact(manifest) };
}
