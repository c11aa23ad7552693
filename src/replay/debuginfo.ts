/**
 * Debug info per module: can gdb show source lines and variables for it, and
 * if not, how does the developer get them?
 *
 * Looked up the way gdb looks (so the report predicts what gdb will do):
 *  1. DWARF in the file itself (.debug_info);
 *  2. by build ID: <debugdir>/.build-id/xx/yyyy.debug, in the bundle's debug/
 *     dir first, then the developer's debug-file-directory list;
 *  3. by .gnu_debuglink name (CRC-checked, as gdb does): next to the file,
 *     in .debug/ next to it, and <debugdir>/<the file's customer dir>/.
 */
import * as path from 'node:path';
import { FileReader } from '../elf/reader.js';
import { buildIdDebugPath, debugLinkCandidates, firstDebugLinkMatch, isRegularFile } from '../util/debugfiles.js';
import { FormatError } from '../elf/errors.js';
import { summarizeDebugSections, type DebugSummary } from '../elf/sections.js';
import type { BuildIdCheck } from '../bundle/verify.js';

export type DebugStatus = 'embedded' | 'separate' | 'symbols-only' | 'none' | 'not-bundled' | 'unreadable';

export interface ModuleDebugInfo {
  module: string;
  buildId: string | null;
  status: DebugStatus;
  /** The separate debug file gdb will use. */
  debugFile: string | null;
  via: 'build-id' | 'debuglink' | null;
  /** Whether the debug file came with the bundle or is the developer's. */
  from: 'bundle' | 'host' | null;
  /** How to get symbols, for modules without debug info. */
  hint: string | null;
}

export interface DebugInfoOptions {
  /** The bundle's debug/ directory (may not exist). */
  bundleDebugDir: string;
  /** The developer's debug-file-directory list. */
  hostDebugDirs: readonly string[];
  /** DEBUGINFOD_URLS is set: gdb can download what is missing. */
  debuginfod: boolean;
}

async function summarize(file: string): Promise<DebugSummary> {
  const reader = await FileReader.open(file);
  try {
    return await summarizeDebugSections(reader);
  } finally {
    await reader.close();
  }
}

async function hasDwarf(file: string): Promise<boolean> {
  try {
    return (await summarize(file)).hasDebugInfo;
  } catch (err) {
    if (err instanceof FormatError) return false;
    throw err;
  }
}

/** Finds debug info for every module that build-ID checking looked at. */
export async function findDebugInfo(checks: readonly BuildIdCheck[], opts: DebugInfoOptions): Promise<ModuleDebugInfo[]> {
  const dirs = [{ dir: opts.bundleDebugDir, from: 'bundle' as const }, ...opts.hostDebugDirs.map((dir) => ({ dir, from: 'host' as const }))];
  const out: ModuleDebugInfo[] = [];
  for (const c of checks) {
    const buildId = c.inBundle ?? c.inCore;
    const base = { module: c.module, buildId, debugFile: null, via: null, from: null };
    if (c.localPath === null) {
      out.push({ ...base, status: 'not-bundled', hint: null });
      continue;
    }
    let summary: DebugSummary;
    try {
      summary = await summarize(c.localPath);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      out.push({ ...base, status: 'unreadable', hint: `${c.module}: cannot read its sections (${err.message})` });
      continue;
    }
    if (summary.hasDebugInfo) {
      out.push({ ...base, status: 'embedded', hint: null });
      continue;
    }
    let found: Pick<ModuleDebugInfo, 'debugFile' | 'via' | 'from'> | undefined;
    const rel = buildId ? buildIdDebugPath(buildId) : undefined;
    if (rel) {
      for (const d of dirs) {
        const f = path.join(d.dir, rel);
        if ((await isRegularFile(f)) && (await hasDwarf(f))) {
          found = { debugFile: f, via: 'build-id', from: d.from };
          break;
        }
      }
    }
    if (!found && summary.debugLink) {
      const link = summary.debugLink;
      // Beside the extracted file (the bundle's copy), then each debug dir at the customer's directory.
      const candidates = debugLinkCandidates(path.dirname(c.localPath), link.file, dirs, 'bundle' as const, path.posix.dirname(c.manifestPath ?? c.module));
      const match = await firstDebugLinkMatch(candidates, link.crc, (cand) => hasDwarf(cand.file));
      if (match) found = { debugFile: match.file, via: 'debuglink', from: match.from };
    }
    if (found) {
      out.push({ ...base, ...found, status: 'separate', hint: null });
      continue;
    }
    const status: DebugStatus = summary.hasSymtab || summary.hasMiniDebugInfo ? 'symbols-only' : 'none';
    out.push({ ...base, status, hint: howToGetSymbols(c.module, buildId, opts) });
  }
  return out;
}

function howToGetSymbols(module: string, buildId: string | null, opts: DebugInfoOptions): string {
  const name = path.posix.basename(module);
  const parts = [`${name}: no debug info${buildId ? ` (build ID ${buildId})` : ''}`];
  parts.push('install its debug package for exactly that build (Debian/Ubuntu: -dbgsym/-dbg, Fedora/RHEL: debuginfo-install)');
  const rel = buildId ? buildIdDebugPath(buildId) : undefined;
  if (rel) parts.push(`or put the file at ${path.join(opts.bundleDebugDir, rel)}`);
  parts.push('or ask for a bundle made with collect --with-debug');
  if (opts.debuginfod) parts.push('DEBUGINFOD_URLS is set: gdb will also ask debuginfod');
  else if (buildId) parts.push('or set DEBUGINFOD_URLS so gdb downloads it');
  return parts.join('; ');
}
