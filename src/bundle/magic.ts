/**
 * Recognising a compressed bundle by its first bytes. Kept apart from
 * formats.ts so that reading a core never loads the compressor machinery.
 */
import { open } from 'node:fs/promises';

export type Format = 'bzip2' | 'gzip' | 'zstd';

/** Detects the compression of a bundle from its first bytes. */
export function detectFormat(head: Buffer): Format | undefined {
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2'; // "BZh"
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return undefined;
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

