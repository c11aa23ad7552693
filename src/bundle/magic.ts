/**
 * Recognising a compressed bundle by its first bytes. Kept apart from
 * formats.ts so that reading a core never loads the compressor machinery.
 */
import { open } from 'node:fs/promises';
import { compressionOf, type Compression } from '../codec/magic.js';

/** The compressions a bundle may use (of the codec layer's five). */
export type Format = Extract<Compression, 'bzip2' | 'gzip' | 'zstd'>;

const BUNDLE_FORMATS: ReadonlySet<Compression> = new Set<Format>(['bzip2', 'gzip', 'zstd']);

/** Detects the compression of a bundle from its first bytes (the codec layer's magic table). */
export function detectFormat(head: Buffer): Format | undefined {
  const c = compressionOf(head);
  return c !== undefined && BUNDLE_FORMATS.has(c) ? (c as Format) : undefined;
}


/** True when the file starts like a compressed bundle rather than an ELF core. */
export async function sniffBundle(path: string): Promise<Format | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    return detectFormat(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

