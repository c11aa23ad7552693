/**
 * What the handler keeps between crashes, under the state directory
 * (/var/lib/corepack, root-only; $COREPACK_STATE_DIR elsewhere):
 *
 *   handler-state.json   what `handler install` replaced: the exact previous
 *                        core_pattern and core_pipe_limit (uninstall puts
 *                        them back), the line it wrote, the configuration
 *   captures.log         one JSON line per crash handled (status shows the last)
 *   rate/<window>/…      rate-limit slots: one directory per capture, made
 *                        with mkdir, which is atomic, so concurrent handlers
 *                        never take more slots than the limit allows
 */
import { randomBytes } from 'node:crypto';
import { appendFile, link, mkdir, open, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../util/atomic.js';
import { DEFAULT_STATE_DIR } from './config.js';

export const STATE_DIR_ENV = 'COREPACK_STATE_DIR';

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env[STATE_DIR_ENV] || DEFAULT_STATE_DIR;
}

export interface InstallRecord {
  /** The core_pattern found at install, byte for byte (without the trailing newline). */
  previousPattern: string;
  previousPipeLimit: number;
  /** The line install wrote. */
  pattern: string;
  pipeLimit: number;
  /** The configuration the handler reads. */
  config: string;
  installedAt: string;
  corepackVersion: string;
}

const STATE_FILE = 'handler-state.json';
const CAPTURES = 'captures.log';
/** The captures log is cut to its newest half past this size. */
const MAX_CAPTURES_LOG = 1024 * 1024;

export async function ensureStateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

export async function readInstallRecord(dir: string): Promise<InstallRecord | null> {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const r = JSON.parse(text) as Partial<InstallRecord>;
  if (typeof r.previousPattern !== 'string' || typeof r.previousPipeLimit !== 'number' || typeof r.pattern !== 'string' || typeof r.config !== 'string') {
    throw new Error(`${join(dir, STATE_FILE)} is not a record corepack-crash handler install wrote`);
  }
  return r as InstallRecord;
}

export async function writeInstallRecord(dir: string, r: InstallRecord): Promise<void> {
  await ensureStateDir(dir);
  await writeFileAtomically(join(dir, STATE_FILE), `${JSON.stringify(r, null, 2)}\n`, 0o600);
}

export async function removeInstallRecord(dir: string): Promise<void> {
  await rm(join(dir, STATE_FILE), { force: true });
}

/** One crash handled, as the captures log and `handler status` show it. */
export interface CaptureRecord {
  time: string;
  pid: number;
  executable: string | null;
  signal: number | null;
  /** 'bundled': a bundle is in the spool; otherwise why not. */
  outcome: 'bundled' | 'skipped' | 'rate-limited' | 'spool-full' | 'failed';
  bundle: string | null;
  /** Where the core was passed on: the previous handler or file, or null. */
  passedOn: string | null;
  /** The task was held this long (the handler's run, start to exit), ms. */
  heldMs: number;
  message: string | null;
}

export async function appendCapture(dir: string, r: CaptureRecord): Promise<void> {
  await ensureStateDir(dir);
  const file = join(dir, CAPTURES);
  await appendFile(file, `${JSON.stringify(r)}\n`, { mode: 0o600 });
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size <= MAX_CAPTURES_LOG) return;
  } finally {
    await fh.close();
  }
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  await writeFileAtomically(file, `${lines.slice(Math.floor(lines.length / 2)).join('\n')}\n`, 0o600);
}

/** The newest `n` captures, oldest first; lines that are not JSON are skipped. */
export async function recentCaptures(dir: string, n: number): Promise<CaptureRecord[]> {
  let text: string;
  try {
    text = await readFile(join(dir, CAPTURES), 'utf8');
  } catch {
    return [];
  }
  const out: CaptureRecord[] = [];
  for (const line of text.split('\n').filter(Boolean).slice(-n)) {
    try {
      out.push(JSON.parse(line) as CaptureRecord);
    } catch {
      // a line cut by a full disk: skipped
    }
  }
  return out;
}

/**
 * Takes one rate-limit slot for a capture of `key` (the executable), or says
 * which limit is reached. The window slides: a slot is a file stamped with
 * its time and taken by link(2) (so concurrent handlers in a crash storm
 * count exactly); one older than the window is reclaimed by a rename, which
 * only one handler wins. Fixed windows (floor(now / window)) let a storm
 * across a boundary through twice.
 */
export async function takeRateSlot(dir: string, key: string, limits: { perExecutable: number; overall: number; windowSeconds: number }, now = Date.now()): Promise<'ok' | 'per-executable' | 'overall'> {
  const base = join(dir, 'rate');
  await mkdir(base, { recursive: true, mode: 0o700 });
  // Fixed windows of earlier versions lived in numbered directories.
  for (const old of await readdir(base).catch(() => [] as string[])) {
    if (/^\d+$/.test(old)) await rm(join(base, old), { recursive: true, force: true }).catch(() => undefined);
  }
  const safeKey = key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'unknown';
  const windowMs = limits.windowSeconds * 1000;
  const unique = (): string => `${process.pid}-${randomBytes(4).toString('hex')}`;
  // A slot is a file made whole (its time set) under another name, then linked
  // into place: link(2) fails if the slot exists, and no one sees it unstamped.
  const claim = async (slot: string): Promise<boolean> => {
    const fresh = `${slot}.new-${unique()}`;
    await writeFile(fresh, '', { flag: 'wx', mode: 0o600 });
    try {
      await utimes(fresh, now / 1000, now / 1000);
      await link(fresh, slot);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await rm(fresh, { force: true });
    }
  };
  const take = async (name: string, limit: number): Promise<string | null> => {
    for (let i = 0; i < limit; i++) {
      const slot = join(base, `${name}.${i}`);
      if (await claim(slot)) return slot;
      const taken = await stat(slot).catch(() => undefined);
      if (!taken || now - taken.mtimeMs < windowMs) continue;
      const expired = `${slot}.expired-${unique()}`;
      try {
        await rename(slot, expired);
      } catch {
        continue; // another handler reclaimed it first
      }
      const moved = await stat(expired).catch(() => undefined);
      if (moved && moved.ino !== taken.ino) {
        // Between our stat and our rename another handler reclaimed it and took it
        // anew: put its slot back (if a third took the free name meanwhile, the
        // storm gets one capture more than the limit, never fewer).
        await link(expired, slot).catch(() => undefined);
        await rm(expired, { force: true });
        continue;
      }
      await rm(expired, { force: true });
      if (await claim(slot)) return slot;
    }
    return null;
  };
  const mine = await take(`exe-${safeKey}`, limits.perExecutable);
  if (mine === null) return 'per-executable';
  if ((await take('all', limits.overall)) === null) {
    // Give the per-executable slot back: this capture does not happen.
    await rm(mine, { force: true });
    return 'overall';
  }
  return 'ok';
}
