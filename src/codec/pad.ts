/**
 * Padding frames: bytes of exactly a chosen length that a format's
 * decompressor reads as nothing, so a compressed stream can be made to fill a
 * hole of known size. zstd has skippable frames for it (RFC 8878 §3.1.2);
 * gzip reads concatenated members as one stream, and a member with no data
 * can carry an extra field of any length up to 64 KiB (RFC 1952 §2.3.1.1).
 * bzip2 has neither: a stream holds at least one block, and a block is data.
 */
import type { Compression } from './magic.js';

/** zstd: magic 0x184D2A50 (the first of 16 skippable-frame magics), then the content's length, then the content. */
const ZSTD_SKIPPABLE_MAGIC = 0x184d2a50;
const ZSTD_SKIPPABLE_HEADER = 8;

/**
 * gzip: header (10 bytes, FLG = FEXTRA) + XLEN (2) + one subfield (SI1 SI2 LEN, 4, then LEN bytes)
 * + the deflate stream of nothing (a final fixed block: 03 00) + CRC32 and ISIZE of nothing (8).
 */
const GZIP_EMPTY_MEMBER = 10 + 2 + 4 + 2 + 8;
const GZIP_MAX_XLEN = 0xffff;
const GZIP_FEXTRA = 0x04;
const GZIP_OS_UNKNOWN = 0xff;
/** The extra subfield's ID: 'C' 'P' (RFC 1952 leaves IDs to their writers; this one is ours). */
const GZIP_SUBFIELD_ID = [0x43, 0x50] as const;

/** The smallest padding frame `format` can make, or null when it has none. */
export function minPadding(format: Compression): number | null {
  if (format === 'zstd') return ZSTD_SKIPPABLE_HEADER;
  if (format === 'gzip') return GZIP_EMPTY_MEMBER;
  return null;
}

/**
 * Bytes of exactly `length` that decompress to nothing in `format`, or null
 * when the format cannot pad (bzip2, xz, lz4 here) or not by that much.
 */
export function paddingFrame(format: Compression, length: number): Buffer | null {
  const min = minPadding(format);
  if (min === null || !Number.isSafeInteger(length) || length < min) return null;
  if (format === 'zstd') {
    if (length - ZSTD_SKIPPABLE_HEADER > 0xffffffff) return null;
    const frame = Buffer.alloc(length);
    frame.writeUInt32LE(ZSTD_SKIPPABLE_MAGIC, 0);
    frame.writeUInt32LE(length - ZSTD_SKIPPABLE_HEADER, 4);
    return frame;
  }
  // gzip: as many empty members as it takes, each as large as an extra field allows.
  const members: Buffer[] = [];
  let left = length;
  while (left > 0) {
    const most = GZIP_EMPTY_MEMBER + GZIP_MAX_XLEN - 4;
    // Never leave a remainder smaller than one empty member.
    const size = left <= most ? left : left - most >= GZIP_EMPTY_MEMBER ? most : left - GZIP_EMPTY_MEMBER;
    members.push(gzipEmptyMember(size));
    left -= size;
  }
  return Buffer.concat(members);
}

/** One gzip member of exactly `size` bytes (GZIP_EMPTY_MEMBER to GZIP_EMPTY_MEMBER + 65531) holding no data. */
function gzipEmptyMember(size: number): Buffer {
  const data = size - GZIP_EMPTY_MEMBER;
  const m = Buffer.alloc(size);
  m[0] = 0x1f;
  m[1] = 0x8b;
  m[2] = 8; // deflate
  m[3] = GZIP_FEXTRA;
  // MTIME 0 (none), XFL 0.
  m[9] = GZIP_OS_UNKNOWN;
  m.writeUInt16LE(4 + data, 10);
  m[12] = GZIP_SUBFIELD_ID[0];
  m[13] = GZIP_SUBFIELD_ID[1];
  m.writeUInt16LE(data, 14);
  // The subfield's bytes stay zero; then the empty deflate stream, CRC32 0 and ISIZE 0.
  m[16 + data] = 0x03;
  m[17 + data] = 0x00;
  return m;
}
