/**
 * The benchmark's crash: compiles examples/bench-workload.c (program and its
 * own shared library) and makes it dump a real core of a chosen heap size.
 *
 *   <root>/                  a fresh mkdtemp dir under os.tmpdir()
 *     bin/bench-workload     executable (RUNPATH <root>/lib)
 *     lib/libbenchwork.so    its own library (C++ when g++ is installed)
 *     crash-<size>/core      the core, one directory per size
 *
 * The kernel writes the core (ulimit -c unlimited, in the crash dir). When
 * core_pattern pipes cores to a program (starts with '|') or no core shows up
 * in the crash dir, gdb takes it instead: `gdb -batch -ex run -ex 'gcore F'`.
 */
import { execa } from 'execa';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB } from './stats.js';

export const WORKLOAD_SOURCE = fileURLToPath(new URL('../../examples/bench-workload.c', import.meta.url));

export interface WorkloadProgram {
  exe: string;
  lib: string;
  /** Language the library was compiled as: 'c++' adds libstdc++ and libgcc_s to the process. */
  libLanguage: 'c' | 'c++';
}

export interface WorkloadCore {
  heapBytes: number;
  sparseBytes: number;
  noneBytes: number;
  core: string;
  /** Apparent size (st_size). */
  size: number;
  /** Bytes allocated on disk (st_blocks * 512): less than size because of holes. */
  diskSize: number;
  method: 'kernel' | 'gcore';
  /** Seconds the program took from start to core on disk. */
  seconds: number;
}

const GDB = ['-batch', '-nx', '-iex', 'set debuginfod enabled off'];

async function have(cmd: string): Promise<boolean> {
  const r = await execa('bash', ['-c', 'command -v "$1"', 'bash', cmd], { reject: false });
  return r.exitCode === 0;
}

export async function buildWorkload(root: string): Promise<WorkloadProgram> {
  const binDir = join(root, 'bin');
  const libDir = join(root, 'lib');
  await mkdir(binDir, { recursive: true });
  await mkdir(libDir, { recursive: true });
  const exe = join(binDir, 'bench-workload');
  const lib = join(libDir, 'libbenchwork.so');
  const cxx = await have('g++');
  const common = ['-O1', '-g', '-Wall', '-Wl,--build-id'];
  await execa(cxx ? 'g++' : 'gcc', [
    ...common, '-fPIC', '-shared', '-DBENCH_LIB', ...(cxx ? ['-x', 'c++'] : []),
    '-Wl,-soname,libbenchwork.so', '-o', lib, WORKLOAD_SOURCE,
  ], { stdin: 'ignore' });
  await execa('gcc', [
    ...common, '-pthread', '-o', exe, WORKLOAD_SOURCE,
    '-L', libDir, '-lbenchwork', '-Xlinker', '-rpath', '-Xlinker', libDir,
    // Every library below is used; --no-as-needed keeps them even on distros linking --as-needed.
    '-Wl,--no-as-needed', '-lz', '-lm', '-lpthread',
  ], { stdin: 'ignore' });
  return { exe, lib, libLanguage: cxx ? 'c++' : 'c' };
}

/** How the workload lays out a heap of `heapBytes`: a sparse region of a quarter of it, a PROT_NONE one as big. */
export function layoutFor(heapBytes: number): { heapMiB: number; sparseMiB: number; noneMiB: number } {
  const heapMiB = Math.max(1, Math.round(heapBytes / MiB));
  return { heapMiB, sparseMiB: Math.max(1, Math.round(heapMiB / 4)), noneMiB: heapMiB };
}

async function corePattern(): Promise<string> {
  return (await readFile('/proc/sys/kernel/core_pattern', 'utf8').catch(() => 'core')).trim();
}

async function findCore(dir: string): Promise<string | undefined> {
  const names = (await readdir(dir)).filter((n) => /^core(\.\d+)?$/.test(n));
  return names.length ? join(dir, names[0]!) : undefined;
}

/** Runs the workload until it dumps core into `cwd` (created). */
export async function crashWorkload(prog: WorkloadProgram, heapBytes: number, cwd: string): Promise<WorkloadCore> {
  await mkdir(cwd, { recursive: true });
  const { heapMiB, sparseMiB, noneMiB } = layoutFor(heapBytes);
  const args = [String(heapMiB), String(sparseMiB), String(noneMiB)];
  const started = Date.now();
  let method: 'kernel' | 'gcore' = 'kernel';
  let core: string | undefined;
  if (!(await corePattern()).startsWith('|')) {
    const r = await execa('bash', ['-c', 'ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -Hc)"; exec "$@"', 'bash', prog.exe, ...args], {
      cwd,
      reject: false,
      stdin: 'ignore',
      timeout: 600_000,
    });
    if (r.signal !== 'SIGSEGV') throw new Error(`the workload should have died of SIGSEGV, but ${r.signal ? `got ${r.signal}` : `exited with ${r.exitCode}`}: ${String(r.stderr).trim()}`);
    core = await findCore(cwd);
  }
  if (!core) {
    method = 'gcore';
    core = join(cwd, 'core');
    await execa('gdb', [...GDB, '-ex', 'run', '-ex', `gcore ${core}`, '--args', prog.exe, ...args], { cwd, stdin: 'ignore', timeout: 900_000 });
    await stat(core);
  }
  const seconds = (Date.now() - started) / 1000;
  const st = await stat(core);
  return { heapBytes: heapMiB * MiB, sparseBytes: sparseMiB * MiB, noneBytes: noneMiB * MiB, core, size: st.size, diskSize: st.blocks * 512, method, seconds };
}
