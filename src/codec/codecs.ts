/**
 * The implementations of each compression, fastest first, with the Debian
 * package that brings each program: the one table both the core reader
 * (src/input) and the bundle writer and reader (src/bundle) choose from.
 *
 * A compression may also have a built-in implementation in Node's zlib,
 * used when none of its programs is installed: gzip always, zstd where
 * Node's zlib has it (Node ≥ 22.15, and the single executable).
 */
import * as zlib from 'node:zlib';
import { createGunzip, createGzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { CodecMode } from './errors.js';
import type { Compression } from './magic.js';

export interface CodecProgram {
  program: string;
  /** Arguments that compress stdin to stdout; null: not used to compress. */
  compress: readonly string[] | null;
  /** Arguments that decompress stdin to stdout; null: not used to decompress. */
  decompress: readonly string[] | null;
  /** The Debian/Ubuntu package that installs it. */
  debianPackage: string;
}

export interface BuiltinCodec {
  /** Its name in reports and trace lines ("zlib", "zlib zstd"). */
  name: string;
  /** A transform that compresses or decompresses. */
  transform(mode: CodecMode): Transform;
}

export interface CodecInfo {
  name: Compression;
  /** Fastest first. */
  programs: readonly CodecProgram[];
  /** In process, when no program is installed; null: none. */
  builtin: BuiltinCodec | null;
}

/** gzip in Node's zlib: always there, and as fast as a single-threaded gzip program. */
export const ZLIB_GZIP: BuiltinCodec = {
  name: 'zlib',
  transform: (mode) => (mode === 'compress' ? createGzip({ level: 6 }) : createGunzip()),
};

/** zstd in Node's zlib (Node ≥ 22.15; the single executable's Node 24): absent from older Node's zlib, so looked up, not imported. */
const zlibZstd = zlib as unknown as { createZstdCompress?: () => Transform; createZstdDecompress?: () => Transform };
export const ZLIB_ZSTD: BuiltinCodec | null =
  typeof zlibZstd.createZstdCompress === 'function' && typeof zlibZstd.createZstdDecompress === 'function'
    ? { name: 'zlib zstd', transform: (mode) => (mode === 'compress' ? zlibZstd.createZstdCompress!() : zlibZstd.createZstdDecompress!()) }
    : null;

/** A bare zlib (RFC 1950) stream, as old apport reports embed: no magic of its own, so no table entry. */
export const ZLIB_INFLATE: BuiltinCodec = {
  name: 'zlib',
  transform: (mode) => {
    if (mode === 'compress') throw new Error('bare zlib streams are only read');
    return createInflate();
  },
};

export const CODECS: Readonly<Record<Compression, CodecInfo>> = {
  bzip2: {
    name: 'bzip2',
    programs: [
      { program: 'lbzip2', compress: ['-c', '-9'], decompress: ['-d', '-c'], debianPackage: 'lbzip2' },
      { program: 'pbzip2', compress: ['-c', '-9'], decompress: ['-d', '-c'], debianPackage: 'pbzip2' },
      { program: 'bzip2', compress: ['-c', '-9'], decompress: ['-d', '-c', '-q'], debianPackage: 'bzip2' },
    ],
    builtin: null,
  },
  zstd: {
    name: 'zstd',
    programs: [{ program: 'zstd', compress: ['-c', '-q', '-T0', '-6'], decompress: ['-d', '-c', '-q'], debianPackage: 'zstd' }],
    builtin: ZLIB_ZSTD,
  },
  gzip: {
    name: 'gzip',
    programs: [
      { program: 'pigz', compress: ['-c', '-6'], decompress: ['-d', '-c'], debianPackage: 'pigz' },
      // Compressing too, before Node's zlib (the same deflate, as fast): a process reads a large file
      // itself, in a frame of its own (bundle/sink.ts), where zlib in process would relay every byte.
      { program: 'gzip', compress: ['-c', '-6'], decompress: ['-d', '-c', '-q'], debianPackage: 'gzip' },
    ],
    builtin: ZLIB_GZIP,
  },
  xz: {
    name: 'xz',
    programs: [{ program: 'xz', compress: ['-c', '-q', '-T0'], decompress: ['-d', '-c', '-q'], debianPackage: 'xz-utils' }],
    builtin: null,
  },
  lz4: {
    name: 'lz4',
    programs: [{ program: 'lz4', compress: ['-c', '-q'], decompress: ['-d', '-c', '-q'], debianPackage: 'lz4' }],
    builtin: null,
  },
};

/** The programs of `c` that can work in `mode`, fastest first. */
export function programsFor(c: Compression, mode: CodecMode): CodecProgram[] {
  return CODECS[c].programs.filter((p) => (mode === 'compress' ? p.compress : p.decompress) !== null);
}

/** "lbzip2 (fastest), pbzip2 or bzip2": the packages to install for `c`, for a message. */
export function packagesText(c: Compression, mode: CodecMode): string {
  const [first, ...rest] = [...new Set(programsFor(c, mode).map((p) => p.debianPackage))];
  const last = rest.pop();
  return last === undefined ? (first ?? '') : `${first} (fastest)${rest.map((p) => `, ${p}`).join('')} or ${last}`;
}
