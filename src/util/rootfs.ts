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
    readonly root: string,
    /** ENOENT, ENOTDIR, ELOOP, EACCES: as the kernel would have said. */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} under ${root}: ${code}`, options);
  }
}

/** Joins a guest path onto the root without ever leaving it. */
export function hostPathOf(root: string, guest: string): string {
  const normal = posix.normalize(`/${guest}`);
  return root === '/' ? normal : posix.join(root, normal);
}

/**
 * Resolves absolute `path` under `root` (an absolute, already canonical host
 * directory). Throws RootResolveError when a component is missing, a loop
 * is found, or a directory cannot be read.
 */
export async function resolveInRoot(root: string, path: string): Promise<RootedPath> {
  if (!path.startsWith('/')) throw new RootResolveError(path, root, 'ENOENT');
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
      throw new RootResolveError(path, root, (err as NodeJS.ErrnoException).code ?? 'ENOENT', { cause: err });
    }
    if (!st.isSymbolicLink()) {
      if (pending.length > 0 && !st.isDirectory()) throw new RootResolveError(path, root, 'ENOTDIR');
      done.push(seg);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new RootResolveError(path, root, 'ELOOP');
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
export async function resolveQemuStyle(root: string, path: string): Promise<RootedPath> {
  if (!path.startsWith('/')) throw new RootResolveError(path, root, 'ENOENT');
  const under = hostPathOf(root, path);
  const exists = await access(under).then(() => true, () => false);
  const chosen = exists ? under : path;
  let host: string;
  try {
    host = await realpath(chosen);
  } catch (err) {
    throw new RootResolveError(path, root, (err as NodeJS.ErrnoException).code ?? 'ENOENT', { cause: err });
  }
  if (!exists) return { guest: host, host, from: 'host' };
  // The guest's name for it: inside the root when its links stay there, else the name it asked for.
  const guest = root === '/' ? host : host.startsWith(`${root}/`) ? host.slice(root.length) : path;
  return { guest, host, from: 'root' };
}

/** How paths under a root are looked up: a chroot's rules (containers), or qemu -L's. */
export type RootLookup = 'chroot' | 'qemu';

export function resolveUnder(root: string, path: string, lookup: RootLookup): Promise<RootedPath> {
  return lookup === 'qemu' && root !== '/' ? resolveQemuStyle(root, path) : resolveInRoot(root, path);
}
