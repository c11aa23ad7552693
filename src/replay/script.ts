/**
 * The gdb and lldb scripts replay writes, rendered from templates/ with every
 * path made safe for the command that reads it.
 *
 * Paths come from two places: the replay directory (the user's choice; may
 * hold spaces, quotes, `$`, backslashes) and the bundle (untrusted: the
 * customer's paths). Measured with gdb 13.1 and lldb 14:
 *
 *  - gdb reads a script line by line, so the only way to inject a command is
 *    a newline (or another line break) in a path: every path with a control
 *    character is refused, here and already in parseManifest/extraction.
 *  - `set sysroot`, `set debug-file-directory`, `set solib-search-path`,
 *    `set libthread-db-search-path`, `add-auto-load-safe-path` and
 *    `core-file` take the rest of the line literally: no quoting, `"`, `$`,
 *    `'`, `` ` ``, `#`, `\` and spaces are all kept as they are (gdb runs no
 *    shell). Trailing whitespace is stripped and a leading `~` expanded: our
 *    paths are absolute and end in a name we choose.
 *  - The list settings split at `:`, so a path holding one cannot be put
 *    there: the replay directory must not contain `:`, and bundle
 *    directories with one are left out of solib-search-path (a fallback).
 *  - `file` parses its argument like a shell word (libiberty buildargv):
 *    inside double quotes, `\` escapes any character, so quoting `\` and `"`
 *    with a backslash is exact; `$`, `'` and `` ` `` are literal.
 *  - lldb: double-quoted arguments, where `\` escapes `\`, `"` and `` ` ``
 *    (backquotes would otherwise run an expression); `$` must NOT be escaped.
 *  - The core is referenced through a fixed-name symlink, DIR/.corepack/core,
 *    so its bundle-chosen name never appears in a script.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { BadOptionError } from '../util/errors.js';
import { replaceSymlink, writeFileAtomically } from '../util/atomic.js';
import { hasLineBreaker } from '../util/text.js';
import { runsAsSea, seaTemplateDir } from '../util/sea.js';
import { packageRoot } from '../util/pkgroot.js';
import { VERSION } from '../version.js';
import { UnsafeScriptPathError } from './errors.js';

/** templates/ of the package; in the single executable, its assets written out once (util/sea.ts). */
export const TEMPLATE_DIR = runsAsSea() ? seaTemplateDir() : `${packageRoot(import.meta.url)}/templates/`;

/** Throws unless `p` can go into a script line: absolute, no control characters. */
export function checkScriptPath(p: string, what: string): string {
  if (hasLineBreaker(p)) throw new UnsafeScriptPathError(what, p, 'contains a control character; it cannot be written into a gdb script safely');
  // Every path we write is absolute by construction: anything else is our bug.
  if (!path.isAbsolute(p)) throw new Error(`${what} ${JSON.stringify(p)} is not absolute`);
  return p;
}

/** The replay directory must also fit gdb's `:`-separated path lists. */
export function checkReplayDir(dir: string): string {
  checkScriptPath(dir, 'replay directory');
  if (dir.includes(':')) {
    throw new BadOptionError('--dir', dir, `replay directory ${JSON.stringify(dir)} contains ':', which gdb's path lists cannot hold`, 'pass --dir with a path without ":"');
  }
  return dir;
}

/** For commands that take the rest of the line as one path. */
export function restOfLine(p: string, what: string): string {
  checkScriptPath(p, what);
  if (p !== p.trim()) throw new UnsafeScriptPathError(what, p, 'begins or ends with whitespace, which gdb strips');
  return p;
}

/** For gdb's `:`-separated lists; entries that cannot be expressed are refused. */
export function pathList(paths: readonly string[], what: string): string {
  for (const p of paths) {
    restOfLine(p, what);
    if (p.includes(':')) throw new UnsafeScriptPathError(what, p, "contains ':'");
  }
  return paths.join(':');
}

/** A double-quoted argument for gdb's `file` (buildargv rules). */
export function gdbQuote(p: string, what: string): string {
  checkScriptPath(p, what);
  return `"${p.replace(/[\\"]/g, '\\$&')}"`;
}

/** A double-quoted argument for lldb. */
export function lldbQuote(p: string, what: string): string {
  checkScriptPath(p, what);
  return `"${p.replace(/[\\"`]/g, '\\$&')}"`;
}

/**
 * Replaces every {{name}} in `template`. Each value must be one line unless
 * the caller built it from checked lines; an unknown or unused name is a bug.
 */
export function renderTemplate(template: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([a-z_]+)\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    used.add(name);
    return v;
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (unused.length) throw new Error(`template has no placeholder for ${unused.join(', ')}`);
  return out;
}

export async function loadTemplate(name: string): Promise<string> {
  return fs.readFile(path.join(TEMPLATE_DIR, name), 'utf8');
}

export interface ScriptInputs {
  /** The replay directory (scripts and .corepack/ live here). */
  dir: string;
  /** DIR/bundle/sysroot. */
  sysroot: string;
  /** DIR/bundle/debug. */
  bundleDebugDir: string;
  hostDebugDirs: readonly string[];
  /** Absolute path of the extracted executable, or null when it is not bundled. */
  executable: string | null;
  /** Absolute path of the extracted core. */
  core: string;
  /** Directories (extracted) holding bundled libraries, for solib-search-path. */
  libraryDirs: readonly string[];
  /** Bundled libthread_db files to trust, or [] to let gdb use the host's. */
  threadDb: readonly string[];
  /** gdb's own debuginfod client may download (not sandboxed, and servers are configured). */
  debuginfod: boolean;
  /** DIR/.corepack/debuginfod: links to the debug files corepack fetched from debuginfod, or null. */
  fetchedDebugDir?: string | null;
  /** The core's OS, for lldb's platform. */
  os: string;
  /** gdb's name for the core's architecture (`set architecture`), when known. */
  architecture?: string | undefined;
  /** The triple lldb is told the core is, when known. */
  lldbTriple?: string | undefined;
  /** gdb commands after core-file that place modules gdb cannot place itself. */
  placement?: readonly string[];
}

export interface WrittenScripts {
  gdb: string;
  lldb: string;
  /**
   * DIR/.corepack/cwd, empty: gdb runs there, because it resolves a relative
   * library name ("./libplugin.so") against its working directory first.
   */
  cwd: string;
  /** DIR/.corepack/core */
  coreLink: string;
}

const LLDB_PLATFORM: Record<string, string> = { linux: 'remote-linux', freebsd: 'remote-freebsd', netbsd: 'remote-netbsd', openbsd: 'remote-openbsd' };

/** Paths from the bundle that fit a `:`-list; the others are left out of optional settings. */
const listable = (p: string) => !p.includes(':') && !hasLineBreaker(p) && p === p.trim();

/** Where debug files are looked for: the bundle's, this machine's, then what corepack fetched from debuginfod. */
function debugDirs(inp: ScriptInputs): string[] {
  return [inp.bundleDebugDir, ...inp.hostDebugDirs, ...(inp.fetchedDebugDir ? [inp.fetchedDebugDir] : [])];
}

export function renderGdbScript(template: string, inp: ScriptInputs, scriptPath: string, coreLink: string): string {
  const sysroot = restOfLine(inp.sysroot, 'sysroot');
  const libDirs = [...new Set(inp.libraryDirs)].filter(listable);
  const threadDbFiles = inp.threadDb.filter(listable);
  const threadDb = threadDbFiles.length
    ? [
        `set libthread-db-search-path ${pathList([...new Set(threadDbFiles.map((f) => path.dirname(f)))], 'libthread_db directory')}`,
        // Only these exact files: gdb refuses to load a libthread_db outside its auto-load safe-path.
        ...threadDbFiles.map((f) => `add-auto-load-safe-path ${pathList([f], 'libthread_db')}`),
      ].join('\n')
    : '# (none bundled, or --host-thread-db: gdb uses this machine\'s libthread_db)';
  return renderTemplate(template, {
    version: VERSION,
    script_path_comment: restOfLine(scriptPath, 'script path'),
    debuginfod: inp.debuginfod ? 'set debuginfod enabled on' : 'set debuginfod enabled off',
    sysroot,
    solib_search_path: pathList(libDirs, 'library directory'),
    debug_file_directory: pathList(debugDirs(inp), 'debug directory'),
    thread_db: threadDb,
    architecture: inp.architecture && /^[A-Za-z0-9:_.-]+$/.test(inp.architecture) ? `set architecture ${inp.architecture}` : '# (architecture: taken from the executable and the core)',
    file_command: inp.executable ? `file ${gdbQuote(inp.executable, 'executable')}` : '# The executable is not in the bundle: load a copy with `file PATH`.',
    core: restOfLine(coreLink, 'core'),
    placement: inp.placement?.length
      ? ['# The core does not say where these are (headers or link_map not dumped): the module table does.', ...inp.placement].join('\n')
      : '# (gdb places every module from the core itself)',
  });
}

export function renderLldbScript(template: string, inp: ScriptInputs, scriptPath: string, coreLink: string): string {
  const core = lldbQuote(coreLink, 'core');
  return renderTemplate(template, {
    version: VERSION,
    script_path_comment: restOfLine(scriptPath, 'script path'),
    debug_file_search_paths: debugDirs(inp).map((d) => lldbQuote(d, 'debug directory')).join(' '),
    sysroot: lldbQuote(inp.sysroot, 'sysroot'),
    platform: LLDB_PLATFORM[inp.os] ?? 'remote-linux',
    target_create: `target create${inp.lldbTriple && /^[A-Za-z0-9_.-]+$/.test(inp.lldbTriple) ? ` --arch ${inp.lldbTriple}` : ''} --core ${core}${inp.executable ? ` ${lldbQuote(inp.executable, 'executable')}` : ''}`,
  });
}

/** Writes DIR/replay.gdb, DIR/replay.lldb and the DIR/.corepack/core link. */
export async function writeScripts(inp: ScriptInputs): Promise<WrittenScripts> {
  checkReplayDir(inp.dir);
  const stateDir = path.join(inp.dir, '.corepack');
  await fs.mkdir(stateDir, { recursive: true });
  const coreLink = path.join(stateDir, 'core');
  await replaceSymlink(path.relative(stateDir, inp.core), coreLink);
  const gdb = path.join(inp.dir, 'replay.gdb');
  const lldb = path.join(inp.dir, 'replay.lldb');
  await writeFileAtomically(gdb, renderGdbScript(await loadTemplate('replay.gdb'), inp, gdb, coreLink));
  await writeFileAtomically(lldb, renderLldbScript(await loadTemplate('replay.lldb'), inp, lldb, coreLink));
  const cwd = path.join(stateDir, 'cwd');
  await fs.rm(cwd, { recursive: true, force: true });
  await fs.mkdir(cwd, { mode: 0o755 });
  return { gdb, lldb, coreLink, cwd };
}
