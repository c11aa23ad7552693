/**
 * A sandbox for `corepack handle`: its own state directory, spool, TMPDIR and
 * configuration, and the program the kernel starts — a two-line wrapper that
 * points the handler at them (the kernel starts handlers with an empty
 * environment) and runs this checkout's bin/corepack.js with the Node
 * running the tests.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaptureRecord } from '../../src/capture/state.js';
import { CoreFile } from '../../src/core/open.js';
import { PT } from '../../src/elf/constants.js';
import { planElf, writeElf } from '../../src/elf/writer.js';

export const BIN = fileURLToPath(new URL('../../bin/corepack.js', import.meta.url));

export interface HandlerSandbox {
  dir: string;
  stateDir: string;
  spool: string;
  tmp: string;
  config: string;
  /** The program core_pattern names. */
  wrapper: string;
  /** The handler writes its pid here when it starts. */
  pidFile: string;
  writeConfig(c: Record<string, unknown>): Promise<void>;
  captures(): Promise<CaptureRecord[]>;
  /** Runs the CLI with the sandbox's state directory. */
  cli(args: string[], opts?: { input?: string | Buffer; cwd?: string }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

export async function makeHandlerSandbox(): Promise<HandlerSandbox> {
  // Short: the whole core_pattern line must fit in 127 bytes.
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'cph-')));
  const stateDir = path.join(dir, 'state');
  const spool = path.join(dir, 'spool');
  const tmp = path.join(dir, 'tmp');
  const config = path.join(dir, 'handler.json');
  const wrapper = path.join(dir, 'h');
  const pidFile = path.join(dir, 'handler.pid');
  await fs.mkdir(tmp);
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  await fs.writeFile(
    wrapper,
    `#!/bin/sh\nexport COREPACK_STATE_DIR=${q(stateDir)} TMPDIR=${q(tmp)}\necho $$ >> ${q(pidFile)}\ngrep 'Max core file size' /proc/$$/limits >> ${q(path.join(dir, 'rlimit-core'))}\nexec ${q(process.execPath)} ${q(BIN)} "$@" 2>>${q(path.join(dir, 'stderr'))}\n`,
    { mode: 0o755 },
  );
  const sb: HandlerSandbox = {
    dir,
    stateDir,
    spool,
    tmp,
    config,
    wrapper,
    pidFile,
    async writeConfig(c) {
      await fs.writeFile(config, JSON.stringify({ spool, ...c }, null, 2));
    },
    async captures() {
      const text = await fs.readFile(path.join(stateDir, 'captures.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CaptureRecord);
    },
    async cli(args, opts = {}) {
      const r = await execa(process.execPath, [BIN, ...args], { env: { COREPACK_STATE_DIR: stateDir, TMPDIR: tmp }, reject: false, cwd: opts.cwd ?? dir, ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' }) });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    async cleanup() {
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  await sb.writeConfig({});
  return sb;
}

// ---------------------------------------------------------------------------
// The stdin-fed handler: a process stopped at its fault, and its core in the kernel's file order


export interface StoppedProcess {
  pid: number;
  /** Its core (gdb's gcore), rewritten in the order the kernel streams one: headers, notes, then memory. */
  core: string;
  /** Lets gdb kill the process and exit. */
  release(): Promise<void>;
}

/**
 * Runs `cmd` under gdb until its fatal signal and leaves it stopped there
 * (as the kernel leaves a process while its handler reads the core), with a
 * core of it. gdb writes the notes after the memory; the kernel writes them
 * first, which is what lets the handler plan the bundle before the memory
 * arrives: kernelOrder() rewrites it so.
 */
export async function stopAtFault(cmd: string[], cwd: string): Promise<StoppedProcess> {
  const base = path.join(cwd, `.gdb-${process.pid}-${Date.now()}`);
  const gdb = execa(
    'gdb',
    ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', 'set disable-randomization off', '-ex', 'run', '-ex', `gcore ${base}.gcore`, '-ex', `pipe info proc | head -1 > ${base}.tmp`, '-ex', `shell mv ${base}.tmp ${base}.ready; while [ ! -e ${base}.go ]; do sleep 0.05; done`, '-ex', 'kill', '--args', ...cmd],
    { cwd, reject: false, stdin: 'ignore', timeout: 120_000 },
  );
  let ready: string | undefined;
  for (let i = 0; i < 1200 && !ready; i++) {
    ready = await fs.readFile(`${base}.ready`, 'utf8').catch(() => undefined);
    if (!ready) {
      if (gdb.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const pid = Number(/process (\d+)/.exec(ready ?? '')?.[1]);
  if (!pid) {
    gdb.kill('SIGKILL');
    const r = await gdb;
    throw new Error(`gdb did not stop ${cmd.join(' ')} at a fault:\n${String(r.stdout)}\n${String(r.stderr)}`);
  }
  const core = `${base}.core`;
  await kernelOrder(`${base}.gcore`, core);
  await fs.rm(`${base}.gcore`);
  return {
    pid,
    core,
    async release() {
      await fs.writeFile(`${base}.go`, '');
      await gdb;
      await fs.rm(`${base}.ready`, { force: true });
      await fs.rm(`${base}.go`, { force: true });
      await fs.rm(core, { force: true });
    },
  };
}

/** Rewrites core `src` with the kernel's layout: ELF header, program headers, notes, then each segment page-aligned. */
export async function kernelOrder(src: string, dst: string): Promise<void> {
  const core = await CoreFile.open(src);
  try {
    const { elf } = core;
    const notes = Buffer.concat(await Promise.all(elf.progs.filter((p) => p.p_type === PT.PT_NOTE).map((p) => elf.segmentBytes(p, 'notes'))));
    const loads = elf.progs.filter((p) => p.p_type === PT.PT_LOAD).sort((a, b) => (a.p_vaddr < b.p_vaddr ? -1 : 1));
    const plan = planElf({
      elfClass: elf.elfClass,
      byteOrder: elf.byteOrder,
      e_machine: elf.header.e_machine,
      notes,
      segments: loads.map((p) => ({ p_type: PT.PT_LOAD, p_flags: p.p_flags, p_vaddr: p.p_vaddr, p_filesz: p.p_filesz, p_memsz: p.p_memsz, p_align: 4096n })),
    });
    const fh = await fs.open(dst, 'w', 0o600);
    try {
      await writeElf(plan, async (c) => void (await fh.write(c)), async function* (seg) {
        const p = loads[seg.segment]!;
        for (let done = 0n; done < p.p_filesz; done += 1n << 20n) {
          const n = p.p_filesz - done < 1n << 20n ? p.p_filesz - done : 1n << 20n;
          yield await elf.reader.read(Number(p.p_offset + done), Number(n), 'segment');
        }
      });
    } finally {
      await fh.close();
    }
  } finally {
    await core.close();
  }
}
