/**
 * `corepack report BUNDLE|CORE [--format md|html|json|text] [-o FILE]`: the
 * crash as a person reads it — a verdict, the crashing stack, the threads
 * grouped, the modules, a signature for finding duplicates. A bundle goes
 * through replay's setup (extracted, verified, checked); a core is read
 * with this machine's files. Frames come from gdb (src/report/frames.ts);
 * without one, the report has what the core says and says so.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreFile } from '../core/open.js';
import type { CoreSummary } from '../core/model.js';
import { isExact, type Manifest } from '../bundle/manifest.js';
import { chooseDebugger, type DebuggerLaunch } from '../replay/gdb.js';
import type { SandboxState } from '../replay/sandbox.js';
import { GdbFailedError } from '../replay/errors.js';
import { framesFromGdb, type FramesTarget } from '../report/frames.js';
import { buildReport, type ModuleState } from '../report/build.js';
import type { CrashReport, Provenance } from '../report/model.js';
import { bundleModuleStates, localModuleStates } from '../report/modules.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderHtml } from '../report/html.js';
import { renderJson } from '../report/json.js';
import { renderText } from '../report/text.js';
import { BadOptionError, MissingToolError, OutputWriteError, errnoOf } from '../util/errors.js';
import { writeFileAtomically } from '../util/atomic.js';
import { DEFAULT_DEBUG_DIR } from '../util/debugfiles.js';
import { EXIT } from './exit.js';
import { normalizeReplayOptions, type ReplayFlags } from './options.js';
import { setUpReplay, type ReplayIo } from './replay.js';
import { originText, readLocatedCore } from './located.js';
import { locateInput, readInputHead } from './probe.js';
import type { LocatedCore } from '../input/locate.js';
import { decryptKeys } from './keys.js';
import { interruptible } from './signals.js';
import { rootAt, type ProcessRoot } from '../util/rootfs.js';
import type { BundleSource } from '../bundle/source.js';

export const REPORT_FORMATS = ['md', 'html', 'json', 'text'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportFlags extends Pick<ReplayFlags, 'dir' | 'gdb' | 'sandbox' | 'source' | 'debuginfod' | 'identity' | 'passphrase' | 'passphraseFile' | 'hostThreadDb'> {
  format?: string | undefined;
  output?: string | undefined;
  json?: boolean | undefined;
  /** commander's --no-debugger: false when given. */
  debugger?: boolean | undefined;
  exe?: string | undefined;
}

const BY_EXTENSION: Record<string, ReportFormat> = { '.md': 'md', '.markdown': 'md', '.html': 'html', '.htm': 'html', '.json': 'json', '.txt': 'text' };

/** --format, else --json, else -o's extension, else text on a terminal and Markdown into a pipe or file. */
export function reportFormat(flags: Pick<ReportFlags, 'format' | 'output' | 'json'>, stdoutIsTty: boolean): ReportFormat {
  if (flags.format !== undefined) {
    const f = flags.format === 'markdown' ? 'md' : flags.format;
    if (!(REPORT_FORMATS as readonly string[]).includes(f)) throw new BadOptionError('--format', flags.format, `unknown report format ${JSON.stringify(flags.format)}`, `pass one of ${REPORT_FORMATS.join(', ')}`);
    if (flags.json && f !== 'json') throw new BadOptionError('--json', 'true', `--json and --format ${f} ask for two formats`, 'pass one of them');
    return f as ReportFormat;
  }
  if (flags.json) return 'json';
  if (flags.output !== undefined) return BY_EXTENSION[path.extname(flags.output).toLowerCase()] ?? 'md';
  return stdoutIsTty ? 'text' : 'md';
}

export function renderReport(r: CrashReport, format: ReportFormat): string {
  switch (format) {
    case 'md':
      return renderMarkdown(r);
    case 'html':
      return renderHtml(r);
    case 'json':
      return renderJson(r);
    case 'text':
      return renderText(r);
  }
}

type Debugger = { frames: Awaited<ReturnType<typeof framesFromGdb>>['frames']; program: string; sandboxed: boolean } | { why: string };

/** gdb's frames, or why there are none: no gdb (unless --gdb named one), --no-debugger, or gdb failing (warned). */
async function runGdb(
  summary: CoreSummary,
  flags: ReportFlags,
  launch: (program: string) => Omit<DebuggerLaunch, 'args'>,
  target: FramesTarget,
  io: ReplayIo,
): Promise<{ debugger: Debugger; failed: boolean }> {
  if (flags.debugger === false) return { debugger: { why: '--no-debugger' }, failed: false };
  let program: string;
  try {
    program = (await chooseDebugger({ explicit: flags.gdb ?? null, arch: summary.arch, machine: summary.machine })).path;
  } catch (err) {
    if (!(err instanceof MissingToolError) || flags.gdb !== undefined) throw err;
    io.stderr.write(`corepack: warning: ${err.message}: the report has no symbols (apt-get install gdb)\n`);
    return { debugger: { why: `${err.message}; install gdb for function names and source lines` }, failed: false };
  }
  const l = launch(program);
  try {
    const { frames } = await framesFromGdb(l, target);
    return { debugger: { frames, program, sandboxed: l.sandbox.sandboxed }, failed: false };
  } catch (err) {
    if (!(err instanceof GdbFailedError)) throw err;
    io.stderr.write(`corepack: warning: ${err.message}\n`);
    return { debugger: { why: err.message }, failed: true };
  }
}

function bundleProvenance(bundle: string, m: Manifest, summary: CoreSummary): Provenance {
  const o = m.origin;
  const stored = o && !(o.form === 'raw' && o.store === 'file') ? `${o.form === 'raw' ? 'plain ELF' : o.form}, ${o.store === 'file' ? 'a file' : `stored by ${o.store}`} (${o.path})` : null;
  const c = m.capture;
  return {
    input: 'bundle',
    path: path.resolve(bundle),
    host: m.host?.hostname ?? null,
    collectedAt: m.createdAt ?? null,
    stored,
    captured: c ? `at the crash, by corepack-crash handle (${c.by}), the core ${c.coreFrom}, the files ${c.filesFrom}${c.dumpedAt ? `, at ${c.dumpedAt}` : ''}` : null,
    mini: summary.miniCore !== undefined || m.miniCore !== undefined,
    exact: isExact(m),
    attachments: (m.attachments ?? []).map((a) => a.path),
  };
}

async function openMemory(file: string, lookup: { root?: ProcessRoot; executable?: string }): Promise<CoreFile> {
  return CoreFile.open(file, { allowTruncated: true, ...lookup });
}

/** `layered`: the bundle's layers as the probe opened them (a split set, age): read on, not opened again. */
async function bundleReport(bundle: string, flags: ReportFlags, io: ReplayIo, layered: BundleSource | undefined): Promise<{ report: CrashReport; code: number }> {
  const opts = normalizeReplayOptions({ ...flags, batch: true, json: false, lldb: false });
  // Destroyed whatever happens: a failure before the extraction reached it would leave it open.
  const setup = await setUpReplay(bundle, opts, io, layered).finally(() => layered?.stream.destroy());
  const r = setup.report;
  const root = r.prepared.root;
  const core = await openMemory(path.join(root, r.prepared.manifest.core.bundlePath), {
    root: rootAt(path.join(root, 'sysroot')),
    ...(r.executable ? { executable: path.join(root, r.prepared.manifest.files.find((f) => f.path === r.executable)?.bundlePath ?? '') } : {}),
  });
  try {
    const launch = (program: string): Omit<DebuggerLaunch, 'args'> => ({ program, cwd: r.scripts.cwd, readable: setup.readable, ...(setup.env ? { env: setup.env } : {}), sandbox: r.sandbox });
    const { debugger: dbg, failed } = await runGdb(r.summary, flags, launch, { script: r.scripts.gdb }, io);
    const mismatches = r.buildIds.filter((c) => c.status === 'mismatch');
    const notes = [...r.prepared.state.notes, ...r.prepared.manifest.warnings.map((w) => `collect: ${w}`)];
    if (mismatches.length) notes.push(`${mismatches.length} bundled file${mismatches.length === 1 ? ' does' : 's do'} not match the core's build ID: frames in ${mismatches.map((c) => path.posix.basename(c.module)).join(', ')} may be wrong`);
    if (!r.sandbox.sandboxed && 'frames' in dbg) notes.push(`gdb ${r.sandbox.description}`);
    const report = await buildReport({
      summary: r.summary,
      memory: core.memory,
      debugger: dbg,
      moduleState: bundleModuleStates(r.buildIds, r.debugInfo),
      provenance: bundleProvenance(bundle, r.prepared.manifest, r.summary),
      sourceDirs: opts.sourceDirs,
      notes,
    });
    if (mismatches.length) io.stderr.write(`corepack: ${mismatches.length} bundled file${mismatches.length === 1 ? ' does' : 's do'} not match the core (see Modules in the report)\n`);
    return { report, code: mismatches.length || failed ? EXIT.VERIFY_FAILED : EXIT.OK };
  } finally {
    await core.close();
  }
}

/** The report of a core read with this machine's files; `located` is the probe's (disposed by the caller). */
async function coreReport(corePath: string, located: LocatedCore, flags: ReportFlags, io: ReplayIo): Promise<{ report: CrashReport; code: number }> {
  const exe = flags.exe === undefined ? undefined : path.resolve(flags.exe);
  const sourceDirs = normalizeReplayOptions({ source: flags.source ?? [] }).sourceDirs;
  const { summary } = await readLocatedCore(located, exe ? { executable: exe } : {});
  const core = await openMemory(located.file, exe ? { executable: exe } : {});
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-report-'));
  try {
    const { states, files } = await localModuleStates(summary.modules, [DEFAULT_DEBUG_DIR]);
    const exeModule = summary.modules.find((m) => m.kind === 'executable');
    // The executable gdb reads: -e, else the one the core names when it is still the same build.
    const executable = exe ?? (exeModule && states(exeModule).check === 'exact' ? exeModule.path ?? null : null);
    const { probeSandbox } = await import('../replay/sandbox.js');
    const sandbox: SandboxState = await probeSandbox({ disabled: flags.sandbox === false });
    const cwd = path.join(work, 'cwd');
    await fs.mkdir(cwd);
    const linkNames = summary.modules.map((m) => m.linkMapName).filter((n): n is string => typeof n === 'string' && path.isAbsolute(n));
    // The loader's names of files outside /usr (which the sandbox shows whole): gdb opens them by these names.
    const present = await Promise.all(linkNames.map((n) => fs.realpath(n).then((real) => (real.startsWith('/usr/') ? null : n), () => null)));
    const readable = [cwd, path.resolve(located.file), ...(executable ? [executable] : []), ...files, ...present.filter((n): n is string => n !== null), ...sourceDirs];
    const launch = (program: string): Omit<DebuggerLaunch, 'args'> => ({ program, cwd, readable: [...new Set(readable)], sandbox });
    const { debugger: dbg, failed } = await runGdb(summary, flags, launch, { executable, core: path.resolve(located.file) }, io);
    const notes: string[] = [...summary.warnings];
    if (!executable) notes.push('the executable the core names is not on this machine as it was at the crash: gdb read the core without it (pass -e EXE, or report on a bundle)');
    if (!sandbox.sandboxed && 'frames' in dbg) notes.push(`gdb ${sandbox.description}`);
    const stored = originText(located.origin);
    const report = await buildReport({
      summary,
      memory: core.memory,
      debugger: dbg,
      moduleState: states as (m: (typeof summary.modules)[number]) => ModuleState,
      provenance: {
        input: 'core',
        path: path.resolve(corePath),
        host: os.hostname(),
        collectedAt: located.origin.time,
        stored: stored || null,
        captured: null,
        mini: summary.miniCore !== undefined,
        exact: null,
        attachments: [],
      },
      sourceDirs,
      notes,
    });
    return { report, code: failed ? EXIT.VERIFY_FAILED : EXIT.OK };
  } finally {
    await core.close();
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** What the probe found: a core, reported on at once, or a bundle, with its layers when it opened them. */
type Probed = { kind: 'core'; report: CrashReport; code: number } | { kind: 'bundle'; layered: BundleSource | undefined };

/**
 * A core's report, or the bundle the probe finds (any part of a split one,
 * encrypted or not, or a compressed tar). A compressed core is decompressed
 * once: the probe's decompression is the one that unpacks it; an encrypted
 * bundle is decrypted once: its opened layers go on to the extraction.
 */
async function reportOfCore(input: string, flags: ReportFlags, io: ReplayIo): Promise<Probed> {
  const { normalizeKeySources } = await import('./keys.js');
  const head = await readInputHead(input, decryptKeys(normalizeKeySources(flags)));
  if (head.kind === 'bundle') return { kind: 'bundle', layered: head.source };
  return interruptible(async (signal): Promise<Probed> => {
    const found = await locateInput(input, head, signal);
    if (found.kind === 'bundle') return { kind: 'bundle', layered: undefined };
    try {
      return { kind: 'core', ...(await coreReport(input, found.located, flags, io)) };
    } finally {
      await found.located.dispose();
    }
  });
}

export async function reportCommand(input: string, flags: ReportFlags, io: ReplayIo & { stdout: NodeJS.WritableStream & { isTTY?: boolean } } = process): Promise<number> {
  const format = reportFormat(flags, io.stdout.isTTY === true && flags.output === undefined);
  if (flags.output !== undefined) {
    const dir = path.dirname(path.resolve(flags.output));
    const st = await fs.stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new OutputWriteError(path.resolve(flags.output), 'ENOENT', `its directory ${dir} does not exist`, undefined, 'no report was written');
  }
  const probed = await reportOfCore(input, flags, io);
  const { report, code } = probed.kind === 'core' ? probed : await bundleReport(input, flags, io, probed.layered);
  const text = renderReport(report, format);
  if (flags.output === undefined) io.stdout.write(text);
  else {
    const out = path.resolve(flags.output);
    await writeFileAtomically(out, text).catch((err: unknown) => {
      throw new OutputWriteError(out, errnoOf(err), undefined, { cause: err }, 'no report was written');
    });
    io.stderr.write(`corepack: wrote the ${format === 'md' ? 'Markdown' : format.toUpperCase()} report to ${out} (signature ${report.signature.hash})\n`);
  }
  return code;
}
