/**
 * `corepack replay BUNDLE [--dir DIR] [--batch] [--json] [--gdb PATH] [-- GDB ARGS]`:
 * the developer's side. Extracts the bundle safely, verifies it, checks the
 * bundled files against the core's build IDs, reports debug info, writes gdb
 * and lldb scripts, and starts gdb on them.
 */
import * as path from 'node:path';
import type { Json } from '../core/json.js';
import { FormatError } from '../elf/errors.js';
import { BundledCoreError } from '../bundle/errors.js';
import { BundleVerifyError, GdbFailedError } from '../replay/errors.js';
import type { CoreSummary } from '../core/model.js';
import type { BuildIdCheck } from '../bundle/verify.js';
import { checksumFailures, type ChecksumResult } from '../bundle/checksums.js';
import { sysrootPath, type Manifest } from '../bundle/manifest.js';
import { asReplayDirError, prepareBundle, type PreparedBundle } from '../replay/cache.js';
import { dataMappingPaths, writeStandIns } from '../replay/standins.js';
import type { ModuleDebugInfo } from '../replay/debuginfo.js';
import type { WrittenScripts } from '../replay/script.js';
import type { ReplayOptions } from './options.js';
import {
  checkSomeDebugger,
  chooseDebugger,
  resolveLldb,
  runBatch,
  runInteractive,
  runLldbBatch,
  runLldbInteractive,
  scriptFiles,
  type BatchResult,
  type ScriptLaunch,
} from '../replay/gdb.js';
import type { SandboxState } from '../replay/sandbox.js';
import { gdbArchitecture, lldbTriple } from '../replay/arch.js';
import { placementCommands, type PlacedModule } from '../replay/placement.js';
import { matchModule } from '../bundle/verify.js';
import { EXIT } from './exit.js';
import { signalText } from './signal-text.js';
import { interruptible } from './signals.js';
import { hasControlChar, hex } from '../util/text.js';
import { decryptKeys } from './keys.js';
import type { BundleSource } from '../bundle/source.js';


export interface ReplayIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export const REPLAY_REPORT_SCHEMA = 1;

export interface ReplayReport {
  bundle: string;
  prepared: PreparedBundle;
  summary: CoreSummary;
  executable: string | null;
  buildIds: BuildIdCheck[];
  debugInfo: ModuleDebugInfo[];
  scripts: WrittenScripts;
  threadDb: string[];
  /** gdb commands that place modules the core does not let gdb place (empty: gdb places them all). */
  placement: readonly string[];
  /** Whether the debugger runs (ran) in the sandbox, and if not, why. */
  sandbox: SandboxState;
  /** debuginfod: the servers asked, and one line per problem (a server down or slow, a wrong file). */
  debuginfod: { urls: readonly string[]; problems: readonly string[] } | null;
}


/** "SIGSEGV (11), SEGV_MAPERR, fault address 0x0 in thread 1234", as inspect says it. */
export function signalLine(s: CoreSummary): string {
  if (!s.signal) return 'no signal recorded in the core';
  const crashed = s.threads.find((t) => t.crashed);
  return `${signalText(s.signal)}${crashed ? ` in thread ${crashed.tid}${crashed.name ? ` "${crashed.name}"` : ''}` : ''}`;
}

/** The bundled executable: the one manifest.executable names, else the file with role "executable". */
function findExecutable(m: Manifest): { path: string; bundlePath: string } | null {
  const bundled = m.files.filter((f) => f.bundlePath !== null);
  const want = m.executable?.path;
  const f =
    (want && bundled.find((x) => x.path === want || x.aliases.includes(want))) || bundled.find((x) => x.role === 'executable');
  return f ? { path: f.path, bundlePath: f.bundlePath! } : null;
}

/** A bundle made ready for a debugger: extracted, verified, checked, its scripts written. */
export interface ReplaySetup {
  report: ReplayReport;
  /** Modules the script places itself (batch output lists them). */
  placed: readonly PlacedModule[];
  /** What the debugger reads: the replay directory, fetched debug files, --source directories. */
  readable: string[];
  /** The debugger's environment (DEBUGINFOD_URLS for gdb's own client outside the sandbox). */
  env: Record<string, string> | undefined;
}

/**
 * Extracts, verifies and checks the bundle and writes its scripts: everything
 * before a debugger starts (replay, report). `layered`: the bundle's byte
 * layers as the caller's probe opened them (report), so they are not opened
 * (decrypted) again.
 */
export async function setUpReplay(bundle: string, opts: ReplayOptions, io: ReplayIo = process, layered?: BundleSource): Promise<ReplaySetup> {
  let prepared: PreparedBundle;
  // Only the extraction's modules were loaded so far: the decompressor starts
  // first, and what runs after it is loaded meanwhile (the main thread mostly
  // waits for the decompressor then).
  const extracting = interruptible((signal) => prepareBundle(bundle, opts.dir, { signal, keys: decryptKeys(opts.keys), layered }));
  const later = Promise.all([
    import('../bundle/verify.js'),
    import('../replay/debuginfo.js'),
    import('../replay/script.js'),
    import('../replay/sandbox.js'),
    opts.debuginfod ? import('../replay/debuginfod.js') : undefined,
    import('execa'),
  ]);
  later.catch(() => undefined);
  try {
    prepared = await extracting;
  } catch (err) {
    if (err instanceof BundleVerifyError && opts.json) {
      io.stdout.write(`${JSON.stringify({ schema: REPLAY_REPORT_SCHEMA, ok: false, bundle: path.resolve(bundle), error: err.message.split('\n')[0], verification: verificationJson(err.checksums) }, null, 2)}\n`);
    }
    throw err;
  }

  const [{ checkBuildIds }, { findDebugInfo, missingDebugInfo, withDebuginfod }, { writeScripts }, { probeSandbox }, debuginfodModule] = await later;
  // bwrap is tried while the core is read: a sandbox that cannot be made changes which libthread_db the script names.
  const sandboxing = probeSandbox({ disabled: !opts.sandbox });
  sandboxing.catch(() => undefined);
  const { manifest, root } = prepared;
  const { checks, summary } = await checkBuildIds(root, manifest).catch((err: unknown) => {
    if (err instanceof FormatError) throw new BundledCoreError(manifest.core.bundlePath, err);
    throw err;
  });
  const { hostDebugDirs, debuginfod } = opts;
  const bundleDebugDir = path.join(root, 'debug');
  let debugInfo = await findDebugInfo(checks, { bundleDebugDir, hostDebugDirs, debuginfod: debuginfod !== null });
  // debuginfod is asked here, outside the sandbox (gdb inside has no network); gdb gets the files through links in DIR.
  let fetchedDebugDir: string | null = null;
  let debuginfodReport: ReplayReport['debuginfod'] = null;
  if (debuginfod && debuginfodModule) {
    const fetched = await debuginfodModule.fetchDebugFiles(missingDebugInfo(debugInfo), debuginfod);
    debugInfo = withDebuginfod(debugInfo, fetched.outcomes);
    const files = new Map(debugInfo.filter((d) => d.from === 'debuginfod' && d.buildId && d.debugFile).map((d) => [d.buildId!, d.debugFile!] as const));
    fetchedDebugDir = await debuginfodModule.linkDebugFiles(path.join(prepared.dir, '.corepack', 'debuginfod'), files).catch((err: unknown) => {
      throw asReplayDirError(err, prepared.dir, opts.dir === null);
    });
    debuginfodReport = { urls: debuginfod.urls, problems: fetched.problems };
  }
  const sandbox = await sandboxing;

  const exe = findExecutable(manifest);
  const bundled = manifest.files.filter((f) => f.bundlePath !== null && f.bundlePath.startsWith('sysroot/'));
  // Relative link_map names ("./libplugin.so") are found by gdb in these
  // directories, by their last component, as gdb runs in an empty directory.
  const libraryDirs = bundled
    .filter((f) => f.role !== 'executable')
    .flatMap((f) => [f.path, ...f.aliases.filter((a) => a.startsWith('/'))])
    .map((p) => path.join(root, path.posix.dirname(sysrootPath(p))));
  const linkMapInCore = summary.modules.some((m) => m.sources.includes('link_map'));
  const placement = placementCommands(
    summary.modules.map((m) => {
      const f = matchModule(manifest, m);
      return { kind: m.kind, loadBias: m.loadBias, headersInCore: m.headersInCore, name: m.linkMapName ?? m.path ?? '?', localPath: f?.bundlePath ? path.join(root, f.bundlePath) : null };
    }),
    linkMapInCore,
  );
  // The bundle's libthread_db is native code gdb loads: only inside the sandbox, or when --no-sandbox says to.
  const bundleThreadDb = !opts.hostThreadDb && (sandbox.sandboxed || sandbox.reason === 'disabled');
  const threadDb = bundleThreadDb ? bundled.filter((f) => f.role === 'libthread_db').map((f) => path.join(root, f.bundlePath!)) : [];
  const sysroot = path.join(root, 'sysroot');
  const inputs = {
    dir: prepared.dir,
    sysroot,
    bundleDebugDir,
    hostDebugDirs,
    executable: exe ? path.join(root, exe.bundlePath) : null,
    core: path.join(root, manifest.core.bundlePath),
    libraryDirs,
    threadDb,
    // gdb's own client only where it has a network; in the sandbox it reads what corepack fetched.
    debuginfod: debuginfod !== null && !sandbox.sandboxed,
    fetchedDebugDir,
    os: summary.os,
    architecture: gdbArchitecture(summary.arch),
    lldbTriple: lldbTriple(summary.arch, summary.byteOrder, summary.os),
    placement: placement.commands,
  };
  const scripts = await (async () => {
    // Plain gdb on the original core opens the mapped data files; in the sysroot they get empty stand-ins.
    await writeStandIns(sysroot, dataMappingPaths(summary));
    return writeScripts(inputs);
  })().catch((err: unknown) => {
    throw asReplayDirError(err, prepared.dir, opts.dir === null);
  });
  const report: ReplayReport = {
    bundle: path.resolve(bundle),
    prepared,
    summary,
    executable: exe?.path ?? null,
    buildIds: checks,
    debugInfo,
    scripts,
    threadDb,
    placement: placement.commands,
    sandbox,
    debuginfod: debuginfodReport,
  };
  return {
    report,
    placed: placement.added,
    // The replay directory holds the bundle, the scripts and the links to fetched debug files; those files live in debuginfod's cache.
    readable: [prepared.dir, ...debugInfo.filter((d) => d.from === 'debuginfod' && d.debugFile).map((d) => d.debugFile!), ...opts.sourceDirs],
    env: debuginfod && !sandbox.sandboxed ? { DEBUGINFOD_URLS: debuginfod.urls.join(' ') } : undefined,
  };
}

export async function replayCommand(bundle: string, gdbArgs: readonly string[], opts: ReplayOptions, io: ReplayIo = process): Promise<number> {
  const { runsGdb } = opts;
  // Fail before a long extraction when gdb cannot run anyway.
  if (runsGdb) await (opts.lldb ? resolveLldb() : checkSomeDebugger(opts.gdb));

  const setup = await setUpReplay(bundle, opts, io);
  const { report } = setup;
  const { summary, scripts, sandbox, buildIds: checks, debuginfod: debuginfodReport } = report;
  const mismatches = checks.filter((c) => c.status === 'mismatch');

  if (!runsGdb) {
    io.stdout.write(`${JSON.stringify(reportJson(report), null, 2)}\n`);
    return mismatches.length ? EXIT.VERIFY_FAILED : EXIT.OK;
  }
  const debuggerPath = opts.lldb ? await resolveLldb() : (await chooseDebugger({ explicit: opts.gdb, arch: summary.arch, machine: summary.machine })).path;
  const launch: ScriptLaunch = {
    program: debuggerPath,
    script: opts.lldb ? scripts.lldb : scripts.gdb,
    extraArgs: gdbArgs,
    cwd: scripts.cwd,
    readable: setup.readable,
    userFiles: scriptFiles(gdbArgs),
    ...(setup.env ? { env: setup.env } : {}),
    sandbox,
  };
  if (opts.batch) {
    // The report goes to stdout here: the sandbox's absence is said on stderr too, where a person sees it.
    if (!sandbox.sandboxed) io.stderr.write(`corepack: warning: ${sandbox.description}\n`);
    for (const line of debuginfodReport?.problems ?? []) io.stderr.write(`corepack: warning: ${line}\n`);
    const result = opts.lldb ? await runLldbBatch(launch) : await runBatch(launch, { afterLibraries: placedEcho(setup.placed) });
    if (opts.json) io.stdout.write(`${JSON.stringify(reportJson(report, result), null, 2)}\n`);
    else {
      io.stdout.write(formatReport(report));
      io.stdout.write(`\n=== signal ===\n${signalLine(summary)}\n`);
      io.stdout.write(result.stdout.endsWith('\n') || result.stdout === '' ? result.stdout : `${result.stdout}\n`);
    }
    if (result.stderr.trim() && !opts.json) io.stderr.write(result.stderr.endsWith('\n') ? result.stderr : `${result.stderr}\n`);
    if (result.failure) throw new GdbFailedError(debuggerPath, result.failure);
    if (mismatches.length) {
      io.stderr.write(`corepack: ${mismatches.length} bundled file${mismatches.length === 1 ? ' does' : 's do'} not match the core (see "build IDs" above)\n`);
      return EXIT.VERIFY_FAILED;
    }
    return EXIT.OK;
  }
  io.stderr.write(formatReport(report));
  io.stderr.write('\n');
  return opts.lldb ? runLldbInteractive(launch) : runInteractive(launch);
}

/**
 * Modules given to gdb with add-symbol-file are not shared libraries to gdb,
 * so `info sharedlibrary` omits them: batch output lists them after it.
 */
function placedEcho(added: readonly PlacedModule[]): string[] {
  if (added.length === 0) return [];
  // eslint-disable-next-line no-control-regex
  const esc = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, "?").replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const lines = added.map((m) => `${hex(m.loadBias!, 16)}  placed by corepack  ${esc(m.name)}`);
  return [`echo ${['(placed from the module table: the core has no link_map)', ...lines].map((l) => `${l}\\n`).join('')}`];
}

/** The sandbox in --json: `sandboxed`, then how (`tool`, `userNamespace`) or why not (`reason`: disabled, unavailable), and the report's sentence. */
export function sandboxJson(s: SandboxState): { [key: string]: Json } {
  return s.sandboxed
    ? { sandboxed: true, tool: s.tool, userNamespace: s.userNamespace, description: s.description }
    : { sandboxed: false, reason: s.reason, description: s.description };
}

function verificationJson(checksums: readonly ChecksumResult[]): Json {
  return { ok: checksumFailures(checksums).length === 0, files: checksums as unknown as Json };
}

export function reportJson(r: ReplayReport, batch?: BatchResult): { [key: string]: Json } {
  const p = r.prepared;
  return {
    schema: REPLAY_REPORT_SCHEMA,
    ok: !r.buildIds.some((c) => c.status === 'mismatch') && !(batch?.failure ?? null),
    bundle: r.bundle,
    bundleKey: p.bundleKey,
    format: p.state.format,
    decompressor: p.state.decompressor,
    dir: p.dir,
    extractedDir: p.root,
    reused: p.reused,
    scripts: { gdb: r.scripts.gdb, lldb: r.scripts.lldb, cwd: r.scripts.cwd },
    architecture: r.summary.arch,
    placement: [...r.placement],
    executable: r.executable,
    core: { path: path.join(p.root, p.manifest.core.bundlePath), originalPath: p.manifest.core.originalPath },
    signal: signalLine(r.summary),
    crashedThread: r.summary.threads.find((t) => t.crashed)?.tid ?? null,
    verification: verificationJson(p.state.checksums),
    buildIds: { ok: !r.buildIds.some((c) => c.status === 'mismatch'), modules: r.buildIds as unknown as Json },
    debugInfo: r.debugInfo as unknown as Json,
    threadDb: r.threadDb,
    sandbox: sandboxJson(r.sandbox),
    debuginfod: r.debuginfod ? { urls: [...r.debuginfod.urls], problems: [...r.debuginfod.problems] } : null,
    notes: p.state.notes,
    collectWarnings: p.manifest.warnings,
    attachments: (p.manifest.attachments ?? []).map((a) => ({ path: a.path, extracted: path.join(p.root, a.bundlePath), size: a.size, sha256: a.sha256, linkTarget: a.linkTarget })),
    ...(batch ? { gdb: { exitCode: batch.exitCode, failure: batch.failure, stdout: batch.stdout, stderr: batch.stderr } } : {}),
  };
}

/** An attachment's original path as it can be shown on one line: quoted when it holds a control character. */
export function attachmentName(p: string): string {
  return hasControlChar(p) ? JSON.stringify(p) : p;
}

/** The short text report printed before gdb starts. */
export function formatReport(r: ReplayReport): string {
  const p = r.prepared;
  const L: string[] = [];
  const sums = p.state.checksums;
  const unchecked = sums.filter((c) => c.status === 'unchecked').length;
  L.push(`corepack replay: ${r.bundle}`);
  L.push(
    p.reused
      ? `  extracted:  ${p.root} (reused: extracted and verified earlier from a bundle with the same manifest)`
      : `  extracted:  ${p.root} (${p.state.format}, ${p.state.decompressor})`,
  );
  const others = sums.filter((c) => c.file !== 'core' && c.file !== 'manifest.json').length;
  const against = p.manifest.checksums ?? 'manifest.json';
  L.push(`  verified:   the core and ${others} file${others === 1 ? '' : 's'} match ${against} (sha256)${unchecked ? `; ${unchecked} had no checksum to compare` : ''}`);
  L.push(`  crash:      ${signalLine(r.summary)}`);
  L.push(`  executable: ${r.executable ?? '(not in the bundle)'}`);
  L.push(`  sandbox:    ${r.sandbox.description}`);
  if (p.manifest.host?.hostname) L.push(`  collected:  on ${p.manifest.host.hostname}${p.manifest.createdAt ? ` at ${p.manifest.createdAt}` : ''}`);
  const mini = r.summary.miniCore;
  if (mini) {
    const from = `${mini.cutFrom.path || 'the full core'}${mini.cutFrom.sha256 ? ` (sha256 ${mini.cutFrom.sha256})` : ''}`;
    L.push(`  mini core:  collect --stacks-only kept the stacks, registers and loader state only; heap memory is not in it (gdb: "Cannot access memory"). Ask for ${from} when it is needed`);
  }

  L.push('', 'build IDs (core vs bundle):');
  const label: Record<BuildIdCheck['status'], string> = { ok: 'ok', mismatch: 'MISMATCH', 'not-bundled': 'missing', 'no-build-id': 'unproven' };
  for (const c of r.buildIds) {
    if (c.status === 'ok') L.push(`  ${label.ok.padEnd(9)} ${c.inCore}  ${c.module}`);
    else L.push(`  ${label[c.status].padEnd(9)} ${c.message}`);
  }

  L.push('', 'debug info:');
  for (const d of r.debugInfo) {
    if (d.status === 'embedded') L.push(`  ${'embedded'.padEnd(12)} ${d.module}`);
    else if (d.status === 'separate' && d.from === 'debuginfod') L.push(`  ${'debuginfod'.padEnd(12)} ${d.module} → ${d.debugFile} (${d.url ? `fetched from ${d.url}` : "in debuginfod's cache"})`);
    else if (d.status === 'separate') L.push(`  ${'separate'.padEnd(12)} ${d.module} → ${d.debugFile} (${d.from === 'bundle' ? 'from the bundle' : 'this machine'}, by ${d.via})`);
    else if (d.status === 'not-bundled') L.push(`  ${'-'.padEnd(12)} ${d.module} (not in the bundle)`);
    else L.push(`  ${d.status.padEnd(12)} ${d.hint}`);
  }
  const attachments = p.manifest.attachments ?? [];
  if (attachments.length) {
    // The customer's logs and configuration, verified like every file; names quoted when they hold odd characters.
    L.push('', `attachments (${attachments.length}, under ${path.join(p.root, 'attachments')}):`);
    for (const a of attachments) L.push(`  ${attachmentName(a.path)}  (${a.size} bytes) → ${path.join(p.root, a.bundlePath)}`);
  }
  const notes = [...p.state.notes, ...p.manifest.warnings.map((w) => `collect: ${w}`)];
  if (r.placement.length) notes.push(`the core does not let gdb place every module (no program headers or link_map in it): the script gives the addresses from the module table (${r.placement.filter((c) => c !== 'sharedlibrary').length} command(s))`);
  if (r.threadDb.length) {
    notes.push(
      r.sandbox.sandboxed
        ? `gdb loads the bundle's libthread_db inside the sandbox (native code from the bundle; --host-thread-db uses this machine's instead)`
        : `gdb will load the bundle's libthread_db with no sandbox: native code from the bundle runs as you (--host-thread-db uses this machine's instead)`,
    );
  }
  for (const line of r.debuginfod?.problems ?? []) notes.push(line);
  if (notes.length) {
    L.push('', 'notes:');
    for (const n of notes) L.push(`  - ${n}`);
  }
  L.push('', `gdb script:  ${r.scripts.gdb}`, `lldb script: ${r.scripts.lldb}`);
  return `${L.join('\n')}\n`;
}
