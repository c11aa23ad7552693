/**
 * collect --split: a bundle cut into parts that fit a ticket system's
 * attachment limit, and joined again on the replay side.
 *
 * The parts are plain byte ranges (`NAME.001`, `NAME.002`, … each at most
 * SIZE bytes), so `cat NAME.* > NAME` gives back exactly the bundle and a
 * developer without corepack needs nothing else. Because a part carries no
 * header of its own, a small index beside them, `NAME-parts.sha256`, says how
 * many parts there are, how big and with which sha256: that is what lets a
 * reader tell a lost LAST part from a truncated archive. It is in
 * `sha256sum -c` format (facts in `#` comment lines), and its name is chosen
 * so that `NAME.*` does not match it.
 *
 * This module knows bytes only: the compressed (or encrypted) bundle goes in
 * on the writing side and comes out on the reading side; it never looks
 * inside.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { PartSetError, TooManyPartsError } from './errors.js';

/** Three-digit suffixes keep `NAME.*` in name order; more parts would break that. */
export const MAX_PARTS = 999;
/** Smaller parts make no sense for a ticket system and would only multiply files. */
export const MIN_PART_SIZE = 1024;
/** The index is a few lines per part: anything bigger is not one of ours. */
const MAX_INDEX_BYTES = 256 * 1024;
const INDEX_SUFFIX = '-parts.sha256';
const INDEX_MAGIC = '# corepack split index 1';
const READ_CHUNK = 1 << 20;

/** `NAME.003` */
export function partName(base: string, n: number): string {
  return `${base}.${String(n).padStart(3, '0')}`;
}

/** `NAME-parts.sha256` */
export function indexName(base: string): string {
  return `${base}${INDEX_SUFFIX}`;
}

/** Sizes of the parts of a `total`-byte bundle cut every `partSize` bytes. */
function partSizes(total: number, partSize: number): number[] {
  const n = Math.max(1, Math.ceil(total / partSize));
  return Array.from({ length: n }, (_, i) => (i < n - 1 ? partSize : total - (n - 1) * partSize));
}

export interface SplitIndex {
  /** The bundle's file name (no directory). */
  name: string;
  partSize: number;
  size: number;
  sha256: string;
  parts: Array<{ name: string; size: number; sha256: string }>;
}

export function formatIndex(ix: SplitIndex): string {
  const lines = [
    INDEX_MAGIC,
    `# bundle: ${ix.name}`,
    `# parts: ${ix.parts.length}`,
    `# bytes: ${ix.size}`,
    `# part-size: ${ix.partSize}`,
    `# sha256: ${ix.sha256}`,
    `# check with: sha256sum -c ${indexName(ix.name)}`,
    `# join with:  cat ${ix.name}.[0-9][0-9][0-9] > ${ix.name}   (or: corepack-crash replay ${partName(ix.name, 1)})`,
    ...ix.parts.map((p) => `${p.sha256}  ${p.name}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Reads an index (untrusted: it came with the bundle). `base` is the bundle's name as the index's own name implies. */
export function parseIndex(text: string, base: string, file: string): SplitIndex {
  const bad = (why: string): never => {
    throw new PartSetError(file, `the part index ${path.basename(file)} is not usable: ${why}`);
  };
  const lines = text.split('\n');
  if (lines[0] !== INDEX_MAGIC) bad('it does not start like one corepack writes');
  const facts = new Map<string, string>();
  const sums: Array<{ sha256: string; name: string }> = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const fact = /^# ([a-z0-9-]+): (.*)$/.exec(line);
    if (fact) {
      facts.set(fact[1]!, fact[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sum = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!sum) bad(`a line is neither a comment nor "SHA256  NAME"`);
    sums.push({ sha256: sum![1]!, name: sum![2]! });
  }
  const int = (key: string): number => {
    const v = facts.get(key);
    const n = v !== undefined && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) bad(`no valid "${key}" line`);
    return n;
  };
  const count = int('parts');
  const size = int('bytes');
  const partSize = int('part-size');
  const sha256 = facts.get('sha256') ?? '';
  if (!/^[0-9a-f]{64}$/.test(sha256)) bad('no valid "sha256" line');
  if (facts.get('bundle') !== base) bad(`it is the index of ${JSON.stringify(facts.get('bundle') ?? '')}, not of ${base}`);
  if (count < 1 || count > MAX_PARTS || partSize < 1 || size < 1) bad('its counts are out of range');
  const sizes = partSizes(size, partSize);
  if (sizes.length !== count) bad(`${size} bytes in parts of ${partSize} are not ${count} parts`);
  if (sums.length !== count) bad(`it lists ${sums.length} checksums for ${count} parts`);
  const parts = sums.map((s, i) => {
    const want = partName(base, i + 1);
    if (s.name !== want) bad(`line ${i + 1} names ${JSON.stringify(s.name)}, expected ${want}`);
    return { name: want, size: sizes[i]!, sha256: s.sha256 };
  });
  return { name: base, partSize, size, sha256, parts };
}

// ---------------------------------------------------------------------------
// Writing

export interface SplitOutput {
  /** Takes the bundle's bytes; finishes once the last part is closed and synced. */
  writable: Writable;
  /** Puts the parts and then the index under their final names; returns those names, index last. */
  commit(): Promise<string[]>;
  /** Removes every file written (temporary or already renamed). */
  discard(): Promise<void>;
}

/** The part being written, under its temporary name. */
interface OpenPart {
  n: number;
  temp: string;
  handle: fs.FileHandle;
  size: number;
  hash: Hash;
}

/** A part written whole and synced, still under its temporary name. */
interface ClosedPart {
  n: number;
  temp: string;
  size: number;
  sha256: string;
}

/**
 * Cuts the bytes written into `base.001`, `base.002`, … of at most
 * `partSize` bytes, each first under `tempFor(final)` (beside it), so that
 * nothing appears under a final name before commit().
 */
export function createSplitOutput(base: string, partSize: number, tempFor: (final: string) => string): SplitOutput {
  const parts = new PartsBeingWritten(base, partSize, tempFor);
  const writable = partsWritable(parts);
  return {
    writable,
    commit: () => parts.commit(),
    async discard() {
      writable.destroy();
      await parts.removeEverything();
    },
  };
}

/** The Writable that cuts what it is given into the set's parts. */
function partsWritable(parts: PartsBeingWritten): Writable {
  return new Writable({
    highWaterMark: READ_CHUNK,
    write(chunk: Buffer, _enc, cb) {
      parts.write(chunk).then(() => cb(), cb);
    },
    final(cb) {
      parts.finish().then(() => cb(), cb);
    },
    destroy(err, cb) {
      parts.abandonCurrent().then(() => cb(err));
    },
  });
}

/**
 * One split set as it is written, then committed: the parts closed so far,
 * the one open, the whole bundle's size and sha256, and every file on disk
 * that is ours to remove.
 */
class PartsBeingWritten {
  /** Parts written whole and synced, in order. */
  private readonly closed: ClosedPart[] = [];
  private current: OpenPart | undefined;
  /** Every byte written, across parts: the index's size and sha256. */
  private readonly whole = createHash('sha256');
  private total = 0;
  /** Files under temporary names, not yet renamed or removed. */
  private readonly temps = new Set<string>();
  /** Files already under their final names (commit). */
  private readonly renamed: string[] = [];

  constructor(
    private readonly base: string,
    private readonly partSize: number,
    private readonly tempFor: (final: string) => string,
  ) {}

  /** Appends `chunk`, closing a part whenever it is full and opening the next. */
  async write(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const part = await this.partWithRoom();
      const piece = chunk.subarray(off, off + Math.min(this.partSize - part.size, chunk.length - off));
      await writeAll(part.handle, piece, part.size);
      part.hash.update(piece);
      this.whole.update(piece);
      part.size += piece.length;
      this.total += piece.length;
      off += piece.length;
    }
  }

  /** Closes the last part. An empty bundle cannot happen (a tar has headers), but one empty part keeps the set well formed. */
  async finish(): Promise<void> {
    if (!this.current && this.closed.length === 0) this.current = await this.openPart();
    await this.closeCurrent();
  }

  /** The writable was destroyed: the open part is closed, not synced (discard removes it). */
  async abandonCurrent(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.handle.close().catch(() => undefined);
  }

  /** The index, then the parts and the index under their final names (index last); removes a longer earlier set's leftover parts. */
  async commit(): Promise<string[]> {
    const indexFinal = indexName(this.base);
    const indexTemp = await this.writeIndex(indexFinal);
    // Parts first, the index last: a reader that finds the index finds every part it names.
    for (const p of this.closed) await this.rename(p.temp, partName(this.base, p.n));
    await this.rename(indexTemp, indexFinal);
    await removeStaleParts(this.base, this.closed.length + 1);
    await syncDir(path.dirname(this.base));
    return this.renamed.slice();
  }

  /** Removes every file written, under a temporary name or already renamed. */
  async removeEverything(): Promise<void> {
    for (const f of [...this.temps, ...this.renamed]) await fs.unlink(f).catch(() => undefined);
    this.temps.clear();
    this.renamed.length = 0;
  }

  /** The open part when it has room, else the next one. */
  private async partWithRoom(): Promise<OpenPart> {
    if (this.current && this.current.size === this.partSize) await this.closeCurrent();
    this.current ??= await this.openPart();
    return this.current;
  }

  private async openPart(): Promise<OpenPart> {
    const n = this.closed.length + 1;
    if (n > MAX_PARTS) throw new TooManyPartsError(this.base, this.partSize, MAX_PARTS);
    const temp = this.tempFor(partName(this.base, n));
    this.temps.add(temp);
    const handle = await fs.open(temp, 'wx', 0o644);
    return { n, temp, handle, size: 0, hash: createHash('sha256') };
  }

  private async closeCurrent(): Promise<void> {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    try {
      await c.handle.sync();
    } finally {
      await c.handle.close();
    }
    this.closed.push({ n: c.n, temp: c.temp, size: c.size, sha256: c.hash.digest('hex') });
  }

  /** Writes and syncs the index under its temporary name; returns that name. */
  private async writeIndex(indexFinal: string): Promise<string> {
    const name = path.basename(this.base);
    const index: SplitIndex = {
      name,
      partSize: this.partSize,
      size: this.total,
      sha256: this.whole.digest('hex'),
      parts: this.closed.map((p) => ({ name: path.basename(partName(this.base, p.n)), size: p.size, sha256: p.sha256 })),
    };
    const temp = this.tempFor(indexFinal);
    this.temps.add(temp);
    const fh = await fs.open(temp, 'wx', 0o644);
    try {
      await fh.writeFile(formatIndex(index));
      await fh.sync();
    } finally {
      await fh.close();
    }
    return temp;
  }

  private async rename(temp: string, final: string): Promise<void> {
    await fs.rename(temp, final);
    this.temps.delete(temp);
    this.renamed.push(final);
  }
}

/** Writes all of `bytes` at `position` (a write may be partial). */
async function writeAll(handle: fs.FileHandle, bytes: Buffer, position: number): Promise<void> {
  let w = 0;
  while (w < bytes.length) w += (await handle.write(bytes, w, bytes.length - w, position + w)).bytesWritten;
}

/** Parts of an earlier, longer set under the same name, from part `from` on: `cat NAME.*` would join them. */
async function removeStaleParts(base: string, from: number): Promise<void> {
  for (let n = from; n <= MAX_PARTS; n++) {
    const stale = partName(base, n);
    if (!(await fs.lstat(stale).catch(() => undefined))?.isFile()) break;
    await fs.unlink(stale);
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------
// Reading

export interface PartSet {
  /** The bundle's path as if joined (`dir/NAME`). */
  base: string;
  index: string;
  parts: Array<{ path: string; size: number; sha256: string }>;
  size: number;
  sha256: string;
}

/** The bundle a part or index name belongs to, or undefined for any other name. */
function baseOf(file: string): string | undefined {
  if (file.endsWith(INDEX_SUFFIX)) return file.slice(0, -INDEX_SUFFIX.length);
  const m = /^(.+)\.(\d{3})$/.exec(file);
  return m ? m[1] : undefined;
}

const exists = async (p: string): Promise<boolean> => (await fs.stat(p).catch(() => undefined)) !== undefined;

/**
 * The split set `file` belongs to (it may be any part or the index), with
 * every part checked to be there at the size the index says; undefined when
 * `file` is not part of a set (a plain or joined bundle). Throws a
 * PartSetError naming the first part that is missing or damaged.
 */
export async function findPartSet(file: string): Promise<PartSet | undefined> {
  const base = baseOf(file);
  if (base === undefined) return undefined;
  const index = indexName(base);
  const name = path.basename(base);
  let text: string;
  try {
    const fh = await fs.open(index, 'r');
    try {
      const buf = Buffer.alloc(MAX_INDEX_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_INDEX_BYTES) throw new PartSetError(index, `the part index ${path.basename(index)} is larger than ${MAX_INDEX_BYTES} bytes: not one corepack writes`);
      text = buf.toString('utf8', 0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof PartSetError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // Without its index, a numbered name is a part only beside its siblings: a lone `x.001`, or a
    // `core.456` with no `core.001` (the kernel's core of pid 456, with core_pattern core.%p), is just a file.
    if (!(await exists(partName(base, 1))) || (file.endsWith('.001') && !(await exists(partName(base, 2))))) return undefined;
    if (file === index) throw err;
    throw new PartSetError(
      index,
      `${path.basename(file)} is a part of a split bundle, but its index ${path.basename(index)} is missing: it says how many parts there are; ` +
        `ask for it too (or join the parts yourself: cat ${name}.[0-9][0-9][0-9] > ${name})`,
    );
  }
  const ix = parseIndex(text, name, index);
  const n = ix.parts.length;
  const parts: PartSet['parts'] = [];
  for (const [i, p] of ix.parts.entries()) {
    const full = path.join(path.dirname(base), p.name);
    const st = await fs.stat(full).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PartSetError(full, `part ${i + 1} of ${n} is missing: ${p.name}`, i + 1, n);
      throw err;
    });
    if (!st.isFile()) throw new PartSetError(full, `part ${i + 1} of ${n} is damaged: ${p.name} is not a regular file`, i + 1, n);
    if (st.size !== p.size) throw new PartSetError(full, `part ${i + 1} of ${n} is damaged: ${p.name} is ${st.size} bytes, the index says ${p.size}`, i + 1, n);
    parts.push({ path: full, size: p.size, sha256: p.sha256 });
  }
  return { base, index, parts, size: ix.size, sha256: ix.sha256 };
}

/**
 * The parts' bytes in order, as one stream, each part's sha256 checked when
 * its last byte has been read: a damaged part ends the stream with a
 * PartSetError naming it (so no reader takes a corrupt part for a corrupt bundle).
 */
export function joinParts(set: PartSet): Readable {
  const n = set.parts.length;
  async function* bytes(): AsyncGenerator<Buffer> {
    for (const [i, p] of set.parts.entries()) {
      const hash = createHash('sha256');
      let size = 0;
      const rs = createReadStream(p.path, { highWaterMark: READ_CHUNK });
      try {
        for await (const chunk of rs as AsyncIterable<Buffer>) {
          hash.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      } finally {
        rs.destroy();
      }
      const name = path.basename(p.path);
      if (size !== p.size) throw new PartSetError(p.path, `part ${i + 1} of ${n} is damaged: ${name} changed size while it was read`, i + 1, n);
      if (hash.digest('hex') !== p.sha256) throw new PartSetError(p.path, `part ${i + 1} of ${n} is damaged: the sha256 of ${name} is not the one in ${path.basename(set.index)}`, i + 1, n);
    }
  }
  return Readable.from(bytes(), { objectMode: false, highWaterMark: READ_CHUNK });
}

/**
 * Every part read and checked against the index: the PartSetError of the
 * first damaged one, or undefined when all are intact. A layer above whose
 * bytes failed (an age tag that does not verify) asks this first, so the
 * damaged part is named rather than the whole set.
 */
export async function damagedPart(set: PartSet): Promise<PartSetError | undefined> {
  try {
    for await (const chunk of joinParts(set)) void chunk;
  } catch (err) {
    if (err instanceof PartSetError) return err;
    throw err;
  }
  return undefined;
}
