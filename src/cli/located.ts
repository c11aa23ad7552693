/**
 * The CLI's way to a core: find the plain core behind what the user named
 * (src/input), open it accepting a cut core whose notes are complete, and add
 * what the user must be told (truncation, metadata disagreeing with the core)
 * to the summary's warnings.
 */
import { CoreFile } from '../core/open.js';
import type { FileLookup } from '../core/files.js';
import type { CoreSummary } from '../core/model.js';
import { describeTruncation, type Truncation } from '../core/truncation.js';
import { locateCore, type LocatedCore } from '../input/locate.js';
import { originWarnings, type CoreOrigin } from '../input/origin.js';

export interface ReadCore {
  summary: CoreSummary;
  truncation: Truncation | undefined;
}

/** Opens the located core, decodes it, closes it; warnings added to summary.warnings. */
export async function readLocatedCore(located: LocatedCore, lookup: FileLookup = {}): Promise<ReadCore> {
  const core = await CoreFile.open(located.file, { allowTruncated: true, ...lookup });
  try {
    const summary = core.summary;
    const truncation = describeTruncation(core.elf, summary.threads);
    if (truncation) summary.warnings.unshift(truncation.message);
    summary.warnings.push(...originWarnings(located.origin, summary));
    return { summary, truncation };
  } finally {
    await core.close();
  }
}

export async function withLocatedCore<T>(path: string, signal: AbortSignal | undefined, fn: (located: LocatedCore) => Promise<T>): Promise<T> {
  const located = await locateCore(path, { signal });
  try {
    return await fn(located);
  } finally {
    await located.dispose();
  }
}

/** "zstd, stored by systemd-coredump": how a core's form is told in one phrase; '' for a plain file. */
export function originText(o: CoreOrigin): string {
  if (o.form === 'raw' && o.store === 'file') return '';
  const form = o.form === 'raw' ? 'plain ELF' : o.form;
  const inner = o.compression ? ` (core ${o.compression}-compressed)` : '';
  const store = o.store === 'file' ? '' : `, stored by ${o.store}`;
  return `${form}${inner}${store}`;
}

/** The origin as it goes into JSON (inspect --json, list --json, the manifest). */
export function originJson(o: CoreOrigin): { [key: string]: string | number | null | { [key: string]: string } } {
  return { ...o, metadata: { ...o.metadata } };
}
