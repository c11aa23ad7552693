/**
 * The single executable's files: Node's SEA (npm run dist) carries
 * templates/ as assets, and gdb reads report.py from a file, so they are
 * written once per version and content into a directory of their own under
 * the cache (or the temporary directory where the cache cannot be written).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMPLATE_NAMES = ['replay.gdb', 'replay.lldb', 'report.py'] as const;

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string, encoding: string): string;
}

/** node:sea, without importing it where Node lacks it (process.getBuiltinModule: Node ≥ 20.16). */
function sea(): SeaModule | undefined {
  const get = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  try {
    return get?.('node:sea') as SeaModule | undefined;
  } catch {
    return undefined;
  }
}

export function runsAsSea(): boolean {
  return sea()?.isSea() === true;
}

function writeInto(dir: string, files: ReadonlyArray<readonly [string, string]>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [name, text] of files) {
    const target = path.join(dir, name);
    try {
      if (readFileSync(target, 'utf8') === text) continue;
    } catch {
      // not there yet
    }
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, target);
  }
}

/** The directory holding the single executable's templates, written on first use. */
export function seaTemplateDir(): string {
  const s = sea()!;
  const files = TEMPLATE_NAMES.map((n) => [n, s.getAsset(`templates/${n}`, 'utf8')] as const);
  const key = createHash('sha256').update(files.map(([n, t]) => `${n}\0${t}`).join('\0')).digest('hex').slice(0, 16);
  try {
    // os.homedir() throws where there is no HOME and no passwd entry (a bare chroot).
    const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
    const dir = path.join(cache, 'corepack', 'templates', key);
    writeInto(dir, files);
    return dir;
  } catch {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'corepack-templates-'));
    writeInto(tmp, files);
    return tmp;
  }
}
