/**
 * What can be wrong with a bundle, one class per concern. Bundles are
 * untrusted input: every refusal says which entry and why, in one line.
 * Exit codes and hints are src/cli's business (src/cli/errors.ts).
 */

/** A tar entry (or the archive as a whole) that extraction refuses; nothing was left behind. */
export class UnsafeBundleError extends Error {
  override readonly name = 'UnsafeBundleError';
  constructor(
    /** Why, a phrase naming the entry when there is one. */
    readonly reason: string,
    /** The entry's path in the tar, when one entry is to blame. */
    readonly entry: string | null = null,
    options?: ErrorOptions,
  ) {
    super(`unsafe or malformed bundle: ${reason}`, options);
  }
}

/** Thrown for a manifest that is not what collect writes. Its message names the field. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** A file that is not a corepack bundle at all (not compressed tar, no manifest first). */
export class NotABundleError extends Error {
  override readonly name = 'NotABundleError';
  constructor(
    /** The bundle file; null where only its contents are known (the extraction policy). */
    readonly path: string | null,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${path === null ? '' : `${path}: `}not a corepack bundle (${reason})`, options);
  }
}

/** A compressor or decompressor failed: the codec layer's one error, which bundle code throws and catches too. */
export { CodecError, type CodecMode } from '../codec/errors.js';

/** The bundle's core cannot be read as a core (it passed its checksum, so collect packed a bad one, or it was forged). */
export class BundledCoreError extends Error {
  override readonly name = 'BundledCoreError';
  constructor(
    readonly bundlePath: string,
    override readonly cause: Error,
  ) {
    super(`the bundle's core (${bundlePath}): ${cause.message}`, { cause });
  }
}

export type FileChange = 'grew' | 'shrank' | 'changed' | 'disappeared';

/** A file changed while collect was reading it: the bundle would not be consistent. */
export class FileChangedError extends Error {
  override readonly name = 'FileChangedError';
  constructor(
    readonly file: string,
    readonly expectedSize: number,
    readonly how: FileChange,
  ) {
    super(`${FileChangedError.what(file, how)} (expected ${expectedSize} bytes): is something still writing it (a package upgrade)? Run collect again once it is stable`);
  }

  /** "FILE grew while it was being bundled": the part worth a note when collect tries again. */
  static what(file: string, how: FileChange): string {
    return `${file} ${how} while it was being bundled`;
  }

  get summary(): string {
    return FileChangedError.what(this.file, this.how);
  }
}

/** What is wrong with one part of a split bundle (collect --split), or with the set's index. */
export type PartProblem = 'missing' | 'damaged' | 'foreign';

/**
 * A split bundle cannot be joined: a part is missing, damaged (size or
 * sha256 not what the index says) or the index itself is missing or bad.
 * The message names the file: "part 3 of 4 is missing: core.123.tbz2.003".
 */
export class PartSetError extends Error {
  override readonly name = 'PartSetError';
  constructor(
    /** The file to blame (a part, or the index). */
    readonly file: string,
    /** What is wrong, a sentence that stands alone. */
    readonly reason: string,
    /** 1-based part number, or null when the index is to blame. */
    readonly part: number | null = null,
    /** Parts in the set, when known. */
    readonly count: number | null = null,
    options?: ErrorOptions,
  ) {
    super(reason, options);
  }
}

/** collect --split would need more parts than the three-digit suffix allows. */
export class TooManyPartsError extends Error {
  override readonly name = 'TooManyPartsError';
  constructor(
    readonly output: string,
    readonly partSize: number,
    readonly maxParts: number,
  ) {
    super(`cannot write ${output}: --split ${partSize} bytes would make more than ${maxParts} parts; no bundle was written`);
  }
}

/** The recipients an age header names, by stanza type: { X25519: 2, scrypt: 0, … }. */
export interface AgeRecipients {
  /** Stanza types in header order, one per recipient ("X25519", "scrypt", "mlkem768x25519", "ssh-ed25519", …). */
  types: string[];
}

/**
 * An age-encrypted bundle that cannot be decrypted with what was given: no
 * identity at all, or none that matches. Says for how many recipients of
 * which type it is encrypted, never anything about its contents.
 */
/** How a passphrase shows in `tried`. */
export const PASSPHRASE_TRIED = 'the passphrase';

const r = (x: AgeRecipients): string => (x.types.includes('scrypt') ? 'no passphrase was given' : 'no identity was given');

export class EncryptedBundleError extends Error {
  override readonly name = 'EncryptedBundleError';
  constructor(
    readonly file: string,
    readonly recipients: AgeRecipients,
    /** The identity files (and "a passphrase") that were tried; empty when none was given. */
    readonly tried: readonly string[],
  ) {
    super(`${file} is encrypted (age) ${EncryptedBundleError.forWhom(recipients)}; ${EncryptedBundleError.why(recipients, tried)}`);
  }

  /** What was wrong with the keys given: none, a wrong passphrase, identities for a passphrase bundle, or no matching identity. */
  private static why(recipients: AgeRecipients, tried: readonly string[]): string {
    if (tried.length === 0) return r(recipients);
    const identities = tried.filter((t) => t !== PASSPHRASE_TRIED);
    if (recipients.types.includes('scrypt')) {
      if (tried.includes(PASSPHRASE_TRIED)) return 'the passphrase given is not the one it was encrypted with';
      return `it needs a passphrase, and only identity files were given (${identities.join(', ')})`;
    }
    return `none of ${tried.join(', ')} matches`;
  }

  /** A passphrase was given for a passphrase bundle, and it was wrong. */
  get wrongPassphrase(): boolean {
    return this.passphrase && this.tried.includes(PASSPHRASE_TRIED);
  }

  /** "for 2 recipients (X25519)", "for 3 recipients (2 X25519, 1 ssh-ed25519)", "with a passphrase". */
  static forWhom(r: AgeRecipients): string {
    if (r.types.length === 1 && r.types[0] === 'scrypt') return 'with a passphrase';
    const counts = new Map<string, number>();
    for (const t of r.types) counts.set(t, (counts.get(t) ?? 0) + 1);
    const kinds = [...counts].map(([t, n]) => (counts.size === 1 ? t : `${n} ${t}`)).join(', ');
    return `for ${r.types.length} recipient${r.types.length === 1 ? '' : 's'} (${kinds})`;
  }

  get passphrase(): boolean {
    return this.recipients.types.includes('scrypt');
  }

  /** Recipient types corepack cannot decrypt, which the age CLI can (ssh keys, plugins). */
  get foreignOnly(): boolean {
    return this.recipients.types.every((t) => !['X25519', 'scrypt', 'mlkem768x25519'].includes(t));
  }
}

/** An age file whose header or payload is damaged, truncated or tampered with (its authentication failed). */
export class DecryptError extends Error {
  override readonly name = 'DecryptError';
  constructor(
    readonly file: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: the encrypted bundle is damaged, truncated or was altered (${detail}); nothing was extracted`, options);
  }
}

/** An identity file (--identity) that holds no usable age identity. */
export class IdentityFileError extends Error {
  override readonly name = 'IdentityFileError';
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`identity file ${file}: ${reason}`, options);
  }
}
