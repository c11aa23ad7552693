/**
 * Writing a bundle's tar stream. node-tar encodes the headers (ustar, with a
 * pax extended header when a name is too long); we decide every entry's name
 * and stream file contents ourselves, because bundle names (sysroot/<abs
 * path>) are not the files' names on disk.
 *
 * Entries are normalised so bundles are reproducible and safe to extract
 * anywhere: owner 0/0 with no user names, modes 0644 or 0755, no setuid bits.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Header, Pax, type HeaderData } from 'tar';
import { FileChangedError } from './errors.js';

export { FileChangedError };

const BLOCK = 512;
/** Read size: few syscalls, and the compressor pipe takes 64 KiB-1 MiB at a time. */
const CHUNK = 1 << 20;
const ZERO_BLOCKS = Buffer.alloc(BLOCK * 2);

export interface TarSink {
  /** Writes bytes, resolving when the consumer is ready for more (backpressure). */
  write(chunk: Buffer): Promise<void>;
}

/** A sink over a Node writable stream that honours backpressure. */
export function streamSink(stream: NodeJS.WritableStream): TarSink {
  return {
    write(chunk: Buffer): Promise<void> {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        stream.once('error', onError);
        const ok = stream.write(chunk, (err) => {
          stream.removeListener('error', onError);
          if (err) reject(err);
          else if (ok) resolve();
        });
        if (!ok) stream.once('drain', () => resolve());
      });
    },
  };
}

export class TarWriter {
  /** Bytes written so far (uncompressed). */
  written = 0;

  constructor(
    private readonly sink: TarSink,
    private readonly mtime = new Date(),
  ) {}

  private async emit(buf: Buffer): Promise<void> {
    this.written += buf.length;
    await this.sink.write(buf);
  }

  private async header(data: HeaderData): Promise<void> {
    const full: HeaderData = { uid: 0, gid: 0, uname: '', gname: '', mtime: this.mtime, ...data };
    const h = new Header(full);
    h.encode();
    // A long path or link target goes in full into a pax 'x' header first;
    // the ustar header after it keeps what fits.
    if (h.needPax) await this.emit(new Pax(full).encode());
    await this.emit(h.block!);
  }

  private async pad(size: number): Promise<void> {
    const rem = size % BLOCK;
    if (rem) await this.emit(Buffer.alloc(BLOCK - rem));
  }

  /** Adds a file from memory; resolves to its sha256 (hex). */
  async addBuffer(path: string, data: Buffer, mode = 0o644): Promise<string> {
    await this.header({ path, type: 'File', size: data.length, mode });
    await this.emit(data);
    await this.pad(data.length);
    return createHash('sha256').update(data).digest('hex');
  }

  /**
   * Streams a file into the archive. `size` is what the header declares; if
   * the file grows or shrinks while being read (someone is writing it) the
   * archive would be corrupt, so that is an error naming the file.
   * `allowGrowth`: only its first `size` bytes are taken, and growth is no error.
   *
   * Resolves to the sha256 (hex) of exactly the bytes written: hashing here,
   * as the bytes go out, is what lets collect read every file once.
   */
  async addFile(path: string, source: string, size: number, executable: boolean, onBytes?: (n: number) => void, allowGrowth = false): Promise<string> {
    await this.header({ path, type: 'File', size, mode: executable ? 0o755 : 0o644 });
    let got = 0;
    let fh: FileHandle;
    try {
      fh = await open(source, 'r');
    } catch (err) {
      // A file that vanished between planning and writing: say so in our terms.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FileChangedError(source, size, 'disappeared');
      throw err;
    }
    // Two reused buffers in turn: the next read overlaps the write of the
    // previous chunk, and nothing is allocated per chunk (a fresh 1 MiB Buffer
    // per read cost ~0.5 s of GC per GiB). A buffer is refilled only after its
    // write resolved, i.e. after the consumer took the bytes.
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let turn = 0;
    const hash = createHash('sha256');
    let pending: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        const buf = bufs[turn]!;
        // One byte past the declared size is asked for, to notice a file that grew
        // (unless growth is expected: an attached log is taken as long as it was).
        const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - got + (allowGrowth ? 0 : 1)), got);
        await pending;
        if (bytesRead === 0) break;
        if (got + bytesRead > size) throw new FileChangedError(source, size, 'grew');
        got += bytesRead;
        const chunk = bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead);
        // Hashed while the compressor takes the previous chunk: one read of every byte.
        hash.update(chunk);
        pending = this.emit(chunk);
        pending.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
        onBytes?.(bytesRead);
        turn ^= 1;
      }
    } finally {
      await pending.catch(() => undefined);
      await fh.close();
    }
    if (got !== size) throw new FileChangedError(source, size, 'shrank');
    await this.pad(size);
    return hash.digest('hex');
  }

  async addSymlink(path: string, target: string): Promise<void> {
    await this.header({ path, type: 'SymbolicLink', linkpath: target, size: 0, mode: 0o777 });
  }

  async addDirectory(path: string): Promise<void> {
    await this.header({ path: path.endsWith('/') ? path : `${path}/`, type: 'Directory', size: 0, mode: 0o755 });
  }

  /** The end-of-archive marker: two zero blocks. */
  async finish(): Promise<void> {
    await this.emit(ZERO_BLOCKS);
  }
}

