/**
 * A bundle whose core is compressed ahead: collect starts compressing the
 * core the moment it knows the output is a plain file and the whole core
 * goes in — before it has read the core's notes or planned the bundle — so the
 * compressor's first byte comes right after Node's start instead of ~0.3 s
 * later, and the planning runs while the compressor works.
 *
 * The core's entry is written at the start of the bundle's file: its header,
 * then the core — a frame that a compressor process reads itself (as sink.ts
 * does for any large file), or stored sparse, or relayed when small. What
 * follows the core (the libraries, the links, SHA256SUMS) goes into a side
 * file where the core's entry is still being written when the plan is done,
 * and is appended once it is complete. What precedes the core in the tar
 * stream (the manifest's entry) is known only once the plan is made: it is
 * held in memory, compressed into a frame of its own, and put in front last:
 * - zstd and gzip: padded to whole filesystem blocks (codec/pad.ts), and that
 *   many blocks inserted at offset 0 (fallocate --insert-range: ext4, XFS).
 *   No byte of the core's frame moves; the padding costs < 1 block.
 * - otherwise (bzip2 cannot pad; tmpfs, btrfs and others cannot insert; no
 *   fallocate program): the file's bytes are moved up by the head's length,
 *   from the end down, and the head written at 0. One copy of the
 *   compressed bytes, through Node.
 */
import { spawn } from 'node:child_process';
import { open, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { abortReason } from '../util/errors.js';
import { trace } from '../util/trace.js';
import { which } from '../util/which.js';
import { minPadding, paddingFrame } from '../codec/pad.js';
import type { TarSink } from './create.js';
import type { Codec, Format } from './formats.js';
import { compressTo, type CompressedOutput } from './sink.js';

export interface AheadOutput extends CompressedOutput {
  /**
   * Where the entry written ahead goes: the start of the bundle's file,
   * through its own compressor(s). endAhead() once the entry is complete.
   */
  ahead: TarSink;
  /** The entry written ahead is complete: resolves once all of it is compressed into the file. */
  endAhead(): Promise<void>;
  /** How the head was put in front, once finish() resolved (for the trace and the tests). */
  readonly placement: HeadPlacement | null;
}

export type HeadPlacement = 'inserted' | 'moved';

/** Shifting the file up, and appending the side file, go by chunks of this size. */
const MOVE_CHUNK = 1 << 20;

/**
 * A bundle written out of order into the empty file `file` (at `path`):
 * - `ahead` takes one entry's tar bytes (the core's), compressed into the
 *   file from offset 0 at once (as sink.ts does: a large file is a frame the
 *   compressor reads itself);
 * - `tar` takes the bundle's tar stream as usual: what is written before
 *   `placeAhead()` is the head, held in memory; `placeAhead()` marks where
 *   the ahead entry goes in the stream; what is written after follows it in
 *   the file — through `sidePath` while the ahead entry is still being
 *   written, appended once it is complete.
 * finish() completes the file and puts the head in front.
 */
export function compressAhead(codec: Codec, format: Format, file: FileHandle, path: string, sidePath: string, signal?: AbortSignal): AheadOutput {
  const first = compressTo(codec, { fd: file.fd }, signal);
  let firstEnded: Promise<void> | null = null;
  let firstDone = false;
  const head: Buffer[] = [];
  let headFrame: Promise<Buffer> | null = null;
  let stopHead: (() => void) | null = null;
  let rest: CompressedOutput | null = null;
  let side: FileHandle | null = null;
  let placement: HeadPlacement | null = null;
  let aborted = false;
  const dropSide = async (): Promise<void> => {
    const s = side;
    side = null;
    if (!s) return;
    await s.close().catch(() => undefined);
    await unlink(sidePath).catch(() => undefined);
  };
  const endAhead = (): Promise<void> => {
    firstEnded ??= first.finish().then(() => void (firstDone = true));
    return firstEnded;
  };

  const tar: TarSink = {
    async write(chunk: Buffer): Promise<void> {
      if (signal?.aborted) throw abortReason(signal);
      if (rest) return rest.tar.write(chunk);
      // Copied: the writer reuses its read buffers once a write resolved.
      head.push(Buffer.from(chunk));
    },
    async placeAhead(): Promise<void> {
      if (rest) throw new Error('placeAhead: the ahead entry was placed already');
      if (signal?.aborted) throw abortReason(signal);
      if (aborted) throw new Error('placeAhead: the bundle was abandoned');
      // The head is complete: compressed now, beside the ahead entry's frames.
      const run = compressBuffer(codec, Buffer.concat(head));
      stopHead = run.kill;
      headFrame = run.frame;
      headFrame.catch(() => undefined); // awaited by finish()
      if (firstDone) {
        // The ahead entry is complete and the descriptor's offset sits at its end: the rest goes right after it.
        trace('rest after');
        rest = compressTo(codec, { fd: file.fd }, signal);
        return;
      }
      trace('rest beside');
      side = await open(sidePath, 'wx+', 0o600);
      rest = compressTo(codec, { fd: side.fd }, signal);
    },
  };
  // A sink that reads large files itself passes that on, to whichever part of the file is being written.
  if (codec.readsFiles) {
    tar.copyWhole = (fd: number): Promise<void> => {
      if (!rest?.tar.copyWhole) throw new Error('copyWhole before the ahead entry was placed');
      return rest.tar.copyWhole(fd);
    };
  }

  return {
    ahead: first.tar,
    endAhead,
    tar,
    get placement() {
      return placement;
    },
    async finish(): Promise<void> {
      if (!rest || !headFrame || !firstEnded) throw new Error('finish: the ahead entry was never placed or ended');
      await rest.finish();
      await firstEnded;
      if (side) {
        await appendAtEnd(file, side);
        await dropSide();
      }
      const compressed = await headFrame;
      if (signal?.aborted) throw abortReason(signal);
      // abort() came from a failure elsewhere, which the caller reports.
      if (aborted) throw new Error('the bundle was abandoned while its head was compressed');
      placement = await putInFront(file, path, format, compressed);
      trace(`head ${placement}`);
    },
    abort(): void {
      aborted = true;
      first.abort();
      rest?.abort();
      stopHead?.();
      void dropSide();
    },
  };
}

/** `bytes`, compressed with `codec` into memory (the head: tens of KB); kill() stops it. */
function compressBuffer(codec: Codec, bytes: Buffer): { frame: Promise<Buffer>; kill(): void } {
  const cs = codec.stream();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const c of cs.output!) out.push(c as Buffer);
  })();
  cs.input!.on('error', () => undefined); // EPIPE when it dies: `done` says why
  cs.input!.end(bytes);
  const frame = Promise.all([cs.done, collected]).then(() => Buffer.concat(out));
  return { frame, kill: () => cs.kill() };
}

/** Puts `head` before the file's bytes: by inserting padded blocks where it can, else by moving the bytes up. */
async function putInFront(file: FileHandle, path: string, format: Format, head: Buffer): Promise<HeadPlacement> {
  const padded = await paddedHead(path, format, head);
  if (padded && (await insertAtStart(path, padded.length))) {
    await writeFully(file, padded, 0);
    return 'inserted';
  }
  await moveUp(file, head.length);
  await writeFully(file, head, 0);
  return 'moved';
}

/** The head and a padding frame after it, filling whole blocks of the file's filesystem; null where the format cannot pad. */
async function paddedHead(path: string, format: Format, head: Buffer): Promise<Buffer | null> {
  const min = minPadding(format);
  if (min === null) return null;
  const block = await statfs(dirname(path)).then(
    (s) => s.bsize,
    () => 0,
  );
  if (!block) return null;
  const length = Math.ceil((head.length + min) / block) * block;
  const pad = paddingFrame(format, length - head.length);
  return pad ? Buffer.concat([head, pad]) : null;
}

/** fallocate --insert-range at offset 0; false where the filesystem, the kernel or the program cannot. */
async function insertAtStart(path: string, length: number): Promise<boolean> {
  const program = await which('fallocate');
  if (!program) return false;
  return new Promise<boolean>((resolve) => {
    const child = spawn(program, ['--insert-range', '--offset', '0', '--length', String(length), '--', path], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code, sig) => resolve(code === 0 && !sig));
  });
}

/** Appends all of `from` to the end of `to` (the rest, compressed beside the core's frame). */
async function appendAtEnd(to: FileHandle, from: FileHandle): Promise<void> {
  let at = (await to.stat()).size;
  const buf = Buffer.allocUnsafe(MOVE_CHUNK);
  for (let pos = 0; ; ) {
    const { bytesRead } = await from.read(buf, 0, MOVE_CHUNK, pos);
    if (bytesRead === 0) return;
    await writeFully(to, buf.subarray(0, bytesRead), at);
    pos += bytesRead;
    at += bytesRead;
  }
}

/** Moves every byte of the file up by `by`, from the end down so nothing is overwritten before it is read. */
async function moveUp(file: FileHandle, by: number): Promise<void> {
  const { size } = await file.stat();
  const buf = Buffer.allocUnsafe(MOVE_CHUNK);
  for (let end = size; end > 0; ) {
    const start = Math.max(0, end - MOVE_CHUNK);
    const n = end - start;
    await readFully(file, buf, n, start);
    await writeFully(file, buf.subarray(0, n), start + by);
    end = start;
  }
}

async function readFully(file: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  for (let got = 0; got < length; ) {
    const { bytesRead } = await file.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw Object.assign(new Error(`the bundle's temporary file ended early at ${position + got}`), { code: 'EIO' });
    got += bytesRead;
  }
}

async function writeFully(file: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let put = 0; put < data.length; ) {
    const { bytesWritten } = await file.write(data, put, data.length - put, position + put);
    put += bytesWritten;
  }
}
