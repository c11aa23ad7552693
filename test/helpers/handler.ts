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
    `#!/bin/sh\nexport COREPACK_STATE_DIR=${q(stateDir)} TMPDIR=${q(tmp)}\necho $$ >> ${q(pidFile)}\nexec ${q(process.execPath)} ${q(BIN)} "$@" 2>>${q(path.join(dir, 'stderr'))}\n`,
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
