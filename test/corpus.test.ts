/**
 * The core reader against real cores written by other projects
 * (../shared/corpus: 62 cores, see its README.md and MANIFEST.tsv).
 *
 * Every core in MANIFEST.tsv gets its own `describe`, and every check its own
 * `it`, so a failure names the core and the field. The cores are gunzipped
 * into a temporary directory (never into the repository); without
 * ../shared/corpus the suite is skipped with a message.
 *
 * This file holds the checks. What they compare with is data: the corpus's
 * own oracle files (<core>.expected.txt, .eu-readelf.txt, .eu-unstrip.txt,
 * parsed by helpers/oracles.ts) and the facts in test/fixtures/corpus/*.json
 * (loaded by helpers/corpusFacts.ts). test/fixtures/corpus/README.md says
 * where each fact comes from, which cores may refuse to open, and where an
 * oracle is not taken literally (ORACLE NOTES A-G, cited below).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreFile, readCore } from '../src/core/open.js';
import type { CoreSummary, Module, Thread } from '../src/core/model.js';
import { FormatError } from '../src/elf/errors.js';
import { ElfFile } from '../src/elf/file.js';
import { FileReader } from '../src/elf/reader.js';
import {
  corpusCore,
  corpusDir,
  parseEuReadelf,
  parseEuUnstrip,
  parseUnstripLine,
  readelfFromExpected,
  readManifest,
  readOracleText,
  removeCorpusTemp,
  unstripFromExpected,
  type ManifestEntry,
  type ReadelfOracle,
  type UnstripModule,
} from './helpers/oracles.js';
import { loadArchTables, loadFacts, loadOpenExceptions, loadUnstripCorrections, type Facts } from './helpers/corpusFacts.js';

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
const hex = (v: bigint | undefined): string | undefined => (v === undefined ? undefined : v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);

const FACTS = loadFacts();
const OPEN_EXCEPTIONS = loadOpenExceptions();
const UNSTRIP_CORRECTIONS = loadUnstripCorrections();
const ARCH = loadArchTables();

// ─────────────────────────────────────────────────────────────────────────────
// MANIFEST.tsv names, module labels
// ─────────────────────────────────────────────────────────────────────────────

/** MANIFEST.tsv arch → CoreSummary.arch. */
function manifestArch(e: ManifestEntry): string {
  return ARCH.manifestArch[e.arch] ?? e.arch;
}

function manifestOs(e: ManifestEntry): CoreSummary['os'] {
  if (e.os.startsWith('Linux')) return 'linux';
  if (e.os === 'NetBSD') return 'netbsd';
  return 'unknown';
}

function pageUp(a: bigint, page: bigint): bigint {
  return ((a + page - 1n) / page) * page;
}

function moduleLabel(m: Module): string {
  return `${hex(m.start)}-${hex(m.end)} ${m.kind} ${m.path ?? m.linkMapName ?? '?'}`;
}

// ─────────────────────────────────────────────────────────────────────────────
// Checks shared by eu-readelf and the readelf -n quoted in .expected.txt
// ─────────────────────────────────────────────────────────────────────────────

function readelfChecks(label: string, oracle: ReadelfOracle, get: () => CoreSummary, isMips: boolean, facts: Facts | undefined): void {
  const ps = oracle.prstatus;
  // What the oracle shows decides which checks exist (and their names), so
  // no check hides behind an if inside its test.
  if (ps.length > 0) {
    const withPids = ps.every((p) => p.pid !== undefined);
    if (withPids) {
      it(`${label}: thread count, tids and cursig in PRSTATUS note order`, () => {
        const s = get();
        expect(s.threads.length, 'number of threads = number of CORE/PRSTATUS notes').toBe(ps.length);
        expect(s.threads.map((t) => [t.tid, t.cursig])).toEqual(ps.map((p) => [p.pid, p.cursig]));
      });
    } else {
      it(`${label}: thread count = PRSTATUS notes (printed without pid, as only for MIPS: ORACLE NOTES D)`, () => {
        expect(isMips, 'only MIPS PRSTATUS is printed without pid').toBe(true);
        expect(get().threads.length, 'number of threads = number of CORE/PRSTATUS notes').toBe(ps.length);
      });
    }
    const first = ps[0]!;
    if (withPids && first.cursig !== undefined && first.cursig > 0) {
      it(`${label}: the first PRSTATUS thread (${first.pid}, pr_cursig ${first.cursig}) is the one crashed`, () => {
        expect(get().threads.filter((t) => t.crashed).map((t) => t.tid)).toEqual([first.pid]);
      });
    }
  }
  const pid = oracle.prpsinfo?.pid ?? ps[0]?.pid;
  if (pid !== undefined && ps.length > 0) {
    it(`${label}: process pid (PRPSINFO pr_pid, else first PRSTATUS)`, () => {
      expect(get().process.pid).toBe(pid);
    });
  }
  const withRegs = ps.map((p, i) => ({ p, i })).filter(({ p }) => p.registers.size > 0);
  if (withRegs.length > 0) {
    it(`${label}: pc and sp of every thread`, () => {
      const s = get();
      const names = ARCH.pcSp[s.arch];
      expect(names, `no PC/SP names for arch ${s.arch}`).toBeDefined();
      const [pcName, spName] = names!;
      const ours = withRegs.map(({ i }) => ({ pc: hex(s.threads[i]?.pc), sp: hex(s.threads[i]?.sp) }));
      const want = withRegs.map(({ p }) => ({ pc: hex(p.registers.get(pcName)), sp: hex(p.registers.get(spName)) }));
      expect(ours).toEqual(want);
    });
    it(`${label}: every general register printed under a name we also use`, () => {
      const s = get();
      const alias = ARCH.registerAliases[s.arch] ?? {};
      for (const { p, i } of withRegs) {
        const t: Thread | undefined = s.threads[i];
        expect(t, `thread ${i}`).toBeDefined();
        const ours: Record<string, string | undefined> = {};
        const want: Record<string, string | undefined> = {};
        for (const [euName, v] of p.registers) {
          const name = alias[euName] ?? euName;
          if (!(name in t!.registers)) continue;
          // Compare the bits eu-readelf shows (x86 segment registers: the low 16).
          const bits = p.registerBits.get(euName) ?? 64;
          want[name] = hex(v);
          ours[name] = hex(BigInt.asUintN(bits, t!.registers[name]!));
        }
        expect(Object.keys(want).length, `registers compared for thread ${t!.tid}`).toBeGreaterThan(0);
        expect({ tid: t!.tid, ...ours }).toEqual({ tid: p.pid, ...want });
      }
    });
  }
  if (oracle.siginfo.length > 0) {
    const si = oracle.siginfo[0]!;
    const code = isMips ? si.errno : si.code;
    it(`${label}: signal agrees with the first SIGINFO${isMips ? ' (si_code/si_errno swapped for MIPS, ORACLE NOTES D)' : ''}`, () => {
      const s = get();
      expect(s.signal?.signo, 'si_signo').toBe(si.signo);
      expect(s.signal?.code, 'si_code').toBe(code);
    });
    if (si.faultAddress !== undefined) {
      const addr = si.faultAddress;
      it(`${label}: fault address ${hex(addr)} from SIGINFO`, () => expect(hex(get().signal?.addr)).toBe(hex(addr)));
    } else if (code <= 0) {
      // si_code <= 0: sent by a process (SI_USER, SI_TKILL, ...): the union
      // holds the sender's pid/uid, there is no fault address.
      it(`${label}: no fault address for a signal sent by a process (si_code ${code})`, () => expect(hex(get().signal?.addr)).toBeUndefined());
    }
  } else if (ps.length > 0 && ps[0]!.cursig !== undefined && facts?.signo === undefined) {
    const cursig = ps[0]!.cursig;
    if (cursig > 0) it(`${label}: no SIGINFO: signal is the first thread's pr_cursig (${cursig})`, () => expect(get().signal?.signo).toBe(cursig));
    else it(`${label}: no SIGINFO and pr_cursig 0: no signal`, () => expect(get().signal).toBeUndefined());
  }
  const info = oracle.prpsinfo;
  if (info && info.pid !== undefined) {
    it(`${label}: PRPSINFO pid, ppid, uid, gid, fname, psargs`, () => {
      const p = get().process;
      expect({ pid: p.pid, ppid: p.ppid, uid: p.uid, gid: p.gid, fname: p.fname, psargs: p.psargs?.trimEnd() }).toEqual({
        pid: info.pid,
        ppid: info.ppid,
        uid: info.uid,
        gid: info.gid,
        fname: info.fname,
        psargs: info.psargs?.trimEnd(),
      });
    });
  }
  if (oracle.files && !facts?.euFileTableWrong) {
    const files = oracle.files;
    it(`${label}: NT_FILE table (start, end, byte offset, path) in order`, () => {
      expect(files.length, 'the oracle lists as many entries as it announces').toBe(oracle.fileCount);
      const s = get();
      expect(s.mappings.map((m) => [hex(m.start), hex(m.end), hex(m.fileOffset), m.deleted ? `${m.path} (deleted)` : m.path])).toEqual(
        files.map((f) => [hex(f.start), hex(f.end), hex(f.offset), f.path]),
      );
    });
  }
}

// ─────────────────────────────────────────────────────────────────────────────
// The module oracle for one core: eu-unstrip lines + .expected.txt lines,
// with the corrections listed in ORACLE NOTES A, B and F
// ─────────────────────────────────────────────────────────────────────────────

interface ModuleExpectation extends UnstripModule {
  source: string;
  checkBuildIdAddr: boolean;
}

function moduleOracle(dir: string, e: ManifestEntry, expected: string | undefined): ModuleExpectation[] {
  const out: ModuleExpectation[] = [];
  const add = (m: UnstripModule, source: string, checkBuildIdAddr = true): void => {
    const i = out.findIndex((x) => x.start === m.start);
    if (i >= 0) out.splice(i, 1); // a later (stronger) source replaces an earlier one
    out.push({ ...m, source, checkBuildIdAddr });
  };
  // A: test-core.core uses the with-executable run.
  const withExe = readOracleText(dir, e.localPath, 'eu-unstrip-with-exe');
  const eu = withExe ?? readOracleText(dir, e.localPath, 'eu-unstrip');
  if (eu) for (const m of parseEuUnstrip(eu).modules) add(m, withExe ? 'eu-unstrip 0.188 -e <exe>' : 'eu-unstrip 0.188');
  if (expected) {
    for (const m of unstripFromExpected(expected)) add(m, '.expected.txt (unstrip -n)');
    // B: "misses `0x7f14e4795000 175e...@0x7f14e4795248`" in the corpus builder's note.
    for (const mm of expected.matchAll(/misses `(0x[0-9a-f]+) ([0-9a-f]+@0x[0-9a-f]+)`/g)) {
      const m = parseUnstripLine(`${mm[1]}+0x0 ${mm[2]} - - (module eu-unstrip 0.188 missed)`);
      if (m) add({ ...m, size: -1n }, '.expected.txt (module 0.188 misses)');
    }
  }
  // F: eu-unstrip's start misplaced by a header copy.
  for (const [at, fix] of Object.entries(UNSTRIP_CORRECTIONS[e.name] ?? {})) {
    const i = out.findIndex((x) => hex(x.start) === at);
    if (i < 0) throw new Error(`UNSTRIP_CORRECTIONS: ${e.name} has no eu-unstrip module at ${at}`);
    const old = out[i]!;
    out[i] = { ...old, start: fix.start, size: fix.size, checkBuildIdAddr: fix.checkBuildIdAddr, source: `${old.source}, start corrected (ORACLE NOTES F)` };
  }
  return out;
}

// ─────────────────────────────────────────────────────────────────────────────
// The suite
// ─────────────────────────────────────────────────────────────────────────────

const dir = corpusDir();

if (!dir) {
  const msg = 'corpus absent: ../shared/corpus not found, corpus tests skipped';
  console.warn(msg);
  it.skip(msg, () => {});
} else {
  const manifest = readManifest(dir);

  afterAll(async () => {
    await removeCorpusTemp();
  });

  it('MANIFEST.tsv lists 62 cores, each with its oracle files', () => {
    expect(manifest.length).toBe(62);
    for (const e of manifest) {
      expect(readOracleText(dir, e.localPath, 'eu-readelf'), `${e.localPath}.eu-readelf.txt`).toBeDefined();
      expect(readOracleText(dir, e.localPath, 'eu-unstrip'), `${e.localPath}.eu-unstrip.txt`).toBeDefined();
    }
  });

  it('oracle check: eu-readelf 0.188 prints NT_FILE offsets in bytes (= pyelftools core_linux32 page offsets x 4096)', () => {
    const files = parseEuReadelf(readOracleText(dir, 'pyelftools/core_linux32.elf', 'eu-readelf') ?? '').files;
    expect(files?.map((f) => [hex(f.start), hex(f.end), hex(f.offset), f.path])).toEqual(
      FACTS['core_linux32.elf']!.mappings!.map(([a, b, o, p]) => [hex(a), hex(b), hex(o), p]),
    );
  });

  it('every entry of facts.json, open-exceptions.json and unstrip-corrections.json names a core in MANIFEST.tsv', () => {
    const names = new Set(manifest.map((e) => e.name));
    const keys = [...Object.keys(FACTS), ...Object.keys(OPEN_EXCEPTIONS), ...Object.keys(UNSTRIP_CORRECTIONS)];
    expect(keys.filter((n) => !names.has(n))).toEqual([]);
  });

  for (const e of manifest) {
    const facts = FACTS[e.name];
    const expected = readOracleText(dir, e.localPath, 'expected');
    const readelf = parseEuReadelf(readOracleText(dir, e.localPath, 'eu-readelf') ?? '');
    const quoted = facts?.quotedReadelf && expected ? readelfFromExpected(expected) : undefined;
    const modules = moduleOracle(dir, e, expected);
    const isMips = e.arch.startsWith('mips');

    describe(e.localPath, () => {
      let corePath = '';
      let summary: CoreSummary | undefined;
      let openError: unknown;

      const exception = OPEN_EXCEPTIONS[e.name];

      beforeAll(async () => {
        corePath = await corpusCore(e.localPath, dir);
        try {
          summary = await readCore(corePath);
        } catch (err) {
          openError = err;
        }
        if (exception && openError !== undefined) summary = await readCore(corePath, { allowTruncated: true });
      });

      const get = (): CoreSummary => {
        if (!summary) throw new Error(`readCore failed: ${errorText(openError)}`);
        return summary;
      };

      if (exception) {
        it(`readCore refuses it with FormatError ${exception.error} (${exception.why}); allowTruncated opens it`, () => {
          expect(openError).toBeInstanceOf(FormatError);
          expect((openError as Error).message).toMatch(exception.error);
          expect(summary).toBeDefined();
        });
      } else {
        it('readCore opens it without throwing (on these real cores even a FormatError is a bug)', () => {
          expect(openError === undefined ? undefined : errorText(openError), 'readCore threw').toBeUndefined();
          expect(summary).toBeDefined();
        });
      }

      it('module table is well-formed: start < end <= 2^class, loadBias (when known) an address in [0, 2^class)', () => {
        const s = get();
        const limit = 1n << BigInt(s.elfClass);
        const bad = s.modules
          .filter((m) => !(m.start < m.end && m.end <= limit && (m.loadBias === undefined || (m.loadBias >= 0n && m.loadBias < limit))))
          .map((m) => `${moduleLabel(m)} loadBias=${hex(m.loadBias)}`);
        expect(bad).toEqual([]);
      });

      it(`os, arch, class and byte order as MANIFEST.tsv says (${e.os} ${e.arch} ${e.elfClass}-bit ${e.endian})`, () => {
        const s = get();
        expect({ os: s.os, arch: s.arch, elfClass: s.elfClass, byteOrder: s.byteOrder }).toEqual({
          os: facts?.os ?? manifestOs(e),
          arch: facts?.arch ?? manifestArch(e),
          elfClass: e.elfClass,
          byteOrder: e.endian === 'LE' ? 'little' : 'big',
        });
      });

      // ── eu-readelf -n ────────────────────────────────────────────────────
      if (e.os === 'NetBSD') {
        it('NetBSD LWPs are the NetBSD-CORE@<lwp> notes, in note order', () => {
          expect(get().threads.map((t) => t.tid)).toEqual(readelf.netbsdLwps);
        });
      } else {
        readelfChecks('eu-readelf', readelf, get, isMips, facts);
        if (readelf.prstatus.length === 0) {
          it('eu-readelf shows no CORE/PRSTATUS note: no threads', () => {
            expect(get().threads).toEqual([]);
          });
        }
      }
      if (quoted) readelfChecks('readelf -n quoted in .expected.txt', quoted, get, isMips, facts);
      if (!readelf.files && !facts?.mappings && e.os !== 'NetBSD') {
        it('no NT_FILE note: no file mappings', () => {
          expect(get().mappings).toEqual([]);
        });
      }

      // ── eu-unstrip -n --core ─────────────────────────────────────────────
      for (const m of modules) {
        it(`module ${hex(m.start)}${m.size >= 0n ? `+${hex(m.size)}` : ''} ${m.buildId ?? '-'} ${m.name} [${m.source}]`, () => {
          const s = get();
          const ours = s.modules.find((x) => x.start === m.start);
          expect(ours, `no module starts at ${hex(m.start)}; we have:\n  ${s.modules.map(moduleLabel).join('\n  ')}`).toBeDefined();
          if (m.buildId !== undefined) {
            expect(ours!.buildId, 'build ID').toBe(m.buildId);
            if (m.buildIdAddr !== undefined && m.checkBuildIdAddr) expect(hex(ours!.buildIdAddr), 'build-id descriptor address').toBe(hex(m.buildIdAddr));
          }
          if (m.size >= 0n) {
            const end = m.start + m.size;
            const page = s.auxv.find((a) => a.name === 'AT_PAGESZ')?.a_val ?? readelf.auxv.get('PAGESZ') ?? 4096n;
            const ok = ours!.end === end || ours!.end === pageUp(end, page);
            expect(ok, `end ${hex(ours!.end)} is neither START+SIZE ${hex(end)} nor that rounded up to the ${page}-byte page (${hex(pageUp(end, page))})`).toBe(true);
          }
        });
      }
      if (e.name === 'testcore-noncontig') {
        it('10 modules, as elfutils 0.191 run-dwfl-core-noncontig.sh expects (ORACLE NOTES B)', () => {
          expect(modules.length).toBe(10);
          for (const m of modules) expect(get().modules.some((x) => x.start === m.start && x.buildId === m.buildId)).toBe(true);
        });
      }

      if (facts?.euFileTableWrong && readelf.files) {
        const files = readelf.files;
        it(`oracle check: eu-readelf's FILE table is unusable here (${facts.euFileTableWrong})`, () => {
          expect(files.some((f) => f.end <= f.start || f.path === '')).toBe(true);
        });
      }

      // ── Facts from .expected.txt ─────────────────────────────────────────
      if (facts) registerFacts(facts, get, () => corePath);
    });
  }
}

function registerFacts(f: Facts, get: () => CoreSummary, corePath: () => string): void {
  const p = `fact (${f.source})`;
  if (f.pid !== undefined) it(`${p}: pid ${f.pid}`, () => expect(get().process.pid).toBe(f.pid));
  if (f.threadCount !== undefined) it(`${p}: ${f.threadCount} thread(s)`, () => expect(get().threads.length).toBe(f.threadCount));
  if (f.tids) it(`${p}: tids ${f.tids.join(', ')}`, () => expect(get().threads.map((t) => t.tid)).toEqual(f.tids));
  if (f.crashedTid !== undefined) {
    it(`${p}: thread ${f.crashedTid} (only) crashed`, () => expect(get().threads.filter((t) => t.crashed).map((t) => t.tid)).toEqual([f.crashedTid]));
  }
  if (f.signo !== undefined) it(`${p}: signal ${f.signo}`, () => expect(get().signal?.signo).toBe(f.signo));
  if (f.cursigByTid) {
    const want = f.cursigByTid;
    it(`${p}: per-thread signal ${JSON.stringify(want)}`, () => {
      const got: Record<number, number> = {};
      for (const t of get().threads) got[t.tid] = t.cursig;
      expect(got).toEqual(want);
    });
  }
  const ps: Record<string, unknown> = {};
  for (const k of ['ppid', 'uid', 'gid', 'fname', 'psargs'] as const) if (f[k] !== undefined) ps[k] = f[k];
  if (Object.keys(ps).length > 0) {
    it(`${p}: process ${Object.keys(ps).join(', ')}`, () => {
      const proc = get().process;
      const got: Record<string, unknown> = {};
      for (const k of Object.keys(ps)) got[k] = k === 'psargs' ? proc.psargs?.trimEnd() : proc[k as keyof typeof proc];
      expect(got).toEqual(ps);
    });
  }
  if (f.mappings) {
    const want = f.mappings.map(([s, en, off, path]) => [hex(s), hex(en), hex(off), path]);
    it(`${p}: NT_FILE table (${f.mappings.length} entries, byte offsets)`, () => {
      expect(get().mappings.map((m) => [hex(m.start), hex(m.end), hex(m.fileOffset), m.path])).toEqual(want);
    });
  }
  if (f.registers) {
    const want = Object.fromEntries(Object.entries(f.registers).map(([k, v]) => [k, hex(v)]));
    it(`${p}: registers of the first thread`, () => {
      const regs = get().threads[0]?.registers ?? {};
      expect(Object.fromEntries(Object.keys(want).map((k) => [k, hex(regs[k])]))).toEqual(want);
    });
  }
  if (f.pc !== undefined) it(`${p}: first thread pc ${hex(f.pc)}`, () => expect(hex(get().threads[0]?.pc)).toBe(hex(f.pc)));
  if (f.sp !== undefined) it(`${p}: first thread sp ${hex(f.sp)}`, () => expect(hex(get().threads[0]?.sp)).toBe(hex(f.sp)));
  if (f.pcWithin) {
    const [lo, hi, what] = f.pcWithin;
    it(`${p}: first thread pc in ${what} [${hex(lo)}, ${hex(hi)})`, () => {
      const pc = get().threads[0]?.pc;
      expect(pc !== undefined && pc >= lo && pc < hi, `pc ${hex(pc)} not in [${hex(lo)}, ${hex(hi)})`).toBe(true);
    });
  }
  for (const a of f.addrInModule ?? []) {
    it(`${p}: ${hex(a.addr)} (${a.what}) lies in a module${a.path ? ` ${a.path}` : ''}${a.kind ? ` of kind ${a.kind}` : ''}`, () => {
      const s = get();
      const m = s.modules.find((x) => x.start <= a.addr && a.addr < x.end);
      expect(m, `no module contains ${hex(a.addr)}; we have:\n  ${s.modules.map(moduleLabel).join('\n  ')}`).toBeDefined();
      if (a.path) expect(m!.path).toBe(a.path);
      if (a.kind) expect(m!.kind).toBe(a.kind);
      if (a.linkMapNameEndsWith) expect(m!.linkMapName ?? '', 'link_map name').toMatch(new RegExp(`${a.linkMapNameEndsWith.replace(/\./g, '\\.')}$`));
    });
  }
  for (const u of f.unreadable ?? []) {
    it(`${p}: memory at ${hex(u.addr)} is not in the core (${u.why})`, async () => {
      const core = await CoreFile.open(corePath());
      try {
        expect(await core.memory.read(u.addr, 4)).toBeUndefined();
      } finally {
        await core.close();
      }
    });
  }
  if (f.warning) {
    const re = f.warning;
    it(`${p}: warns ${re}`, () => expect(get().warnings.some((w) => re.test(w)), get().warnings.join('\n')).toBe(true));
  }
  if (f.phnum !== undefined) {
    it(`${p}: ElfFile.phnum ${f.phnum} (e_phnum = PN_XNUM, real count in section header 0)`, async () => {
      const reader = await FileReader.open(corePath());
      try {
        const elf = await ElfFile.open(reader);
        expect(elf.header.e_phnum).toBe(0xffff);
        expect(elf.phnum).toBe(f.phnum);
        expect(elf.progs.length).toBe(f.phnum);
      } finally {
        await reader.close();
      }
    });
  }
}
