/**
 * `corepack handle` (what the kernel runs) and `corepack handler install |
 * uninstall | status` (what an administrator runs).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../capture/config.js';
import { handleCrash } from '../capture/handle.js';
import { DEFAULT_HANDLER_EXE, DEFAULT_PIPE_LIMIT, handlerStatus, installHandler, uninstallHandler, type HandlerStatus } from '../capture/install.js';
import { stateDir } from '../capture/state.js';
import { systemLog } from '../capture/syslog.js';
import { BadOptionError } from '../util/errors.js';
import { humanBytes } from './progress.js';
import { takeOverInterrupts } from './signals.js';

export interface HandleFlags {
  json?: boolean;
}

/** The kernel's call: never throws; whatever happens is logged, and the exit status is 0 (the kernel does not read it). */
/** The kernel starts a core handler with an empty environment: no PATH to find the compressors by. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function handleCommand(args: string[], flags: HandleFlags): Promise<number> {
  // These write from their first step: a signal is no longer "before it started".
  takeOverInterrupts();
  if (!process.env.PATH) process.env.PATH = SYSTEM_PATH;
  try {
    const outcome = await handleCrash(args, { stateDir: stateDir() });
    if (flags.json) process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    return 0;
  } catch (err) {
    // A bug of ours: said in the system log, where the administrator looks.
    await systemLog('err', `internal error while handling a crash (${args.join(' ')}): ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}

export interface InstallFlags {
  exe?: string;
  config?: string;
  pipeLimit?: string;
  json?: boolean;
}

/** A single executable (Node's SEA) installs itself; from a checkout, --exe names bin/corepack.js. */
async function defaultExe(): Promise<string> {
  try {
    const sea = (await import('node:sea')) as { isSea?: () => boolean };
    if (sea.isSea?.()) return process.execPath;
  } catch {
    // Node without SEA support
  }
  if (existsSync(DEFAULT_HANDLER_EXE)) return DEFAULT_HANDLER_EXE;
  throw new BadOptionError('--exe', '', `there is no ${DEFAULT_HANDLER_EXE}`, `pass --exe with the program the kernel should start: the corepack-crash single executable, or ${resolve('bin/corepack.js')} in a checkout (node must then be in /usr/bin or /bin)`);
}

export async function handlerInstallCommand(flags: InstallFlags): Promise<number> {
  takeOverInterrupts();
  const pipeLimit = flags.pipeLimit === undefined ? DEFAULT_PIPE_LIMIT : Number(flags.pipeLimit);
  if (!Number.isInteger(pipeLimit) || pipeLimit < 1) throw new BadOptionError('--pipe-limit', flags.pipeLimit ?? '', '--pipe-limit must be a whole number ≥ 1 (0 would let the process go before the handler reads it)', 'pass e.g. --pipe-limit 16');
  const r = await installHandler({
    procDir: '/proc',
    stateDir: stateDir(),
    exe: flags.exe === undefined ? await defaultExe() : resolve(flags.exe),
    config: flags.config === undefined ? DEFAULT_CONFIG_PATH : resolve(flags.config),
    pipeLimit,
  });
  if (flags.json) process.stdout.write(`${JSON.stringify({ changed: r.changed, ...r.record }, null, 2)}\n`);
  else {
    const rec = r.record;
    process.stdout.write(
      `${r.changed ? 'installed' : 'already installed'}: core_pattern = ${rec.pattern}\n` +
        `  previous core_pattern: ${JSON.stringify(rec.previousPattern)} (every core still goes there${r.config.chain === 'on-failure' ? ' when no bundle is made: "chain": "on-failure"' : ''})\n` +
        `  core_pipe_limit: ${rec.pipeLimit}${rec.pipeLimit !== rec.previousPipeLimit ? ` (was ${rec.previousPipeLimit}: the kernel now keeps a crashed process until the handler has read it)` : ''}\n` +
        `  configuration: ${rec.config}${existsSync(rec.config) ? '' : ' (not there: every default)'}; bundles go to ${r.config.spool}\n` +
        `undo with: corepack-crash handler uninstall\n`,
    );
  }
  return 0;
}

export async function handlerUninstallCommand(flags: { force?: boolean; json?: boolean }): Promise<number> {
  takeOverInterrupts();
  const r = await uninstallHandler({ procDir: '/proc', stateDir: stateDir(), force: flags.force ?? false });
  if (flags.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else process.stdout.write(`uninstalled: core_pattern = ${JSON.stringify(r.restored.pattern)}, core_pipe_limit = ${r.restored.pipeLimit} (as before install)\n`);
  return 0;
}

export function formatStatus(s: HandlerStatus): string {
  const lines: string[] = [];
  if (s.active) lines.push(`installed: core_pattern = ${s.corePattern}`);
  else if (s.installed) lines.push(`installed, but core_pattern was changed since (it is ${JSON.stringify(s.corePattern)}); corepack-crash handler uninstall --force restores ${JSON.stringify(s.record!.previousPattern)}`);
  else lines.push(`not installed: core_pattern = ${JSON.stringify(s.corePattern)}`);
  if (s.record) lines.push(`  previous core_pattern: ${JSON.stringify(s.record.previousPattern)}, core_pipe_limit ${s.record.previousPipeLimit} (uninstall restores them); installed ${s.record.installedAt}`);
  lines.push(`  core_pipe_limit: ${s.pipeLimit}${s.pipeLimit === 0 ? ' (0: the process may be gone before the handler reads it)' : ''}`);
  lines.push(`  configuration: ${s.config.path}: ${s.config.ok ? 'ok' : `BROKEN: ${s.config.problem} (crashes are passed on, not bundled)`}`);
  if (s.spool) lines.push(`  spool: ${s.config.spool}: ${s.spool.bundles} bundles, ${humanBytes(s.spool.bytes)} (corepack-crash list ${s.config.spool} shows them)`);
  if (s.captures.length === 0) lines.push('  no captures yet');
  else {
    lines.push(`last ${s.captures.length} captures:`);
    for (const c of s.captures) lines.push(`  ${c.time}  pid ${c.pid}  ${c.executable ?? '-'}  ${c.outcome}${c.bundle ? ` ${c.bundle}` : ''}${c.message ? ` (${c.message})` : ''}; held ${c.heldMs} ms; ${c.passedOn ? `passed on to ${c.passedOn}` : 'not passed on'}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function handlerStatusCommand(flags: { json?: boolean }): Promise<number> {
  const s = await handlerStatus({ procDir: '/proc', stateDir: stateDir(), recent: 10 });
  process.stdout.write(flags.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
  return 0;
}
