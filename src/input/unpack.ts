/**
 * Unpacking a compressed core once into a temporary file, so the ELF reader
 * keeps its random access.
 *
 * - Sparse: cores are mostly zero pages (untouched heap, guard areas); blocks
 *   of zeros are skipped with positional writes and the file is extended with
 *   ftruncate at the end, so they become holes and cost no disk.
 * - No free-space check up front: a stream's stated size counts the zero
 *   runs, which cost nothing here, so it would refuse cores that fit (a 48 MiB
 *   core with 2 MiB of data). A full disk is found by the write that fails
 *   (ENOSPC), the same for every form, and nothing is left.
 * - Removed on every exit path: errors and aborts here; Ctrl-C through the
 *   AbortSignal the CLI passes; and, as a last resort, a synchronous removal
 *   when the process exits.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, open, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHeader, decodeProgHeaders } from '../elf/file.js';
import { ET, PT } from '../elf/constants.js';
import { Decoder } from '../elf/decoder.js';
import { ELF_LAYOUT } from '../elf/layout.js';
import { DecompressError, NoSpaceError } from './errors.js';
import { abortReason } from '../util/errors.js';
import type { PlainStream } from './decompress.js';

/** Zero runs shorter than this are written: holes are per filesystem block. */
const HOLE_BLOCK = 4096;
const ZEROS = Buffer.alloc(1 << 20);

const live = new Set<string>();
let hooked = false;

/** A directory of our own under TMPDIR; registered for removal at process exit. */
export async function makeTempDir(base = tmpdir()): Promise<string> {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of live) rmSync(d, { recursive: true, force: true });
    });
  }
  const dir = await mkdtemp(join(base, `corepack-unpack-${process.pid}-`));
  live.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  live.delete(dir);
}

/** For tests: the temporary directories still alive in this process. */
export function liveTempDirs(): readonly string[] {
  return [...live];
}

function isZero(buf: Buffer, start: number, end: number): boolean {
  return buf.subarray(start, end).equals(ZEROS.subarray(0, end - start));
}

/** Checks the first bytes are an ELF core header; what it found otherwise. */
function checkCoreHeader(head: Buffer, path: string, form: string): void {
  let type: number;
  try {
    type = decodeHeader(head).e_type;
  } catch {
    throw new DecompressError(path, form, `it decompresses to something that is not an ELF core (first bytes ${head.subarray(0, 8).toString('hex')})`);
  }
  if (type !== ET.ET_CORE) throw new DecompressError(path, form, `it decompresses to an ELF file of type ${type}, not a core (ET_CORE)`);
}

export interface UnpackOptions {
  /** The file the user named and its form, for messages. */
  path: string;
  form: string;
  /** Where the temporary directory goes (default: TMPDIR). */
  tmpBase?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface Unpacked {
  /** The plain core. */
  file: string;
  size: number;
  /** Bytes actually written (the rest are holes). */
  written: number;
  /** Removes the file and its directory. */
  dispose(): Promise<void>;
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

export async function unpackToTemp(stream: PlainStream, opts: UnpackOptions): Promise<Unpacked> {
  const base = opts.tmpBase ?? tmpdir();
  if (opts.signal?.aborted) {
    stream.stop();
    throw abortReason(opts.signal);
  }
  const dir = await makeTempDir(base);
  const file = join(dir, 'core');
  const dispose = () => removeTempDir(dir);
  const onAbort = (): void => stream.stop();
  opts.signal?.addEventListener('abort', onAbort);
  try {
    const fh = await open(file, 'wx', 0o600);
    let pos = 0;
    let written = 0;
    let head = Buffer.alloc(0);
    try {
      for await (const chunk of stream.bytes) {
        if (opts.signal?.aborted) break;
        if (head.length < 64) {
          head = Buffer.concat([head, chunk.subarray(0, 64 - head.length)]);
          if (head.length >= 64) checkCoreHeader(head, opts.path, opts.form);
        }
        // Block boundaries are absolute file offsets, so holes line up with filesystem blocks.
        let i = 0;
        while (i < chunk.length) {
          const blockEnd = Math.min(chunk.length, i + (HOLE_BLOCK - ((pos + i) % HOLE_BLOCK)));
          if (isZero(chunk, i, blockEnd)) {
            i = blockEnd;
            continue;
          }
          // Gather the run of non-zero blocks into one write.
          let j = blockEnd;
          while (j < chunk.length) {
            const next = Math.min(chunk.length, j + HOLE_BLOCK);
            if (isZero(chunk, j, next)) break;
            j = next;
          }
          let off = i;
          while (off < j) {
            const { bytesWritten } = await fh.write(chunk, off, j - off, pos + off);
            off += bytesWritten;
          }
          written += j - i;
          i = j;
        }
        pos += chunk.length;
      }
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      await stream.done;
      if (head.length < 64) {
        if (pos === 0) throw new DecompressError(opts.path, opts.form, 'it decompresses to nothing');
        checkCoreHeader(head, opts.path, opts.form);
      }
      await fh.truncate(pos);
    } finally {
      await fh.close();
    }
    return { file, size: pos, written, dispose };
  } catch (caught) {
    stream.stop();
    await dispose();
    // An interrupt stops the decompressor, whose stream then ends early
    // ("Premature close"): what happened is the interrupt.
    const err = opts.signal?.aborted ? abortReason(opts.signal) : caught;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') throw new NoSpaceError(base, await freeBytes(base), { cause: err });
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Reads the start of a plain core stream until the ELF header, the program
 * headers and every PT_NOTE segment are in, then stops the producer: `list`
 * needs no more of a core than that. Returns the prefix (a BufferReader over
 * it reads as a truncated core with complete notes).
 */
export async function readNotesPrefix(stream: PlainStream, opts: { path: string; form: string; limit?: number }): Promise<Buffer> {
  const limit = opts.limit ?? 64 * 1024 * 1024;
  const parts: Buffer[] = [];
  let have = 0;
  let need = 64;
  let stage: 'ehdr' | 'phdr' | 'notes' = 'ehdr';
  const buf = (): Buffer => (parts.length === 1 ? parts[0]! : Buffer.concat(parts, have));
  try {
    for await (const chunk of stream.bytes) {
      parts.push(chunk);
      have += chunk.length;
      while (have >= need) {
        const b = buf();
        parts.length = 0;
        parts.push(b);
        if (stage === 'ehdr') {
          checkCoreHeader(b, opts.path, opts.form);
          const h = decodeHeader(b);
          need = Number(h.e_phoff) + Math.max(h.e_phentsize, ELF_LAYOUT[h.elfClass].phdr.size) * h.e_phnum;
          stage = 'phdr';
        } else if (stage === 'phdr') {
          const h = decodeHeader(b);
          const table = new Decoder(b.subarray(Number(h.e_phoff)), h.byteOrder, h.elfClass, Number(h.e_phoff), 'program header table');
          let end = need;
          for (const ph of decodeProgHeaders(table, h.e_phnum, h.e_phentsize)) {
            if (ph.p_type === PT.PT_NOTE) end = Math.max(end, Number(ph.p_offset + ph.p_filesz));
          }
          need = end;
          stage = 'notes';
        } else {
          return b.subarray(0, need);
        }
        if (need > limit) throw new DecompressError(opts.path, opts.form, `its headers and notes would need ${need} bytes, more than the ${limit} read for a listing`);
      }
    }
    await stream.done;
    if (stage === 'ehdr') throw new DecompressError(opts.path, opts.form, have === 0 ? 'it decompresses to nothing' : 'it decompresses to something that is not an ELF core');
    // The stream ended before the notes did: the reader reports the cut notes.
    return buf();
  } finally {
    stream.stop();
  }
}
