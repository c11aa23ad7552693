/**
 * Debug info by build ID from debuginfod servers, fetched by corepack itself.
 *
 * gdb has a debuginfod client of its own (Debian's gdb 13 downloads from
 * DEBUGINFOD_URLS by itself), but in the sandbox gdb has no network. So
 * corepack asks each server over the debuginfod HTTP API
 * (GET URL/buildid/BUILDID/debuginfo) outside the sandbox, for each module
 * that has no debug info yet, and writes the answer where gdb's own client
 * keeps it (libdebuginfod's cache: $DEBUGINFOD_CACHE_PATH, else
 * ~/.debuginfod_client_cache when it exists, else
 * $XDG_CACHE_HOME/debuginfod_client or ~/.cache/debuginfod_client; a file
 * BUILDID/debuginfo). gdb is then given the files through a debug-file
 * directory of links inside the replay directory, so it finds them without
 * a network, sandboxed or not.
 *
 * A server that is down or slow costs a bounded wait (DEBUGINFOD_TIMEOUT
 * seconds for the answer and for each pause in the body, 10 by default) and
 * one line, after which it is not asked again in this run.
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildIdDebugPath } from '../util/debugfiles.js';
import { replaceSymlink } from '../util/atomic.js';
import { readBuildIdFromFile } from '../core/image.js';
import { FormatError } from '../elf/errors.js';

/** The wait for a server's answer, and for each pause while its body arrives, unless DEBUGINFOD_TIMEOUT says otherwise. */
export const DEFAULT_DEBUGINFOD_TIMEOUT_S = 10;

/** How many files are fetched at once. */
const PARALLEL = 4;

export interface DebuginfodConfig {
  /** Server base URLs, without a trailing slash, in the order they are asked. */
  urls: readonly string[];
  /** libdebuginfod's cache directory, which gdb's own client reads too. */
  cacheDir: string;
  timeoutMs: number;
}

/** libdebuginfod's cache directory for this environment (debuginfod-client.c, make_cache_path). */
export function debuginfodCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.DEBUGINFOD_CACHE_PATH) return path.resolve(env.DEBUGINFOD_CACHE_PATH);
  const home = env.HOME ?? '/';
  const legacy = path.join(home, '.debuginfod_client_cache');
  if (existsSync(legacy)) return legacy;
  return path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(home, '.cache'), 'debuginfod_client');
}

/** What became of one build ID. */
export type DebuginfodOutcome =
  | { status: 'fetched'; file: string; url: string; bytes: number }
  | { status: 'cached'; file: string }
  | { status: 'not-found'; asked: readonly string[] }
  | { status: 'unavailable'; asked: readonly string[] };

export interface DebuginfodResult {
  outcomes: Map<string, DebuginfodOutcome>;
  /** One line per server that could not be used (down, slow, answering with errors), and per file refused. */
  problems: string[];
}

/** The cache file for a build ID: CACHE/BUILDID/debuginfo. */
export function cacheFile(cacheDir: string, buildId: string): string {
  return path.join(cacheDir, buildId, 'debuginfo');
}

const BUILD_ID = /^[0-9a-f]{2,}$/;

/** Why a request failed, in a few words: the errno of the connection, a timeout, an HTTP status. */
function reason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } } | null;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const code = e?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code) return `${code}${e?.cause?.message ? `: ${e.cause.message}` : ''}`;
  // fetch's own refusals ("bad port") say why in the cause only.
  return e?.cause?.message ?? e?.message ?? String(err);
}

class ServerError extends Error {}

/**
 * Downloads URL into `target` (atomically: a temporary file renamed when
 * complete). Resolves to the size, or null on 404; throws on anything else.
 */
async function download(url: string, target: string, timeoutMs: number): Promise<number | null> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(new DOMException('timeout', 'TimeoutError')), timeoutMs);
  const temp = path.join(path.dirname(target), `.debuginfo.corepack-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    const res = await fetch(url, { signal: controller.signal, redirect: 'follow' });
    if (res.status === 404) {
      await res.body?.cancel().catch(() => undefined);
      return null;
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new ServerError(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const out = await fs.open(temp, 'wx', 0o600);
    let bytes = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(new DOMException('timeout', 'TimeoutError')), timeoutMs);
        await out.write(chunk);
        bytes += chunk.byteLength;
      }
    } finally {
      await out.close();
    }
    await fs.rename(temp, target);
    return bytes;
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function isUsable(file: string): Promise<boolean> {
  const st = await fs.stat(file).catch(() => undefined);
  // libdebuginfod marks "not found" with an empty file: that is not debug info.
  return st !== undefined && st.isFile() && st.size > 0;
}

/** The build ID inside a downloaded file, or null when it is not an ELF file with one. */
async function buildIdOf(file: string): Promise<string | null> {
  try {
    return (await readBuildIdFromFile(file)) ?? null;
  } catch (err) {
    if (err instanceof FormatError) return null;
    throw err;
  }
}

/**
 * Asks the servers, in order, for each build ID's debuginfo, using the cache
 * first. Never throws for a server's failure: that is a line in `problems`.
 */
export async function fetchDebugFiles(buildIds: readonly string[], cfg: DebuginfodConfig): Promise<DebuginfodResult> {
  const outcomes = new Map<string, DebuginfodOutcome>();
  const problems: string[] = [];
  const down = new Set<string>();
  const wanted = [...new Set(buildIds.map((b) => b.toLowerCase()))].filter((b) => BUILD_ID.test(b));

  async function one(buildId: string): Promise<void> {
    const target = cacheFile(cfg.cacheDir, buildId);
    if (await isUsable(target)) {
      outcomes.set(buildId, { status: 'cached', file: target });
      return;
    }
    const asked: string[] = [];
    let answered = false;
    for (const base of cfg.urls) {
      if (down.has(base)) continue;
      asked.push(base);
      const url = `${base}/buildid/${buildId}/debuginfo`;
      let bytes: number | null;
      try {
        bytes = await download(url, target, cfg.timeoutMs);
      } catch (err) {
        if (!down.has(base)) {
          down.add(base);
          problems.push(`debuginfod ${base}: ${reason(err, cfg.timeoutMs)}; not asked again in this replay`);
        }
        continue;
      }
      answered = true;
      if (bytes === null) continue;
      const got = await buildIdOf(target);
      if (got !== buildId) {
        await fs.rm(target, { force: true });
        problems.push(`debuginfod ${base}: the file served for build ID ${buildId} ${got ? `has build ID ${got}` : 'is not an ELF file with a build ID'}; ignored`);
        continue;
      }
      outcomes.set(buildId, { status: 'fetched', file: target, url, bytes });
      return;
    }
    outcomes.set(buildId, answered ? { status: 'not-found', asked } : { status: 'unavailable', asked });
  }

  const queue = [...wanted];
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) await one(id);
    }),
  );
  return { outcomes, problems };
}

/**
 * A debug-file directory for gdb holding a link per fetched file
 * (DIR/.build-id/xx/yyyy.debug → the cache file), rebuilt on every replay.
 * Returns the directory, or null when there is nothing to link.
 */
export async function linkDebugFiles(dir: string, files: ReadonlyMap<string, string>): Promise<string | null> {
  await fs.rm(dir, { recursive: true, force: true });
  if (files.size === 0) return null;
  for (const [buildId, file] of files) {
    const rel = buildIdDebugPath(buildId);
    if (!rel) continue;
    const link = path.join(dir, rel);
    await fs.mkdir(path.dirname(link), { recursive: true });
    await replaceSymlink(file, link);
  }
  return dir;
}
