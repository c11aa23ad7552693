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
import type { DebuginfodOutcome } from './debuginfod.js';

export type DebugStatus = 'embedded' | 'separate' | 'symbols-only' | 'none' | 'not-bundled' | 'unreadable';

export interface ModuleDebugInfo {
  module: string;
  buildId: string | null;
  status: DebugStatus;
  /** The separate debug file gdb will use. */
  debugFile: string | null;
  via: 'build-id' | 'debuglink' | null;
  /** Whether the debug file came with the bundle, is the developer's, or corepack fetched it from a debuginfod server. */
  from: 'bundle' | 'host' | 'debuginfod' | null;
  /** The URL it was fetched from (from: 'debuginfod'; null when it was in debuginfod's cache already). */
  url?: string | null;
  /** How to get symbols, for modules without debug info. */
  hint: string | null;
}

export interface DebugInfoOptions {
  /** The bundle's debug/ directory (may not exist). */
  bundleDebugDir: string;
  /** The developer's debug-file-directory list. */
  hostDebugDirs: readonly string[];
  /** debuginfod servers are configured (--debuginfod, DEBUGINFOD_URLS): corepack asks them for what is missing. */
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
  if (!opts.debuginfod && buildId) parts.push('or point replay at a debuginfod server that has it (--debuginfod URL, or DEBUGINFOD_URLS)');
  return parts.join('; ');
}

/**
 * The debug-info list after debuginfod was asked: each module it had a file
 * for becomes "separate, from debuginfod"; the hint of a module it did not
 * have says so.
 */
export function withDebuginfod(infos: readonly ModuleDebugInfo[], outcomes: ReadonlyMap<string, DebuginfodOutcome>): ModuleDebugInfo[] {
  return infos.map((d) => {
    const o = d.buildId ? outcomes.get(d.buildId) : undefined;
    if (!o) return d;
    if (o.status === 'fetched' || o.status === 'cached') {
      return { ...d, status: 'separate', debugFile: o.file, via: 'build-id', from: 'debuginfod', url: o.status === 'fetched' ? o.url : null, hint: null };
    }
    const what = o.status === 'not-found' ? `not on the debuginfod server${o.asked.length === 1 ? '' : 's'} (${o.asked.join(', ')}) either` : 'the debuginfod servers could not be asked';
    return { ...d, hint: `${d.hint ?? d.module}; ${what}` };
  });
}

/** The modules worth asking debuginfod about: bundled, with a build ID, without debug info. */
export function missingDebugInfo(infos: readonly ModuleDebugInfo[]): string[] {
  return infos.filter((d) => (d.status === 'none' || d.status === 'symbols-only') && d.buildId).map((d) => d.buildId!);
}
