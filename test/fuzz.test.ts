/**
 * Fuzzing the core reader. In the normal suite this is a short, seeded,
 * deterministic smoke run; `npm run fuzz` runs the same harness over 100,000
 * inputs (FUZZ_INPUTS, FUZZ_SEED to change them) and prints the slowest.
 *
 * Every input must parse or raise FormatError, within 1 s, without an
 * allocation driven by a size field. Failures found are added to
 * test/fixtures/fuzz-regressions.json and replayed here forever.
 */
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
    `${INPUTS} mutated cores (seed ${RUN_SEED}) each parse or raise FormatError, within 1 s, with bounded allocation`,
    async () => {
      const t0 = Date.now();
      const r = await fuzz(seeds, { inputs: INPUTS, runSeed: RUN_SEED, maxMs: 1000 });
      const secs = (Date.now() - t0) / 1000;
      const summary = `fuzz: ${r.inputs} inputs from ${seeds.length} seeds in ${secs.toFixed(1)} s: ${r.parsed} parsed, ${r.formatErrors} FormatError, ${r.failures.length} failures; slowest ${r.slowest.ms.toFixed(1)} ms (${r.slowest.seed}, input ${r.slowest.input}: ${r.slowest.what})`;
      if (LONG || r.failures.length) console.log(summary);
      for (const f of r.failures.slice(0, 20)) console.log(`fuzz failure: ${JSON.stringify(f)}`);
      expect(r.failures).toEqual([]);
      expect(r.parsed).toBeGreaterThan(0);
      expect(r.formatErrors).toBeGreaterThan(0);
    },
    Math.max(120_000, INPUTS * 50),
  );

  it('every mutator changes its input on some seed (the fuzzer really mutates)', () => {
    let changed = 0;
    for (let i = 0; i < 200; i++) {
      const { seed, buf } = makeInput(seeds, RUN_SEED, i);
      if (!buf.equals(seed.bytes)) changed++;
    }
    expect(changed).toBeGreaterThan(150);
  });

  it('replays every regression input found so far', async () => {
    const regressions = JSON.parse(await readFile(new URL('./fixtures/fuzz-regressions.json', import.meta.url), 'utf8')) as Array<{ seed: string; runSeed: number; input: number; note: string }>;
    for (const reg of regressions) {
      const seed = seeds.find((s) => s.name === reg.seed);
      if (!seed) {
        console.warn(`fuzz regression skipped: seed ${reg.seed} not available (needs ../shared/corpus)`);
        continue;
      }
      const { buf } = makeInput(seeds, reg.runSeed, reg.input, seed);
      const outcome = await parseOne(buf);
      expect(outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : outcome, `${reg.seed} #${reg.input}: ${reg.note}`).not.toMatch(/Error:/);
    }
  });
});
