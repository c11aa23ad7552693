import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { packageRoot, readPackageJson } from './util/pkgroot.js';

/** What a build records about itself (scripts/build-info.mjs writes dist/build-info.json; the single executable has it built in). */
export interface BuildInfo {
  version: string;
  /** The git commit built from ("…-dirty" with uncommitted changes), or null where none was known. */
  commit: string | null;
  builtAt: string | null;
}

/** esbuild's `define` in the single executable (scripts/dist.mjs); undeclared anywhere else. */
declare const COREPACK_BUILD_INFO: BuildInfo | undefined;

function buildInfo(): BuildInfo {
  if (typeof COREPACK_BUILD_INFO !== 'undefined') return COREPACK_BUILD_INFO;
  const root = packageRoot(import.meta.url);
  const pkg = readPackageJson(`${root}/package.json`) as { version?: string } | undefined;
  const file = readPackageJson(`${root}/dist/build-info.json`) as Partial<BuildInfo> | undefined;
  return { version: pkg?.version ?? file?.version ?? '0.0.0', commit: file?.commit ?? null, builtAt: file?.builtAt ?? null };
}

export const BUILD: BuildInfo = buildInfo();

/** The package version. */
export const VERSION: string = BUILD.version;

/** Whether this runs as a Node.js single executable (npm run dist). */
export function isSingleExecutable(): boolean {
  return typeof COREPACK_BUILD_INFO !== 'undefined';
}

/** The commit of a checkout (the package root holds .git): asked of git only when --version is, never at start-up. */
function checkoutCommit(): string | null {
  const root = packageRoot(import.meta.url);
  if (!existsSync(`${root}/.git`)) return null;
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return `${head}${dirty ? '-dirty' : ''}`;
  } catch {
    return null;
  }
}

/** `--version`: "corepack-crash 0.1.0 (commit …, built …), Node.js v24.… (built in)". */
export function versionText(): string {
  // A checkout's own git answers first: its dist/build-info.json may be from an older build.
  const live = isSingleExecutable() ? null : checkoutCommit();
  const commit = live ?? BUILD.commit;
  const built = [`commit ${commit ?? 'unknown'}`, ...(BUILD.builtAt && !live ? [`built ${BUILD.builtAt}`] : [])].join(', ');
  const node = `Node.js ${process.version} (${isSingleExecutable() ? 'built in: a single executable' : process.execPath})`;
  return `corepack-crash ${VERSION} (${built}), ${node}`;
}
