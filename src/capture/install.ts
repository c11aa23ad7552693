/**
 * `corepack handler install | uninstall | status`: putting corepack's handler
 * in core_pattern, keeping exactly what was there, and putting it back.
 *
 * install records the previous core_pattern and core_pipe_limit *before*
 * changing anything (a crash in between finds the record), then raises
 * core_pipe_limit when it is 0 (the kernel then keeps the crashed process
 * while the handler reads it), then writes the handler's line, which passes
 * every specifier the previous pattern used so that the handler can chain to
 * it. uninstall writes the recorded values back, byte for byte.
 */
import { access, constants, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig, type HandlerConfig } from './config.js';
import { HandlerInstallError } from './errors.js';
import { handlerPattern, isHandlerPattern, MAX_PATTERN_LENGTH } from './pattern.js';
import { readInstallRecord, recentCaptures, removeInstallRecord, writeInstallRecord, type CaptureRecord, type InstallRecord } from './state.js';
import { VERSION } from '../version.js';

/** What systemd sets, and enough for a crash storm's handlers to run side by side. */
export const DEFAULT_PIPE_LIMIT = 16;
/** Where issue 19's single executable is installed. */
export const DEFAULT_HANDLER_EXE = '/usr/local/bin/corepack-crash';

export interface KernelSettings {
  /** Directory holding sys/kernel/core_pattern and core_pipe_limit: /proc. */
  procDir: string;
}

async function readKernel(k: KernelSettings): Promise<{ pattern: string; pipeLimit: number }> {
  const pattern = (await readFile(join(k.procDir, 'sys/kernel/core_pattern'), 'utf8')).replace(/\n$/, '');
  const pipeLimit = Number((await readFile(join(k.procDir, 'sys/kernel/core_pipe_limit'), 'utf8')).trim());
  return { pattern, pipeLimit };
}

async function writeKernel(k: KernelSettings, name: 'core_pattern' | 'core_pipe_limit', value: string): Promise<void> {
  try {
    await writeFile(join(k.procDir, 'sys/kernel', name), value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HandlerInstallError(`cannot write ${name} (${code ?? (err as Error).message})`, code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'run as root, on the host (a container cannot set core_pattern)' : undefined, { cause: err });
  }
}

export interface InstallOptions extends KernelSettings {
  stateDir: string;
  /** The program the kernel starts, absolute. */
  exe: string;
  config: string;
  /** core_pipe_limit to set when it is 0. */
  pipeLimit: number;
}

export interface InstallResult {
  record: InstallRecord;
  /** False when the same handler was already installed (nothing changed). */
  changed: boolean;
  config: HandlerConfig;
}

export async function installHandler(o: InstallOptions): Promise<InstallResult> {
  if (!isAbsolute(o.exe) || /[\s%]/.test(o.exe)) throw new HandlerInstallError(`--exe ${JSON.stringify(o.exe)}: the kernel needs an absolute path with no spaces or % in it`);
  try {
    await access(o.exe, constants.X_OK);
  } catch {
    throw new HandlerInstallError(`${o.exe} is not an executable file`, 'pass --exe with the path of corepack-crash (the single executable), or of bin/corepack.js in a checkout');
  }
  // A configuration with a mistake would make every crash fall back: refuse it now, naming each problem.
  const config = await loadConfig(o.config, o.stateDir);
  const now = await readKernel(o);
  const existing = await readInstallRecord(o.stateDir);
  if (isHandlerPattern(now.pattern)) {
    if (existing && existing.pattern === now.pattern) return { record: existing, changed: false, config };
    throw new HandlerInstallError(
      `core_pattern already starts corepack's handler (${now.pattern})${existing ? ', another than the one recorded' : ' and there is no record of what it replaced'}`,
      existing ? 'run corepack-crash handler uninstall first' : `set core_pattern back to what it was (e.g. echo core > /proc/sys/kernel/core_pattern), then install again`,
    );
  }
  const pattern = handlerPattern(o.exe, now.pattern);
  if (pattern.length > MAX_PATTERN_LENGTH) throw new HandlerInstallError(`the handler's line would be ${pattern.length} bytes, more than the kernel's ${MAX_PATTERN_LENGTH}: ${pattern}`, 'install corepack-crash at a shorter path');
  const record: InstallRecord = {
    previousPattern: now.pattern,
    previousPipeLimit: now.pipeLimit,
    pattern,
    pipeLimit: now.pipeLimit > 0 ? now.pipeLimit : o.pipeLimit,
    config: o.config,
    installedAt: new Date().toISOString(),
    corepackVersion: VERSION,
  };
  await writeInstallRecord(o.stateDir, record);
  try {
    if (record.pipeLimit !== now.pipeLimit) await writeKernel(o, 'core_pipe_limit', String(record.pipeLimit));
    await writeKernel(o, 'core_pattern', pattern);
    const after = await readKernel(o);
    if (after.pattern !== pattern) throw new HandlerInstallError(`core_pattern reads back as ${JSON.stringify(after.pattern)}, not the line written`);
  } catch (err) {
    // Put back what was changed: nothing half-installed.
    await writeKernel(o, 'core_pattern', now.pattern).catch(() => undefined);
    await writeKernel(o, 'core_pipe_limit', String(now.pipeLimit)).catch(() => undefined);
    await removeInstallRecord(o.stateDir);
    throw err;
  }
  return { record, changed: true, config };
}

export interface UninstallResult {
  restored: { pattern: string; pipeLimit: number };
}

export async function uninstallHandler(o: KernelSettings & { stateDir: string; force: boolean }): Promise<UninstallResult> {
  const record = await readInstallRecord(o.stateDir);
  if (!record) throw new HandlerInstallError(`corepack's handler is not installed (no record in ${o.stateDir})`, 'corepack-crash handler status shows what core_pattern holds');
  const now = await readKernel(o);
  if (now.pattern !== record.pattern && !o.force) {
    throw new HandlerInstallError(`core_pattern was changed since install (it is ${JSON.stringify(now.pattern)}): restoring ${JSON.stringify(record.previousPattern)} would undo that change`, 'pass --force to restore the recorded values anyway');
  }
  await writeKernel(o, 'core_pattern', record.previousPattern);
  if (now.pipeLimit !== record.previousPipeLimit) await writeKernel(o, 'core_pipe_limit', String(record.previousPipeLimit));
  await removeInstallRecord(o.stateDir);
  return { restored: { pattern: record.previousPattern, pipeLimit: record.previousPipeLimit } };
}

export interface HandlerStatus {
  installed: boolean;
  /** The recorded line is what core_pattern holds. */
  active: boolean;
  corePattern: string;
  pipeLimit: number;
  record: InstallRecord | null;
  config: { path: string; ok: boolean; problem: string | null; spool: string | null };
  spool: { bundles: number; bytes: number } | null;
  captures: CaptureRecord[];
}

export async function handlerStatus(o: KernelSettings & { stateDir: string; recent: number }): Promise<HandlerStatus> {
  const now = await readKernel(o);
  const record = await readInstallRecord(o.stateDir).catch(() => null);
  const path = record?.config ?? DEFAULT_CONFIG_PATH;
  let config: HandlerConfig | null = null;
  let problem: string | null = null;
  try {
    config = await loadConfig(path, o.stateDir);
  } catch (err) {
    problem = (err as Error).message;
  }
  let spool: HandlerStatus['spool'] = null;
  if (config) {
    const names = await readdir(config.spool).catch(() => [] as string[]);
    let bytes = 0;
    let bundles = 0;
    for (const n of names) {
      if (!n.startsWith('crash-')) continue;
      const st = await stat(join(config.spool, n)).catch(() => undefined);
      if (!st?.isFile()) continue;
      bundles++;
      bytes += st.size;
    }
    spool = { bundles, bytes };
  }
  return {
    installed: record !== null,
    active: record !== null && record.pattern === now.pattern,
    corePattern: now.pattern,
    pipeLimit: now.pipeLimit,
    record,
    config: { path, ok: config !== null, problem, spool: config?.spool ?? null },
    spool,
    captures: await recentCaptures(o.stateDir, o.recent),
  };
}
