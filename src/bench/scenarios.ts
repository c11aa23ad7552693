/**
 * What the benchmark runs for one core: corepack's commands and the
 * alternatives they are compared with, as jobs over the same files.
 *
 * Every alternative uses the program and flags corepack itself uses for that
 * format (taken from src/bundle/formats.ts, so they stay in step), fed by GNU
 * tar over the same file list: the core, then every file the bundle holds.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMATS, type Format } from '../bundle/formats.js';
import { programsFor } from '../codec/codecs.js';
import { run } from './measure.js';
import { which } from '../util/which.js';
import { VERSION } from '../version.js';

export const BIN = fileURLToPath(new URL('../../bin/corepack.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where `npm run dist` (issue 19) writes the single executable for this machine's architecture. */
export function singleExecutablePath(): string {
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  return join(ROOT, 'dist', 'release', `corepack-crash-${VERSION}-linux-${arch}`);
}

/** The single executable, when it was built and runs here. */
export async function singleExecutable(): Promise<string | null> {
  const p = singleExecutablePath();
  try {
    await run({ argv: [p, '--version'], timeoutMs: 30_000 });
    return p;
  } catch {
    return null;
  }
}

/** Same environment for every command: no debuginfod lookups, C locale. */
export const BENCH_ENV: NodeJS.ProcessEnv = { ...process.env, DEBUGINFOD_URLS: '', LC_ALL: 'C' };

export { which };

export interface Compressor {
  format: Format;
  ext: string;
  /** What corepack uses: "lbzip2", "zstd", "pigz", or "zlib" (Node's, in process). */
  corepackProgram: string;
  /** The alternative's compressor command, e.g. ["lbzip2", "-c", "-9"]. */
  command: string[];
  decompress: string[];
  note: string | null;
}

/** For each format, the compressor corepack picks on this machine, and the command the alternative pipes into. */
export async function compressors(): Promise<Compressor[]> {
  const out: Compressor[] = [];
  for (const f of FORMATS) {
    let found: Compressor | undefined;
    for (const p of programsFor(f.format, 'compress')) {
      if (await which(p.program)) {
        found = { format: f.format, ext: f.extensions[0]!, corepackProgram: p.program, command: [p.program, ...p.compress!], decompress: [p.program, ...p.decompress!], note: null };
        break;
      }
    }
    if (!found && f.format === 'gzip') {
      found = {
        format: 'gzip',
        ext: f.extensions[0]!,
        corepackProgram: 'zlib',
        command: ['gzip', '-c', '-6'],
        decompress: ['gzip', '-d', '-c'],
        note: 'pigz is not installed, so corepack compresses with Node zlib at level 6 in process; the alternative is gzip -6 (the same deflate, same level, single-threaded)',
      };
    }
    if (found) out.push(found);
  }
  return out;
}

/** `corepack replay --help` must exist as a command: commander prints the top-level help, exit 0, for an unknown command with --help. */
export async function replayAvailable(): Promise<boolean> {
  try {
    const r = await run({ argv: [process.execPath, BIN, 'replay', '--help'], captureStdout: true, env: BENCH_ENV, timeoutMs: 30_000 });
    return /^Usage: corepack(-crash)? replay /m.test(r.stdout);
  } catch {
    return false;
  }
}

/** One measured command; argv and output may depend on the run number. */
export interface Job {
  label: string;
  command: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** File it writes, whose size is recorded, removed after each run. */
  output?: string;
  /** Directory it writes into, created empty before and removed after each run. */
  scratchDir?: string;
  captureStdout?: boolean;
  /** Unmeasured setup before each run (idempotent); a failure makes the job unavailable. */
  prepare?: () => Promise<void>;
  /** After its first successful run, keep the output under this name (the bundle replay uses). */
  keepOutputAs?: string;
  /** Programs it needs on PATH; missing ones make it "not installed" instead of a failure. */
  needs: string[];
}

export interface Pair {
  id: 'inspect' | 'inspect-sea' | 'collect-tbz2' | 'collect-tgz' | 'collect-zst' | 'collect-stacks-only' | 'replay';
  title: string;
  corepack: Job | { unavailable: string };
  alternatives: Array<Job | { ref: string }>;
  notes: string[];
}

export interface Context {
  work: string;
  core: string;
  exe: string;
  /** The core and the bundled files, in bundle order. */
  files: string[];
  compressors: Compressor[];
  /** The single executable (npm run dist), or null when it is not built. */
  singleExecutable: string | null;
  /** The .tbz2 bundle the first corepack .tbz2 collect leaves for the replay figure. */
  replay: { available: boolean; bundle: string; byHandScript: string } | null;
}

const q = (s: string): string => (/^[A-Za-z0-9._/=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const shown = (argv: readonly string[]): string => argv.map(q).join(' ');

/** `tar -cf - -P FILES | COMPRESSOR > OUT` as bash -c, pipefail so either side failing fails it. */
function tarPipe(comp: readonly string[], out: string, files: readonly string[]): Job {
  const script = `set -o pipefail; out="$1"; shift; tar -cf - -P -- "$@" | ${comp.map(q).join(' ')} > "$out"`;
  return {
    label: `tar | ${comp.join(' ')}`,
    command: `tar -cf - -P <files> | ${comp.join(' ')} > out`,
    argv: ['bash', '-c', script, 'bash', out, ...files],
    output: out,
    needs: ['tar', comp[0]!],
  };
}

export function pairs(ctx: Context): Pair[] {
  const node = process.execPath;
  const w = ctx.work;
  const list: Pair[] = [
    {
      id: 'inspect',
      title: 'inspect',
      corepack: { label: 'corepack-crash inspect', command: 'corepack-crash inspect CORE', argv: [node, BIN, 'inspect', ctx.core], needs: [] },
      alternatives: [{ label: 'eu-unstrip -n --core', command: 'eu-unstrip -n --core CORE', argv: ['eu-unstrip', '-n', '--core', ctx.core], needs: ['eu-unstrip'] }],
      notes: [],
    },
    {
      id: 'inspect-sea',
      title: 'inspect (single executable)',
      corepack: ctx.singleExecutable
        ? { label: 'corepack-crash inspect (single executable)', command: `${basename(ctx.singleExecutable)} inspect CORE`, argv: [ctx.singleExecutable, 'inspect', ctx.core], needs: [] }
        : { unavailable: `not measured: no single executable for this machine (npm run dist writes ${relative(ROOT, singleExecutablePath())})` },
      alternatives: [{ ref: 'eu-unstrip -n --core' }],
      notes: [],
    },
  ];
  const cjfOut = join(w, 'alt-cjf.tbz2');
  const cjf: Job = { label: 'tar cjf (bzip2)', command: 'tar -cjf out.tbz2 -P <files>   (GNU tar runs single-threaded bzip2 -9)', argv: ['tar', '-cjf', cjfOut, '-P', '--', ...ctx.files], output: cjfOut, needs: ['tar', 'bzip2'] };
  const ids: Record<Format, Pair['id']> = { bzip2: 'collect-tbz2', gzip: 'collect-tgz', zstd: 'collect-zst' };
  let first = true;
  for (const c of ctx.compressors) {
    const out = join(w, `corepack${c.ext}`);
    list.push({
      id: ids[c.format],
      title: `collect ${c.ext}`,
      corepack: {
        label: `corepack-crash collect (${c.corepackProgram})`,
        command: `corepack-crash collect CORE -e EXE -o out${c.ext}`,
        argv: [node, BIN, 'collect', ctx.core, '-e', ctx.exe, '-o', out],
        output: out,
        needs: [],
        ...(c.format === 'bzip2' && ctx.replay ? { keepOutputAs: ctx.replay.bundle } : {}),
      },
      // `tar cjf` is measured once per run (with the first format) and shown beside the others.
      alternatives: [tarPipe(c.command, join(w, `alt${c.ext}`), ctx.files), first ? cjf : { ref: cjf.label }],
      notes: c.note ? [c.note] : [],
    });
    first = false;
  }
  // --stacks-only next to the full collect of the same format (zstd when installed: the fastest).
  const miniComp = ctx.compressors.find((c) => c.format === 'zstd') ?? ctx.compressors[0];
  if (miniComp) {
    const out = join(w, `mini${miniComp.ext}`);
    list.push({
      id: 'collect-stacks-only',
      title: `collect --stacks-only ${miniComp.ext}`,
      corepack: {
        label: `corepack-crash collect --stacks-only (${miniComp.corepackProgram})`,
        command: `corepack-crash collect CORE -e EXE -o out${miniComp.ext} --stacks-only`,
        argv: [node, BIN, 'collect', ctx.core, '-e', ctx.exe, '-o', out, '--stacks-only'],
        output: out,
        needs: [],
      },
      alternatives: [{ ref: `corepack-crash collect (${miniComp.corepackProgram})` }],
      notes: ['the alternative is the full collect of the same core and format: ratio < 1 means the mini bundle is faster to make'],
    });
  }
  if (ctx.replay) {
    const dir = join(w, 'replay-dir');
    const handDir = join(w, 'by-hand-dir');
    const bz = ctx.compressors.find((c) => c.format === 'bzip2');
    const dec = bz?.decompress ?? ['bzip2', '-d', '-c'];
    const script = `set -o pipefail; mkdir -p "$1" && ${dec.map(q).join(' ')} < "$2" | tar -xf - -C "$1" && gdb -batch -nx -iex 'set debuginfod enabled off' -x "$3" > /dev/null`;
    const bundle = ctx.replay.bundle;
    const needBundle = async (): Promise<void> => {
      if ((await sizeOf(bundle)) === null) throw new Error('no .tbz2 bundle to replay (the corepack .tbz2 collect did not produce one)');
    };
    const gdbScript = ctx.replay.byHandScript;
    const prepareByHand = async (): Promise<void> => {
      await needBundle();
      if ((await sizeOf(gdbScript)) !== null) return;
      const probe = join(w, 'probe');
      await resetDir(probe);
      await run({ argv: ['bash', '-c', 'set -o pipefail; "${@:3}" < "$1" | tar -xf - -C "$2"', 'bash', bundle, probe, ...dec] });
      await byHandScript(probe, handDir, gdbScript);
      await rm(probe, { recursive: true, force: true });
    };
    list.push({
      id: 'replay',
      title: 'replay --batch',
      corepack: ctx.replay.available
        ? { label: 'corepack-crash replay --batch', command: 'corepack-crash replay BUNDLE.tbz2 --batch --dir DIR', argv: [node, BIN, 'replay', bundle, '--batch', '--dir', dir], scratchDir: dir, needs: ['gdb'], prepare: needBundle }
        : { unavailable: 'replay: not available in this build' },
      alternatives: [
        {
          label: `${dec[0]} -d | tar x + gdb -batch`,
          command: `${shown(dec)} < BUNDLE.tbz2 | tar -xf - -C DIR && gdb -batch -x SCRIPT  (SCRIPT: set sysroot; file; core-file; thread apply all bt)`,
          argv: ['bash', '-c', script, 'bash', handDir, bundle, gdbScript],
          scratchDir: handDir,
          prepare: prepareByHand,
          needs: ['tar', 'gdb', dec[0]!],
        },
      ],
      notes: [],
    });
  }
  return list;
}

/** Manifest facts the by-hand replay needs, read from an extracted bundle. */
export async function byHandScript(extracted: string, scratchDir: string, scriptPath: string): Promise<void> {
  const [root] = await readdir(extracted);
  if (!root) throw new Error('the bundle extracted to nothing');
  const manifest = JSON.parse(await readFile(join(extracted, root, 'manifest.json'), 'utf8')) as {
    core: { bundlePath: string };
    executable: { path: string } | null;
  };
  if (!manifest.executable) throw new Error('the bundle manifest names no executable');
  const base = join(scratchDir, root);
  await writeFile(
    scriptPath,
    [`set sysroot ${base}/sysroot`, `file ${base}/sysroot${manifest.executable.path}`, `core-file ${base}/${manifest.core.bundlePath}`, 'thread apply all bt', ''].join('\n'),
  );
}

export async function resetDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

export async function sizeOf(path: string): Promise<number | null> {
  return stat(path).then((s) => s.size, () => null);
}
