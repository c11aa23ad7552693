/**
 * Resolving a path the way a process that saw DIR as `/` resolved it: a
 * container's merged root, a chroot, qemu-user's `-L` guest root.
 *
 * Every symlink is followed inside DIR: an absolute target restarts at DIR,
 * `..` stops at DIR (as openat2's RESOLVE_IN_ROOT does). A path never
 * resolves to a file outside DIR, so the host's own /lib/libc.so.6 cannot
 * stand in for the container's.
 */
import { access, lstat, readlink, realpath } from 'node:fs/promises';
import { posix } from 'node:path';

/** The kernel's limit on symlinks followed in one lookup (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * The directory the crashed process saw as `/`, as this machine reaches it:
 * this machine's own root, or another directory (a container's merged root,
 * a chroot, qemu -L's guest root, /proc/PID/root). The one way corepack says
 * "no other root": `HOST_ROOT`, never `null`, `undefined` or `'/'`.
 */
export type ProcessRoot = HostRoot | DirectoryRoot;

/** The process saw this machine's own `/`: no --root, or a --root that is `/`. */
export interface HostRoot {
  readonly kind: 'host';
}

export interface DirectoryRoot {
  readonly kind: 'directory';
  /** Absolute, never `/`; canonical wherever paths are compared with it (collect, inspect). */
  readonly dir: string;
}

export const HOST_ROOT: HostRoot = Object.freeze({ kind: 'host' });

/** The root at absolute `dir`: `/` is this machine's own. */
export function rootAt(dir: string): ProcessRoot {
  const normal = posix.normalize(dir);
  return normal === '/' ? HOST_ROOT : { kind: 'directory', dir: normal.endsWith('/') ? normal.slice(0, -1) : normal };
}

/** The root with its directory's symlinks resolved (realpath), as paths resolved under it are compared with it; may turn out to be `/`. */
export async function realRoot(root: ProcessRoot): Promise<ProcessRoot> {
  return root.kind === 'host' ? root : rootAt(await realpath(root.dir));
}

/** Whether `hostPath` is inside a directory root (never for this machine's own root). */
export function isInsideRoot(root: ProcessRoot, hostPath: string): boolean {
  return root.kind === 'directory' && hostPath.startsWith(`${root.dir}/`);
}

/** A host path inside the root as the process named it (qemu-user's AT_EXECFN, a debug file found there); any other path unchanged. */
export function guestPathOf(root: ProcessRoot, hostPath: string): string {
  return root.kind === 'directory' && hostPath.startsWith(`${root.dir}/`) ? hostPath.slice(root.dir.length) : hostPath;
}

/** " under DIR" for messages about a lookup; nothing for this machine's own root. */
export function underRoot(root: ProcessRoot): string {
  return root.kind === 'directory' ? ` under ${root.dir}` : '';
}

/** The manifest's encoding (`root` in manifest.json): the directory, or null for this machine's own root. */
export function manifestRootOf(root: ProcessRoot): string | null {
  return root.kind === 'directory' ? root.dir : null;
}

/** How a path of the root is named in a RootResolveError: `/` for this machine's own. */
function rootName(root: ProcessRoot): string {
  return root.kind === 'directory' ? root.dir : '/';
}

export interface RootedPath {
  /** The real path as the process saw it (symlinks resolved, inside the root). */
  guest: string;
  /** Where that file is on this machine: root + guest. */
  host: string;
  /** Where it was found: under the root, or (qemu -L only) at the host's own path. */
  from: 'root' | 'host';
}

export class RootResolveError extends Error {
  override readonly name = 'RootResolveError';
  constructor(
    readonly path: string,
    /** The root's directory, `/` for this machine's own. */
    readonly root: string,
    /** ENOENT, ENOTDIR, ELOOP, EACCES: as the kernel would have said. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} under ${root}: ${code}`, options);
  }
}

/** Joins a guest path onto the root without ever leaving it. */
export function hostPathOf(root: ProcessRoot, guest: string): string {
  const normal = posix.normalize(`/${guest}`);
  return root.kind === 'host' ? normal : posix.join(root.dir, normal);
}

/**
 * Resolves absolute `path` under `root` (canonical). Throws RootResolveError
 * when a component is missing, a loop is found, or a directory cannot be read.
 */
export async function resolveInRoot(root: ProcessRoot, path: string): Promise<RootedPath> {
  if (!path.startsWith('/')) throw new RootResolveError(path, rootName(root), 'ENOENT');
  const pending = path.split('/').filter((s) => s !== '' && s !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const seg = pending.shift()!;
    if (seg === '..') {
      done.pop(); // clamped at the root, like the kernel's lookup inside a chroot
      continue;
    }
    const guest = `/${[...done, seg].join('/')}`;
    let st;
    try {
      st = await lstat(hostPathOf(root, guest));
    } catch (err) {
      throw new RootResolveError(path, rootName(root), (err as NodeJS.ErrnoException).code ?? 'ENOENT', { cause: err });
    }
    if (!st.isSymbolicLink()) {
      if (pending.length > 0 && !st.isDirectory()) throw new RootResolveError(path, rootName(root), 'ENOTDIR');
      done.push(seg);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new RootResolveError(path, rootName(root), 'ELOOP');
    const target = await readlink(hostPathOf(root, guest));
    const parts = target.split('/').filter((s) => s !== '' && s !== '.');
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...parts);
  }
  const guest = `/${done.join('/')}`;
  return { guest, host: hostPathOf(root, guest), from: 'root' };
}

/**
 * Resolves absolute `path` the way qemu-user with `-L root` opened it
 * (util/path.c): root + path when that exists on this machine (followed as
 * the host follows it), else path itself on this machine. Throws
 * RootResolveError when neither exists.
 */
export async function resolveQemuStyle(root: DirectoryRoot, path: string): Promise<RootedPath> {
  if (!path.startsWith('/')) throw new RootResolveError(path, root.dir, 'ENOENT');
  const under = hostPathOf(root, path);
  const exists = await access(under).then(() => true, () => false);
  const chosen = exists ? under : path;
  let host: string;
  try {
    host = await realpath(chosen);
  } catch (err) {
    throw new RootResolveError(path, root.dir, (err as NodeJS.ErrnoException).code ?? 'ENOENT', { cause: err });
  }
  if (!exists) return { guest: host, host, from: 'host' };
  // The guest's name for it: inside the root when its links stay there, else the name it asked for.
  const guest = isInsideRoot(root, host) ? guestPathOf(root, host) : path;
  return { guest, host, from: 'root' };
}

/** How paths under a root are looked up: a chroot's rules (containers), or qemu -L's. */
export type RootLookup = 'chroot' | 'qemu';

export function resolveUnder(root: ProcessRoot, path: string, lookup: RootLookup): Promise<RootedPath> {
  return lookup === 'qemu' && root.kind === 'directory' ? resolveQemuStyle(root, path) : resolveInRoot(root, path);
}
