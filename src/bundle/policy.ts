/**
 * What extraction lets an untrusted bundle do, decided without touching the
 * file system: each tar header, with what was extracted so far and what the
 * manifest declares, goes in; a decision (skip, make a directory, make a
 * symlink, write a file of this size and mode) or a refusal (a thrown
 * UnsafeBundleError) comes out. extract.ts carries decisions out; peek.ts
 * reads the manifest entry by the same rules. No I/O here, so every rule is
 * unit-tested without tar (test/bundle-policy.test.ts).
 */
import { posix } from 'node:path';
import { hasControlChar } from '../util/text.js';
import { ManifestError, NotABundleError, UnsafeBundleError } from './errors.js';
import { CHECKSUMS_NAME, isSafeRelativePath, MANIFEST_NAME, parseManifest, type Manifest } from './manifest.js';

/** manifest.json holds the inspect summary of the core: a few MiB at worst. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** SHA256SUMS: one line of 66 bytes plus a path per file; the byte budget bounds it further. */
export const MAX_CHECKSUMS_BYTES = 16 * 1024 * 1024;
/** Default absolute cap on a bundle's decompressed size, whatever the manifest declares. */
export const DEFAULT_MAX_BUNDLE_BYTES = 1024 * 1024 * 1024 * 1024; // 1 TiB
/** Headers, pax records, padding and directory entries on top of the declared file sizes. */
export const SLACK_BYTES = 4 * 1024 * 1024;
const SLACK_PER_ENTRY = 4096;
/** Files outside manifest.json's lists are tolerated only at the top level, small. */
export const MAX_EXTRA_FILE_BYTES = 1024 * 1024;
export const MAX_ENTRIES = 1_000_000;
/** Trees that hold symlinks, and the tree each one's links must stay in. */
const LINK_TREES = ['sysroot', 'debug'] as const;

const show = (p: string) => JSON.stringify(p);

/** An untrusted bundle refused: one line naming the entry and the reason. */
export function refuse(reason: string, entry: string | null = null, options?: ErrorOptions): UnsafeBundleError {
  return new UnsafeBundleError(reason, entry, options);
}

function bad(raw: string, why: string): never {
  throw refuse(`entry ${show(raw)} ${why}`, raw);
}

/** A tar path as a clean relative path, or a refusal saying what is wrong with it. */
export function checkEntryPath(raw: string, isDir: boolean): string {
  if (raw.includes('\uFFFD')) return bad(raw, 'is not valid UTF-8');
  if (hasControlChar(raw)) return bad(raw, 'contains a control character (a newline could inject commands into the gdb script)');
  if (raw.startsWith('/')) return bad(raw, 'is absolute');
  if (raw.includes('\\')) return bad(raw, 'contains a backslash');
  const p = isDir && raw.endsWith('/') ? raw.slice(0, -1) : raw;
  if (p.split('/').includes('..')) return bad(raw, 'contains ".."');
  if (!isSafeRelativePath(p)) return bad(raw, 'is not a normalised relative path');
  return p;
}

/**
 * Checks a symlink's target: relative, in normal form, and resolving inside
 * the tree (sysroot/ or debug/) that holds the link. `rel` is relative to the
 * bundle root.
 */
export function checkLinkTarget(rel: string, target: string): void {
  const tree = rel.split('/')[0]!;
  if (!(LINK_TREES as readonly string[]).includes(tree) || rel === tree) {
    throw refuse(`symlink ${show(rel)} is outside sysroot/ and debug/`, rel);
  }
  if (target.includes('\uFFFD') || hasControlChar(target) || target.includes('\\')) {
    throw refuse(`symlink ${show(rel)} has a target with invalid characters`, rel);
  }
  if (target === '' || target.startsWith('/')) throw refuse(`symlink ${show(rel)} → ${show(target)} is absolute (it would read the replaying machine's own files)`, rel);
  // Normal form puts every ".." first, where it climbs real directories; a
  // ".." after a component could climb out of a symlinked directory instead.
  if (posix.normalize(target) !== target || target.endsWith('/') || target.split('/').includes('.')) {
    throw refuse(`symlink ${show(rel)} → ${show(target)} is not in normal form`, rel);
  }
  const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
  if (resolved !== tree && !resolved.startsWith(`${tree}/`)) throw refuse(`symlink ${show(rel)} → ${show(target)} leaves ${tree}/`, rel);
}

/** The parts of a tar header the policy looks at. */
export interface EntryHeader {
  path: string;
  /** node-tar's type name: File, OldFile, Directory, SymbolicLink, Link, CharacterDevice, ... */
  type: string;
  size: number;
  mode?: number | undefined;
  linkpath?: string | undefined;
}

export type Seen = 'file' | 'symlink' | 'dir';

/** What extraction has done so far, as the policy needs to know it. */
export interface ExtractionSoFar {
  /** The top-level directory, once the first entry named it. */
  readonly rootName: string | undefined;
  /** Sizes manifest.json declares by bundle-relative path; undefined until it has been read. */
  readonly declared: ReadonlyMap<string, number | null> | undefined;
  /** What a bundle-relative path already is ('' is the root, always a directory). */
  seen(rel: string): Seen | undefined;
  /** Entries handled before this one. */
  readonly entries: number;
  /** Bytes of top-level files the manifest does not list, so far. */
  readonly extraBytes: number;
  /** The checksums entry the manifest names (schema 2), once the manifest has been read. */
  readonly checksumsName?: string | undefined;
  /** The checksums entry has been seen: it is the last entry, nothing may follow it. */
  readonly checksumsSeen?: boolean | undefined;
}

interface Placed {
  rootName: string;
  /** Path relative to the bundle root. */
  rel: string;
  /** Directories to create first, outermost first (none of them exists yet). */
  parents: string[];
}

export type EntryDecision =
  | { action: 'skip'; rootName: string }
  | ({ action: 'mkdir' } & Placed)
  | ({ action: 'symlink'; target: string } & Placed)
  | ({
      action: 'write';
      size: number;
      /** 0644 or 0755: the exec bit kept, setuid/setgid/sticky dropped. */
      mode: number;
      /** This is manifest.json: keep its bytes and read it once written. */
      isManifest: boolean;
      /** This is the checksums entry (SHA256SUMS): keep its bytes and read them once written. */
      isChecksums: boolean;
      /** A file the manifest does not list, kept as a note: its size counts against the extra-file allowance. */
      extraBytes: number;
      /** Things neutralised rather than refused, one line each. */
      notes: string[];
    } & Placed);

const KIND_NAMES: Record<string, string> = {
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a fifo',
};

/** The directories above `rel` that do not exist yet, outermost first; refuses a parent that is a file or symlink. */
function missingParents(rel: string, so: ExtractionSoFar): string[] {
  const out: string[] = [];
  for (let d = posix.dirname(rel); d !== '.'; d = posix.dirname(d)) {
    const s = so.seen(d);
    if (s === 'dir') break;
    if (s !== undefined) throw refuse(`${show(d)} is used both as a directory and as a file or symlink (writing through a symlink is refused)`, d);
    out.unshift(d);
  }
  return out;
}

/** The permission bits kept for a file, and a note when special bits were dropped. */
export function fileMode(rawMode: number | undefined, rel: string): { mode: number; note?: string } {
  const raw = rawMode ?? 0o644;
  const mode = raw & 0o111 ? 0o755 : 0o644;
  if (!(raw & 0o7000)) return { mode };
  const dropped = [raw & 0o4000 ? 'setuid' : '', raw & 0o2000 ? 'setgid' : '', raw & 0o1000 ? 'sticky' : ''].filter(Boolean).join('/');
  return { mode, note: `${rel}: dropped the ${dropped} bit` };
}

/** Decides about one tar entry. Throws an UnsafeBundleError to refuse it (and with it the bundle). */
export function decideEntry(h: EntryHeader, so: ExtractionSoFar): EntryDecision {
  if (so.entries + 1 > MAX_ENTRIES) throw refuse(`more than ${MAX_ENTRIES} entries`);
  const isFile = h.type === 'File' || h.type === 'OldFile';
  const isDir = h.type === 'Directory';
  const isLink = h.type === 'SymbolicLink';
  if (!isFile && !isDir && !isLink) {
    const what = h.type === 'Link' ? `a hard link to ${show(h.linkpath ?? '')}` : (KIND_NAMES[h.type] ?? `of type ${h.type}`);
    throw refuse(`entry ${show(h.path)} is ${what}; only files, directories and symlinks are extracted`, h.path);
  }
  const p = checkEntryPath(h.path, isDir);
  // What arrives after the checksums would be vouched for by nothing.
  if (so.checksumsSeen) throw refuse(`entry ${show(h.path)} comes after ${so.checksumsName ?? CHECKSUMS_NAME}, which must be the last entry`, h.path);
  const [top, ...restParts] = p.split('/');
  const rootName = so.rootName ?? top!;
  if (top !== rootName) throw refuse(`entry ${show(h.path)} is outside the bundle's top-level directory ${show(rootName)}`, h.path);
  const rel = restParts.join('/');
  if (so.declared === undefined && !isDir && rel !== MANIFEST_NAME) {
    // A tarball, but not one collect wrote: say so rather than call it hostile.
    throw new NotABundleError(null, `its first entry is ${show(h.path)}, not ${so.rootName ?? (rel === '' ? '<name>' : rootName)}/${MANIFEST_NAME}`);
  }
  if (rel === '') {
    if (!isDir) throw refuse(`entry ${show(h.path)} must be the bundle's top-level directory`, h.path);
    return { action: 'skip', rootName };
  }
  const seen = so.seen(rel);
  if (isDir) {
    if (seen === 'file' || seen === 'symlink') throw refuse(`${show(rel)} is used both as a directory and as a file or symlink (writing through a symlink is refused)`, h.path);
    return { action: 'mkdir', rootName, rel, parents: seen === 'dir' ? [] : missingParents(rel, so) };
  }
  if (seen !== undefined) throw refuse(`entry ${show(h.path)} appears twice`, h.path);
  const parents = missingParents(rel, so);
  if (isLink) {
    const target = h.linkpath ?? '';
    checkLinkTarget(rel, target);
    return { action: 'symlink', rootName, rel, parents, target };
  }

  // A regular file: its size must be known, and allowed, before the first byte.
  const size = h.size;
  const notes: string[] = [];
  let extraBytes = 0;
  const isManifest = rel === MANIFEST_NAME;
  const isChecksums = so.checksumsName !== undefined && rel === so.checksumsName;
  if (isManifest) {
    if (size > MAX_MANIFEST_BYTES) throw refuse(`${MANIFEST_NAME} is ${size} bytes (more than ${MAX_MANIFEST_BYTES})`, h.path);
  } else if (isChecksums) {
    if (size > MAX_CHECKSUMS_BYTES) throw refuse(`${rel} is ${size} bytes (more than ${MAX_CHECKSUMS_BYTES})`, h.path);
  } else if (so.declared!.has(rel)) {
    const want = so.declared!.get(rel);
    if (want !== null && want !== undefined && want !== size) throw refuse(`entry ${show(h.path)} is ${size} bytes but manifest.json says ${want}`, h.path);
  } else if (!rel.includes('/')) {
    extraBytes = size;
    if (size > MAX_EXTRA_FILE_BYTES || so.extraBytes + size > SLACK_BYTES / 2) throw refuse(`entry ${show(h.path)} is not listed in manifest.json and too large to be a note`, h.path);
    notes.push(`${rel}: not listed in manifest.json (kept, unverified)`);
  } else {
    throw refuse(`entry ${show(h.path)} is not listed in manifest.json`, h.path);
  }
  const { mode, note } = fileMode(h.mode, rel);
  if (note) notes.push(note);
  return { action: 'write', rootName, rel, parents, size, mode, isManifest, isChecksums, extraBytes, notes };
}

/** A file's data ended: it must be exactly as long as its header said. */
export function checkComplete(entryPath: string, written: number, size: number): void {
  if (written !== size) throw refuse(`entry ${show(entryPath)} is truncated (${written} of ${size} bytes)`, entryPath);
}

/** manifest.json's bytes, decoded and validated. Refuses invalid UTF-8 and every ManifestError. */
export function manifestFromBytes(bytes: Uint8Array): Manifest {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw refuse(`${MANIFEST_NAME} is not valid UTF-8`, null, { cause: err });
  }
  try {
    return parseManifest(text);
  } catch (err) {
    if (err instanceof ManifestError) throw refuse(err.message, null, { cause: err });
    throw err;
  }
}

/** Declared decompressed size of the bundle, from its manifest. */
export function declaredBytes(m: Manifest): number {
  let n = m.core.size;
  for (const f of m.files) if (f.bundlePath !== null) n += f.size ?? 0;
  for (const a of m.attachments ?? []) n += a.size;
  return n;
}

/** Sizes by bundle-relative path, as manifest.json declares them: what every later file is held to. */
export function declaredSizes(m: Manifest): Map<string, number | null> {
  const declared = new Map<string, number | null>();
  declared.set(m.core.bundlePath, m.core.size);
  for (const f of m.files) if (f.bundlePath !== null) declared.set(f.bundlePath, f.size);
  for (const a of m.attachments ?? []) declared.set(a.bundlePath, a.size);
  return declared;
}

/** Decompressed bytes allowed before the manifest has been read. */
export const BUDGET_BEFORE_MANIFEST = MAX_MANIFEST_BYTES + SLACK_BYTES;

/**
 * Decompressed bytes allowed in all, once the manifest is known after `fed`
 * bytes: what it declares plus room for headers, under the absolute `cap`.
 */
export function budgetAfterManifest(m: Manifest, cap: number, fed: number): number {
  const declared = declaredBytes(m);
  if (declared > cap) throw refuse(`manifest.json declares ${declared} bytes of files, more than the ${cap}-byte cap on a bundle`);
  const entries = m.files.length + m.links.length + m.files.reduce((n, f) => n + f.aliases.length, 0) + (m.attachments?.length ?? 0) + 2;
  return fed + declared + SLACK_BYTES + SLACK_PER_ENTRY * entries;
}

/** Refuses once `fed` decompressed bytes exceed `budget`. */
export function checkBudget(fed: number, budget: number, manifestRead: boolean): void {
  if (fed <= budget) return;
  throw refuse(
    manifestRead
      ? `it decompresses to more than the ${budget} bytes its manifest accounts for (a decompression bomb, or a corrupt bundle)`
      : `no ${MANIFEST_NAME} within the first ${budget} bytes`,
  );
}
