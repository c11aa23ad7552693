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
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { FileReader } from '../elf/reader.js';
import { crc32File } from '../util/digest.js';
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

async function isFile(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isFile() ?? false;
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
    if (buildId && buildId.length > 2) {
      for (const d of dirs) {
        const f = path.join(d.dir, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
        if ((await isFile(f)) && (await hasDwarf(f))) {
          found = { debugFile: f, via: 'build-id', from: d.from };
          break;
        }
      }
    }
    if (!found && summary.debugLink) {
      const link = summary.debugLink;
      const localDir = path.dirname(c.localPath);
      const customerDir = path.posix.dirname(c.manifestPath ?? c.module);
      const candidates = [
        { file: path.join(localDir, link.file), from: 'bundle' as const },
        { file: path.join(localDir, '.debug', link.file), from: 'bundle' as const },
        ...dirs.map((d) => ({ file: path.join(d.dir, customerDir, link.file), from: d.from })),
      ];
      for (const cand of candidates) {
        if (!(await isFile(cand.file))) continue;
        const crc = await crc32File(cand.file);
        if (crc !== undefined && crc !== link.crc) continue; // gdb would reject it too
        if (!(await hasDwarf(cand.file))) continue;
        found = { debugFile: cand.file, via: 'debuglink', from: cand.from };
        break;
      }
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
  if (buildId) parts.push(`or put the file at ${opts.bundleDebugDir}/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`);
  parts.push('or ask for a bundle made with collect --with-debug');
  if (opts.debuginfod) parts.push('DEBUGINFOD_URLS is set: gdb will also ask debuginfod');
  else if (buildId) parts.push('or set DEBUGINFOD_URLS so gdb downloads it');
  return parts.join('; ');
}
