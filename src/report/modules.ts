/**
 * Each module's build-ID check and debug info, as the report words them:
 * from replay's checks of a bundle, or from this machine's files for a core
 * read where it crashed.
 */
import type { Module } from '../core/model.js';
import { readBuildIdFromFile } from '../core/image.js';
import { FormatError } from '../elf/errors.js';
import type { BuildIdCheck } from '../bundle/verify.js';
import { findDebugInfo, type ModuleDebugInfo } from '../replay/debuginfo.js';
import type { BuildIdState, DebugState } from './model.js';
import type { ModuleState } from './build.js';

const CHECK: Record<BuildIdCheck['status'], BuildIdState> = { ok: 'exact', mismatch: 'replaced', 'not-bundled': 'missing', 'no-build-id': 'unproven' };

function debugState(d: ModuleDebugInfo | undefined, bundled: boolean): DebugState {
  if (!d) return 'unknown';
  if (d.status === 'embedded') return bundled ? 'bundled' : 'local';
  if (d.status === 'separate') return d.from === 'debuginfod' ? 'debuginfod' : d.from === 'bundle' ? 'bundled' : 'local';
  if (d.status === 'symbols-only') return 'symbols only';
  if (d.status === 'none') return 'none';
  return 'unknown';
}

/** The name replay's checks use for a module. */
const checkName = (m: Pick<Module, 'path' | 'linkMapName'>) => m.path ?? m.linkMapName ?? '';

/** States from replay's build-ID checks and debug-info search of a bundle. */
export function bundleModuleStates(checks: readonly BuildIdCheck[], debugInfo: readonly ModuleDebugInfo[]): (m: Module) => ModuleState {
  return (m) => {
    const name = checkName(m);
    const c = checks.find((x) => x.module === name);
    const d = debugInfo.find((x) => x.module === name);
    return { check: c ? CHECK[c.status] : 'not checked', debugInfo: debugState(d, true) };
  };
}

/**
 * For a core read on the machine it crashed on: each module's file at its
 * path, its build ID against the core's, and where its debug info is.
 */
export async function localModuleStates(modules: readonly Module[], hostDebugDirs: readonly string[]): Promise<{ states: (m: Module) => ModuleState; files: string[] }> {
  const checks: BuildIdCheck[] = [];
  for (const m of modules) {
    if (m.kind === 'vdso' || !m.path) continue;
    let onDisk: string | undefined | null = null;
    try {
      onDisk = await readBuildIdFromFile(m.path);
    } catch (err) {
      if (!(err instanceof FormatError) && !(err as NodeJS.ErrnoException).code) throw err;
      onDisk = null; // missing or not an ELF file any more
    }
    const status: BuildIdCheck['status'] = onDisk === null ? 'not-bundled' : !m.buildId || !onDisk ? 'no-build-id' : onDisk === m.buildId ? 'ok' : 'mismatch';
    checks.push({ module: checkName(m), kind: m.kind, inCore: m.buildId ?? null, inBundle: onDisk ?? null, manifestPath: m.path, localPath: onDisk === null ? null : m.path, status, message: null });
  }
  const debugInfo = await findDebugInfo(checks, { bundleDebugDir: '/nonexistent/corepack-no-bundle', hostDebugDirs, debuginfod: false });
  const files = checks.filter((c) => c.status === 'ok' || c.status === 'no-build-id').map((c) => c.localPath!);
  return {
    states: (m) => {
      const c = checks.find((x) => x.module === checkName(m));
      return { check: c ? CHECK[c.status] : 'not checked', debugInfo: debugState(debugInfo.find((x) => x.module === checkName(m)), false) };
    },
    files,
  };
}
