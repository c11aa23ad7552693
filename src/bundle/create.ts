/**
 * Writing a bundle's tar stream. node-tar encodes the headers (ustar, with a
 * pax extended header when a name is too long); we decide every entry's name
 * and stream file contents ourselves, because bundle names (sysroot/<abs
 * path>) are not the files' names on disk.
 *
 * Entries are normalised so bundles are reproducible and safe to extract
 * anywhere: owner 0/0 with no user names, modes 0644 or 0755, no setuid bits.
 */
import { createReadStream } from 'node:fs';
import { Header, Pax, type HeaderData } from 'tar';

const BLOCK = 512;
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

  async addBuffer(path: string, data: Buffer, mode = 0o644): Promise<void> {
    await this.header({ path, type: 'File', size: data.length, mode });
    await this.emit(data);
    await this.pad(data.length);
  }

  /**
   * Streams a file into the archive. `size` is what the header declares; if
   * the file grows or shrinks while being read (someone is writing it) the
   * archive would be corrupt, so that is an error naming the file.
   */
  async addFile(path: string, source: string, size: number, executable: boolean, onBytes?: (n: number) => void): Promise<void> {
    await this.header({ path, type: 'File', size, mode: executable ? 0o755 : 0o644 });
    let got = 0;
    const rs = createReadStream(source, { highWaterMark: 1 << 20 });
    // A file that vanished between planning and writing: say so in our terms.
    rs.on('error', () => undefined);
    // 1 MiB reads: few syscalls, and the compressor pipe takes 64 KiB-1 MiB at a time.
    try {
      for await (const chunk of rs as AsyncIterable<Buffer>) {
        let part = chunk;
        if (got + part.length > size) part = part.subarray(0, size - got);
        got += part.length;
        if (part.length) await this.emit(part);
        onBytes?.(chunk.length);
        if (got >= size && chunk.length !== part.length) throw new FileChangedError(source, size, 'grew');
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FileChangedError(source, size, 'disappeared');
      throw err;
    } finally {
      rs.destroy();
    }
    if (got !== size) throw new FileChangedError(source, size, 'shrank');
    await this.pad(size);
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

export class FileChangedError extends Error {
  constructor(
    readonly file: string,
    readonly expectedSize: number,
    how: 'grew' | 'shrank' | 'changed' | 'disappeared',
  ) {
    super(`${file} ${how} while it was being bundled (expected ${expectedSize} bytes): is something still writing it (a package upgrade)? Run collect again once it is stable`);
  }
}
