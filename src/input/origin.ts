/**
 * Where a core was found, in what form, and the facts its store recorded
 * about the crash (systemd-coredump's xattrs, apport's report fields, ABRT's
 * files), normalised to a few common ones. Plain data: it goes into the
 * bundle's manifest as `origin`.
 */
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import type { CoreSummary } from '../core/model.js';
import type { Origin } from '../core/origin.js';
import type { CompressedForm, CoreForm } from './form.js';

export type CoreStore = 'file' | 'systemd-coredump' | 'apport' | 'apport-coredump' | 'abrt';

/** The origin as the input layer knows it: its forms, stores and embedded compressions. */
export type CoreOrigin = Origin<CoreForm, CoreStore, CompressedForm | 'zlib'>;

export function emptyOrigin(path: string, form: CoreForm, store: CoreStore): CoreOrigin {
  return { path, form, store, compression: null, metadata: {}, executable: null, pid: null, uid: null, signal: null, time: null, cmdline: null };
}

export function intOrNull(s: string | undefined): number | null {
  if (s === undefined || !/^\s*\d+\s*$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

export function isoOrNull(ms: number | null): string | null {
  if (ms === null || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function samePath(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Where the store's metadata and the core's own notes disagree: another pid
 * or another executable means the metadata belongs to another crash (a
 * renamed or copied file), so the user is told.
 */
export function originWarnings(o: CoreOrigin, s: CoreSummary): string[] {
  const out: string[] = [];
  const from = o.store === 'file' ? 'its metadata' : `the ${o.store} metadata`;
  if (o.pid !== null && s.process.pid !== undefined && o.pid !== s.process.pid) {
    out.push(`${from} names pid ${o.pid}, but the core is of pid ${s.process.pid}: the metadata may belong to another crash`);
  }
  if (o.executable && s.executable && !samePath(o.executable, s.executable) && basename(o.executable) !== basename(s.executable)) {
    out.push(`${from} names the executable ${o.executable}, but the core names ${s.executable}`);
  }
  return out;
}
