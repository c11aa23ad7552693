/**
 * Writing a bundle's tar stream. node-tar encodes the headers (ustar, with a
 * pax extended header when a name is too long); we decide every entry's name
 * and stream file contents ourselves, because bundle names (sysroot/<abs
 * path>) are not the files' names on disk.
 *
 * Entries are normalised so bundles are reproducible and safe to extract
 * anywhere: owner 0/0 with no user names, modes 0644 or 0755, no setuid bits.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Header, Pax, type HeaderData } from 'tar';
import { FileChangedError } from './errors.js';
import { FileHasher, type HashResult } from './hasher.js';
import { formatSparseMap, paxRecord, sparseDataBytes, sparsePaxBody, sparseStoredName, type SparseRegion } from './sparse.js';

export { FileChangedError };

const BLOCK = 512;
/** Read size: few syscalls, and the compressor pipe takes 64 KiB-1 MiB at a time. */
const CHUNK = 1 << 20;
const ZERO_BLOCKS = Buffer.alloc(BLOCK * 2);

export interface TarSink {
  /** Writes bytes, resolving when the consumer is ready for more (backpressure). */
  write(chunk: Buffer): Promise<void>;
  /**
   * When the sink has it: takes the whole of the open file `fd` (from offset
   * 0 to its end) itself — the compressor reads it — and resolves when done.
   */
  copyWhole?(fd: number): Promise<void>;
  /**
   * When the sink compresses a file ahead (ahead.ts): the file's bytes go
   * here in the stream; resolves once they are in place.
   */
  placeAhead?(): Promise<void>;
}

/**
 * Files from this size on are read by the compressor itself when the sink
 * can (copyWhole): below it, a frame of its own costs more (a process start,
 * ~2 ms) than relaying the bytes.
 */
export const COPY_WHOLE_MIN = 8 << 20;

/**
 * A large file is stored sparse when less than this share of it is
 * allocated on disk (a kernel core: untouched pages are holes) and, scanned,
 * less than this share of it is data. Measured with zstd -T0 -6: its
 * compressing a hole costs ~0.75 s of CPU per GiB; the sparse path costs a
 * scan of the whole file (~0.1 s/GiB) and the relay of the data through
 * Node (~0.5 s/GiB) instead of the compressor reading it itself — even at
 * about half. A 2.1 GB core with 114 MB of data: 3.9 s of CPU sparse, 5.5 s
 * whole; the 114 MB bench core, 56% allocated: 0.1 s more sparse. Zero runs
 * shorter than MIN_HOLE stay data: a map line per run costs more than the
 * zeros compress to.
 */
export const SPARSE_WHEN_ALLOCATED = 0.5;
export const MIN_HOLE = 64 << 10;

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
  /** Hashes the files the compressor reads itself, on a worker thread. */
  private readonly hasher = new FileHasher();

  constructor(
    private readonly sink: TarSink,
    private readonly mtime = new Date(),
  ) {}

  /** Ends the hashing thread; call once done with the writer, whatever happened. */
  async close(): Promise<void> {
    await this.hasher.close();
  }

  /** Stops a scan or hash in progress at once (an interrupt): what awaits it fails. */
  abort(): void {
    void this.hasher.close();
  }

  private async emit(buf: Buffer): Promise<void> {
    this.written += buf.length;
    await this.sink.write(buf);
  }

  /** `ownPax`: the caller wrote the pax header for this one already (a sparse file's, holding its path). */
  private async header(data: HeaderData, ownPax = false): Promise<void> {
    const full: HeaderData = { uid: 0, gid: 0, uname: '', gname: '', mtime: this.mtime, ...data };
    const h = new Header(full);
    h.encode();
    // A long path or link target goes in full into a pax 'x' header first;
    // the ustar header after it keeps what fits.
    if (h.needPax && !ownPax) await this.emit(new Pax(full).encode());
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
    let fh: FileHandle;
    try {
      fh = await open(source, 'r');
    } catch (err) {
      // A file that vanished between planning and writing: say so in our terms.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FileChangedError(source, size, 'disappeared');
      throw err;
    }
    const mode = executable ? 0o755 : 0o644;
    try {
      if (size >= COPY_WHOLE_MIN && !allowGrowth) {
        const st = await fh.stat();
        if (st.size !== size) throw new FileChangedError(source, size, st.size > size ? 'grew' : 'shrank');
        // Holes on disk (what SEEK_HOLE would find): store the data regions only.
        const regions = st.blocks * 512 < size * SPARSE_WHEN_ALLOCATED ? await this.hasher.dataRegions(fh.fd, size, MIN_HOLE).catch(() => null) : null;
        if (regions && sparseDataBytes(regions) < size * SPARSE_WHEN_ALLOCATED) return await this.sparseFile(fh, path, source, size, mode, regions, onBytes);
        if (this.sink.copyWhole) return await this.copyWhole(fh, path, source, size, mode, onBytes);
      }
      await this.header({ path, type: 'File', size, mode });
      const hash = createHash('sha256');
      await this.relay(fh, source, [{ offset: 0, length: size }], size, allowGrowth, onBytes, hash);
      await this.pad(size);
      return hash.digest('hex');
    } finally {
      await fh.close();
    }
  }

  /**
   * Streams the regions of the open file into the archive, through Node.
   * `size` is the file's declared size; reading one byte past a region that
   * ends there notices a file that grew (unless growth is allowed: an
   * attached log is taken as long as it was). With `hash`, the bytes are
   * hashed as they go out (one read of every byte); the progress callback
   * hears of every byte read.
   */
  private async relay(fh: FileHandle, source: string, regions: readonly SparseRegion[], size: number, allowGrowth: boolean, onBytes: ((n: number) => void) | undefined, hash: Hash | undefined): Promise<void> {
    // Two reused buffers in turn: the next read overlaps the write of the
    // previous chunk, and nothing is allocated per chunk (a fresh 1 MiB Buffer
    // per read cost ~0.5 s of GC per GiB). A buffer is refilled only after its
    // write resolved, i.e. after the consumer took the bytes.
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
    let turn = 0;
    let pending: Promise<void> = Promise.resolve();
    try {
      for (const r of regions) {
        const end = r.offset + r.length;
        const probe = end === size && !allowGrowth ? 1 : 0;
        let at = r.offset;
        for (;;) {
          const buf = bufs[turn]!;
          const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, end - at + probe), at);
          await pending;
          if (bytesRead === 0) break;
          if (at + bytesRead > end) throw new FileChangedError(source, size, 'grew');
          at += bytesRead;
          const chunk = bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead);
          // Hashed while the compressor takes the previous chunk.
          hash?.update(chunk);
          pending = this.emit(chunk);
          pending.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
          onBytes?.(bytesRead);
          turn ^= 1;
          if (at === end && probe === 0) break;
        }
        if (at !== end) throw new FileChangedError(source, size, 'shrank');
      }
    } finally {
      await pending.catch(() => undefined);
    }
  }

  /**
   * A large file as a frame of its own: the compressor reads it from its
   * descriptor (to its end, so its size is checked before and after), while
   * the worker hashes the same descriptor. The file must be exactly `size`
   * bytes throughout; a file that changes meanwhile is a FileChangedError and
   * collect starts over.
   */
  private async copyWhole(fh: FileHandle, path: string, source: string, size: number, mode: number, onBytes?: (n: number) => void): Promise<string> {
    await this.header({ path, type: 'File', size, mode });
    const hashed = this.hasher.hash(fh.fd, size, onBytes);
    hashed.catch(() => undefined); // awaited below, after the copy
    await this.sink.copyWhole!(fh.fd);
    this.written += size;
    // The entry's padding to tar's block: a file of any size (a cut core, a large library) can be its own frame.
    await this.pad(size);
    return this.checkedHash(fh, source, size, hashed);
  }

  /** The worker's sha256 of the whole file, once the file is known to have kept its size throughout. */
  private async checkedHash(fh: FileHandle, source: string, size: number, hashed: Promise<HashResult>): Promise<string> {
    const { bytes, sha256 } = await hashed;
    const after = (await fh.stat()).size;
    if (bytes !== size || after !== size || sha256 === null) throw new FileChangedError(source, size, Math.max(bytes, after) > size ? 'grew' : 'shrank');
    return sha256;
  }

  /**
   * Where the entry the sink writes ahead (ahead.ts: the core's, written by
   * another TarWriter into the start of the file) goes in this stream: what
   * this writer writes next follows that entry.
   */
  async placeAhead(): Promise<void> {
    if (!this.sink.placeAhead) throw new Error('placeAhead: this sink writes nothing ahead');
    await this.sink.placeAhead();
  }

  /**
   * A file stored sparse (sparse.ts: GNU tar's PAX format 1.0): a pax header
   * naming it, a file header under GNU tar's stored name, the map, then only
   * the data regions, relayed by Node; the worker hashes the whole file
   * meanwhile, zeros included, as it will be extracted.
   */
  private async sparseFile(fh: FileHandle, path: string, source: string, size: number, mode: number, regions: readonly SparseRegion[], onBytes?: (n: number) => void): Promise<string> {
    const map = formatSparseMap(regions, size);
    const stored = map.length + sparseDataBytes(regions);
    const storedName = sparseStoredName(path);
    const body = Buffer.from(sparsePaxBody(path, size) + (Buffer.byteLength(storedName) > 100 ? paxRecord('path', storedName) : ''), 'utf8');
    // Extractors ignore the extended header's own name; GNU tar's is `%d/PaxHeaders.%p/%f`, kept short here.
    await this.header({ path: `PaxHeaders.0/${posix.basename(path).slice(0, 80)}`, type: 'ExtendedHeader', size: body.length, mode: 0o644 }, true);
    await this.emit(body);
    await this.pad(body.length);
    await this.header({ path: storedName, type: 'File', size: stored, mode }, true);
    await this.emit(map);
    const hashed = this.hasher.hash(fh.fd, size);
    hashed.catch(() => undefined); // awaited below, after the relay
    // Progress counts the file's bytes: holes pass at once.
    let done = 0;
    const tick = (n: number): void => {
      done += n;
      onBytes?.(n);
    };
    await this.relay(fh, source, regions, size, false, tick, undefined);
    onBytes?.(size - done);
    await this.pad(stored);
    return this.checkedHash(fh, source, size, hashed);
  }

  /**
   * Streams an entry of known `size` from `chunks` (a core arriving on a
   * pipe, a mini core being written): nothing of it is on disk. Fewer or more
   * bytes than `size` is an error, since the header already said how many.
   * Resolves to the sha256 (hex) of the bytes written.
   */
  async addStream(path: string, size: number, chunks: AsyncIterable<Uint8Array>, onBytes?: (n: number) => void, mode = 0o644): Promise<string> {
    await this.header({ path, type: 'File', size, mode });
    const hash = createHash('sha256');
    let got = 0;
    for await (const c of chunks) {
      const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      if (got + chunk.length > size) throw new RangeError(`${path}: the stream gave more than the ${size} bytes its header declares`);
      got += chunk.length;
      hash.update(chunk);
      await this.emit(chunk);
      onBytes?.(chunk.length);
    }
    if (got !== size) throw new RangeError(`${path}: the stream ended after ${got} of the ${size} bytes its header declares`);
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

