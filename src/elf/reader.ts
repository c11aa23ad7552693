/**
 * Random-access readers. The ELF parser asks for small byte ranges at given
 * offsets and never for the whole file, so a core of many GiB costs only the
 * pages we actually look at.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { FormatError } from './errors.js';

export interface RandomAccessReader {
  /** Size of the underlying file in bytes. */
  readonly size: number;
  /**
   * Reads exactly `length` bytes at `offset`. Throws FormatError when the
   * range runs past the end of the file: for a core that means "truncated".
   */
  read(offset: number, length: number, what?: string): Promise<Buffer>;
  close(): Promise<void>;
}

/** Largest single read we ever issue; notes and headers are far smaller. */
export const MAX_READ = 64 * 1024 * 1024;

function checkRange(size: number, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new FormatError(`${what}: invalid range (offset ${offset}, length ${length})`, offset);
  }
  if (offset + length > size) {
    throw new FormatError(
      `${what} runs past the end of the file (needs bytes ${offset}..${offset + length}, file has ${size}): the file is truncated`,
      offset,
    );
  }
  if (length > MAX_READ) {
    throw new FormatError(`${what} is implausibly large (${length} bytes)`, offset);
  }
}

export class FileReader implements RandomAccessReader {
  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<FileReader> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new FormatError(`${path} is not a regular file`);
      return new FileReader(fh, st.size, path);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async read(offset: number, length: number, what = 'read'): Promise<Buffer> {
    checkRange(this.size, offset, length, what);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) {
        // The file shrank under us (someone is still writing or truncating the core).
        throw new FormatError(`${what}: unexpected end of file (the file is being truncated?)`, offset + done);
      }
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** A reader over bytes already in memory: for tests, fuzzing, and ELF images read from core memory. */
export class BufferReader implements RandomAccessReader {
  constructor(private readonly buf: Buffer) {}

  get size(): number {
    return this.buf.length;
  }

  async read(offset: number, length: number, what = 'read'): Promise<Buffer> {
    checkRange(this.buf.length, offset, length, what);
    return this.buf.subarray(offset, offset + length);
  }

  async close(): Promise<void> {}
}
