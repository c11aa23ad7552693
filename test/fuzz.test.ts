/**
 * Fuzzing the core reader. In the normal suite this is a short, seeded,
 * deterministic smoke run; `npm run fuzz` runs the same harness over 100,000
 * inputs (FUZZ_INPUTS, FUZZ_SEED to change them) and prints the slowest.
 *
 * Every input must parse or raise FormatError, within 1 s, without an
 * allocation driven by a size field. Failures found are added to
 * test/fixtures/fuzz-regressions.json and replayed here forever.
 */
import { readFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyse, fuzz, makeInput, parseOne, type Seed } from './helpers/fuzz.js';
import { buildCrashProgram, makeCrash, type CrashFixture, type CrashProgram } from './helpers/crash.js';
import { buildElfImage, buildFreebsdCore, AT_PHDR, KVME_PROT_READ, KVME_PROT_EXEC } from './helpers/freebsdCore.js';
import { corpusDir } from './helpers/oracles.js';

const LONG = process.env.FUZZ_INPUTS !== undefined;
const INPUTS = Number(process.env.FUZZ_INPUTS ?? 3000);
const RUN_SEED = Number(process.env.FUZZ_SEED ?? 1);
/** Smoke runs skip the multi-MiB corpus cores: copying them per input would dominate the time. */
const MAX_SEED_BYTES = LONG ? Infinity : 2 * 1024 * 1024;

interface Regression {
  /**
   * Seed name as analyse() gets it: synthetic-freebsd, <corpus dir>/<core>, or
   * kernel-core:<mode> (a kernel core differs per run, so that replay is in kind only).
   */
  seed: string;
  runSeed: number;
  input: number;
  note: string;
}
const REGRESSIONS = JSON.parse(readFileSync(new URL('./fixtures/fuzz-regressions.json', import.meta.url), 'utf8')) as Regression[];

let program: CrashProgram;
let crashes: CrashFixture[] = [];
const seeds: Seed[] = [];

beforeAll(async () => {
  program = await buildCrashProgram();
  crashes = [await makeCrash('segv-thread', { program }), await makeCrash('abort-plugin', { program })];
  for (const c of crashes) seeds.push(await analyse(`kernel-core:${c.mode}`, await readFile(c.core)));
  seeds.push(
    await analyse(
      'synthetic-freebsd',
      buildFreebsdCore({
        pid: 7,
        fname: 'f',
        psargs: 'f -x',
        threads: [{ tid: 100100, cursig: 11, name: 'f', rip: 0x1000n, rsp: 0x2000n }],
        mappings: [{ start: 0x400000n, end: 0x401000n, offset: 0n, prot: KVME_PROT_READ | KVME_PROT_EXEC, path: '/bin/f' }],
        auxv: [[AT_PHDR, 0x400040n]],
        memory: [{ vaddr: 0x400000n, bytes: buildElfImage({ buildId: Buffer.alloc(20, 7), type: 'ET_EXEC' }) }],
      }),
    ),
  );
  const corpus = corpusDir();
  if (corpus) {
    for (const sub of ['elfutils', 'lldb', 'pyelftools']) {
      for (const name of (await readdir(join(corpus, sub))).filter((n) => n.endsWith('.gz')).sort()) {
        const bytes = gunzipSync(await readFile(join(corpus, sub, name)));
        if (bytes.length <= MAX_SEED_BYTES && bytes.subarray(0, 4).toString('latin1') === '\x7fELF') seeds.push(await analyse(`${sub}/${name.slice(0, -3)}`, bytes));
      }
    }
  } else {
    console.warn('fuzz: ../shared/corpus not found; seeding from the suite\'s own cores only');
  }
}, 120_000);

afterAll(async () => {
  for (const c of crashes) await c.cleanup();
  if (program) await rm(dirname(program.dir), { recursive: true, force: true });
});

describe('fuzzing the core reader', () => {
  it(
    `${INPUTS} mutated cores (seed ${RUN_SEED}) each parse or raise FormatError, within 1 s of CPU, with bounded allocation`,
    async () => {
      const t0 = Date.now();
      const r = await fuzz(seeds, { inputs: INPUTS, runSeed: RUN_SEED, maxMs: 1000 });
      const secs = (Date.now() - t0) / 1000;
      const summary = `fuzz: ${r.inputs} inputs from ${seeds.length} seeds in ${secs.toFixed(1)} s: ${r.parsed} parsed, ${r.formatErrors} FormatError, ${r.failures.length} failures; slowest ${r.slowest.ms.toFixed(1)} ms of CPU (${r.slowest.seed}, input ${r.slowest.input}: ${r.slowest.what})`;
      if (LONG || r.failures.length) console.log(summary);
      for (const f of r.failures.slice(0, 20)) console.log(`fuzz failure: ${JSON.stringify(f)}`);
      expect(r.failures).toEqual([]);
      expect(r.parsed).toBeGreaterThan(0);
      expect(r.formatErrors).toBeGreaterThan(0);
    },
    Math.max(120_000, INPUTS * 50),
  );

  it("the reader finds each kernel core's notes and link_map chain, so the structured mutators have targets", () => {
    for (const mode of ['segv-thread', 'abort-plugin']) {
      const s = seeds.find((x) => x.name === `kernel-core:${mode}`)!;
      const { layout } = s;
      expect(layout.notes.map((n) => `${n.name}/${n.type}`), mode).toEqual(expect.arrayContaining(['CORE/1', 'CORE/3', 'CORE/6', 'CORE/1179208773']));
      expect(layout.phdrs.filter((p) => p.type === 1).length, mode).toBeGreaterThan(10);
      // crashme, libfoo, the plugin, libz, libc, ld.so and more: each l_next in the file holds the next link_map's address.
      expect(layout.linkMapAddrs.length, mode).toBeGreaterThanOrEqual(6);
      for (let i = 0; i + 1 < layout.linkMapAddrs.length; i++) {
        expect(s.bytes.readBigUInt64LE(layout.linkMapNext[i]!), `${mode} link_map[${i}].l_next`).toBe(layout.linkMapAddrs[i + 1]);
      }
    }
  });

  it('every mutator changes its input on some seed (the fuzzer really mutates)', () => {
    let changed = 0;
    for (let i = 0; i < 200; i++) {
      const { seed, buf } = makeInput(seeds, RUN_SEED, i);
      if (!buf.equals(seed.bytes)) changed++;
    }
    expect(changed).toBeGreaterThan(150);
  });

  it('an input is rebuilt bit for bit from (seed, run seed, input number): what a regression replay relies on', () => {
    for (let i = 0; i < 50; i++) {
      const found = makeInput(seeds, RUN_SEED, i);
      const replayed = makeInput(seeds, RUN_SEED, i, found.seed);
      expect(replayed.what, `input ${i}`).toBe(found.what);
      expect(replayed.buf.equals(found.buf), `input ${i}: ${found.what}`).toBe(true);
    }
  });

  // One test per recorded regression, registered when the file is read, so an
  // empty list is a visible skip rather than a loop that asserts nothing.
  if (REGRESSIONS.length === 0) {
    it.skip('replays every regression input found so far: none recorded yet (test/fixtures/fuzz-regressions.json is [])', () => {});
  }
  for (const reg of REGRESSIONS) {
    const needsCorpus = !reg.seed.startsWith('kernel-core:') && reg.seed !== 'synthetic-freebsd';
    const name = `regression ${reg.seed} run ${reg.runSeed} input ${reg.input} (${reg.note}) parses or raises FormatError`;
    it.skipIf(needsCorpus && !corpusDir())(needsCorpus && !corpusDir() ? `${name}: skipped, its seed needs ../shared/corpus` : name, async () => {
      const seed = seeds.find((s) => s.name === reg.seed);
      expect(seed, `seed ${reg.seed} is not among this run's seeds: ${seeds.map((s) => s.name).join(', ')}`).toBeDefined();
      const { buf, what } = makeInput(seeds, reg.runSeed, reg.input, seed);
      const outcome = await parseOne(buf);
      expect(outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : outcome, `${reg.seed} #${reg.input}: ${what}`).toMatch(/^(parsed|format-error)$/);
    });
  }
});
