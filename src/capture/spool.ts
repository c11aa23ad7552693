/**
 * The bundles `corepack handle` left in a spool, for `corepack list`: read
 * from each bundle's manifest (its first entry, decompressed only that far);
 * an encrypted one is described from its name, which says what crashed,
 * its pid and when.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readBundleManifest } from '../bundle/peek.js';
import { readManifestSummary } from '../bundle/manifest.js';
import { sniffBundle } from '../bundle/magic.js';
import { AGE_EXTENSION } from '../bundle/encrypt.js';
import { TEMPORARY_MARK } from '../collect/collect.js';
import { DEFAULT_CONFIG_PATH, loadConfig } from './config.js';
import { readInstallRecord } from './state.js';

export interface SpooledBundle {
  path: string;
  /** When the kernel dumped the core (ISO 8601). */
  time: string;
  pid: number | null;
  signal: string | null;
  executable: string | null;
  size: number;
  encrypted: boolean;
}

const NAME = /^crash-(.+)-(\d+)-(\d{8}T\d{6}Z)\.[a-z0-9.]+$/;

function timeFromStamp(stamp: string): string {
  return `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}.000Z`;
}

/** The spool the installed handler writes to (its configuration's, else the default), or null. */
export async function handlerSpool(stateDir: string): Promise<string | null> {
  try {
    const record = await readInstallRecord(stateDir);
    return (await loadConfig(record?.config ?? DEFAULT_CONFIG_PATH, stateDir)).spool;
  } catch {
    return null;
  }
}

export async function scanSpool(dir: string): Promise<SpooledBundle[]> {
  const out: SpooledBundle[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = NAME.exec(name);
    // Split parts are listed by their first part; temporaries of a running (or killed) handler never.
    if (!m || name.includes(TEMPORARY_MARK) || /\.(?!001$)\d{3}$/.test(name) || name.endsWith('-parts.sha256')) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    const entry: SpooledBundle = { path, time: timeFromStamp(m[3]!), pid: Number(m[2]), signal: null, executable: m[1]!, size: st.size, encrypted: name.includes(AGE_EXTENSION) };
    if (!entry.encrypted && !/\.\d{3}$/.test(name)) {
      try {
        const format = await sniffBundle(path);
        if (format) {
          const manifest = await readBundleManifest(path, format);
          const s = readManifestSummary(manifest);
          entry.signal = s.signal?.name ?? null;
          entry.executable = manifest.executable?.path ?? s.executable ?? entry.executable;
        }
      } catch {
        // a damaged bundle is still listed, from its name
      }
    }
    out.push(entry);
  }
  return out.sort((a, b) => a.time.localeCompare(b.time) || a.path.localeCompare(b.path));
}
