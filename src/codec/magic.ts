/**
 * What a file is, told by its first bytes (never by its name): the one table
 * of magic numbers for every form corepack reads. A copied or renamed core
 * keeps only its bytes; a bundle may be named anything.
 */

/** The compressions corepack reads (cores: all five; bundles: bzip2, gzip, zstd). */
export type Compression = 'zstd' | 'lz4' | 'xz' | 'gzip' | 'bzip2';

/** Every form a head can show: an ELF file, a compressed stream, a tar archive, an age file. */
export type Magic = 'elf' | Compression | 'tar' | 'age';

/** Enough of a file's start to tell every form: a tar header's "ustar" sits at offset 257. */
export const HEAD_BYTES = 512;

/** The age header's first line, which names the format and its version. */
export const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n', 'latin1');

const PREFIXES: ReadonlyArray<readonly [Exclude<Magic, 'tar'>, Buffer]> = [
  ['elf', Buffer.from([0x7f, 0x45, 0x4c, 0x46])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['age', AGE_MAGIC],
];

const startsWith = (head: Buffer, magic: Buffer): boolean => head.length >= magic.length && head.subarray(0, magic.length).equals(magic);

/** A tar header: "ustar" at offset 257 (POSIX and GNU). */
export function isTar(head: Buffer): boolean {
  return head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar';
}

/** The form `head` shows, or undefined when it is none of them. */
export function magicOf(head: Buffer): Magic | undefined {
  for (const [magic, bytes] of PREFIXES) if (startsWith(head, bytes)) return magic;
  return isTar(head) ? 'tar' : undefined;
}

export function isElf(head: Buffer): boolean {
  return magicOf(head) === 'elf';
}

export function isAge(head: Buffer): boolean {
  return startsWith(head, AGE_MAGIC);
}

const COMPRESSIONS: ReadonlySet<string> = new Set<Compression>(['zstd', 'lz4', 'xz', 'gzip', 'bzip2']);

/** The compression `head` starts with, if any. */
export function compressionOf(head: Buffer): Compression | undefined {
  const m = magicOf(head);
  return m !== undefined && COMPRESSIONS.has(m) ? (m as Compression) : undefined;
}
