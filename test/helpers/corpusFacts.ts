/**
 * The facts test/corpus.test.ts checks the shared corpus against, read from
 * test/fixtures/corpus/*.json (see the README.md there for where each comes
 * from and where an oracle is not taken literally).
 *
 * JSON has no bigint: addresses and sizes are "0x…" strings there, turned
 * into bigint here. A key this loader does not know, or a value of the wrong
 * shape, throws: a typo in a fixture must not silently drop a check.
 */
import { readFileSync } from 'node:fs';
import type { CoreSummary, Module } from '../../src/core/model.js';

export interface AddrInModule {
  addr: bigint;
  /** What the source test says the address resolves to. */
  what: string;
  path?: string;
  kind?: Module['kind'];
  linkMapNameEndsWith?: string;
}

export interface Facts {
  /** Which test of the source project asserts these (see the core's .expected.txt). */
  source: string;
  /** Why a fact looks the way it does; not checked. */
  comment?: string;
  os?: CoreSummary['os'];
  arch?: string;
  pid?: number;
  threadCount?: number;
  /** Thread ids in note order. */
  tids?: number[];
  /** The one thread with crashed === true. */
  crashedTid?: number;
  signo?: number;
  /** Per-thread signal (NetBSD: the LWP that took the signal, or all LWPs for a process-wide one). */
  cursigByTid?: Record<number, number>;
  fname?: string;
  psargs?: string;
  uid?: number;
  gid?: number;
  ppid?: number;
  /** The whole NT_FILE table: [start, end, file offset in bytes, path]. */
  mappings?: Array<[bigint, bigint, bigint, string]>;
  /** eu-readelf's FILE table is wrong for this core (why); `mappings` replaces it. */
  euFileTableWrong?: string;
  /** Registers of the first thread, by our names. */
  registers?: Record<string, bigint>;
  pc?: bigint;
  sp?: bigint;
  /** The first thread's pc lies in [lo, hi): the source test unwinds frame #0 in that module. */
  pcWithin?: [bigint, bigint, string];
  addrInModule?: AddrInModule[];
  /** memory.read(addr, 4) must say "not in the core". */
  unreadable?: Array<{ addr: bigint; why: string }>;
  warning?: RegExp;
  /** Real program header count, via ElfFile (PN_XNUM). */
  phnum?: number;
  /** Compare with the `readelf -n` output quoted in .expected.txt as well. */
  quotedReadelf?: boolean;
}

/** A core readCore must refuse with FormatError; its other checks use allowTruncated. */
export interface OpenException {
  error: RegExp;
  why: string;
}

/** An eu-unstrip module whose start a header copy misplaced (README: ORACLE NOTES F). */
export interface UnstripCorrection {
  start: bigint;
  size: bigint;
  checkBuildIdAddr: boolean;
  why: string;
}

export interface ArchTables {
  /** MANIFEST.tsv arch → CoreSummary.arch, where they differ. */
  manifestArch: Record<string, string>;
  /** eu-readelf's names of the PC and SP registers, per CoreSummary.arch. */
  pcSp: Record<string, [string, string]>;
  /** eu-readelf register name → ours, where they differ (same elf_gregset_t slot). */
  registerAliases: Record<string, Record<string, string>>;
}

type Json = unknown;

function fixture(name: string): Json {
  return JSON.parse(readFileSync(new URL(`../fixtures/corpus/${name}`, import.meta.url), 'utf8'));
}

function fail(where: string, what: string, v: Json): never {
  throw new Error(`test/fixtures/corpus: ${where}: ${JSON.stringify(v)} is not ${what}`);
}

const str = (v: Json, where: string): string => (typeof v === 'string' ? v : fail(where, 'a string', v));
const num = (v: Json, where: string): number => (typeof v === 'number' && Number.isInteger(v) ? v : fail(where, 'an integer', v));
const bool = (v: Json, where: string): boolean => (typeof v === 'boolean' ? v : fail(where, 'true or false', v));
const big = (v: Json, where: string): bigint => (typeof v === 'string' && /^0x[0-9a-f]+$/.test(v) ? BigInt(v) : fail(where, 'a "0x…" lower-case hex string', v));
const arr = (v: Json, where: string): Json[] => (Array.isArray(v) ? v : fail(where, 'an array', v));
const obj = (v: Json, where: string): Record<string, Json> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>) : fail(where, 'an object', v));
const tuple = (v: Json, n: number, where: string): Json[] => {
  const a = arr(v, where);
  return a.length === n ? a : fail(where, `a ${n}-element array`, v);
};

/** Converts an object key by key; a key without a converter throws. */
function record<T>(v: Json, where: string, fields: { [K in keyof T]-?: (x: Json, where: string) => T[K] }, required: ReadonlyArray<keyof T> = []): T {
  const o = obj(v, where);
  const out: Partial<T> = {};
  for (const [k, x] of Object.entries(o)) {
    const conv = fields[k as keyof T];
    if (!conv) throw new Error(`test/fixtures/corpus: ${where}: unknown key "${k}" (known: ${Object.keys(fields).join(', ')})`);
    out[k as keyof T] = conv(x, `${where}.${k}`);
  }
  for (const k of required) if (!(k in o)) throw new Error(`test/fixtures/corpus: ${where}: "${String(k)}" is missing`);
  return out as T;
}

const mapValues = <V>(v: Json, where: string, conv: (x: Json, where: string) => V): Record<string, V> =>
  Object.fromEntries(Object.entries(obj(v, where)).map(([k, x]) => [k, conv(x, `${where}.${k}`)]));

const MODULE_KINDS: ReadonlyArray<Module['kind']> = ['executable', 'interpreter', 'library', 'vdso'];
const OS_NAMES: ReadonlyArray<CoreSummary['os']> = ['linux', 'freebsd', 'netbsd', 'openbsd', 'unknown'];

function factsOf(v: Json, where: string): Facts {
  return record<Facts>(
    v,
    where,
    {
      source: str,
      comment: str,
      os: (x, w) => (OS_NAMES.includes(x as CoreSummary['os']) ? (x as CoreSummary['os']) : fail(w, `one of ${OS_NAMES.join(', ')}`, x)),
      arch: str,
      pid: num,
      threadCount: num,
      tids: (x, w) => arr(x, w).map((t, i) => num(t, `${w}[${i}]`)),
      crashedTid: num,
      signo: num,
      cursigByTid: (x, w) => mapValues(x, w, num),
      fname: str,
      psargs: str,
      uid: num,
      gid: num,
      ppid: num,
      mappings: (x, w) =>
        arr(x, w).map((m, i) => {
          const [s, e, off, path] = tuple(m, 4, `${w}[${i}]`);
          return [big(s, `${w}[${i}][0]`), big(e, `${w}[${i}][1]`), big(off, `${w}[${i}][2]`), str(path, `${w}[${i}][3]`)];
        }),
      euFileTableWrong: str,
      registers: (x, w) => mapValues(x, w, big),
      pc: big,
      sp: big,
      pcWithin: (x, w) => {
        const [lo, hi, what] = tuple(x, 3, w);
        return [big(lo, `${w}[0]`), big(hi, `${w}[1]`), str(what, `${w}[2]`)];
      },
      addrInModule: (x, w) =>
        arr(x, w).map((a, i) =>
          record<AddrInModule>(
            a,
            `${w}[${i}]`,
            {
              addr: big,
              what: str,
              path: str,
              kind: (k, kw) => (MODULE_KINDS.includes(k as Module['kind']) ? (k as Module['kind']) : fail(kw, `one of ${MODULE_KINDS.join(', ')}`, k)),
              linkMapNameEndsWith: str,
            },
            ['addr', 'what'],
          ),
        ),
      unreadable: (x, w) => arr(x, w).map((u, i) => record<{ addr: bigint; why: string }>(u, `${w}[${i}]`, { addr: big, why: str }, ['addr', 'why'])),
      warning: (x, w) => new RegExp(str(x, w)),
      phnum: num,
      quotedReadelf: bool,
    },
    ['source'],
  );
}

/** Hand-transcribed facts from the cores' .expected.txt files, by core name (facts.json). */
export function loadFacts(): Record<string, Facts> {
  return mapValues(fixture('facts.json'), 'facts.json', factsOf);
}

/** Cores readCore must refuse (open-exceptions.json). */
export function loadOpenExceptions(): Record<string, OpenException> {
  return mapValues(fixture('open-exceptions.json'), 'open-exceptions.json', (v, w) =>
    record<OpenException>(v, w, { error: (x, xw) => new RegExp(str(x, xw)), why: str }, ['error', 'why']),
  );
}

/** eu-unstrip lines replaced, by core and the START eu-unstrip printed (unstrip-corrections.json). */
export function loadUnstripCorrections(): Record<string, Record<string, UnstripCorrection>> {
  return mapValues(fixture('unstrip-corrections.json'), 'unstrip-corrections.json', (v, w) =>
    mapValues(v, w, (c, cw) => record<UnstripCorrection>(c, cw, { start: big, size: big, checkBuildIdAddr: bool, why: str }, ['start', 'size', 'checkBuildIdAddr', 'why'])),
  );
}

/** Architecture name and register tables (arch.json). */
export function loadArchTables(): ArchTables {
  return record<ArchTables>(
    fixture('arch.json'),
    'arch.json',
    {
      manifestArch: (x, w) => mapValues(x, w, str),
      pcSp: (x, w) =>
        mapValues(x, w, (p, pw) => {
          const [pc, sp] = tuple(p, 2, pw);
          return [str(pc, `${pw}[0]`), str(sp, `${pw}[1]`)] as [string, string];
        }),
      registerAliases: (x, w) => mapValues(x, w, (a, aw) => mapValues(a, aw, str)),
    },
    ['manifestArch', 'pcSp', 'registerAliases'],
  );
}
