/**
 * The note a mini core carries about itself (collect --stacks-only): which
 * core it was cut from and how much of it was kept. A mini core can travel
 * without its bundle, so it says this itself; the bundle's manifest lists
 * every kept range as well.
 *
 * The descriptor is UTF-8 JSON (small, self-describing, and readable with
 * `eu-readelf -n` + a hex dump):
 *   {"format":"corepack-mini-core","version":1,
 *    "cutFrom":{"path":…,"size":…,"sha256":…},"ranges":N,"bytes":N,"stackCap":N|null}
 */
import { NOTE_OWNER_COREPACK, NT_COREPACK } from '../elf/constants.js';
import type { Note } from '../elf/notes.js';

export const MINI_CORE_FORMAT = 'corepack-mini-core';
export const MINI_CORE_VERSION = 1;

export interface MiniCoreNote {
  /** The full core it was cut from, as collect found it. */
  cutFrom: { path: string; size: number; sha256: string | null };
  /** Memory ranges kept, and their bytes in all. */
  ranges: number;
  bytes: number;
  /** --stack-cap in bytes; null: every stack kept whole. */
  stackCap: number | null;
}

export function encodeMiniCoreNote(n: MiniCoreNote): { name: string; n_type: number; desc: Buffer } {
  const desc = Buffer.from(JSON.stringify({ format: MINI_CORE_FORMAT, version: MINI_CORE_VERSION, ...n }), 'utf8');
  return { name: NOTE_OWNER_COREPACK, n_type: NT_COREPACK.NT_COREPACK_MINICORE, desc };
}

/** The mini-core note among `notes`, checked field by field (a core is untrusted input); undefined when absent or malformed. */
export function findMiniCoreNote(notes: readonly Note[]): MiniCoreNote | undefined {
  const note = notes.find((n) => n.name === NOTE_OWNER_COREPACK && n.n_type === NT_COREPACK.NT_COREPACK_MINICORE);
  if (!note) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(note.desc.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (r.format !== MINI_CORE_FORMAT) return undefined;
  const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
  const from = (typeof r.cutFrom === 'object' && r.cutFrom !== null ? r.cutFrom : {}) as Record<string, unknown>;
  const sha = typeof from.sha256 === 'string' && /^[0-9a-f]{64}$/.test(from.sha256) ? from.sha256 : null;
  return {
    cutFrom: { path: typeof from.path === 'string' ? from.path : '', size: count(from.size) ?? 0, sha256: sha },
    ranges: count(r.ranges) ?? 0,
    bytes: count(r.bytes) ?? 0,
    stackCap: count(r.stackCap) ?? null,
  };
}
