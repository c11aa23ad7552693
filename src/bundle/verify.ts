/**
 * Verification of the bundled files against the core.
 *
 * Two different questions:
 *  - checksums: is every file exactly what collect packed? (sha256, computed
 *    while extracting; src/bundle/checksums.ts, loaded without the core
 *    reader). A mismatch means a corrupt or tampered bundle, and replay
 *    refuses to start gdb on it.
 *  - build IDs (here): is every bundled file the one the crashed process had mapped?
 *    The core's memory records each module's GNU build ID; gdb loads a file
 *    with the right name but the wrong contents silently and then shows wrong
 *    function names, so replay names every mismatch with both IDs.
 */
import * as path from 'node:path';
import { CoreFile } from '../core/open.js';
import { readBuildIdFromFile } from '../core/image.js';
import type { CoreSummary, Module } from '../core/model.js';
import { FormatError } from '../elf/errors.js';
import type { Manifest, ManifestFile } from './manifest.js';
import { rootAt } from '../util/rootfs.js';

export { checksumFailures, verifyChecksums, type ChecksumResult, type ChecksumStatus, type Measured } from './checksums.js';

export type BuildIdStatus = 'ok' | 'mismatch' | 'not-bundled' | 'no-build-id';

export interface BuildIdCheck {
  /** The module's name in the core: the customer's resolved path, or the loader's name. */
  module: string;
  kind: Module['kind'];
  /** Build ID the core's memory recorded for this module. */
  inCore: string | null;
  /** Build ID of the bundled file. */
  inBundle: string | null;
  /** The manifest entry matched to this module, by path or alias. */
  manifestPath: string | null;
  /** Absolute path of the extracted file, when bundled. */
  localPath: string | null;
  status: BuildIdStatus;
  message: string | null;
}

/** The manifest file for a core module: same customer path, or the module's names among its aliases. */
export function matchModule(manifest: Manifest, m: Pick<Module, 'path' | 'linkMapName' | 'kind'>): ManifestFile | undefined {
  const names = [m.path, m.linkMapName].filter((n): n is string => typeof n === 'string' && n.startsWith('/'));
  const candidates = manifest.files.filter((f) => f.role !== 'debug');
  for (const n of names) {
    const byPath = candidates.find((f) => f.path === n);
    if (byPath) return byPath;
  }
  for (const n of names) {
    const byAlias = candidates.find((f) => f.aliases.includes(n));
    if (byAlias) return byAlias;
  }
  if (m.kind === 'executable') return candidates.find((f) => f.role === 'executable');
  return undefined;
}

/**
 * Re-reads the extracted core and compares each module's build ID with the
 * bundled file's. The vDSO is skipped: gdb reads it from the core itself.
 */
export async function checkBuildIds(root: string, manifest: Manifest): Promise<{ checks: BuildIdCheck[]; summary: CoreSummary }> {
  // Objects whose headers the core lacks are placed from the bundled files,
  // looked up inside the bundle's sysroot only.
  const exe = manifest.files.find((f) => f.role === 'executable' && f.bundlePath !== null && f.bundlePath.startsWith('sysroot/'));
  // A bundle of a cut core (collect warned, exit 4) is replayed with what its notes give.
  const core = await CoreFile.open(path.join(root, manifest.core.bundlePath), {
    allowTruncated: true,
    root: rootAt(path.join(root, 'sysroot')),
    executable: exe ? path.join(root, exe.bundlePath!) : undefined,
  });
  let summary: CoreSummary;
  try {
    summary = core.summary;
  } finally {
    await core.close();
  }
  const modules = summary.modules;
  const checks: BuildIdCheck[] = [];
  for (const m of modules) {
    if (m.kind === 'vdso') continue;
    const name = m.path ?? m.linkMapName ?? (m.kind === 'executable' ? manifest.executable?.path : undefined) ?? '(unnamed module)';
    const f = matchModule(manifest, m);
    const inCore = m.buildId ?? null;
    const base = { module: name, kind: m.kind, inCore, manifestPath: f?.path ?? null };
    if (!f || f.bundlePath === null) {
      const why = f?.message ? `: ${f.message}` : '';
      checks.push({ ...base, inBundle: null, localPath: null, status: 'not-bundled', message: `${name} is not in the bundle${why}; gdb will show no symbols for it` });
      continue;
    }
    const localPath = path.join(root, f.bundlePath);
    let inBundle: string | null = null;
    try {
      inBundle = (await readBuildIdFromFile(localPath)) ?? null;
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      checks.push({ ...base, inBundle: null, localPath, status: 'mismatch', message: `${name}: the bundled file ${f.bundlePath} is not a usable ELF file (${err.message})` });
      continue;
    }
    if (inCore === null || inBundle === null) {
      const which = inCore === null ? 'the core does not record one' : 'the bundled file has none';
      checks.push({ ...base, inBundle, localPath, status: 'no-build-id', message: `${name}: no build ID to compare (${which}); it cannot be proved to be the crashed process's file` });
    } else if (inCore !== inBundle) {
      checks.push({
        ...base,
        inBundle,
        localPath,
        status: 'mismatch',
        message: `${name}: the core recorded build ID ${inCore}, the bundled file has ${inBundle}: it is not the file the process had loaded, and gdb would use it silently (wrong symbols)`,
      });
    } else checks.push({ ...base, inBundle, localPath, status: 'ok', message: null });
  }
  return { checks, summary };
}
