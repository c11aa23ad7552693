/**
 * Where a bundle is extracted for replay, and reusing an earlier extraction.
 *
 * A replay directory holds:
 *
 *   DIR/bundle/               the extracted bundle root (manifest.json, core/, sysroot/, debug/)
 *   DIR/replay.gdb            gdb script  (rewritten on every replay)
 *   DIR/replay.lldb           lldb script (rewritten on every replay)
 *   DIR/.corepack/core        symlink to the core, a fixed name for the scripts
 *   DIR/.corepack/state.json  marker, written LAST: which bundle (by the
 *                             sha256 of its manifest) is in DIR/bundle,
 *                             verified and complete
 *
 * Without --dir, DIR is a per-bundle cache directory keyed by the sha256 of
 * the bundle's manifest, so replaying the same bundle again stops reading it
 * after its first entry.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BadOptionError } from '../util/errors.js';
import { writeFileAtomically } from '../util/atomic.js';
import { NotABundleError } from '../bundle/errors.js';
import { stageBundle, type StageOptions } from '../bundle/extract.js';
import { parseManifest, type Manifest } from '../bundle/manifest.js';
import { checksumFailures, verifyChecksums, type ChecksumResult } from '../bundle/checksums.js';
import { BundleVerifyError, ReplayDirError } from './errors.js';
import { isErrnoError } from '../util/errors.js';
import { checkReplayDir } from './script.js';

export { BundleVerifyError };
import { VERSION } from '../version.js';

export const BUNDLE_DIR = 'bundle';
export const STATE_DIR = '.corepack';
const STATE_FILE = 'state.json';
/** 2: keyed by the manifest's sha256 (1 was keyed by the compressed file's, and is never reused). */
const STATE_SCHEMA = 2;

export interface State {
  schema: number;
  /** sha256 of the bundle's manifest.json: what the bundle says about itself. */
  bundleKey: string;
  /** The bundle's manifest schema (1: checksums in the manifest; 2: in SHA256SUMS). */
  manifestSchema: number;
  format: string;
  decompressor: string;
  extractedAt: string;
  corepackVersion: string;
  checksums: ChecksumResult[];
  notes: string[];
}

export interface PreparedBundle {
  /** The replay directory. */
  dir: string;
  /** DIR/bundle. */
  root: string;
  manifest: Manifest;
  /** sha256 of the bundle's manifest.json: the cache key. */
  bundleKey: string;
  /** True when an earlier, complete extraction of the same bundle was reused. */
  reused: boolean;
  state: State;
}

/** $XDG_CACHE_HOME/corepack/bundles, or ~/.cache/corepack/bundles. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.resolve(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'corepack', 'bundles');
}

/** The cache directory for a bundle: 16 hex digits of its manifest's sha256 are plenty to tell bundles apart. */
export function cacheDirFor(sha256: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), sha256.slice(0, 16));
}

async function readState(dir: string): Promise<State | undefined> {
  try {
    const s = JSON.parse(await fs.readFile(path.join(dir, STATE_DIR, STATE_FILE), 'utf8')) as State;
    return s && s.schema === STATE_SCHEMA && typeof s.bundleKey === 'string' ? s : undefined;
  } catch {
    return undefined;
  }
}

async function isDir(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined))?.isDirectory() ?? false;
}

async function reuse(dir: string, key: string): Promise<PreparedBundle | undefined> {
  const state = await readState(dir);
  const root = path.join(dir, BUNDLE_DIR);
  if (!state || state.bundleKey !== key || !(await isDir(root))) return undefined;
  // Our own file, but a bundle's text all the same: validate it again.
  const manifest = parseManifest(await fs.readFile(path.join(root, 'manifest.json'), 'utf8'));
  return { dir, root, manifest, bundleKey: key, reused: true, state };
}

/**
 * Extracts and verifies `bundle` into `chosenDir` (an absolute path, already
 * checked; null: the bundle's cache dir), or reuses a complete earlier
 * extraction of the same bundle there.
 *
 * One pass over the bundle: there is no hashing of the compressed file
 * first. The key is the sha256 of the bundle's manifest.json, known as soon
 * as the first entry has been extracted; if the directory already holds a
 * verified extraction with that key, the extraction stops there. A manifest
 * records when, where and from which core and files the bundle was made (and
 * in schema 2 SHA256SUMS vouches for the manifest itself), so the same
 * manifest means the same bundle; a bundle that only copies another's
 * manifest gets the other's verified files, never its own unverified ones.
 */
export async function prepareBundle(bundle: string, chosenDir: string | null, opts: StageOptions = {}): Promise<PreparedBundle> {
  const st = await fs.stat(bundle);
  if (!st.isFile()) throw new NotABundleError(bundle, 'not a regular file');
  const target = chosenDir ?? cacheRoot();
  return extractOrReuse(bundle, chosenDir, opts).catch((err: unknown) => {
    throw asReplayDirError(err, target, chosenDir === null);
  });
}

/**
 * mkdir -p, one directory at a time: Node's recursive mkdir reports ENOENT
 * for a parent on a read-only file system, where a plain mkdir says EROFS.
 */
async function makeDirs(dir: string, mode: number): Promise<void> {
  const st = await fs.stat(dir).catch(() => undefined);
  if (st) return;
  const parent = path.dirname(dir);
  if (parent !== dir) await makeDirs(parent, mode);
  await fs.mkdir(dir, { mode }).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  });
}

/** errno codes of a directory that cannot take what replay writes. */
const UNWRITABLE: ReadonlySet<string> = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'EFBIG', 'ENOENT', 'ENOTDIR', 'EIO']);

/**
 * A system-call error on `dir`, an ancestor of it or anything inside it, as
 * the ReplayDirError naming `dir`; any other error as it is (the bundle's
 * own read errors name the bundle).
 */
export function asReplayDirError(err: unknown, dir: string, cache: boolean): unknown {
  if (!isErrnoError(err) || !UNWRITABLE.has(err.code) || err instanceof ReplayDirError) return err;
  const at = typeof err.path === 'string' ? path.resolve(err.path) : undefined;
  const related = at !== undefined && (at === dir || dir.startsWith(`${at}/`) || at.startsWith(`${dir}/`));
  return related ? new ReplayDirError(dir, err.code, cache, { cause: err }) : err;
}

async function extractOrReuse(bundle: string, chosenDir: string | null, opts: StageOptions): Promise<PreparedBundle> {
  // Staged where it will be renamed to: the chosen dir, or the cache root (same file system as every cache dir).
  const stageIn = chosenDir ?? cacheRoot();
  await makeDirs(stageIn, chosenDir ? 0o755 : 0o700);
  if (!(await isDir(stageIn))) throw new BadOptionError('--dir', stageIn, `${stageIn} is not a directory`, 'pass --dir with a directory, or a path that does not exist yet');

  let dir = stageIn;
  let key = '';
  let earlier: PreparedBundle | undefined;
  const onManifest = async (_m: Manifest, manifestSha256: string): Promise<'continue' | 'stop'> => {
    key = manifestSha256;
    if (!chosenDir) {
      dir = checkReplayDir(cacheDirFor(key));
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    }
    earlier = await reuse(dir, key);
    if (earlier) return 'stop';
    const root = path.join(dir, BUNDLE_DIR);
    if ((await fs.lstat(root).catch(() => undefined)) && !(await isDir(path.join(dir, STATE_DIR)))) {
      throw new BadOptionError('--dir', dir, `${root} already exists and was not made by corepack`, 'pass another --dir, or remove it');
    }
    return 'continue';
  };

  let staged: Awaited<ReturnType<typeof stageBundle>>;
  try {
    staged = await stageBundle(bundle, stageIn, { ...opts, onManifest });
  } catch (err) {
    // A cache dir made for this bundle's key stays only if it holds something: a refused bundle leaves no trace.
    if (!chosenDir && dir !== stageIn) await fs.rmdir(dir).catch(() => undefined);
    throw err;
  }
  if (staged === null) return earlier!;
  const root = path.join(dir, BUNDLE_DIR);
  const stateDir = path.join(dir, STATE_DIR);
  const checksums = verifyChecksums(staged.manifest, staged.files, staged.checksums);
  if (checksumFailures(checksums).length > 0) {
    await staged.discard();
    if (!chosenDir) await fs.rmdir(dir).catch(() => undefined);
    throw new BundleVerifyError(checksums);
  }
  const state: State = {
    schema: STATE_SCHEMA,
    bundleKey: key,
    manifestSchema: staged.manifest.schema,
    format: staged.format,
    decompressor: staged.program,
    extractedAt: new Date().toISOString(),
    corepackVersion: VERSION,
    checksums,
    notes: staged.notes,
  };
  try {
    // Replacing an earlier bundle: unmark first, so a crash half-way is never taken for complete.
    await fs.mkdir(stateDir, { recursive: true, mode: 0o755 });
    await fs.rm(path.join(stateDir, STATE_FILE), { force: true });
    if (await fs.lstat(root).catch(() => undefined)) {
      const old = path.join(staged.tempDir, 'old');
      await fs.rename(root, old);
    }
    await staged.commit(root);
  } catch (err) {
    await staged.discard();
    // Another replay of the same bundle may have won the race: use its result.
    const other = await reuse(dir, key);
    if (other) return other;
    throw err;
  }
  await writeFileAtomically(path.join(stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  return { dir, root, manifest: staged.manifest, bundleKey: key, reused: false, state };
}
