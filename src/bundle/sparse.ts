/**
 * GNU tar's sparse files, PAX format 1.0 — the form GNU tar (`--sparse
 * --sparse-version=1.0`) writes, and GNU tar and bsdtar extract:
 *
 *   - a pax extended header ('x') with GNU.sparse.major=1, GNU.sparse.minor=0,
 *     GNU.sparse.name=<the real name> and GNU.sparse.realsize=<its size>;
 *   - a regular file header named <dir>/GNUSparseFile.0/<base> (so a tar
 *     that knows no sparse files extracts the stored form under another name,
 *     never a wrong file under the real one), its size that of what follows;
 *   - the map, in decimal text: the number of data regions, then each
 *     region's offset and length, one number a line, zero-padded to 512;
 *   - the regions' bytes, one after the other. What lies between is zeros.
 *
 * A kernel core is mostly holes and untouched pages: the bundle stores only
 * the data, and an extracted core gets its holes back (SHA256SUMS hashes the
 * file as extracted, zeros included).
 */
import { posix } from 'node:path';

const BLOCK = 512;

/** One run of data; everything between runs is zeros. */
export interface SparseRegion {
  offset: number;
  length: number;
}

/** The name the file header carries: GNU tar's `%d/GNUSparseFile.%p/%f`, with 0 for the process id. */
export function sparseStoredName(path: string): string {
  const dir = posix.dirname(path);
  return `${dir === '.' ? '' : `${dir}/`}GNUSparseFile.0/${posix.basename(path)}`;
}

/** One pax record: "<length> <key>=<value>\n", the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const n = Buffer.byteLength(body);
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  return `${len}${body}`;
}

/** The pax records of a 1.0 sparse file: `name` and `realSize` are the file's as extracted. */
export function sparsePaxBody(name: string, realSize: number): string {
  return paxRecord('GNU.sparse.major', '1') + paxRecord('GNU.sparse.minor', '0') + paxRecord('GNU.sparse.name', name) + paxRecord('GNU.sparse.realsize', String(realSize));
}

/**
 * The map as stored before the data, padded to a whole block. A file ending
 * in a hole gets a last, empty region at its end, as GNU tar writes it (that
 * is how an extractor without the pax size learns the length).
 */
export function formatSparseMap(regions: readonly SparseRegion[], realSize: number): Buffer {
  const all = [...regions];
  const last = all.at(-1);
  if (!last || last.offset + last.length < realSize) all.push({ offset: realSize, length: 0 });
  let text = `${all.length}\n`;
  for (const r of all) text += `${r.offset}\n${r.length}\n`;
  const raw = Buffer.from(text, 'latin1');
  const out = Buffer.alloc(Math.ceil(raw.length / BLOCK) * BLOCK);
  raw.copy(out);
  return out;
}

/** Bytes of data the regions hold. */
export function sparseDataBytes(regions: readonly SparseRegion[]): number {
  return regions.reduce((a, r) => a + r.length, 0);
}

/** What a pax header says about a sparse file, or null when it says nothing about one. */
export interface SparseHeader {
  major: string | undefined;
  minor: string | undefined;
  name: string | undefined;
  realSize: number | undefined;
}

/** The GNU.sparse.* records of a pax extended header's body (node-tar's parser keeps only the standard keys). */
export function parseSparsePax(body: string): SparseHeader | null {
  const found: Record<string, string> = {};
  let at = 0;
  const buf = Buffer.from(body, 'utf8');
  while (at < buf.length) {
    const space = buf.indexOf(0x20, at);
    if (space < 0) break;
    const len = Number(buf.toString('latin1', at, space));
    if (!Number.isSafeInteger(len) || len <= space - at || at + len > buf.length) break;
    const rec = buf.toString('utf8', space + 1, at + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.startsWith('GNU.sparse.')) found[rec.slice(0, eq)] = rec.slice(eq + 1);
    at += len;
  }
  if (Object.keys(found).length === 0) return null;
  const size = found['GNU.sparse.realsize'] ?? found['GNU.sparse.size'];
  return {
    major: found['GNU.sparse.major'],
    minor: found['GNU.sparse.minor'],
    name: found['GNU.sparse.name'],
    realSize: size !== undefined && /^\d{1,16}$/.test(size) ? Number(size) : undefined,
  };
}

/**
 * Reads the map at the start of a sparse entry's data, chunk by chunk, and
 * checks it against what the entry can hold: regions in order, inside the
 * file, no overlap, their bytes exactly what follows the map. An entry is
 * untrusted: every violation is an Error naming it (the caller refuses the
 * bundle).
 */
export class SparseMapReader {
  private text = '';
  regions: SparseRegion[] | null = null;

  constructor(
    /** The stored entry's size (map and data). */
    private readonly storedSize: number,
    /** The file's size as extracted. */
    private readonly realSize: number,
    /** At most this many regions (a map is a few bytes a region: this bounds the memory it takes). */
    private readonly maxRegions = 1 << 20,
  ) {}

  /** Feeds bytes; returns the data that follows the map once it is complete (possibly empty), else null. */
  push(chunk: Buffer): Buffer | null {
    if (this.regions) {
      // The map's padding may run on into later chunks.
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      return n ? chunk.subarray(n) : chunk;
    }
    const before = this.consumed;
    this.consumed += chunk.length;
    // The map is ASCII digits and newlines: latin1 keeps one character a byte.
    this.text += chunk.toString('latin1');
    const lines = this.text.split('\n');
    const count = Number(lines[0]);
    if (lines.length > 1 && !/^\d{1,8}$/.test(lines[0]!)) throw new Error(`its sparse map does not start with a count (${JSON.stringify(lines[0]!.slice(0, 20))})`);
    if (lines.length > 1 && count > this.maxRegions) throw new Error(`its sparse map lists ${count} regions, more than ${this.maxRegions}`);
    if (lines.length === 1 || lines.length < 2 + 2 * count) {
      if (this.consumed >= this.storedSize || this.text.length > 36 * (2 * this.maxRegions + 1)) throw new Error('its sparse map is cut short');
      return null;
    }
    const numbers = lines.slice(1, 1 + 2 * count);
    let textLen = lines[0]!.length + 1;
    for (const n of numbers) {
      if (!/^\d{1,16}$/.test(n)) throw new Error(`its sparse map holds ${JSON.stringify(n.slice(0, 20))}, not a number`);
      textLen += n.length + 1;
    }
    this.text = '';
    const mapLen = Math.ceil(textLen / BLOCK) * BLOCK;
    if (mapLen > this.storedSize) throw new Error('its sparse map is longer than the entry');
    const regions: SparseRegion[] = [];
    let end = 0;
    for (let i = 0; i < count; i++) {
      const offset = Number(numbers[2 * i]);
      const length = Number(numbers[2 * i + 1]);
      if (offset < end) throw new Error('its sparse map has regions out of order or overlapping');
      if (offset + length > this.realSize) throw new Error(`its sparse map has a region past the file's end (${this.realSize} bytes)`);
      if (length > 0) regions.push({ offset, length });
      end = offset + length;
    }
    const stored = mapLen + sparseDataBytes(regions);
    if (stored !== this.storedSize) throw new Error(`its sparse map accounts for ${stored} bytes, the entry holds ${this.storedSize}`);
    this.regions = regions;
    // The map was not complete before this chunk, so it ends in it or after it.
    const inChunk = mapLen - before;
    if (inChunk >= chunk.length) {
      this.skip = inChunk - chunk.length;
      return Buffer.alloc(0);
    }
    return chunk.subarray(inChunk);
  }

  /** Padding of the map still to come in later chunks. */
  private skip = 0;
  private consumed = 0;
}
