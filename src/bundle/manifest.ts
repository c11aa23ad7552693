/**
 * manifest.json: the bundle's self-description, schema version 2.
 *
 * A bundle is a compressed tar whose entries all live under one top-level
 * directory, `<root>/`:
 *
 *   <root>/manifest.json          this document (always the first entry)
 *   <root>/core/<name>            the core file, unchanged
 *   <root>/sysroot/<abs path>     each bundled file at its original absolute path
 *   <root>/sysroot/<alias>        relative symlinks for every other name the
 *                                 process used (link_map names, soname links)
 *   <root>/debug/...              separate debug files (collect --with-debug):
 *                                 .build-id/xx/yyyy.debug and debuglink targets
 *   <root>/attachments/<path>     collect --attach: the customer's logs and
 *                                 configuration, by their original paths
 *   <root>/SHA256SUMS             schema 2: the sha256 of every file above, in
 *                                 the format `sha256sum -c` reads (always the
 *                                 last entry)
 *
 * Schema 2 differs from schema 1 only in where the checksums are: schema 1
 * carried `sha256` in `core` and in every file, which forced collect to read
 * every file twice (hash, then write, because this entry comes first);
 * schema 2 drops those fields and names the last entry in `checksums`, whose
 * hashes collect computes while it writes. Everything else a reader needs
 * before unpacking (files, sizes, build IDs, statuses, the core summary) is
 * still here. Schema 1 bundles are still read.
 *
 * The manifest is untrusted input on the replay side: parseManifest validates
 * every field and every path before anything uses it.
 */
import type { Truncation } from '../core/truncation.js';
import type { Origin } from '../core/origin.js';
import { posix } from 'node:path';
import type { Json } from '../core/json.js';
import { hasControlChar } from '../util/text.js';
import { ManifestError } from './errors.js';

export { ManifestError };

export const MANIFEST_FORMAT = 'corepack-bundle';
export const MANIFEST_SCHEMA = 2;
/** Schemas this corepack reads. */
export const READABLE_SCHEMAS: readonly number[] = [1, 2];
export const MANIFEST_NAME = 'manifest.json';
/** Schema 2's last entry: `<sha256>  <path>` lines, as GNU `sha256sum -c` reads them. */
export const CHECKSUMS_NAME = 'SHA256SUMS';

export type FileStatus = 'ok' | 'build-id-mismatch' | 'missing' | 'unreadable' | 'deleted-at-crash' | 'wrong-architecture';
export type FileRole = 'executable' | 'interpreter' | 'library' | 'libthread_db' | 'debug';
export type FileSource = 'nt_file' | 'vmmap' | 'link_map' | 'ldd' | 'command-line' | 'libthread_db' | 'build-id-dir' | 'debuglink' | 'map_files';

export interface ManifestFile {
  /** Absolute path on the customer's machine. */
  path: string;
  /** Where the file is inside the bundle (relative to <root>), absent when not bundled. */
  bundlePath: string | null;
  role: FileRole;
  /**
   * Other names the process used for this file. Absolute ones are relative
   * symlinks under sysroot/; relative ones are link_map names
   * ("./libplugin.so") that replay resolves through gdb's solib-search-path.
   */
  aliases: string[];
  size: number | null;
  /** Schema 1 only: the file's sha256 (schema 2 keeps it in SHA256SUMS). */
  sha256?: string | null;
  buildIdOnDisk: string | null;
  buildIdInCore: string | null;
  status: FileStatus;
  sources: FileSource[];
  /** Human explanation for any status other than ok. */
  message: string | null;
  /**
   * collect --root: where the file was found. 'root' under the root; 'host'
   * at this machine's own path, which only a qemu-user core's lookup falls
   * back to (qemu -L). Absent without --root, and for a file not found.
   */
  lookedUp?: 'root' | 'host';
}

export interface ManifestLink {
  /** Symlink location relative to <root>, e.g. "sysroot/lib64/ld-linux-x86-64.so.2". */
  path: string;
  /** Relative target, resolving inside sysroot/. */
  target: string;
}

export interface HostInfo {
  hostname: string;
  uname: { sysname: string; release: string; version: string; machine: string };
  osRelease: Record<string, string>;
  libc: string | null;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** 2 from this corepack; 1 in older bundles (still read). */
  schema: 1 | 2;
  corepackVersion: string;
  createdAt: string;
  host: HostInfo;
  /** `sha256` only in schema 1. */
  core: { bundlePath: string; originalPath: string; size: number; sha256?: string };
  /** Schema 2: the name (relative to <root>) of the last entry, which holds every file's sha256. */
  checksums?: string;
  /** Original absolute path of the executable, and how it was chosen. */
  executable: { path: string; chosenBy: 'command-line' | 'core' } | null;
  /** The `inspect --json` data of the core. */
  summary: { [key: string]: Json };
  files: ManifestFile[];
  links: ManifestLink[];
  warnings: string[];
  /** Where and in what form collect found the core (absent in older bundles and for plain cores named directly). */
  origin?: ManifestOrigin;
  /** Present when the core was cut short (its notes complete): what is missing. */
  truncation?: ManifestTruncation;
  /** Present when the bundled core is a mini core (collect --stacks-only): what it was cut from and every range kept. */
  miniCore?: ManifestMiniCore;
  /** collect --root: the directory the process saw as `/`, on the collecting machine; null for the host's own root. */
  root?: string | null;
  /** With root: 'qemu' when the core was qemu-user's (under root, then this machine's own path, as qemu -L); 'chroot' otherwise. */
  rootLookup?: 'chroot' | 'qemu';
  /** Why the bundle is not exact besides file statuses (a loaded object with no file). Absent in older bundles. */
  gaps?: string[];
  /** collect --attach: the customer's logs and configuration, under attachments/ (never in the sysroot). */
  attachments?: ManifestAttachment[];
  /** Present when `corepack handle` made the bundle at the moment of the crash: how it was captured. */
  capture?: ManifestCapture;
}

/** How a crash was captured by the core_pattern handler (`corepack handle`). */
export interface ManifestCapture {
  /** 'core_pattern': the kernel started the handler with the core on its standard input. */
  by: 'core_pattern';
  /** The crashed process: pid in its own PID namespace and in the initial one, its signal, user and group, RLIMIT_CORE. */
  pid: number;
  globalPid: number;
  signal: number | null;
  uid: number | null;
  gid: number | null;
  /** When the kernel dumped it (%t), ISO 8601. */
  dumpedAt: string | null;
  /** Where the bundled core's bytes came from: the kernel's pipe, or (a mini core) /proc/PID/mem. */
  coreFrom: string;
  /** Every file was read through the process's own mappings (/proc/PID/map_files), not looked up by path. */
  filesFrom: 'map_files';
  /** The process's root as seen from the handler ("/", or a chroot's or container's directory). */
  root: string;
  /** core_pipe_limit at the crash: > 0 keeps the process while the handler reads it. */
  pipeLimit: number | null;
  /** Where the core was passed on (the previous handler or file), or why it was not. */
  passedOn: string;
}

export interface ManifestMiniCore {
  /** The full core, as collect found it; sha256 lets the developer ask for exactly that one. */
  cutFrom: { path: string; size: number; sha256: string | null };
  /** --stack-cap in bytes; null: whole stacks. */
  stackCap: number | null;
  /** Bytes of memory kept, in all. */
  bytes: number;
  /** Every memory range the mini core holds ("0x…" addresses, end exclusive), with why: for the site's security review. */
  ranges: Array<{ start: string; end: string; why: string }>;
}

export interface ManifestAttachment {
  /** The file's path on the customer's machine, as given or matched (any characters, a newline too: show it quoted). */
  path: string;
  /** Where it is in the bundle: attachments/<path made safe>. */
  bundlePath: string;
  size: number;
  /**
   * Hashed before writing, in either schema (attachments are capped and
   * small; inspect shows it without reading the bundle); SHA256SUMS lists it too.
   */
  sha256: string;
  /** When `path` is a symlink: the regular file it led to. */
  linkTarget: string | null;
}

/** Exact: every file matched the core and nothing the core knows of was left out. */
export function isExact(m: Pick<Manifest, 'files' | 'gaps' | 'truncation'>): boolean {
  return m.files.every((f) => f.status === 'ok') && (m.gaps ?? []).length === 0 && m.truncation === undefined;
}

/** The origin as a manifest holds it: the input layer's record, its strings unnarrowed (read from untrusted JSON). */
export type ManifestOrigin = Origin;

/** What a cut core lacks, as src/core/truncation.ts describes it. */
export type ManifestTruncation = Truncation;

/**
 * One object of an untrusted manifest, read field by field: a field that is
 * absent or null reads as null; one of another type is a ManifestError that
 * names it ("summary.signal.name must be a string"), never a value passed on.
 */
class Fields {
  private constructor(
    private readonly obj: Record<string, unknown>,
    /** Where the object is in manifest.json ("summary.process"). */
    readonly at: string,
  ) {}

  /** The object at `at`; null when absent or null. */
  static of(v: unknown, at: string): Fields | null {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) fail(`${at} must be an object`);
    return new Fields(v as Record<string, unknown>, at);
  }

  private name(key: string): string {
    return `${this.at}.${key}`;
  }

  text(key: string): string | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') fail(`${this.name(key)} must be a string`);
    return v;
  }

  int(key: string): number | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${this.name(key)} must be an integer`);
    return v;
  }

  object(key: string): Fields | null {
    return Fields.of(this.obj[key], this.name(key));
  }

  /** How many entries the array has; null when absent. */
  count(key: string): number | null {
    const v = this.obj[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v)) fail(`${this.name(key)} must be an array`);
    return v.length;
  }

  /** An object whose every value is a string (os-release's fields). */
  textRecord(key: string): Record<string, string> {
    const f = this.object(key);
    if (!f) return {};
    const out: Record<string, string> = {};
    for (const k of Object.keys(f.obj)) {
      const v = f.text(k);
      if (v !== null) out[k] = v;
    }
    return out;
  }
}

/** The collecting machine; absent fields read as empty (older bundles), wrongly typed ones are refused. */
function parseHost(v: unknown): HostInfo {
  const h = Fields.of(v, 'host');
  const u = h?.object('uname');
  return {
    hostname: h?.text('hostname') ?? '',
    uname: { sysname: u?.text('sysname') ?? '', release: u?.text('release') ?? '', version: u?.text('version') ?? '', machine: u?.text('machine') ?? '' },
    osRelease: h?.textRecord('osRelease') ?? {},
    libc: h?.text('libc') ?? null,
  };
}

/**
 * What a bundle's manifest says about its core: the fields of the `inspect
 * --json` summary (core/json.ts) that inspect and list show. Unknown is null.
 * `os` and `arch` are the collecting corepack's names, shown as they are (a
 * newer corepack may know more than this one's OsName and ArchName).
 */
export interface ManifestSummary {
  os: string | null;
  arch: string | null;
  executable: string | null;
  process: { pid: number | null; fname: string | null; psargs: string | null };
  signal: { signo: number | null; name: string | null; codeName: string | null; addr: string | null } | null;
  crashedThread: number | null;
  /** How many threads the summary lists; null when it has no list. */
  threadCount: number | null;
}

/** Reads the manifest's core summary, each field checked: one of the wrong type is a ManifestError naming it. */
export function readManifestSummary(m: Pick<Manifest, 'summary'>): ManifestSummary {
  const s = Fields.of(m.summary, 'summary');
  const p = s?.object('process');
  const sig = s?.object('signal');
  return {
    os: s?.text('os') ?? null,
    arch: s?.text('arch') ?? null,
    executable: s?.text('executable') ?? null,
    process: { pid: p?.int('pid') ?? null, fname: p?.text('fname') ?? null, psargs: p?.text('psargs') ?? null },
    signal: sig ? { signo: sig.int('signo'), name: sig.text('name'), codeName: sig.text('codeName'), addr: sig.text('addr') } : null,
    crashedThread: s?.int('crashedThread') ?? null,
    threadCount: s?.count('threads') ?? null,
  };
}

/** The optional origin object; anything of the wrong type is dropped, never trusted. */
function parseOrigin(v: unknown): ManifestOrigin | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const s = (x: unknown): string | null => (typeof x === 'string' ? x : null);
  const n = (x: unknown): number | null => (typeof x === 'number' && Number.isSafeInteger(x) ? x : null);
  const meta: Record<string, string> = {};
  if (typeof r.metadata === 'object' && r.metadata !== null) {
    for (const [k, x] of Object.entries(r.metadata as Record<string, unknown>)) if (typeof x === 'string') meta[k] = x;
  }
  return {
    path: s(r.path) ?? '',
    form: s(r.form) ?? 'unknown',
    store: s(r.store) ?? 'unknown',
    compression: s(r.compression),
    metadata: meta,
    executable: s(r.executable),
    pid: n(r.pid),
    uid: n(r.uid),
    signal: n(r.signal),
    time: s(r.time),
    cmdline: s(r.cmdline),
  };
}

/** The optional miniCore object: ranges with malformed addresses are dropped, never trusted. */
function parseMiniCore(v: unknown): ManifestMiniCore | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const n = (x: unknown): number | null => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : null);
  const from = (typeof r.cutFrom === 'object' && r.cutFrom !== null ? r.cutFrom : {}) as Record<string, unknown>;
  const addr = /^0x[0-9a-f]{1,16}$/;
  const ranges = (Array.isArray(r.ranges) ? r.ranges : []).flatMap((x: unknown) => {
    const e = (x ?? {}) as Record<string, unknown>;
    return typeof e.start === 'string' && addr.test(e.start) && typeof e.end === 'string' && addr.test(e.end) ? [{ start: e.start, end: e.end, why: typeof e.why === 'string' ? e.why : '' }] : [];
  });
  return {
    cutFrom: {
      path: typeof from.path === 'string' ? from.path : '',
      size: n(from.size) ?? 0,
      sha256: typeof from.sha256 === 'string' && /^[0-9a-f]{64}$/.test(from.sha256) ? from.sha256 : null,
    },
    stackCap: n(r.stackCap),
    bytes: n(r.bytes) ?? 0,
    ranges,
  };
}

function parseTruncation(v: unknown): ManifestTruncation | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  const n = (x: unknown): number => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : 0);
  return {
    fileSize: n(r.fileSize),
    expectedSize: n(r.expectedSize),
    cutSegments: n(r.cutSegments),
    threadsWithoutStack: n(r.threadsWithoutStack),
    threads: n(r.threads),
    message: typeof r.message === 'string' ? r.message : '',
  };
}


/**
 * A bundle-relative path is safe when it is relative, normalised, has no "..",
 * no empty or "." segments, no NUL, and no control characters (a newline in a
 * path would let it break out of a gdb script line).
 */
export function isSafeRelativePath(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0 || p.length > 4096) return false;
  if (p.startsWith('/') || p.includes('\\')) return false;
  if (hasControlChar(p)) return false;
  if (posix.normalize(p) !== p) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/**
 * A relative link_map name kept as an alias: not absolute, no control
 * characters, bounded. It never becomes a path in the bundle.
 */
export function isSafeLinkMapName(p: string): boolean {
  // eslint-disable-next-line no-control-regex
  return typeof p === 'string' && p.length > 0 && p.length <= 4096 && !p.startsWith('/') && !/[\u0000-\u001f\u007f]/.test(p);
}

/** Absolute customer-side paths: absolute, normalised, no control characters. */
export function isSafeAbsolutePath(p: string): boolean {
  return typeof p === 'string' && p.startsWith('/') && p.length > 1 && isSafeRelativePath(p.slice(1));
}

/** The sysroot-relative location of an absolute path: "/usr/lib/x" → "sysroot/usr/lib/x". */
export function sysrootPath(abs: string): string {
  return `sysroot${posix.normalize(abs)}`;
}

/**
 * The relative symlink target that makes `linkAbs` point at `targetAbs`
 * inside one sysroot: both are absolute customer paths. Never absolute: an
 * absolute link would silently read the developer's own file.
 */
export function relativeLinkTarget(linkAbs: string, targetAbs: string): string {
  return posix.relative(posix.dirname(posix.normalize(linkAbs)), posix.normalize(targetAbs));
}

const STATUSES: readonly FileStatus[] = ['ok', 'build-id-mismatch', 'missing', 'unreadable', 'deleted-at-crash', 'wrong-architecture'];
const ROLES: readonly FileRole[] = ['executable', 'interpreter', 'library', 'libthread_db', 'debug'];
const HEX = /^[0-9a-f]{2,128}$/;
const SHA256 = /^[0-9a-f]{64}$/;

function fail(msg: string): never {
  throw new ManifestError(`manifest.json: ${msg}`);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') fail(`${what} must be a string`);
  return v;
}

function optHex(v: unknown, what: string, re = HEX): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string' || !re.test(v)) fail(`${what} must be lower-case hex`);
  return v;
}

function optSize(v: unknown, what: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} must be a non-negative integer`);
  return v;
}

/**
 * Parses and validates manifest.json text from an untrusted bundle. Every path
 * is checked; the result can be used without further sanitising, except that
 * paths must still be quoted for whatever consumes them (gdb scripts).
 */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    fail(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object');
  const m = raw as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) fail(`format is not "${MANIFEST_FORMAT}"`);
  if (typeof m.schema !== 'number' || !READABLE_SCHEMAS.includes(m.schema)) {
    fail(`schema ${String(m.schema)} is not supported (this corepack reads schema ${READABLE_SCHEMAS.join(' and ')}; upgrade corepack?)`);
  }
  const schema = m.schema as 1 | 2;
  const core = m.core as Record<string, unknown> | undefined;
  if (!core || typeof core !== 'object') fail('core is missing');
  const coreBundlePath = str(core.bundlePath, 'core.bundlePath');
  if (!isSafeRelativePath(coreBundlePath) || !coreBundlePath.startsWith('core/')) fail(`core.bundlePath ${JSON.stringify(coreBundlePath)} is not a safe path under core/`);
  // Schema 1 carries the core's sha256 here; schema 2 in the checksums entry, which must then be named.
  const coreSha = schema === 1 ? optHex(core.sha256, 'core.sha256', SHA256) : null;
  if (schema === 1 && !coreSha) fail('core.sha256 is missing');
  let checksums: string | undefined;
  if (schema === 2) {
    checksums = str(m.checksums, 'checksums');
    if (checksums !== CHECKSUMS_NAME) fail(`checksums ${JSON.stringify(checksums)} is not "${CHECKSUMS_NAME}"`);
  }
  if (!Array.isArray(m.files)) fail('files must be an array');
  const files: ManifestFile[] = m.files.map((f: unknown, i: number): ManifestFile => {
    if (typeof f !== 'object' || f === null) fail(`files[${i}] must be an object`);
    const r = f as Record<string, unknown>;
    const path = str(r.path, `files[${i}].path`);
    if (!isSafeAbsolutePath(path)) fail(`files[${i}].path ${JSON.stringify(path)} is not a safe absolute path`);
    const bundlePath = r.bundlePath === null || r.bundlePath === undefined ? null : str(r.bundlePath, `files[${i}].bundlePath`);
    if (bundlePath !== null && (!isSafeRelativePath(bundlePath) || !(bundlePath.startsWith('sysroot/') || bundlePath.startsWith('debug/')))) {
      fail(`files[${i}].bundlePath ${JSON.stringify(bundlePath)} is not a safe path under sysroot/ or debug/`);
    }
    const aliases = Array.isArray(r.aliases) ? r.aliases.map((a, j) => str(a, `files[${i}].aliases[${j}]`)) : [];
    for (const a of aliases) if (!isSafeAbsolutePath(a) && !isSafeLinkMapName(a)) fail(`files[${i}].aliases has an unsafe path ${JSON.stringify(a)}`);
    const status = r.status as FileStatus;
    if (!STATUSES.includes(status)) fail(`files[${i}].status ${JSON.stringify(r.status)} is not one of ${STATUSES.join(', ')}`);
    const role = r.role as FileRole;
    if (!ROLES.includes(role)) fail(`files[${i}].role ${JSON.stringify(r.role)} is not one of ${ROLES.join(', ')}`);
    return {
      path,
      bundlePath,
      role,
      aliases,
      size: optSize(r.size, `files[${i}].size`),
      ...(schema === 1 ? { sha256: optHex(r.sha256, `files[${i}].sha256`, SHA256) } : {}),
      buildIdOnDisk: optHex(r.buildIdOnDisk, `files[${i}].buildIdOnDisk`),
      buildIdInCore: optHex(r.buildIdInCore, `files[${i}].buildIdInCore`),
      status,
      sources: Array.isArray(r.sources) ? (r.sources.filter((s) => typeof s === 'string') as FileSource[]) : [],
      message: typeof r.message === 'string' ? r.message : null,
      ...(r.lookedUp === 'root' || r.lookedUp === 'host' ? { lookedUp: r.lookedUp } : {}),
    };
  });
  const links: ManifestLink[] = (Array.isArray(m.links) ? m.links : []).map((l: unknown, i: number) => {
    const r = (l ?? {}) as Record<string, unknown>;
    const path = str(r.path, `links[${i}].path`);
    const target = str(r.target, `links[${i}].target`);
    if (!isSafeRelativePath(path) || !path.startsWith('sysroot/')) fail(`links[${i}].path ${JSON.stringify(path)} is not a safe path under sysroot/`);
    if (target.startsWith('/')) fail(`links[${i}].target ${JSON.stringify(target)} is absolute`);
    const resolved = posix.normalize(posix.join(posix.dirname(path), target));
    if (!resolved.startsWith('sysroot/')) fail(`links[${i}] ${JSON.stringify(path)} → ${JSON.stringify(target)} leaves the sysroot`);
    return { path, target };
  });
  const exe = m.executable as Record<string, unknown> | null | undefined;
  let executable: Manifest['executable'] = null;
  if (exe) {
    const p = str(exe.path, 'executable.path');
    if (!isSafeAbsolutePath(p)) fail(`executable.path ${JSON.stringify(p)} is not a safe absolute path`);
    executable = { path: p, chosenBy: exe.chosenBy === 'core' ? 'core' : 'command-line' };
  }
  return {
    format: MANIFEST_FORMAT,
    schema,
    corepackVersion: typeof m.corepackVersion === 'string' ? m.corepackVersion : 'unknown',
    createdAt: typeof m.createdAt === 'string' ? m.createdAt : '',
    host: parseHost(m.host),
    core: {
      bundlePath: coreBundlePath,
      originalPath: typeof core.originalPath === 'string' ? core.originalPath : '',
      size: optSize(core.size, 'core.size') ?? 0,
      ...(coreSha ? { sha256: coreSha } : {}),
    },
    ...optional('checksums', checksums),
    executable,
    summary: summaryObject(m.summary),
    files,
    links,
    warnings: Array.isArray(m.warnings) ? m.warnings.filter((w): w is string => typeof w === 'string') : [],
    ...optional('origin', parseOrigin(m.origin)),
    ...optional('truncation', parseTruncation(m.truncation)),
    ...optional('miniCore', parseMiniCore(m.miniCore)),
    root: typeof m.root === 'string' ? m.root : null,
    ...(m.rootLookup === 'chroot' || m.rootLookup === 'qemu' ? { rootLookup: m.rootLookup } : {}),
    gaps: Array.isArray(m.gaps) ? m.gaps.filter((g): g is string => typeof g === 'string') : [],
    ...optional('attachments', parseAttachments(m.attachments)),
    ...optional('capture', parseCapture(m.capture)),
  };
}

/** The optional capture object, field by field; anything of the wrong type is dropped, never trusted. */
function parseCapture(v: unknown): ManifestCapture | undefined {
  if (typeof v !== 'object' || v === null || (v as { by?: unknown }).by !== 'core_pattern') return undefined;
  const c = v as Record<string, unknown>;
  const int = (x: unknown): number | null => (typeof x === 'number' && Number.isSafeInteger(x) ? x : null);
  const text = (x: unknown): string => (typeof x === 'string' ? x : '');
  return {
    by: 'core_pattern',
    pid: int(c.pid) ?? 0,
    globalPid: int(c.globalPid) ?? 0,
    signal: int(c.signal),
    uid: int(c.uid),
    gid: int(c.gid),
    dumpedAt: typeof c.dumpedAt === 'string' ? c.dumpedAt : null,
    coreFrom: text(c.coreFrom),
    filesFrom: 'map_files',
    root: text(c.root),
    pipeLimit: int(c.pipeLimit),
    passedOn: text(c.passedOn),
  };
}

/** The optional attachments list: every entry complete and its bundle path safe under attachments/, or the manifest is refused. */
function parseAttachments(v: unknown): ManifestAttachment[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) fail('attachments must be an array');
  return v.map((a: unknown, i: number): ManifestAttachment => {
    if (typeof a !== 'object' || a === null) fail(`attachments[${i}] must be an object`);
    const r = a as Record<string, unknown>;
    const bundlePath = str(r.bundlePath, `attachments[${i}].bundlePath`);
    if (!isSafeRelativePath(bundlePath) || !bundlePath.startsWith('attachments/')) fail(`attachments[${i}].bundlePath ${JSON.stringify(bundlePath)} is not a safe path under attachments/`);
    const size = optSize(r.size, `attachments[${i}].size`);
    const sha256 = optHex(r.sha256, `attachments[${i}].sha256`, SHA256);
    if (size === null || sha256 === null) fail(`attachments[${i}] needs a size and a sha256`);
    return { path: str(r.path, `attachments[${i}].path`), bundlePath, size, sha256, linkTarget: typeof r.linkTarget === 'string' ? r.linkTarget : null };
  });
}

/**
 * The summary as the JSON object it must be ({} when absent), with the fields
 * readManifestSummary shows checked now: a wrongly typed one refuses the
 * manifest here, as every other field does, and never later.
 */
function summaryObject(v: unknown): { [key: string]: Json } {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail('summary must be an object');
  const summary = v as { [key: string]: Json }; // JSON.parse's output: Json throughout
  readManifestSummary({ summary });
  return summary;
}

function optional<K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
}
