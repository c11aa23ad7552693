/**
 * File digests, streamed: sha256 for bundle manifests, CRC-32 for
 * .gnu_debuglink. Neither reads a file into memory whole.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as zlib from 'node:zlib';
import { abortReason } from './errors.js';

/** 1 MiB reads: few syscalls on multi-GiB cores. */
const CHUNK = 1 << 20;

export interface DigestOptions {
  /** Called with the size of every chunk read, for progress bars. */
  onBytes?: (n: number) => void;
  /** Stops between chunks; throws the signal's reason. */
  signal?: AbortSignal;
}

export async function sha256File(path: string, opts: DigestOptions = {}): Promise<string> {
  const hash = createHash('sha256');
  const rs = createReadStream(path, { highWaterMark: CHUNK });
  try {
    for await (const chunk of rs as AsyncIterable<Buffer>) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      hash.update(chunk);
      opts.onBytes?.(chunk.length);
    }
  } finally {
    rs.destroy();
  }
  return hash.digest('hex');
}

/**
 * CRC-32 of a file, as .gnu_debuglink records it (zlib's polynomial), or
 * undefined where Node has no zlib.crc32 (before 20.15): callers then accept
 * a debug link by its name alone.
 */
export async function crc32File(path: string): Promise<number | undefined> {
  const crc32 = (zlib as unknown as { crc32?: (data: Buffer, value?: number) => number }).crc32;
  if (!crc32) return undefined;
  let crc = 0;
  const rs = createReadStream(path, { highWaterMark: CHUNK });
  try {
    for await (const chunk of rs as AsyncIterable<Buffer>) crc = crc32(chunk, crc);
  } finally {
    rs.destroy();
  }
  return crc >>> 0;
}
