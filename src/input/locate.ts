/**
 * Finding the plain core behind what the user named: a raw ELF core, a
 * compressed one (systemd-coredump), an apport report, an ABRT directory.
 *
 * Like delve's table of core openers: each opener says whether it takes the
 * input (by content) and how to open it. Opening unpacks a compressed core
 * once into a sparse temporary file; peeking (for `list`) reads only the
 * start of the stream, up to the end of the notes.
 */
import { open, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { readAbrtDir } from './abrt.js';
import { apportCoreStream, scanApport } from './apport.js';
import { decompressFile, type PlainStream } from './decompress.js';
import { UnknownFormError } from './errors.js';
import { compressedFormOf, sniffForm, SNIFF_BYTES, type CompressedForm, type CoreForm } from './form.js';
import { emptyOrigin, intOrNull, isoOrNull, type CoreOrigin } from './origin.js';
import { parseSystemdCoreName, readCoredumpXattrs } from './systemd.js';
import { readNotesPrefix, unpackToTemp } from './unpack.js';
import { peekHead } from '../util/head.js';

export interface LocatedCore {
  /** The plain ELF core to read: the file itself, or a temporary unpacked copy. */
  file: string;
  /** True when `file` is a temporary copy (removed by dispose). */
  unpacked: boolean;
  origin: CoreOrigin;
  /** Removes the temporary copy, if any. Safe to call twice. */
  dispose(): Promise<void>;
}

/** What `list` reads of a core: its origin, and either the plain file or the start of its stream. */
export interface PeekedCore {
  origin: CoreOrigin;
  /** A plain core file to open directly, or the stream prefix holding headers and notes. */
  core: { file: string } | { prefix: Buffer };
  /** Size of the file as stored (compressed size for compressed forms). */
  storedSize: number;
}

export interface LocateOptions {
  signal?: AbortSignal | undefined;
  /** Where unpacked cores go (default TMPDIR). */
  tmpBase?: string | undefined;
}

interface Probe {
  path: string;
  isDir: boolean;
  size: number;
  head: Buffer;
  form: Exclude<CoreForm, 'abrt'> | undefined;
}

interface Opener {
  name: string;
  takes(p: Probe): boolean;
  open(p: Probe, opts: LocateOptions): Promise<LocatedCore>;
  peek(p: Probe): Promise<PeekedCore>;
}

async function probe(path: string): Promise<Probe> {
  const st = await stat(path);
  if (st.isDirectory()) return { path, isDir: true, size: 0, head: Buffer.alloc(0), form: undefined };
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    const head = buffer.subarray(0, bytesRead);
    return { path, isDir: false, size: st.size, head, form: sniffForm(head) };
  } finally {
    await fh.close();
  }
}

const plain = (file: string, origin: CoreOrigin): LocatedCore => ({ file, unpacked: false, origin, dispose: async () => {} });

// ---------------------------------------------------------------------------
// Metadata of each store

/** apport's unpackaged-program cores: core.<exe with / and . as _>.<uid>.<bootid>.<pid>.<start time>. */
const APPORT_CORE_NAME = /^core\.(_[^.]*)\.(\d+)\.([0-9a-f-]{32,36})\.(\d+)\.(\d+)$/;

async function fileOrigin(path: string, form: CoreForm): Promise<CoreOrigin> {
  const base = basename(path);
  const sd = parseSystemdCoreName(base);
  if (sd) {
    const o = emptyOrigin(path, form, 'systemd-coredump');
    const x = await readCoredumpXattrs(path);
    o.metadata = { ...x, bootid: sd.bootId };
    o.executable = x.exe ?? null;
    o.pid = intOrNull(x.pid) ?? sd.pid;
    o.uid = intOrNull(x.uid) ?? sd.uid;
    o.signal = intOrNull(x.signal);
    const usec = intOrNull(x.timestamp) ?? sd.usec;
    o.time = isoOrNull(usec / 1000);
    if (!x.comm) o.metadata.comm = sd.comm;
    return o;
  }
  const ap = form === 'raw' ? APPORT_CORE_NAME.exec(base) : null;
  if (ap) {
    const o = emptyOrigin(path, form, 'apport-coredump');
    o.metadata = { mangledExecutable: ap[1]!, bootid: ap[3]! };
    o.pid = Number(ap[4]);
    o.uid = Number(ap[2]);
    return o;
  }
  return emptyOrigin(path, form, 'file');
}

function apportOrigin(path: string, fields: Record<string, string>, compression: CoreOrigin['compression']): CoreOrigin {
  const o = emptyOrigin(path, 'apport', 'apport');
  o.compression = compression;
  const { ProcStatus, ...rest } = fields;
  o.metadata = rest;
  o.executable = fields.ExecutablePath ?? null;
  o.cmdline = fields.ProcCmdline ?? null;
  o.signal = intOrNull(fields.Signal);
  o.pid = intOrNull(/^Pid:\s*(\d+)/m.exec(ProcStatus ?? '')?.[1]);
  o.uid = intOrNull(/^Uid:\s*(\d+)/m.exec(ProcStatus ?? '')?.[1]);
  o.time = fields.Date ? isoOrNull(Date.parse(fields.Date)) : null;
  return o;
}

function abrtOrigin(dir: string, fields: Record<string, string>, compression: CoreOrigin['compression']): CoreOrigin {
  const o = emptyOrigin(dir, 'abrt', 'abrt');
  o.compression = compression;
  o.metadata = fields;
  o.executable = fields.executable ?? null;
  o.cmdline = fields.cmdline ?? null;
  o.pid = intOrNull(fields.pid);
  o.uid = intOrNull(fields.uid);
  o.signal = intOrNull(fields.signal);
  const t = intOrNull(fields.time);
  o.time = t === null ? null : isoOrNull(t * 1000);
  return o;
}

// ---------------------------------------------------------------------------
// Openers

async function unpack(stream: PlainStream, path: string, form: string, origin: CoreOrigin, opts: LocateOptions): Promise<LocatedCore> {
  const u = await unpackToTemp(stream, { path, form, tmpBase: opts.tmpBase, signal: opts.signal });
  return { file: u.file, unpacked: true, origin, dispose: u.dispose };
}

const rawOpener: Opener = {
  name: 'raw',
  // Unknown content goes here too: the ELF reader names what is wrong with it.
  takes: (p) => !p.isDir && (p.form === 'raw' || p.form === undefined),
  async open(p) {
    return plain(p.path, await fileOrigin(p.path, 'raw'));
  },
  async peek(p) {
    return { origin: await fileOrigin(p.path, 'raw'), core: { file: p.path }, storedSize: p.size };
  },
};

const compressedOpener: Opener = {
  name: 'compressed',
  takes: (p) => !p.isDir && p.form !== undefined && p.form !== 'raw' && p.form !== 'apport',
  async open(p, opts) {
    const form = p.form as CompressedForm;
    const origin = await fileOrigin(p.path, form);
    return unpack(await decompressFile(p.path, form), p.path, form, origin, opts);
  },
  async peek(p) {
    const form = p.form as CompressedForm;
    const prefix = await readNotesPrefix(await decompressFile(p.path, form), { path: p.path, form });
    return { origin: await fileOrigin(p.path, form), core: { prefix }, storedSize: p.size };
  },
};

function embeddedCompression(head: Buffer | undefined): CoreOrigin['compression'] {
  if (!head) return null;
  return compressedFormOf(head) ?? (head[0] === 0x78 ? 'zlib' : null);
}

const apportOpener: Opener = {
  name: 'apport',
  takes: (p) => !p.isDir && p.form === 'apport',
  async open(p, opts) {
    const { stream, scan } = apportCoreStream(p.path);
    const located = await unpack(stream, p.path, 'apport CoreDump', emptyOrigin(p.path, 'apport', 'apport'), opts);
    const r = await scan;
    located.origin = apportOrigin(p.path, r.fields, embeddedCompression(r.coreHead));
    return located;
  },
  async peek(p) {
    const { stream, scan } = apportCoreStream(p.path);
    const prefix = await readNotesPrefix(stream, { path: p.path, form: 'apport CoreDump' });
    // The text fields come before the core: stopping early keeps them.
    const r = await scan.catch(() => scanApport(p.path));
    return { origin: apportOrigin(p.path, r.fields, embeddedCompression(r.coreHead)), core: { prefix }, storedSize: p.size };
  },
};

const abrtOpener: Opener = {
  name: 'abrt',
  takes: (p) => p.isDir,
  async open(p, opts) {
    const dir = await readAbrtDir(p.path);
    if (!dir) throw new UnknownFormError(p.path, 'is a directory, and not an ABRT problem directory (no coredump and executable files)');
    const inner = await openerFor(await probe(dir.core)).open(await probe(dir.core), opts);
    inner.origin = { ...abrtOrigin(p.path, dir.fields, inner.origin.form === 'raw' ? null : (inner.origin.form as CompressedForm)) };
    return inner;
  },
  async peek(p) {
    const dir = await readAbrtDir(p.path);
    if (!dir) throw new UnknownFormError(p.path, 'is a directory, and not an ABRT problem directory (no coredump and executable files)');
    const ip = await probe(dir.core);
    const inner = await openerFor(ip).peek(ip);
    return { ...inner, origin: abrtOrigin(p.path, dir.fields, inner.origin.form === 'raw' ? null : (inner.origin.form as CompressedForm)) };
  },
};

/** Order matters only in that the first opener that takes a probe wins. */
const OPENERS: readonly Opener[] = [abrtOpener, apportOpener, compressedOpener, rawOpener];

function openerFor(p: Probe): Opener {
  const o = OPENERS.find((x) => x.takes(p));
  if (!o) throw new UnknownFormError(p.path, 'is not a file corepack can read');
  return o;
}

/** The plain core behind `path`; call dispose() when done (in a finally). */
export async function locateCore(path: string, opts: LocateOptions = {}): Promise<LocatedCore> {
  const abs = resolve(path);
  const p = await probe(abs);
  return openerFor(p).open(p, opts);
}

/** What a path holds, when a compressed stream may be a core or a bundle. */
export type LocatedInput = { kind: 'core'; core: LocatedCore } | { kind: 'tar' };

/**
 * locateCore, except that a compressed file whose plain content is not a core
 * but a tar archive (a .tar.zst bundle, say), or that does not decompress, is
 * answered { kind: 'tar' } and not unpacked: inspect tells a systemd .zst
 * core from a compressed bundle by the very decompression that unpacks the
 * core, so a compressed core is decompressed once.
 */
export async function locateCoreOrTar(path: string, opts: LocateOptions = {}): Promise<LocatedInput> {
  const p = await probe(resolve(path));
  if (p.isDir || p.form === undefined || p.form === 'raw' || p.form === 'apport') return { kind: 'core', core: await openerFor(p).open(p, opts) };
  const form = p.form;
  const peeked = await readHead(await decompressFile(p.path, form), TAR_HEAD_BYTES);
  if (!peeked) return { kind: 'tar' }; // the bundle reader names the decompressor's failure
  if (peeked.head.length === 0 || startsLikeTar(peeked.head)) {
    peeked.rest.stop();
    return { kind: 'tar' };
  }
  return { kind: 'core', core: await unpack(peeked.rest, p.path, form, await fileOrigin(p.path, form), opts) };
}

/** Enough of a tar header to see its "ustar" magic. */
const TAR_HEAD_BYTES = 512;

/** The first `n` bytes of `stream`, and the stream from its first byte again; undefined when it fails before them. */
async function readHead(stream: PlainStream, n: number): Promise<{ head: Buffer; rest: PlainStream } | undefined> {
  const peeked = await peekHead(stream.bytes, n).catch(() => undefined);
  if (!peeked) {
    stream.stop();
    return undefined;
  }
  return { head: peeked.head, rest: { bytes: peeked.rest, done: stream.done, stop: () => stream.stop() } };
}

/** The origin and the headers-and-notes of the core behind `path`, reading as little as possible. */
export async function peekCore(path: string): Promise<PeekedCore> {
  const abs = resolve(path);
  const p = await probe(abs);
  return openerFor(p).peek(p);
}


/** A tar header: "ustar" at offset 257 (POSIX and GNU). */
export function startsLikeTar(head: Buffer): boolean {
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}
