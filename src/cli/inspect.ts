/**
 * `corepack inspect CORE [--json]`: what a support engineer wants to see
 * first about a crash.
 */
import { locate, moduleLabel, summaryJson } from '../core/json.js';
import type { CoreSummary } from '../core/model.js';
import { basename, resolve } from 'node:path';
import { encryptedFor, storedSize, type BundleSource } from '../bundle/source.js';
import type { Format } from '../bundle/magic.js';
import { locateInput, readInputHead } from './probe.js';
import { findPartSet } from '../bundle/split.js';
import { EncryptedBundleError, type AgeRecipients } from '../bundle/errors.js';
import { keyNeedOf, replayCommand, type KeyNeed } from './replay-command.js';
import { checkGivenExecutable, givenExecutableWarning } from '../core/given-executable.js';
import { isExact, readManifestSummary, type Manifest } from '../bundle/manifest.js';
import { decryptKeys, normalizeKeySources, type KeyFlags, type KeySources } from './keys.js';
import { hasControlChar, hex } from '../util/text.js';
import { realRoot, rootAt, type ProcessRoot } from '../util/rootfs.js';
import { signalText } from './signal-text.js';
import { humanBytes } from './progress.js';
import { originJson, originText, readLocatedCore } from './located.js';
import { interruptible } from './signals.js';

export interface InspectFlags extends KeyFlags {
  json?: boolean | undefined;
  exe?: string | undefined;
  root?: string | undefined;
}

export interface InspectOptions {
  json: boolean;
  /** -e, absolute: the executable, read when the core lacks its headers (qemu-user cores). */
  exe: string | undefined;
  /** --root, absolute: the directory the process saw as `/`. Not given: no file is read but -e. */
  root: ProcessRoot | undefined;
  /** For an encrypted bundle. */
  keys: KeySources;
}

export function normalizeInspectOptions(flags: InspectFlags, cwd: string = process.cwd(), env: NodeJS.ProcessEnv = process.env): InspectOptions {
  const { json = false, exe, root } = flags;
  return { json, exe: exe === undefined ? undefined : resolve(cwd, exe), root: root === undefined ? undefined : rootAt(resolve(cwd, root)), keys: normalizeKeySources(flags, env, cwd) };
}

export async function inspectCommand(corePath: string, opts: InspectOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  // A bundle describes itself: show its manifest without unpacking it.
  // A split set or an encrypted file is opened once (decrypted once): a missing part, or a bundle
  // encrypted for someone else, is named here, and a bundle's manifest is read from that same stream.
  const head = await readInputHead(corePath, decryptKeys(opts.keys));
  if (head.kind === 'bundle') return showBundle(corePath, head.format, head.source, opts, out);
  // Compressed cores, apport reports and ABRT directories: unpacked to a temporary file, removed on every exit path.
  return interruptible(async (signal) => {
    const found = await locateInput(corePath, head, signal);
    if (found.kind === 'bundle') return showBundle(corePath, found.format, undefined, opts, out);
    const located = found.located;
    try {
      // -e naming nothing usable is a usage error, as in collect.
      const given = opts.exe === undefined ? undefined : await checkGivenExecutable(opts.exe);
      const { summary: s, truncation } = await readLocatedCore(located, { executable: opts.exe, root: opts.root === undefined ? undefined : await realRoot(opts.root) });
      const exeModule = s.modules.find((m) => m.kind === 'executable' && !m.sources.includes('file_headers'));
      const mismatch = given && opts.exe ? givenExecutableWarning(opts.exe, given, exeModule?.buildId) : undefined;
      if (mismatch) s.warnings.push(mismatch);
      if (opts.json) out.write(`${JSON.stringify({ ...summaryJson(s, corePath), origin: originJson(located.origin), truncation: truncation ?? null }, null, 2)}\n`);
      else out.write(formatSummary(s, corePath, originText(located.origin)));
      return 0;
    } finally {
      await located.dispose();
    }
  });
}

/** The manifest of the bundle at `path`, read from `source` when its layers were opened already. */
async function showBundle(path: string, format: Format, source: BundleSource | undefined, opts: InspectOptions, out: NodeJS.WritableStream): Promise<number> {
  // Loaded only for bundles: reading a core needs none of the tar machinery.
  const { readBundleManifest } = await import('../bundle/peek.js');
  const manifest = await readBundleManifest(path, format, { keys: decryptKeys(opts.keys), source });
  if (opts.json) out.write(`${JSON.stringify(manifest, null, 2)}\n`);
  else {
    const age = source?.encrypted ?? (await encryptedFor(path));
    out.write(formatBundle(manifest, path, format, await storedSize(path), await layersText(path, age), keyNeedOf(age?.types)));
  }
  return 0;
}

export { signalText };

export function formatSummary(s: CoreSummary, corePath: string, stored = ''): string {
  const lines: string[] = [];
  const p = s.process;
  lines.push(`core:        ${corePath} (${s.os} ${s.arch}, ELF${s.elfClass} ${s.byteOrder}-endian)`);
  if (s.miniCore) lines.push(`mini core:   ${miniCoreText(s.miniCore)}`);
  if (stored) lines.push(`stored:      ${stored}`);
  lines.push(`executable:  ${s.executable ?? '(unknown)'}`);
  if (p.psargs !== undefined || p.fname !== undefined) lines.push(`command:     ${p.psargs || p.fname}`);
  const ids = [p.ppid !== undefined ? `ppid ${p.ppid}` : '', p.uid !== undefined ? `uid ${p.uid}` : '', p.gid !== undefined ? `gid ${p.gid}` : ''].filter(Boolean);
  lines.push(`pid:         ${p.pid ?? '?'}${ids.length ? ` (${ids.join(', ')})` : ''}`);
  lines.push(`signal:      ${s.signal ? signalText(s.signal) : 'none recorded'}`);
  const crashed = s.threads.find((t) => t.crashed);
  if (crashed) lines.push(`crashed:     thread ${crashed.tid}${crashed.name ? ` "${crashed.name}"` : ''}`);

  lines.push('', `threads (${s.threads.length}):`);
  for (const t of s.threads) {
    const at = locate(s.modules, t.pc);
    const where = at ? `${moduleLabel(at.module)}+${hex(at.offset)}` : '(no module)';
    lines.push(`  ${t.crashed ? '*' : ' '} ${String(t.tid).padEnd(8)} pc ${hex(t.pc).padEnd(18)} ${where.padEnd(36)} sp ${hex(t.sp)}${t.name ? `  "${t.name}"` : ''}`);
  }

  lines.push('', `modules (${s.modules.length}):`);
  for (const m of s.modules) {
    const range = `${hex(m.start)}-${hex(m.end)}`;
    const names = [m.path ?? (m.kind === 'vdso' ? '[vdso]' : '(no mapped file)')];
    if (m.linkMapName && m.linkMapName !== m.path) names.push(`(loader: ${m.linkMapName})`);
    if (m.deleted) names.push('[deleted at crash]');
    lines.push(`  ${range.padEnd(35)} ${(m.buildId ?? '-').padEnd(40)} ${m.kind.padEnd(11)} ${names.join(' ')}`);
  }
  for (const u of s.unplaced) lines.push(`  ${'(not placed)'.padEnd(35)} ${'-'.padEnd(40)} ${'library'.padEnd(11)} (loader: ${u.name})`);
  if (s.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of s.warnings) lines.push(`  - ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

/** "cut by collect --stacks-only from /x/core (1.2 GiB, sha256 ab…): 31 ranges, 150 KiB kept; no heap". */
export function miniCoreText(m: { cutFrom: { path: string; size: number; sha256: string | null }; bytes: number; stackCap: number | null }, ranges?: number): string {
  const from = `${m.cutFrom.path || '(unknown)'} (${humanBytes(m.cutFrom.size)}${m.cutFrom.sha256 ? `, sha256 ${m.cutFrom.sha256}` : ''})`;
  const kept = `${ranges !== undefined ? `${ranges} ranges, ` : ''}${humanBytes(m.bytes)} of memory kept${m.stackCap !== null ? `, stacks capped at ${humanBytes(m.stackCap)}` : ''}`;
  return `cut by collect --stacks-only from ${from}: ${kept}; the heap and other memory were left out (print *ptr into the heap fails; ask for that full core when it is needed)`;
}

/** Whether the handler's record of the process's root (readlink of /proc/PID/root) is another root than this machine's own. */
function otherRoot(recorded: string): boolean {
  return recorded.startsWith('/') && rootAt(recorded).kind === 'directory';
}

/** "age, for 2 recipients (X25519)" and "15 parts and their index b.tbz2-parts.sha256": the layers a bundle came through. */
async function layersText(file: string, age: AgeRecipients | undefined): Promise<string[]> {
  const lines: string[] = [];
  const split = await findPartSet(file);
  if (split) lines.push(`split:       ${split.parts.length} parts of at most ${humanBytes(split.parts[0]!.size)}, index ${basename(split.index)}`);
  if (age) lines.push(`encrypted:   age, ${EncryptedBundleError.forWhom(age)}`);
  return lines;
}

/** The text report for a bundle: who made it where, what crashed, and the state of every file. */
export function formatBundle(m: Manifest, bundlePath: string, format: string, size: number, layers: readonly string[] = [], key: KeyNeed = null): string {
  const s = readManifestSummary(m);
  const os = m.host.osRelease.PRETTY_NAME || m.host.uname.sysname || 'unknown OS';
  const lines: string[] = [];
  lines.push(`bundle:      ${bundlePath} (${format}, ${humanBytes(size)})`);
  lines.push(...layers);
  lines.push(`collected:   ${m.createdAt} on ${m.host.hostname || '?'} (${os}${m.host.libc ? `, ${m.host.libc}` : ''}) by corepack ${m.corepackVersion}`);
  if (m.capture) {
    const c = m.capture;
    lines.push(`captured:    at the crash, by corepack-crash handle in core_pattern (pid ${c.globalPid}${c.dumpedAt ? `, dumped ${c.dumpedAt}` : ''}): every file read through the process's own mappings${otherRoot(c.root) ? `, other paths under its root ${c.root}` : ''}; the core was passed on to ${c.passedOn}`);
  }
  lines.push(`core:        ${m.core.originalPath} (${humanBytes(m.core.size)}; ${s.os ?? '?'} ${s.arch ?? '?'})`);
  if (m.miniCore) lines.push(`mini core:   ${miniCoreText(m.miniCore, m.miniCore.ranges.length)} (the manifest lists every range and why)`);
  if (m.executable) lines.push(`executable:  ${m.executable.path}${m.executable.chosenBy === 'core' ? ' (taken from the core)' : ''}`);
  const command = s.process.psargs || s.process.fname;
  if (command) lines.push(`command:     ${command}`);
  lines.push(`pid:         ${s.process.pid ?? '?'}`);
  if (s.signal) {
    const parts = [`${s.signal.name ?? 'signal'} (${s.signal.signo ?? '?'})`];
    if (s.signal.codeName) parts.push(s.signal.codeName);
    if (s.signal.addr) parts.push(`fault address ${s.signal.addr}`);
    lines.push(`signal:      ${parts.join(', ')}`);
  }
  if (s.crashedThread !== null) lines.push(`crashed:     thread ${s.crashedThread} of ${s.threadCount ?? '?'}`);
  lines.push('', `files (${m.files.length}, ${m.links.length} alias links):`);
  for (const f of m.files) {
    const status = f.status === 'ok' ? 'ok' : f.status.toUpperCase();
    lines.push(`  ${status.padEnd(18)} ${f.role.padEnd(12)} ${f.path}${f.bundlePath ? '' : '  (not bundled)'}`);
    // A file the handler took from the process's mapping after its path changed says so, though it is exact.
    if (f.message && (f.status !== 'ok' || f.sources.includes('map_files'))) lines.push(`  ${''.padEnd(18)} ${''.padEnd(12)} ${f.message}`);
  }
  const attachments = m.attachments ?? [];
  if (attachments.length) {
    lines.push('', `attachments (${attachments.length}, ${humanBytes(attachments.reduce((n, a) => n + a.size, 0))}):`);
    for (const a of attachments) lines.push(`  ${humanBytes(a.size).padEnd(12)} ${hasControlChar(a.path) ? JSON.stringify(a.path) : a.path}${a.linkTarget ? `  (symlink to ${a.linkTarget})` : ''}`);
  }
  if (m.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of m.warnings) lines.push(`  - ${w}`);
  }
  for (const g of m.gaps ?? []) lines.push(`  - not bundled: ${g}`);
  if (m.root && !m.capture) lines.push(`root:        collected with --root ${m.root}${m.rootLookup === 'qemu' ? ", a qemu-user core: looked up under it, then at this machine's own path (as qemu -L)" : ''}`);
  const exact = isExact(m);
  lines.push('', exact ? 'every file matched the crash when it was collected.' : 'NOT exact: the files marked above were missing or different when it was collected.');
  lines.push(`replay it with: ${replayCommand(bundlePath, key, ['--batch'])}`);
  return `${lines.join('\n')}\n`;
}
