/**
 * `corepack doctor [--json] [--probe]`: what this machine can do, one line
 * each — OK, or what is missing and the Debian and RHEL packages that bring
 * it. For collecting: compressors (fastest first), free space where bundles
 * go, core_pattern and where cores land, ulimit -c, the crash stores
 * (systemd-coredump, apport, ABRT), whether the kernel runs pipe handlers
 * (--probe finds out); for replaying: gdb, gdb-multiarch, lldb, bubblewrap,
 * debuginfod settings. Exit 0 where the machine can collect.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CODECS, programsFor } from '../codec/codecs.js';
import type { Compression } from '../codec/magic.js';
import { capture } from '../util/capture.js';
import { which } from '../util/which.js';
import { parsePattern } from '../capture/pattern.js';
import { defaultConfig, DEFAULT_STATE_DIR } from '../capture/config.js';
import { EXIT } from './exit.js';
import { isSingleExecutable, versionText } from '../version.js';

export type CheckStatus = 'ok' | 'warn' | 'missing' | 'info';

export interface Check {
  area: 'collect' | 'replay';
  name: string;
  status: CheckStatus;
  text: string;
  /** What brings the missing thing: Debian and RHEL packages. */
  install?: { debian: string; rhel: string };
  /** For --json: the facts behind the line. */
  data?: Record<string, unknown>;
}

export interface DoctorReport {
  version: string;
  canCollect: boolean;
  checks: Check[];
}

/** The RHEL (and Fedora) package of each compressor program; the Debian one is in the codec table. */
const RHEL_PACKAGE: Record<string, string> = { lbzip2: 'lbzip2 (EPEL)', pbzip2: 'pbzip2 (EPEL)', bzip2: 'bzip2', zstd: 'zstd', pigz: 'pigz', gzip: 'gzip', xz: 'xz', lz4: 'lz4' };

/** What each compression is for: the bundle formats collect writes, or only cores stored that way. */
const USE: Record<Compression, string> = {
  bzip2: 'bundles .tbz2 (the default)',
  zstd: 'bundles .tar.zst, cores kept by systemd-coredump',
  gzip: 'bundles .tar.gz, cores kept by apport',
  xz: 'cores kept by systemd-coredump (older) and ABRT',
  lz4: 'cores kept by systemd-coredump (lz4)',
};

/** Below this much free space a bundle of an ordinary core will not fit. */
const LOW_SPACE = 256 * 1024 * 1024;

function gib(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(0)} MiB`;
}

async function readText(p: string): Promise<string | undefined> {
  return fs.readFile(p, 'utf8').catch(() => undefined);
}

async function compressorChecks(): Promise<Check[]> {
  const out: Check[] = [];
  for (const c of Object.keys(CODECS) as Compression[]) {
    const found: Array<{ program: string; path: string }> = [];
    const missing: string[] = [];
    for (const p of programsFor(c, 'compress')) {
      const at = await which(p.program);
      if (at) found.push({ program: p.program, path: at });
      else missing.push(p.program);
    }
    // Node's zlib: gzip always, zstd from Node 22.15/23.8 on (the codec table knows which).
    const builtin = CODECS[c].builtin ? "Node's zlib" : null;
    const first = programsFor(c, 'compress')[0]!;
    const install = { debian: first.debianPackage, rhel: RHEL_PACKAGE[first.program] ?? first.program };
    const data = { compression: c, programs: found, builtin };
    if (found.length) {
      const faster = missing.length && missing[0] === first.program ? ` (faster with ${first.program})` : '';
      const order = found.length > 1 ? ' (fastest first)' : '';
      out.push({ area: 'collect', name: `compressor ${c}`, status: 'ok', text: `${c}: ${found.map((f) => f.program).join(', ')}${order}${faster}${builtin ? `, and ${builtin} built in` : ''} — ${USE[c]}`, ...(faster ? { install } : {}), data });
    } else if (builtin) {
      out.push({ area: 'collect', name: `compressor ${c}`, status: 'warn', text: `${c}: no program, ${builtin} built in is used (slower: one core) — ${USE[c]}`, install, data });
    } else {
      out.push({ area: 'collect', name: `compressor ${c}`, status: 'missing', text: `${c}: no program (looked for ${programsFor(c, 'compress').map((p) => p.program).join(', ')}) — ${USE[c]}`, install, data });
    }
  }
  return out;
}

async function freeSpace(dir: string, what: string): Promise<Check> {
  // The nearest directory that exists: a spool not made yet is made under it.
  let at = path.resolve(dir);
  while (!(await fs.stat(at).catch(() => undefined))?.isDirectory() && path.dirname(at) !== at) at = path.dirname(at);
  const st = await fs.statfs(at).catch(() => undefined);
  const writable = await fs.access(at, fs.constants.W_OK).then(() => true, () => false);
  if (!st) return { area: 'collect', name: `free space ${what}`, status: 'warn', text: `${what} (${dir}): free space unknown (statfs failed)`, data: { dir, at } };
  const free = st.bavail * st.bsize;
  const data = { dir, at, freeBytes: free, writable };
  if (!writable) return { area: 'collect', name: `free space ${what}`, status: what === 'bundles' ? 'missing' : 'warn', text: `${what}: ${at} is not writable here (${gib(free)} free)`, data };
  return { area: 'collect', name: `free space ${what}`, status: free < LOW_SPACE ? 'warn' : 'ok', text: `${what}: ${gib(free)} free in ${at}${at !== path.resolve(dir) ? ` (for ${dir})` : ''}`, data };
}

/** Where a pipe handler keeps cores, by the program core_pattern names. */
function storeOf(program: string): { name: string; dir: string } | undefined {
  const base = path.basename(program);
  if (base === 'systemd-coredump') return { name: 'systemd-coredump', dir: '/var/lib/systemd/coredump' };
  if (base === 'apport') return { name: 'apport', dir: '/var/crash' };
  if (base.startsWith('abrt-hook-ccpp')) return { name: 'ABRT', dir: '/var/spool/abrt' };
  if (base === 'corepack-crash' || base.includes('corepack')) return { name: 'corepack-crash handle', dir: `${DEFAULT_STATE_DIR}/spool` };
  return undefined;
}

async function corePatternCheck(proc: string): Promise<Check> {
  const raw = await readText(`${proc}/sys/kernel/core_pattern`);
  if (raw === undefined) return { area: 'collect', name: 'core_pattern', status: 'warn', text: `core_pattern: unreadable (${proc} is not mounted here?): where cores land is unknown`, data: {} };
  const pattern = raw.replace(/\n$/, '');
  const usesPid = (await readText(`${proc}/sys/kernel/core_uses_pid`))?.trim() === '1';
  const parsed = parsePattern(pattern);
  if (parsed.kind === 'pipe') {
    const store = storeOf(parsed.argv[0] ?? '');
    const where = store ? `${store.name} keeps them in ${store.dir} (corepack-crash list finds them)` : `the program ${parsed.argv[0]} receives them`;
    return { area: 'collect', name: 'core_pattern', status: 'ok', text: `core_pattern: ${pattern} — cores go to a program: ${where}`, data: { pattern, pipe: true, store: store ?? null } };
  }
  const rel = !parsed.template.startsWith('/');
  const where = rel ? `in the crashing process's working directory, as ${parsed.template}${usesPid && !parsed.template.includes('%p') ? '.PID' : ''}` : `in ${path.dirname(parsed.template)}`;
  return { area: 'collect', name: 'core_pattern', status: 'ok', text: `core_pattern: ${pattern} — cores land ${where}`, data: { pattern, pipe: false, usesPid } };
}

/** RLIMIT_CORE of this process (what programs started from this shell get), from /proc/self/limits. */
async function ulimitCheck(proc: string, pipe: boolean): Promise<Check> {
  const limits = await readText(`${proc}/self/limits`);
  const m = limits ? /^Max core file size\s+(\S+)\s+(\S+)/m.exec(limits) : null;
  if (!m) return { area: 'collect', name: 'ulimit -c', status: 'warn', text: 'ulimit -c: unknown (no /proc/self/limits)', data: {} };
  const soft = m[1] === 'unlimited' ? 'unlimited' : String(Number(m[1]) / 1024);
  const data = { soft: m[1], hard: m[2] };
  if (m[1] === '0') {
    return { area: 'collect', name: 'ulimit -c', status: pipe ? 'info' : 'warn', text: pipe ? 'ulimit -c: 0 here; a core_pattern program still gets the core (the kernel passes the limit on as %c)' : 'ulimit -c: 0 — programs started from here write no core: run `ulimit -c unlimited` (a systemd service: LimitCORE=infinity)', data };
  }
  return { area: 'collect', name: 'ulimit -c', status: 'ok', text: `ulimit -c: ${soft}${soft === 'unlimited' ? '' : ' KiB blocks'}`, data };
}

async function storeChecks(): Promise<Check[]> {
  const stores = [
    { name: 'systemd-coredump', programs: ['/usr/lib/systemd/systemd-coredump', '/lib/systemd/systemd-coredump'], dir: '/var/lib/systemd/coredump', install: { debian: 'systemd-coredump', rhel: 'systemd (built in)' } },
    { name: 'apport', programs: ['/usr/share/apport/apport'], dir: '/var/crash', install: { debian: 'apport (Ubuntu)', rhel: '(none: apport is Ubuntu\'s)' } },
    { name: 'ABRT', programs: ['/usr/libexec/abrt-hook-ccpp', '/usr/sbin/abrt-hook-ccpp'], dir: '/var/spool/abrt', install: { debian: '(none: ABRT is Red Hat\'s)', rhel: 'abrt-addon-ccpp' } },
  ];
  const out: Check[] = [];
  for (const s of stores) {
    let found: string | undefined;
    for (const p of s.programs) if (await fs.access(p).then(() => true, () => false)) found = p;
    const dirExists = (await fs.stat(s.dir).catch(() => undefined))?.isDirectory() ?? false;
    out.push({
      area: 'collect',
      name: s.name,
      status: 'info',
      text: found ? `${s.name}: installed (${found})${dirExists ? `; its cores: ${s.dir}` : ''}` : `${s.name}: not installed${dirExists ? ` (${s.dir} exists)` : ''} — not needed: corepack collects plain cores too`,
      ...(found ? {} : { install: s.install }),
      data: { program: found ?? null, dir: s.dir, dirExists },
    });
  }
  return out;
}

/** Whether this runs in a user namespace of its own (a container): core_pattern is then the host's. */
async function inContainer(proc: string): Promise<string | null> {
  const map = await readText(`${proc}/self/uid_map`);
  if (map !== undefined && !/^\s*0\s+0\s+4294967295\s*$/.test(map)) return 'a user namespace of its own';
  for (const f of ['/.dockerenv', '/run/.containerenv']) if (await fs.access(f).then(() => true, () => false)) return f;
  return null;
}

/**
 * The probe: core_pattern set for a moment to a shell handler that keeps the
 * first bytes it is given, one shell crashed, core_pattern put back (in
 * `finally`, and on SIGINT/SIGTERM). True when the handler received an ELF core.
 */
export async function probePipeHandlers(proc = '/proc'): Promise<{ runs: boolean; why: string }> {
  const file = `${proc}/sys/kernel/core_pattern`;
  const saved = await readText(file);
  if (saved === undefined) return { runs: false, why: `cannot read ${file}` };
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-doctor-'));
  const handler = path.join(dir, 'handler');
  const got = path.join(dir, 'got');
  await fs.writeFile(handler, `#!/bin/sh\nhead -c 4 > ${got}.tmp && mv ${got}.tmp ${got}\n`, { mode: 0o755 });
  const restore = () => fs.writeFile(file, saved.replace(/\n$/, '') || 'core');
  const onSignal = () => void restore().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    try {
      await fs.writeFile(file, `|${handler}`);
    } catch (err) {
      return { runs: false, why: `cannot set core_pattern (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the probe needs root on the host` };
    }
    await new Promise<void>((resolve) => {
      const sh = spawn('/bin/sh', ['-c', 'ulimit -c unlimited 2>/dev/null; kill -SEGV $$'], { stdio: 'ignore' });
      sh.on('exit', () => resolve());
      sh.on('error', () => resolve());
    });
    for (let i = 0; i < 100; i++) {
      const head = await fs.readFile(got).catch(() => undefined);
      if (head) return head.subarray(0, 4).toString('latin1') === '\x7fELF' ? { runs: true, why: 'a crashed shell\'s core reached a test handler' } : { runs: false, why: 'the test handler got something that is not a core' };
      await new Promise((r) => setTimeout(r, 50));
    }
    return { runs: false, why: 'a crashed shell\'s core never reached a test handler in 5 s' };
  } finally {
    await restore().catch(() => undefined);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function pipeHandlerCheck(proc: string, probe: boolean): Promise<Check> {
  const container = await inContainer(proc);
  const note = container ? ` This looks like a container (${container}): core_pattern is the host's, and the kernel starts a handler in the host's root.` : '';
  if (!probe) {
    return { area: 'collect', name: 'pipe handlers', status: 'info', text: `pipe handlers: not checked — pass --probe (as root: sets core_pattern to a test handler for a moment, crashes a shell, puts it back) before corepack-crash handler install.${note}`, data: { probed: false, container } };
  }
  const r = await probePipeHandlers(proc);
  return { area: 'collect', name: 'pipe handlers', status: r.runs ? 'ok' : 'warn', text: `pipe handlers: ${r.runs ? 'this kernel runs core_pattern programs' : 'not run here'} (${r.why}).${note}`, data: { probed: true, runs: r.runs, why: r.why, container } };
}

async function firstLine(program: string, args: string[]): Promise<string | null> {
  const r = await capture(program, args, { timeoutMs: 15_000 });
  return r.exitCode === 0 ? (r.stdout.split('\n')[0]?.trim() ?? null) : null;
}

async function toolCheck(name: string, what: string, install: { debian: string; rhel: string }, missingStatus: CheckStatus = 'missing'): Promise<Check> {
  const at = await which(name);
  if (!at) return { area: 'replay', name, status: missingStatus, text: `${name}: not installed — ${what}`, install, data: { path: null } };
  const version = await firstLine(at, ['--version']);
  return { area: 'replay', name, status: 'ok', text: `${name}: ${version ?? 'installed'} (${at}) — ${what}`, data: { path: at, version } };
}

async function gdbCheck(): Promise<Check> {
  const c = await toolCheck('gdb', 'replay and report', { debian: 'gdb', rhel: 'gdb' });
  if (c.status !== 'ok') return c;
  const py = await capture(String(c.data!.path), ['-batch', '-nx', '-ex', 'python print("corepack-python-ok")'], { timeoutMs: 15_000 });
  if (!py.stdout.includes('corepack-python-ok')) return { ...c, status: 'warn', text: `${c.text}; without Python: corepack-crash report lists no frames`, data: { ...c.data, python: false } };
  return { ...c, data: { ...c.data, python: true } };
}

/** os.homedir() throws where there is no HOME and no passwd entry (a bare chroot). */
function homeDir(): string | null {
  try {
    return os.homedir();
  } catch {
    return null;
  }
}

function debuginfodCheck(): Check {
  const urls = (process.env.DEBUGINFOD_URLS ?? '').split(/\s+/).filter(Boolean);
  const cache = process.env.DEBUGINFOD_CACHE_PATH ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homeDir() ?? '$HOME', '.cache'), 'debuginfod_client');
  if (!urls.length) return { area: 'replay', name: 'debuginfod', status: 'info', text: `debuginfod: DEBUGINFOD_URLS is not set — replay --debuginfod URL (or DEBUGINFOD_URLS=https://debuginfod.debian.net) fetches missing debug info; cache ${cache}`, data: { urls, cache } };
  return { area: 'replay', name: 'debuginfod', status: 'ok', text: `debuginfod: ${urls.join(' ')} (timeout ${process.env.DEBUGINFOD_TIMEOUT ?? '10'} s); cache ${cache}`, data: { urls, cache } };
}

export interface DoctorOptions {
  probe: boolean;
  /** Where /proc is (tests). */
  proc?: string;
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const proc = o.proc ?? '/proc';
  const pattern = await corePatternCheck(proc);
  const pipe = pattern.data?.pipe === true;
  const checks: Check[] = [
    ...(await compressorChecks()),
    await freeSpace(process.cwd(), 'bundles'),
    await freeSpace(defaultConfig(DEFAULT_STATE_DIR).spool, 'handler spool'),
    pattern,
    await ulimitCheck(proc, pipe),
    ...(await storeChecks()),
    await pipeHandlerCheck(proc, o.probe),
    await gdbCheck(),
    await toolCheck('gdb-multiarch', "replay of another architecture's core", { debian: 'gdb-multiarch', rhel: 'gdb (built for every architecture)' }, 'warn'),
    await toolCheck('lldb', 'replay --lldb', { debian: 'lldb', rhel: 'lldb' }, 'info'),
    await toolCheck('bwrap', "replay's sandbox for gdb", { debian: 'bubblewrap', rhel: 'bubblewrap' }, 'warn'),
    debuginfodCheck(),
  ];
  // Collect needs a writable place with room, and some compressor for a bundle (gzip is always built in).
  const canCollect = !checks.some((c) => c.area === 'collect' && c.status === 'missing' && c.name.startsWith('free space'));
  return { version: versionText(), canCollect, checks };
}

const MARK: Record<CheckStatus, string> = { ok: 'ok', warn: 'warn', missing: 'missing', info: 'info' };

export function renderDoctor(r: DoctorReport): string {
  const L: string[] = [r.version, r.canCollect ? 'This machine can collect.' : 'This machine cannot collect: see the lines marked missing.'];
  for (const area of ['collect', 'replay'] as const) {
    L.push('', `${area === 'collect' ? 'Collecting' : 'Replaying'}:`);
    for (const c of r.checks.filter((x) => x.area === area)) {
      L.push(`  ${MARK[c.status].padEnd(8)} ${c.text}`);
      if (c.install) L.push(`  ${''.padEnd(8)}   install: Debian/Ubuntu ${c.install.debian}; RHEL/Fedora ${c.install.rhel}`);
    }
  }
  if (isSingleExecutable()) L.push('', 'A single executable: collect, inspect and list need nothing else; replay needs gdb.');
  return `${L.join('\n')}\n`;
}

export async function doctorCommand(flags: { json?: boolean; probe?: boolean }): Promise<number> {
  const r = await runDoctor({ probe: flags.probe === true });
  process.stdout.write(flags.json ? `${JSON.stringify(r, null, 2)}\n` : renderDoctor(r));
  return r.canCollect ? EXIT.OK : EXIT.MISSING_TOOL;
}
