/**
 * `ldd EXE` as a fallback source of libraries, for cores without NT_FILE or
 * kinfo_vmentry notes. It only knows what the executable links against now,
 * on this machine: not dlopen'ed libraries, and not what was loaded at the
 * crash. That is why it is a fallback and a cross-check, never the source.
 */
import { capture } from '../util/capture.js';

export interface LddEntry {
  /** The name asked for ("libc.so.6"), or the path for the loader line. */
  name: string;
  /** The resolved path, or undefined for "not found" and the vDSO. */
  path: string | undefined;
}

/** Parses ldd's output lines: "name => /path (0x...)", "/lib64/ld-linux... (0x...)", "name => not found". */
export function parseLdd(text: string): LddEntry[] {
  const out: LddEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('statically linked') || line.includes('not a dynamic executable')) continue;
    let m = /^(\S+) => not found$/.exec(line);
    if (m) {
      out.push({ name: m[1]!, path: undefined });
      continue;
    }
    m = /^(\S+) => (\/.*?) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) {
      out.push({ name: m[1]!, path: m[2]! });
      continue;
    }
    m = /^(\/.*?) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) {
      out.push({ name: m[1]!, path: m[1]! });
      continue;
    }
    m = /^(\S+) \(0x[0-9a-f]+\)$/.exec(line); // linux-vdso.so.1 (0x...)
    if (m) out.push({ name: m[1]!, path: undefined });
  }
  return out;
}

/** Runs ldd on `exe`; returns undefined when ldd is missing or fails (e.g. a foreign-arch binary). */
export async function runLdd(exe: string): Promise<LddEntry[] | undefined> {
  const r = await capture('ldd', [exe], { timeoutMs: 30_000, env: { ...process.env, LC_ALL: 'C' } });
  return r.exitCode === 0 ? parseLdd(r.stdout) : undefined;
}
