/**
 * The form a core is stored in, told by content (magic bytes), never by name:
 * systemd-coredump names its files .zst, .lz4, .xz, but a copied or renamed
 * file keeps only its bytes.
 */

import { compressionOf, HEAD_BYTES, isElf, type Compression } from '../codec/magic.js';

export type CompressedForm = Compression;
export type CoreForm = 'raw' | CompressedForm | 'apport' | 'abrt';

/** Bytes to read from the start of a file for sniffForm. */
export const SNIFF_BYTES = HEAD_BYTES;

/** The compression a head starts with: the codec layer's one table of magic numbers. */
export function compressedFormOf(head: Buffer): CompressedForm | undefined {
  return compressionOf(head);
}

export { isElf };

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

/** The suffixes stores give cores (systemd-coredump's .zst/.lz4/.xz, apport's .crash, hand-compressed .gz/.bz2): dropped where a name is made from the core's. */
export function withoutStoredSuffix(name: string): string {
  return name.replace(/\.(zst|lz4|xz|gz|bz2|crash)$/, '');
}
