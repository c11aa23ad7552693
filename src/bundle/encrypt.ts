/**
 * collect --encrypt-to / --passphrase, and replay/inspect --identity: the
 * bundle's bytes encrypted in the standard age format (age-encryption.org/v1),
 * so that a developer without corepack reads it with the age CLI:
 * `age -d -i key.txt core.123.tbz2.age | tar xj`.
 *
 * A byte layer like split.ts: compressed bytes in, age file out, and back.
 * age-encryption (typage, by age's author) does the cryptography on web
 * streams; this module adapts them to Node streams, reads identity and
 * recipient files, and names the failures. age authenticates every 64 KiB
 * chunk before releasing it, so a tampered or truncated file fails before
 * its bytes reach the tar parser. The library is loaded only when a bundle
 * is encrypted or decrypted.
 */
import * as fs from 'node:fs/promises';
import { Duplex, PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DecryptError, EncryptedBundleError, IdentityFileError, PartSetError, PASSPHRASE_TRIED, type AgeRecipients } from './errors.js';
import { MissingToolError } from '../util/errors.js';
import { trace } from '../util/trace.js';

export const AGE_MAGIC = 'age-encryption.org/v1\n';
/** The output's extension, as the age CLI names its files. */
export const AGE_EXTENSION = '.age';
/** A header this long names hundreds of recipients: more is not a bundle we wrote. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Identity and recipient files are a few lines. */
const MAX_KEY_FILE_BYTES = 1024 * 1024;
/** age-encryption's @noble dependencies need this Node. */
const MIN_NODE = [20, 19] as const;

type Age = typeof import('age-encryption');

let loaded: Promise<Age> | undefined;

/** The age library, or a MissingToolError-style refusal on a Node too old for it. */
export function loadAge(): Promise<Age> {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    return Promise.reject(
      new MissingToolError(`Node.js ${MIN_NODE.join('.')} or later`, [`node ${process.versions.node}`], 'nodejs', `a Node.js ≥ ${MIN_NODE.join('.')}`, { how: 'or decrypt with the age CLI:', choices: ['age -d -i KEY BUNDLE.age > BUNDLE'] }, `age encryption needs Node.js ${MIN_NODE.join('.')} or later; this is ${process.versions.node}`),
    );
  }
  loaded ??= import('age-encryption');
  return loaded;
}

/** True when `head` starts an age file. */
export function isAge(head: Uint8Array): boolean {
  return Buffer.from(head.subarray(0, AGE_MAGIC.length)).toString('latin1') === AGE_MAGIC;
}

/**
 * The recipients' stanza types from the start of an age file, read without
 * any key: what a refusal can say about a bundle without decrypting it.
 */
export function ageRecipients(head: Uint8Array): AgeRecipients {
  const text = Buffer.from(head.subarray(0, MAX_HEADER_BYTES)).toString('latin1');
  const types: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    if (line.startsWith('---')) break;
    if (line.startsWith('-> ')) types.push(line.slice(3).split(' ')[0] || '?');
  }
  return { types };
}

// ---------------------------------------------------------------------------
// Keys

export interface Identity {
  /** The file it came from, for messages. */
  file: string;
  /** AGE-SECRET-KEY-1… (X25519) or AGE-SECRET-KEY-PQ-1… (hybrid) lines. */
  keys: string[];
}

async function readKeyFile(file: string, what: 'identity' | 'recipients'): Promise<string> {
  const fh = await fs.open(file, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile() && !st.isFIFO() && !st.isCharacterDevice()) throw new IdentityFileError(file, 'is not a file');
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_KEY_FILE_BYTES) throw new IdentityFileError(file, `is larger than ${MAX_KEY_FILE_BYTES} bytes: not a${what === 'identity' ? 'n identity' : ' recipients'} file`);
    }
    return buf.toString('utf8', 0, n);
  } finally {
    await fh.close();
  }
}

/** Lines that are neither empty nor `#` comments, trimmed. */
function keyLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** An age identity file as age-keygen writes it: comment lines and AGE-SECRET-KEY-1… lines. */
export async function readIdentityFile(file: string): Promise<Identity> {
  const text = await readKeyFile(file, 'identity');
  if (text.startsWith(AGE_MAGIC)) throw new IdentityFileError(file, 'is itself encrypted (age); decrypt it first with the age CLI, or use the age CLI for the bundle');
  const keys: string[] = [];
  for (const line of keyLines(text)) {
    if (/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(line)) keys.push(line);
    else if (line.startsWith('-----BEGIN') || line.startsWith('ssh-')) throw new IdentityFileError(file, 'is an SSH key: corepack reads age identities only; the age CLI reads SSH keys (age -d -i KEY BUNDLE.age > BUNDLE, then replay BUNDLE)');
    else throw new IdentityFileError(file, 'holds a line that is not an age identity (AGE-SECRET-KEY-1…)');
  }
  if (keys.length === 0) throw new IdentityFileError(file, 'holds no age identity (AGE-SECRET-KEY-1…)');
  return { file, keys };
}

/** A recipients file: one age1… recipient per line, `#` comments. */
export async function readRecipientsFile(file: string): Promise<string[]> {
  return keyLines(await readKeyFile(file, 'recipients'));
}

// ---------------------------------------------------------------------------
// Encrypting

export interface EncryptSpec {
  /** age1… recipients (X25519, or age1pq1… hybrid). */
  recipients: string[];
  /** A passphrase (scrypt), instead of recipients. */
  passphrase: string | null;
  /** scrypt work factor (log2 N); age's default, 18, unless a test lowers it. */
  scryptWorkFactor?: number;
}

/** Checked recipients, ready to encrypt any number of streams. */
export interface Encryptor {
  /** "2 X25519 recipients", "a passphrase": for reports (never the keys themselves). */
  describe: string;
  /** A Duplex: plaintext in, an age file out. */
  stream(): Promise<Duplex>;
}

/** Builds the encryptor, checking every recipient now (a typo fails before the long part of collect). */
export async function createEncryptor(spec: EncryptSpec, onBadRecipient: (recipient: string, why: string) => Error): Promise<Encryptor> {
  const age = await loadAge();
  const make = () => {
    const e = new age.Encrypter();
    if (spec.passphrase !== null) {
      e.setPassphrase(spec.passphrase);
      if (spec.scryptWorkFactor !== undefined) e.setScryptWorkFactor(spec.scryptWorkFactor);
    }
    for (const r of spec.recipients) {
      if (r.startsWith('ssh-')) throw onBadRecipient(r, 'SSH recipients are not supported by corepack; encrypt with the age CLI instead (corepack-crash collect … -o - is not needed: age -R keys.txt BUNDLE > BUNDLE.age)');
      try {
        e.addRecipient(r);
      } catch (err) {
        throw onBadRecipient(r, `not a valid age recipient (${(err as Error).message})`);
      }
    }
    return e;
  };
  make();
  const n = spec.recipients.length;
  return {
    describe: spec.passphrase !== null ? 'a passphrase' : `${n} recipient${n === 1 ? '' : 's'}`,
    async stream() {
      const input = new PassThrough({ highWaterMark: 1 << 20 });
      const out = await make().encrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      const output = Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 1 << 20 });
      return Duplex.from({ writable: input, readable: output });
    },
  };
}

// ---------------------------------------------------------------------------
// Decrypting

export interface DecryptKeys {
  /** --identity files (and COREPACK_IDENTITY's), read only when a bundle is encrypted. */
  identityFiles: readonly string[];
  /** Asked for only when the file is encrypted with a passphrase. */
  passphrase: (() => Promise<string>) | null;
}

/**
 * Decrypts `stream` (an age file whose first bytes are `head`, still in the
 * stream), as a stream. Throws an EncryptedBundleError when nothing given
 * matches; a damaged payload ends the returned stream with a DecryptError.
 */
export async function decryptStream(file: string, stream: Readable, head: Buffer, keys: DecryptKeys): Promise<Readable> {
  const recipients = ageRecipients(head);
  const usesPassphrase = recipients.types.includes('scrypt');
  const tried = [...keys.identityFiles];
  if (usesPassphrase && keys.passphrase) tried.push(PASSPHRASE_TRIED);
  const canTry = keys.identityFiles.length > 0 || (usesPassphrase && keys.passphrase !== null);
  if (!canTry) {
    stream.destroy();
    throw new EncryptedBundleError(file, recipients, []);
  }
  let d;
  try {
    const identities = await Promise.all(keys.identityFiles.map(readIdentityFile));
    const age = await loadAge();
    d = new age.Decrypter();
    for (const id of identities) for (const k of id.keys) d.addIdentity(k);
    if (usesPassphrase && keys.passphrase) d.addPassphrase(await keys.passphrase());
  } catch (err) {
    stream.destroy();
    throw err;
  }
  let out: ReadableStream<Uint8Array>;
  trace('decrypt age');
  try {
    out = await d.decrypt(Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>);
  } catch (err) {
    stream.destroy();
    if (err instanceof PartSetError) throw err;
    const msg = (err as Error).message ?? String(err);
    if (/no identity matched/.test(msg)) throw new EncryptedBundleError(file, recipients, tried);
    throw new DecryptError(file, msg, { cause: err });
  }
  const plain = Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>, { highWaterMark: 1 << 20 });
  // Errors of the payload are about the file; those of the layer below (a damaged part) stay as they are.
  async function* checked(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of plain as AsyncIterable<Uint8Array>) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    } catch (err) {
      if (err instanceof PartSetError || err instanceof DecryptError) throw err;
      throw new DecryptError(file, (err as Error).message ?? String(err), { cause: err });
    } finally {
      plain.destroy();
      stream.destroy();
    }
  }
  return Readable.from(checked(), { objectMode: false, highWaterMark: 1 << 20 });
}
