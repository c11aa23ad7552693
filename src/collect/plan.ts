/**
 * Deciding what goes into a bundle: every file-backed ELF object the process
 * had mapped, found through the core (NT_FILE / kinfo_vmentry, link_map),
 * the executable, the matching libthread_db, and optionally debug files;
 * each checked against the build ID the core recorded.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix } from 'node:path';
import type { CoreSummary, Module } from '../core/model.js';
import { readFileElfInfo, readFileImage } from '../core/image.js';
import { FormatError } from '../elf/errors.js';
import { FileReader } from '../elf/reader.js';
import { summarizeDebugSections } from '../elf/sections.js';
import {
  isSafeAbsolutePath,
  isSafeLinkMapName,
  relativeLinkTarget,
  sysrootPath,
  type FileRole,
  type FileSource,
  type ManifestFile,
  type ManifestLink,
} from '../bundle/manifest.js';
import { runLdd } from './ldd.js';
import type { CollectOptions } from './collect.js';
import { WrongExecutableError } from './errors.js';
import { buildIdDebugPath, DEFAULT_DEBUG_DIR, debugLinkCandidates, firstDebugLinkMatch, isRegularFile } from '../util/debugfiles.js';
import { hex } from '../util/text.js';
import { guestPathOf, hostPathOf, isInsideRoot, resolveInRoot, resolveUnder, RootResolveError, underRoot, type ProcessRoot, type RootLookup } from '../util/rootfs.js';
import { HOST_MACHINE } from '../elf/arch.js';

export interface PlannedFile extends ManifestFile {
  /** Where to read the bytes on this machine (resolved path); null when not bundled. */
  source: string | null;
  executableBit: boolean;
  mtimeMs: number;
  /** When the file's inode last changed (an upgrade's rename sets it; dpkg keeps the package's mtime); 0 when not found. */
  ctimeMs: number;
}

export interface CollectPlan {
  files: PlannedFile[];
  links: ManifestLink[];
  executable: { path: string; chosenBy: 'command-line' | 'core' } | null;
  warnings: string[];
  /**
   * What keeps the bundle from being exact besides the files' statuses: a
   * link_map name that resolves to no file, an image with no name, a
   * dynamically linked executable with no library found.
   */
  gaps: string[];
  /** The paths look like another root's: the user should pass --root. */
  suggestRoot: boolean;
}

/** root: canonical. */
export type PlanOptions = Pick<CollectOptions, 'core' | 'executable' | 'withDebug' | 'debugDir' | 'root'> & {
  /** When the process crashed (ms since the epoch), as far as known: a file unchanged since then was what the process saw. */
  crashTimeMs?: number | undefined;
};

const ROLE_OF: Record<Module['kind'], FileRole> = { executable: 'executable', interpreter: 'interpreter', library: 'library', vdso: 'library' };

function mtimeOf(s: { mtimeMs: number }): number {
  return Math.floor(s.mtimeMs);
}

/**
 * Symlinks in one directory, by the real path they resolve to (cached:
 * libdirs are big). Paths are the process's, resolved inside the root.
 */
class SymlinkIndex {
  private readonly dirs = new Map<string, Promise<Map<string, string[]>>>();

  constructor(private readonly root: ProcessRoot) {}

  async linksTo(file: string): Promise<string[]> {
    const dir = posix.dirname(file);
    let index = this.dirs.get(dir);
    if (!index) {
      index = this.scan(dir);
      this.dirs.set(dir, index);
    }
    return (await index).get(file) ?? [];
  }

  private async scan(dir: string): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    let entries;
    try {
      entries = await readdir(hostPathOf(this.root, dir), { withFileTypes: true });
    } catch {
      return out;
    }
    await Promise.all(
      entries
        .filter((e) => e.isSymbolicLink())
        .map(async (e) => {
          const link = posix.join(dir, e.name);
          try {
            // realpath for this machine's own root: one call per link in libdirs of thousands.
            const target = this.root.kind === 'host' ? await realpath(link) : (await resolveInRoot(this.root, link)).guest;
            const list = out.get(target) ?? [];
            list.push(link);
            out.set(target, list);
          } catch {
            // dangling link: not an alias of anything we bundle
          }
        }),
    );
    return out;
  }
}

interface Want {
  /** The path the core (or the user) gave for the file, as the process saw it. */
  path: string;
  /** A path on this machine, not under the root (-e outside it). */
  onHost?: boolean;
  role: FileRole;
  buildIdInCore: string | undefined;
  sources: FileSource[];
  aliases: string[];
  deletedAtCrash: boolean;
}

interface FileContext {
  root: ProcessRoot;
  /** qemu-user's cores: under the root, then this machine's own path. */
  lookup: RootLookup;
  /** e_machine of the core. */
  machine: number;
}

async function inspectFile(w: Want, ctx: FileContext): Promise<PlannedFile> {
  const base: PlannedFile = {
    path: w.path,
    bundlePath: null,
    role: w.role,
    aliases: [],
    size: null,
    buildIdOnDisk: null,
    buildIdInCore: w.buildIdInCore ?? null,
    status: 'ok',
    sources: w.sources,
    message: null,
    source: null,
    executableBit: false,
    mtimeMs: 0,
    ctimeMs: 0,
  };
  let real: string;
  let host: string;
  let from: 'root' | 'host' = 'host';
  const where = w.onHost ? '' : ctx.lookup === 'qemu' && ctx.root.kind === 'directory' ? `${underRoot(ctx.root)} or on this machine` : underRoot(ctx.root);
  try {
    if (w.onHost) real = host = await realpath(w.path);
    else ({ guest: real, host, from } = await resolveUnder(ctx.root, w.path, ctx.lookup));
  } catch (err) {
    const code = err instanceof RootResolveError ? err.code : (err as NodeJS.ErrnoException).code;
    if (w.deletedAtCrash) {
      return { ...base, status: 'deleted-at-crash', message: `${w.path} had been deleted when the process crashed, and no file is there now` };
    }
    return code === 'EACCES'
      ? { ...base, status: 'unreadable', message: `${w.path}: permission denied (run collect as a user who can read it)` }
      : { ...base, status: 'missing', message: `${w.path} no longer exists${where} (removed or moved after the crash?)` };
  }
  const st = await stat(host);
  if (!st.isFile()) return { ...base, status: 'unreadable', message: `${w.path} is not a regular file` };
  let buildIdOnDisk: string | null = null;
  let machine: number;
  try {
    const info = await readFileElfInfo(host);
    buildIdOnDisk = info.buildId ?? null;
    machine = info.e_machine;
  } catch (err) {
    const msg = err instanceof FormatError ? err.message : (err as Error).message;
    return { ...base, status: 'unreadable', message: `${w.path}: ${msg}` };
  }
  const found: PlannedFile = {
    ...base,
    path: real,
    aliases: real !== w.path ? [w.path] : [],
    size: st.size,
    buildIdOnDisk,
    source: host,
    executableBit: (st.mode & 0o111) !== 0,
    mtimeMs: mtimeOf(st),
    ctimeMs: st.ctimeMs,
    ...(ctx.root.kind === 'host' ? {} : { lookedUp: from }),
  };
  if (machine !== ctx.machine) {
    // Useless to a debugger of this core: not bundled.
    return { ...found, source: null, status: 'wrong-architecture', message: `${w.path}${where} is for another machine (e_machine ${machine}, the core's is ${ctx.machine}): not the file the process had loaded` };
  }
  if (w.buildIdInCore && w.buildIdInCore !== buildIdOnDisk) {
    const onDisk = buildIdOnDisk ? `build ID on disk ${buildIdOnDisk}` : 'the file on disk has no build ID';
    const what = where ? `${w.path}${where} is not the file the process had loaded` : `${w.path} was replaced after the crash`;
    return { ...found, status: 'build-id-mismatch', message: `${what}: ${onDisk}, in the core ${w.buildIdInCore}` };
  }
  if (w.deletedAtCrash) {
    // The process had an unlinked file mapped; a file at that path now is a
    // newer one unless its build ID proves otherwise.
    const proven = w.buildIdInCore !== undefined && buildIdOnDisk === w.buildIdInCore;
    if (!proven) return { ...found, status: 'deleted-at-crash', message: `${w.path} had been deleted when the process crashed; the file there now may be a newer one` };
  }
  return found;
}

/**
 * -e with a build ID other than the core's is one of two things. At the path
 * the core names (the same file), the program was replaced since the crash:
 * the plan says so and bundles it marked. Anywhere else, -e simply names
 * another program, and a bundle of it would only mislead: refused, saying
 * which program the core needs.
 */
async function checkChosenExecutable(f: PlannedFile, exeModule: Module | undefined, core: string, root: ProcessRoot): Promise<void> {
  if (f.status !== 'build-id-mismatch' || !exeModule?.buildId || !f.buildIdOnDisk) return;
  const named = exeModule.path && isAbsolute(exeModule.path) ? exeModule.path : undefined;
  if (named !== undefined) {
    const namedReal = await resolveInRoot(root, named).then((r) => r.guest, () => named);
    if (namedReal === f.path || named === f.path || f.aliases.includes(named)) return; // the same file, replaced
  }
  throw new WrongExecutableError(core, f.aliases[0] ?? f.path, f.buildIdOnDisk, named, exeModule.buildId);
}

function sourcesOf(m: Module): FileSource[] {
  const out: FileSource[] = [];
  for (const s of m.sources) if (s === 'nt_file' || s === 'vmmap' || s === 'link_map') out.push(s);
  return out;
}

/** Relative link_map names ("./libplugin.so"): gdb resolves them against its own cwd. */
const isRelativeName = (n: string | undefined): n is string => n !== undefined && n !== '' && !n.startsWith('/');

/** How --root is looked up for this core: as qemu -L did for qemu-user's cores, as a chroot otherwise. */
export function rootLookupOf(summary: CoreSummary): RootLookup {
  return summary.writer === 'qemu-user' ? 'qemu' : 'chroot';
}

/** What planning found that the user should know: warnings, and the gaps that keep the bundle from being exact. */
interface PlanNotes {
  warnings: string[];
  gaps: string[];
}

/** A wanted file: the core (or the user) named it; nothing is known of it on disk yet. */
function want(path: string, role: FileRole, sources: FileSource[], more: Partial<Omit<Want, 'path' | 'role' | 'sources'>> = {}): Want {
  return { path, role, sources, buildIdInCore: undefined, aliases: [], deletedAtCrash: false, ...more };
}

export async function planBundle(summary: CoreSummary, opts: PlanOptions): Promise<CollectPlan> {
  const notes: PlanNotes = { warnings: [], gaps: [] };
  const root = opts.root;
  const ctx: FileContext = { root, lookup: rootLookupOf(summary), machine: summary.machine };
  const exeModule = summary.modules.find((m) => m.kind === 'executable');

  const given = opts.executable || undefined;
  const wants = wantedFromCore(summary, given !== undefined, root, notes);
  const executable = chooseExecutable(summary, exeModule, given, root, wants, notes);
  if (executable) await addLddWants(summary, executable.path, root, wants, notes);
  const files = await inspectWanted(wants, ctx, exeModule, opts.core, notes);
  await addThreadDb(files, ctx, notes);
  await addSymlinkAliases(files, root);
  if (opts.withDebug) files.push(...(await findDebugFiles(files, opts.debugDir ?? hostPathOf(root, DEFAULT_DEBUG_DIR), root, notes.warnings)));
  const links = bundleLocations(files, notes);
  await noteMissingLibraries(files, root, notes);
  const suggestRoot = root.kind === 'host' && otherRootEvidence(files, summary.machine, opts.crashTimeMs);
  return { files, links, executable, warnings: notes.warnings, gaps: notes.gaps, suggestRoot };
}

/**
 * Every file-backed object the core names (mappings, link_map), by the path
 * the process used. The executable is left to chooseExecutable when -e names
 * it or the core gives it no name.
 */
function wantedFromCore(summary: CoreSummary, exeGiven: boolean, root: ProcessRoot, notes: PlanNotes): Want[] {
  const wants: Want[] = [];
  for (const m of summary.modules) {
    if (m.kind === 'vdso') continue;
    let path = m.path;
    const lm = m.linkMapName && isAbsolute(m.linkMapName) ? m.linkMapName : undefined;
    if (path !== undefined && !isAbsolute(path)) {
      notes.warnings.push(`the core names a mapped file by a relative path (${JSON.stringify(path)}); ${lm ? `using the loader's name ${lm}` : 'it cannot be found'}`);
      path = lm;
    }
    path ??= lm;
    if (path === undefined) {
      if (m.kind === 'executable') continue; // -e or AT_EXECFN supplies it
      const what = `a ${m.kind} at ${hex(m.start)} has no file name in the core (build ID ${m.buildId ?? 'unknown'}${isRelativeName(m.linkMapName) ? `, loader name ${JSON.stringify(m.linkMapName)}` : ''}); it cannot be bundled`;
      notes.warnings.push(what);
      notes.gaps.push(what);
      continue;
    }
    if (m.kind === 'executable' && exeGiven) continue;
    // A relative loader name is kept as an alias: replay points gdb at the bundled file for it.
    const aliases = lm && lm !== path ? [lm] : isRelativeName(m.linkMapName) ? [m.linkMapName] : [];
    // A core path that is already a host path inside the root (qemu-user's AT_EXECFN) becomes the process's path.
    wants.push(want(guestPathOf(root, path), ROLE_OF[m.kind], sourcesOf(m), { buildIdInCore: m.buildId, aliases, deletedAtCrash: m.deleted }));
  }
  for (const u of summary.unplaced) {
    if (u.name.startsWith('/')) wants.push(want(u.name, 'library', ['link_map']));
    else notes.gaps.push(`the loader had ${JSON.stringify(u.name)} loaded (at ${hex(u.loadBias)}), a relative name no mapping in the core resolves: it cannot be found or bundled`);
  }
  return wants;
}

/**
 * The executable: the one -e names (first in wants, under the name the core
 * knows it by too), else the core's mapping of it, else AT_EXECFN.
 */
function chooseExecutable(summary: CoreSummary, exeModule: Module | undefined, given: string | undefined, root: ProcessRoot, wants: Want[], notes: PlanNotes): CollectPlan['executable'] {
  const asGuest = (p: string): string => guestPathOf(root, p);
  const fromCore = exeModule ? sourcesOf(exeModule) : [];
  if (given) {
    const inRoot = isInsideRoot(root, given);
    const corePath = exeModule?.path && isAbsolute(exeModule.path) ? exeModule.path : summary.executable && isAbsolute(summary.executable) ? summary.executable : undefined;
    const path = inRoot ? asGuest(given) : given;
    wants.unshift(
      want(path, 'executable', ['command-line', ...fromCore], {
        onHost: root.kind === 'directory' && !inRoot,
        buildIdInCore: exeModule?.buildId,
        // gdb and users know the program by the path it ran from: keep that name too.
        aliases: corePath && asGuest(corePath) !== path ? [asGuest(corePath)] : [],
      }),
    );
    return { path, chosenBy: 'command-line' };
  }
  if (exeModule?.path && isAbsolute(exeModule.path)) return { path: asGuest(exeModule.path), chosenBy: 'core' };
  if (summary.executable && isAbsolute(summary.executable)) {
    const path = asGuest(summary.executable);
    wants.unshift(want(path, 'executable', fromCore, { buildIdInCore: exeModule?.buildId }));
    return { path, chosenBy: 'core' };
  }
  notes.warnings.push('the executable is not known from the core; pass it with -e');
  notes.gaps.push('the executable is not known from the core');
  return null;
}

/**
 * ldd: the fallback for cores that record no file mappings. Where the core
 * names its files, ldd (the loader run three times, ~30 ms) would only tell
 * what this machine's loader finds now, which the core already says better.
 * It runs this machine's loader on this machine's files: never for another
 * root or machine.
 */
async function addLddWants(summary: CoreSummary, exePath: string, root: ProcessRoot, wants: Want[], notes: PlanNotes): Promise<void> {
  const noMappings = summary.mappings.length === 0 && !summary.modules.some((m) => m.kind === 'library' && m.sources.includes('link_map'));
  if (!noMappings || root.kind !== 'host' || summary.machine !== HOST_MACHINE) return;
  const ldd = await runLdd(exePath);
  if (!ldd) return;
  for (const e of ldd) {
    if (!e.path) continue;
    const named = e.path;
    const real = await realpath(named).catch(() => named);
    const w = wants.find((x) => x.path === named || x.path === real || x.aliases.includes(named));
    if (w) w.sources.push('ldd');
    else wants.push(want(named, 'library', ['ldd']));
  }
  notes.warnings.push("the core records no file mappings: libraries were taken from ldd, which cannot see dlopen'ed libraries and reflects this machine now, not the crash");
}

/** Inspects every wanted file once, merging duplicates (a library named twice, by two paths of one file). */
async function inspectWanted(wants: readonly Want[], ctx: FileContext, exeModule: Module | undefined, core: string, notes: PlanNotes): Promise<PlannedFile[]> {
  const files: PlannedFile[] = [];
  for (const w of wants) {
    if (!isSafeAbsolutePath(w.path)) {
      notes.warnings.push(`skipped a file whose name cannot be bundled safely: ${JSON.stringify(w.path)}`);
      continue;
    }
    const f = await inspectFile(w, ctx);
    if (w.sources.includes('command-line')) await checkChosenExecutable(f, exeModule, core, ctx.root);
    const dup = files.find((x) => x.source !== null && x.source === f.source) ?? files.find((x) => x.path === f.path);
    if (dup) {
      for (const a of [...f.aliases, ...w.aliases, f.path]) if (a !== dup.path && !dup.aliases.includes(a)) dup.aliases.push(a);
      for (const s of f.sources) if (!dup.sources.includes(s)) dup.sources.push(s);
      continue;
    }
    for (const a of w.aliases) if (a !== f.path && !f.aliases.includes(a)) f.aliases.push(a);
    files.push(f);
  }
  return files;
}

/** libthread_db from beside libc, so gdb can read thread-local data. */
async function addThreadDb(files: PlannedFile[], ctx: FileContext, notes: PlanNotes): Promise<void> {
  const libc = files.find((f) => f.source && /^libc[.-]/.test(basename(f.path)) && f.role === 'library');
  if (!libc?.source) return;
  const candidate = posix.join(posix.dirname(libc.path), 'libthread_db.so.1');
  if (files.some((f) => f.path === candidate)) return;
  const f = await inspectFile(want(candidate, 'libthread_db', ['libthread_db']), ctx);
  if (f.status === 'ok') files.push(f);
  else notes.warnings.push(`no libthread_db.so.1 beside ${libc.path}: gdb will not be able to show thread-local variables`);
}

/** Soname and other symlinks next to each file (libfoo.so.1 → libfoo.so.1.2.3) become its aliases. */
async function addSymlinkAliases(files: readonly PlannedFile[], root: ProcessRoot): Promise<void> {
  const symlinks = new SymlinkIndex(root);
  for (const f of files) {
    if (!f.source || f.role === 'debug') continue;
    for (const link of await symlinks.linksTo(f.path)) if (!f.aliases.includes(link) && link !== f.path) f.aliases.push(link);
  }
}

/**
 * Sets each bundled file's place in the bundle and returns the alias links
 * to it; an alias whose name is unsafe is left out with a warning.
 */
function bundleLocations(files: readonly PlannedFile[], notes: PlanNotes): ManifestLink[] {
  const taken = new Set<string>();
  for (const f of files) {
    if (!f.source) continue;
    if (f.role !== 'debug') f.bundlePath = sysrootPath(f.path);
    taken.add(f.path);
  }
  const links: ManifestLink[] = [];
  const linked = new Set<string>();
  for (const f of files) {
    if (!f.source || f.role === 'debug') continue;
    f.aliases = f.aliases.filter((a) => {
      if (isRelativeName(a) && isSafeLinkMapName(a)) return true; // recorded; no link: replay gives gdb the file's directory
      if (!isSafeAbsolutePath(a)) {
        notes.warnings.push(`skipped an alias whose name cannot be bundled safely: ${JSON.stringify(a)}`);
        return false;
      }
      return !taken.has(a);
    });
    for (const a of f.aliases) {
      if (isRelativeName(a)) continue;
      const path = sysrootPath(a);
      if (linked.has(path)) continue;
      linked.add(path);
      links.push({ path, target: relativeLinkTarget(a, f.path) });
    }
  }
  // A link whose directory is another link's name would be written through that link: drop it.
  return links.filter((l) => !links.some((o) => o !== l && l.path.startsWith(`${o.path}/`)));
}

/** A dynamically linked program cannot have run without its loader and libc: no library found is a gap. */
async function noteMissingLibraries(files: readonly PlannedFile[], root: ProcessRoot, notes: PlanNotes): Promise<void> {
  const exeFile = files.find((f) => f.role === 'executable' && f.source);
  if (!exeFile?.source || files.some((f) => (f.role === 'library' || f.role === 'interpreter') && f.status === 'ok')) return;
  const interp = await readFileImage(exeFile.source).then((i) => i.interp, () => undefined);
  if (interp) notes.gaps.push(`${exeFile.path} is dynamically linked (loader ${interp}), but no library it had loaded was found${underRoot(root)}`);
}

/**
 * Whether the core's paths are another root's (a container, a chroot, qemu -L),
 * on evidence only: files that were merely moved away or upgraded since the
 * crash are no sign of one. Evidence is a core of another machine, a file of
 * another architecture, no loader at the path the process used (every system
 * has its own), or a file whose build ID differs although it has not changed
 * since the crash (so the process must have seen another file there).
 */
function otherRootEvidence(files: readonly PlannedFile[], machine: number, crashTimeMs: number | undefined): boolean {
  if (HOST_MACHINE !== undefined && machine !== HOST_MACHINE) return true;
  return files.some(
    (f) =>
      f.status === 'wrong-architecture' ||
      (f.role === 'interpreter' && f.status === 'missing') ||
      (f.status === 'build-id-mismatch' && crashTimeMs !== undefined && f.ctimeMs > 0 && f.ctimeMs < crashTimeMs),
  );
}

/**
 * The file a .gnu_debuglink names, where gdb looks for it: beside the object,
 * in its .debug/ directory, then under the debug directory at the object's
 * path. The CRC must match, as gdb requires.
 */
async function findDebugLinkTarget(object: string, debugDir: string, customerDir: string): Promise<string | undefined> {
  let link;
  try {
    const reader = await FileReader.open(object);
    try {
      link = (await summarizeDebugSections(reader)).debugLink;
    } finally {
      await reader.close();
    }
  } catch {
    return undefined; // no sections to read: nothing links anywhere
  }
  if (!link) return undefined;
  const candidates = debugLinkCandidates(dirname(object), link.file, [{ dir: debugDir, from: 'host' }], 'host', customerDir).filter((c) => c.file !== object);
  return (await firstDebugLinkMatch(candidates, link.crc))?.file;
}

/**
 * Separate debug files for the bundled objects: by build ID under
 * debugDir/.build-id (bundled as debug/.build-id/…), else by .gnu_debuglink
 * (bundled in the object's .debug/ directory in the sysroot, where gdb and
 * replay look first).
 */
async function findDebugFiles(files: PlannedFile[], debugDir: string, root: ProcessRoot, warnings: string[]): Promise<PlannedFile[]> {
  const out: PlannedFile[] = [];
  const debugFile = async (source: string, bundlePath: string, via: 'build-id-dir' | 'debuglink', forPath: string): Promise<PlannedFile> => {
    const real = await realpath(source);
    const s = await stat(real);
    return {
      // A file under the root is named as the process's machine names it.
      path: guestPathOf(root, real),
      bundlePath,
      role: 'debug',
      aliases: [],
      size: s.size,
      buildIdOnDisk: null,
      buildIdInCore: null,
      status: 'ok',
      sources: [via],
      message: `debug info for ${forPath}`,
      source: real,
      executableBit: false,
      mtimeMs: mtimeOf(s),
      ctimeMs: s.ctimeMs,
    };
  };
  for (const f of files) {
    if (!f.source || f.status !== 'ok' || f.role === 'debug') continue;
    const id = f.buildIdOnDisk;
    const rel = id ? buildIdDebugPath(id) : undefined;
    if (id && rel && (await isRegularFile(join(debugDir, rel)))) {
      out.push({ ...(await debugFile(join(debugDir, rel), `debug/${rel}`, 'build-id-dir', f.path)), buildIdOnDisk: id });
      continue;
    }
    const linked = await findDebugLinkTarget(f.source, debugDir, posix.dirname(f.path));
    if (linked) out.push(await debugFile(linked, `${sysrootPath(posix.dirname(f.path))}/.debug/${basename(linked)}`, 'debuglink', f.path));
  }
  if (out.length === 0) warnings.push(`--with-debug: no separate debug files found (by build ID under ${debugDir}/.build-id, or by .gnu_debuglink) for the bundled files`);
  return out;
}
