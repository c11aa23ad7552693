/** The machine a benchmark ran on: CPUs, memory, kernel, and the version of every tool compared. */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { GNU_TIME, haveGnuTime } from './measure.js';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  corePattern: string;
  tmpdir: string;
  /** The corepack source measured: git commit, and whether the work tree had changes. */
  source: string;
  tools: Record<string, string>;
}

/** [name, command, args]: the first non-empty output line is the version. */
const TOOLS: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['gdb', 'gdb', ['--version']],
  ['tar', 'tar', ['--version']],
  ['lbzip2', 'lbzip2', ['--version']],
  ['pbzip2', 'pbzip2', ['--version']],
  ['bzip2', 'bzip2', ['--version']],
  ['zstd', 'zstd', ['--version']],
  ['gzip', 'gzip', ['--version']],
  ['pigz', 'pigz', ['--version']],
  ['eu-unstrip', 'eu-unstrip', ['--version']],
  ['gcc', 'gcc', ['--version']],
  ['time', GNU_TIME, ['--version']],
];

async function version(cmd: string, args: readonly string[]): Promise<string> {
  const r = await execa(cmd, [...args], { reject: false, stdin: 'ignore', timeout: 10_000, all: true });
  if (r.failed && r.exitCode === undefined) return 'not installed';
  const line = String(r.all ?? '').split('\n').map((l) => l.trim()).find((l) => l !== '');
  return line ?? 'not installed';
}

async function sourceVersion(): Promise<string> {
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const head = await execa('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { reject: false, stdin: 'ignore' });
  if (head.exitCode !== 0) return 'unknown (not a git checkout)';
  const status = await execa('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no'], { reject: false, stdin: 'ignore' });
  const changed = String(status.stdout).split('\n').filter(Boolean).length;
  return `${String(head.stdout).trim()}${changed ? ` + ${changed} changed tracked file${changed === 1 ? '' : 's'}` : ''}`;
}

export async function describeMachine(): Promise<Machine> {
  const cpus = os.cpus();
  const tools: Record<string, string> = { node: process.version };
  const versions = await Promise.all(TOOLS.map(([, cmd, args]) => (cmd === GNU_TIME && !haveGnuTime() ? Promise.resolve('not installed') : version(cmd, args))));
  TOOLS.forEach(([name], i) => (tools[name] = versions[i]!));
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    corePattern: (await readFile('/proc/sys/kernel/core_pattern', 'utf8').catch(() => '?')).trim(),
    tmpdir: os.tmpdir(),
    source: await sourceVersion(),
    tools,
  };
}
