/**
 * Where replay and inspect read a bundle's bytes from: the one seam between
 * "a file the user named" and "the compressed tar stream". The file may be a
 * plain bundle, any part (or the index) of a split set (split.ts), whose
 * parts are joined and checked here, or an age file (encrypt.ts), recognised
 * by its header and decrypted here; or both. Everything above this module sees only
 * the compressed bytes, whatever layers they came through.
 */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { detectFormat, sniffBundle, type Format } from './magic.js';
import { damagedPart, findPartSet, joinParts, type PartSet } from './split.js';
import { AGE_MAGIC, ageRecipients, decryptStream, isAge, MAX_HEADER_BYTES, type DecryptKeys } from './encrypt.js';
import { DecryptError, EncryptedBundleError, PartSetError, type AgeRecipients } from './errors.js';
import { peekHead, type Peeked } from '../util/head.js';

const READ_CHUNK = 1 << 20;
/** Enough to recognise any compression and a plain tar's "ustar" at offset 257. */
export const HEAD_BYTES = 512;

/** How to read a bundle: the keys for an encrypted one. */
export interface SourceOptions {
  signal?: AbortSignal | undefined;
  /** Identities and passphrase for an age-encrypted bundle (encrypt.ts); none: an encrypted bundle is refused, saying for whom it is. */
  keys?: DecryptKeys | undefined;
}

export interface BundleSource {
  /** The compressed bundle's bytes, from the first. */
  stream: Readable;
  /** The first HEAD_BYTES (fewer for a tiny file) of `stream`, which still yields them. */
  head: Buffer;
  /** The split set the file belongs to, if it does. */
  split: PartSet | undefined;
  /** The age recipients, when the bundle is encrypted (and was decrypted). */
  encrypted: AgeRecipients | undefined;
  /** The bundle's size as stored (the parts together for a split set). */
  size: number;
}

/** The bytes as stored: one file, or a split set's parts joined and checked. */
async function storedBytes(file: string): Promise<{ stream: Readable; split: PartSet | undefined; size: number }> {
  const split = await findPartSet(file);
  if (split) return { stream: joinParts(split), split, size: split.size };
  const st = await fs.stat(file);
  return { stream: createReadStream(file, { highWaterMark: READ_CHUNK }), split: undefined, size: st.size };
}

/** An error of a layer in front of the compressed bytes (a damaged part, a failed decryption): it names the problem better than the decompressor would. */
export function isLayerError(err: unknown): boolean {
  return err instanceof PartSetError || err instanceof DecryptError;
}

/** Reads the first `n` bytes of `src` and hands back a stream that still starts with them. */
export async function withHead(src: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  let peeked: Peeked;
  try {
    peeked = await peekHead(src as AsyncIterable<Buffer>, n);
  } catch (err) {
    src.destroy();
    throw err;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* peeked.rest;
    } finally {
      src.destroy();
    }
  }
  return { head: peeked.head, stream: ReadableStream.from(rest(), { objectMode: false, highWaterMark: READ_CHUNK }) };
}

/**
 * A decryption that fails on a split set: the parts are checked against
 * their index (plaintext, beside them), and the first damaged one is the
 * error; the decryption's own error only when every part is intact. Checked
 * on failure, not up front: an intact set is read once.
 */
async function rethrowBlamingParts(err: unknown, split: PartSet): Promise<never> {
  // A header that no key opens may be one whose bytes were changed.
  if (err instanceof DecryptError || err instanceof EncryptedBundleError) throw (await damagedPart(split)) ?? err;
  throw err;
}

/** The decrypted stream of a split set, whose failure names the damaged part when one is. */
function blamingParts(plain: Readable, split: PartSet): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    try {
      yield* plain as AsyncIterable<Buffer>;
    } catch (err) {
      await rethrowBlamingParts(err, split);
    } finally {
      plain.destroy();
    }
  }
  return ReadableStream.from(bytes(), { objectMode: false, highWaterMark: READ_CHUNK });
}

/** Opens `file` for reading its compressed bundle bytes. */
export async function openBundleSource(file: string, opts: SourceOptions = {}): Promise<BundleSource> {
  const stored = await storedBytes(file);
  let { head, stream } = await withHead(stored.stream, HEAD_BYTES);
  let encrypted: AgeRecipients | undefined;
  if (isAge(head)) {
    // Recognised by its header, whatever its name; the header names its recipients.
    ({ head, stream } = await withHead(stream, MAX_HEADER_BYTES));
    encrypted = ageRecipients(head);
    const split = stored.split;
    const decrypting = decryptStream(file, stream, head, opts.keys ?? { identityFiles: [], passphrase: null });
    const plain = split ? blamingParts(await decrypting.catch((err: unknown) => rethrowBlamingParts(err, split)), split) : await decrypting;
    ({ head, stream } = await withHead(plain, HEAD_BYTES));
  }
  return { stream, head, split: stored.split, encrypted, size: stored.size };
}

/** The age recipients of `file`'s bundle when it is encrypted, read from its header without any key. */
export async function encryptedFor(file: string): Promise<AgeRecipients | undefined> {
  const stored = await storedBytes(file);
  const { head, stream } = await withHead(stored.stream, MAX_HEADER_BYTES);
  stream.destroy();
  return isAge(head) ? ageRecipients(head) : undefined;
}

/**
 * The bundle's bytes when they come through a layer (a split set's parts
 * joined), or null for a plain bundle file, which the decompressor reads
 * itself (src/bundle/sink.ts).
 */
export async function openLayeredSource(file: string, opts: SourceOptions = {}): Promise<BundleSource | null> {
  if (!(await findPartSet(file)) && !(await startsAsAge(file))) return null;
  return openBundleSource(file, opts);
}

/** True when `file` begins with the age header line. */
async function startsAsAge(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(AGE_MAGIC.length);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return isAge(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** What the first bytes of `file`'s bundle say it is, or undefined when it does not look like a bundle (a core, say). */
export async function sniffBundleSource(file: string, opts: SourceOptions = {}): Promise<Format | undefined> {
  // A plain file (a core, most often) is judged by its first bytes alone, as before the layers existed.
  const layered = await openLayeredSource(file, opts);
  if (!layered) return sniffBundle(file);
  layered.stream.destroy();
  return detectFormat(layered.head);
}

/** The bundle's size as stored: the file's, or a split set's parts together. */
export async function storedSize(file: string): Promise<number> {
  const split = await findPartSet(file);
  return split ? split.size : (await fs.stat(file)).size;
}
