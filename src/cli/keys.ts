/**
 * The keys of an encrypted bundle, from the command line and the environment:
 * shared by replay and inspect, normalised once here, read only when a bundle
 * turns out to be encrypted (src/bundle/source.ts).
 */
import * as path from 'node:path';
import type { DecryptKeys } from '../bundle/encrypt.js';
import { BadOptionError } from '../util/errors.js';
import { readPassphrase, type PassphraseSource } from './passphrase.js';

/** Identity files named here are used as if given with --identity (several: separated by ':'). */
export const IDENTITY_ENV = 'COREPACK_IDENTITY';

export interface KeyFlags {
  identity?: string[] | undefined;
  passphrase?: boolean | undefined;
  passphraseFile?: string | undefined;
}

export interface KeySources {
  /** Absolute: --identity files, then those of $COREPACK_IDENTITY. */
  identityFiles: string[];
  passphrase: PassphraseSource | null;
}

/** commander's collector for a repeatable option. */
export function collectValues(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function passphraseSource(flags: { passphrase?: boolean | undefined; passphraseFile?: string | undefined }, cwd: string): PassphraseSource | null {
  if (flags.passphrase && flags.passphraseFile !== undefined) throw new BadOptionError('--passphrase', '', '--passphrase and --passphrase-file both name where the passphrase comes from', 'pass one of them');
  if (flags.passphraseFile !== undefined) return { from: 'file', path: flags.passphraseFile === '-' ? '-' : path.resolve(cwd, flags.passphraseFile) };
  return flags.passphrase ? { from: 'terminal' } : null;
}

export function normalizeKeySources(flags: KeyFlags, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): KeySources {
  const fromEnv = (env[IDENTITY_ENV] ?? '').split(path.delimiter).filter((p) => p !== '');
  return {
    identityFiles: [...(flags.identity ?? []), ...fromEnv].map((p) => path.resolve(cwd, p)),
    passphrase: passphraseSource(flags, cwd),
  };
}

/** What the bundle layer asks for: the passphrase is read only if the bundle wants one. */
export function decryptKeys(k: KeySources): DecryptKeys {
  const source = k.passphrase;
  // Asked once per command, however many times the bundle is opened (inspect reads its head, then its manifest).
  let asked: Promise<string> | undefined;
  return { identityFiles: k.identityFiles, passphrase: source ? () => (asked ??= readPassphrase(source, false)) : null };
}
