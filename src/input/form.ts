/**
 * The form a core is stored in, told by content (magic bytes), never by name:
 * systemd-coredump names its files .zst, .lz4, .xz, but a copied or renamed
 * file keeps only its bytes.
 */

export type CompressedForm = 'zstd' | 'lz4' | 'xz' | 'gzip' | 'bzip2';
export type CoreForm = 'raw' | CompressedForm | 'apport' | 'abrt';

const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MAGIC: ReadonlyArray<[CompressedForm, Buffer]> = [
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
];

/** Bytes to read from the start of a file for sniffForm. */
export const SNIFF_BYTES = 512;

export function compressedFormOf(head: Buffer): CompressedForm | undefined {
  for (const [form, magic] of MAGIC) if (head.length >= magic.length && head.subarray(0, magic.length).equals(magic)) return form;
  return undefined;
}

export function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(ELF);
}

/**
 * An apport report starts with RFC 822-style "Key: value" lines; the first
 * key apport writes is ProblemType, but any well-formed first line counts.
 */
export function looksLikeApportReport(head: Buffer): boolean {
  const text = head.toString('latin1');
  if (text.startsWith('ProblemType:')) return true;
  return /^[A-Za-z][A-Za-z0-9_.-]*:( |\n|$)/.test(text) && !text.includes('\0');
}

/** The form of a regular file's content, or undefined when it is none corepack reads. */
export function sniffForm(head: Buffer): Exclude<CoreForm, 'abrt'> | undefined {
  if (isElf(head)) return 'raw';
  const c = compressedFormOf(head);
  if (c) return c;
  if (looksLikeApportReport(head)) return 'apport';
  return undefined;
}

/** The Debian/Ubuntu package holding each decompressor, named when one is missing. */
export const DECOMPRESSORS: Readonly<Record<CompressedForm, { program: string; args: readonly string[]; debianPackage: string }>> = {
  zstd: { program: 'zstd', args: ['-d', '-c', '-q'], debianPackage: 'zstd' },
  lz4: { program: 'lz4', args: ['-d', '-c', '-q'], debianPackage: 'lz4' },
  xz: { program: 'xz', args: ['-d', '-c', '-q'], debianPackage: 'xz-utils' },
  gzip: { program: 'gzip', args: ['-d', '-c', '-q'], debianPackage: 'gzip' },
  bzip2: { program: 'bzip2', args: ['-d', '-c', '-q'], debianPackage: 'bzip2' },
};

/** The suffixes stores give cores (systemd-coredump's .zst/.lz4/.xz, apport's .crash, hand-compressed .gz/.bz2): dropped where a name is made from the core's. */
export function withoutStoredSuffix(name: string): string {
  return name.replace(/\.(zst|lz4|xz|gz|bz2|crash)$/, '');
}
