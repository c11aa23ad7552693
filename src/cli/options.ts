/**
 * Each command's options, normalised once at the edge (the way node-tar's
 * dealias + validate and execa's handleOptions do it): aliases renamed, every
 * default set in one destructuring, values checked and paths resolved. What
 * comes out is complete, so the domain code takes it as it is and holds no
 * defaults of its own. (inspect's one flag is normalised in inspect.ts, so
 * that inspect does not load the bundle and replay modules this file needs.)
 */
import { statSync } from 'node:fs';
import * as path from 'node:path';
import { BadOptionError } from '../util/errors.js';
import { DEFAULT_DEBUG_DIR } from '../util/debugfiles.js';
import { HOST_ROOT, rootAt } from '../util/rootfs.js';
import { DEFAULT_EXTENSION, formatForName, supportedExtensions } from '../bundle/formats.js';
import type { CollectOptions } from '../collect/collect.js';
import { DEFAULT_ATTACH_MAX_BYTES } from '../collect/limits.js';
import type { OutputLayers } from '../bundle/output.js';
import { MIN_PART_SIZE } from '../bundle/split.js';
import { parseSize } from '../util/size.js';
import { AGE_EXTENSION } from '../bundle/encrypt.js';
import { normalizeKeySources, passphraseSource, type KeySources } from './keys.js';
import type { PassphraseSource } from './passphrase.js';
import { checkReplayDir } from '../replay/script.js';
import { DEBUGGER_FILE_OPTIONS } from '../replay/gdb.js';
import { DEFAULT_DEBUGINFOD_TIMEOUT_S, debuginfodCacheDir, type DebuginfodConfig } from '../replay/debuginfod.js';
import { withoutStoredSuffix } from '../input/form.js';

/** `collect`'s flags as commander hands them over. */
export interface CollectFlags {
  exe?: string | undefined;
  root?: string | undefined;
  output?: string | undefined;
  withDebug?: boolean | undefined;
  debugDir?: string | undefined;
  json?: boolean | undefined;
  /** --split SIZE: parts of at most SIZE bytes (K, M, G suffixes). */
  split?: string | undefined;
  /** --attach GLOB, repeatable. */
  attach?: string[] | undefined;
  /** --attach-max SIZE: the per-file cap. */
  attachMax?: string | undefined;
  /** --encrypt-to RECIPIENT, repeatable. */
  encryptTo?: string[] | undefined;
  /** --recipients-file FILE, repeatable. */
  recipientsFile?: string[] | undefined;
  passphrase?: boolean | undefined;
  passphraseFile?: string | undefined;
  /** --latest [NAME]: the newest core `list` finds, of executable NAME if a string (resolved before normalising). */
  latest?: boolean | string | undefined;
  stacksOnly?: boolean | undefined;
  /** --stack-cap SIZE, as typed ("256K"). */
  stackCap?: string | undefined;
}

export interface CollectCommandOptions {
  collect: CollectOptions;
  json: boolean;
  /** Whom to encrypt for; cli/collect.ts reads the files and the passphrase and sets collect.layers.encrypt. */
  encryption: EncryptionRequest | null;
}

export interface EncryptionRequest {
  recipients: string[];
  /** Absolute. */
  recipientsFiles: string[];
  passphrase: PassphraseSource | null;
}

export function normalizeCollectOptions(core: string, flags: CollectFlags, cwd: string = process.cwd(), defaultExtension: string = DEFAULT_EXTENSION): CollectCommandOptions {
  const corePath = path.resolve(cwd, core);
  // The bundle is named for the core as it was found, less the suffix of the form it was stored in.
  const coreName = withoutStoredSuffix(path.basename(corePath));
  const { exe, root, output = `${coreName}${defaultExtension}`, withDebug = false, debugDir, json = false, stacksOnly = false, stackCap, encryptTo = [], recipientsFile = [], attachMax } = flags;
  const passphrase = passphraseSource(flags, cwd);
  if (passphrase && (encryptTo.length || recipientsFile.length)) {
    throw new BadOptionError('--passphrase', '', 'age encrypts either to recipients or with a passphrase, not both', 'pass --encrypt-to/--recipients-file, or --passphrase');
  }
  const encryption = encryptTo.length || recipientsFile.length || passphrase ? { recipients: encryptTo, recipientsFiles: recipientsFile.map((f) => path.resolve(cwd, f)), passphrase } : null;
  // -o NAME.tbz2.age names the encrypted file; the bundle inside is NAME.tbz2.
  if (output.toLowerCase().endsWith(AGE_EXTENSION) && !encryption) throw new BadOptionError('-o', output, `${path.basename(output)} names an encrypted bundle, but no recipient was given`, 'pass --encrypt-to age1… (or --passphrase), or name the output without .age');
  const out = path.resolve(cwd, encryption && output.toLowerCase().endsWith(AGE_EXTENSION) ? output.slice(0, -AGE_EXTENSION.length) : output);
  const format = formatForName(out);
  if (!format) throw new BadOptionError('-o', output, `cannot tell the bundle format from the name ${path.basename(out)}`, `name the output with one of: ${supportedExtensions()}`);
  if (out === corePath) throw new BadOptionError('-o', output, 'the output would overwrite the core', 'choose another -o name');
  if (stackCap !== undefined && !stacksOnly) throw new BadOptionError('--stack-cap', stackCap, '--stack-cap applies to mini cores only', 'add --stacks-only');
  const miniCore = stacksOnly ? { stackCap: stackCap === undefined ? null : parseStackCap(stackCap) } : null;
  const layers: OutputLayers = { splitBytes: flags.split === undefined ? null : splitBytes(flags.split), encrypt: null };
  return {
    collect: {
      core: corePath,
      executable: exe === undefined ? null : path.resolve(cwd, exe),
      root: root === undefined ? HOST_ROOT : rootAt(path.resolve(cwd, root)),
      output: out,
      format,
      withDebug,
      // Unnamed: the root's own /usr/lib/debug (the host's without --root), chosen once the root is known.
      debugDir: debugDir === undefined ? null : path.resolve(cwd, debugDir),
      attach: { patterns: flags.attach ?? [], maxBytes: attachMax === undefined ? DEFAULT_ATTACH_MAX_BYTES : sizeOption('--attach-max', attachMax, 0), cwd },
      miniCore,
      layers,
    },
    json,
    encryption,
  };
}

/** Smallest --stack-cap: below a page a stack keeps hardly one frame. */
const MIN_STACK_CAP = 4096;
/** "262144", "256K", "1M", "1MiB" → bytes (util/size.ts reads it, as every size). */
export function parseStackCap(text: string): number {
  const bytes = parseSize(text);
  if (bytes === undefined) throw new BadOptionError('--stack-cap', text, `--stack-cap ${text} is not a size`, 'give bytes, or a number with K, M or G (e.g. 256K)');
  if (bytes < MIN_STACK_CAP) throw new BadOptionError('--stack-cap', text, `--stack-cap ${text} is smaller than ${MIN_STACK_CAP} bytes`, 'a useful cap keeps a few frames: 64K or more');
  return bytes;
}

/** A SIZE option in bytes (K, M, G: powers of 1024), at least `min`. */
function sizeOption(option: string, text: string, min: number): number {
  const n = parseSize(text);
  if (n === undefined) throw new BadOptionError(option, text, `${option} takes a size such as 25M, not ${JSON.stringify(text)}`, `pass a number of bytes with an optional K, M or G (powers of 1024), e.g. ${option} 25M`);
  if (n < min) throw new BadOptionError(option, text, `${option} ${text} is smaller than the smallest ${option === '--split' ? 'part' : 'size'}, ${min} bytes`, `pass a larger size, e.g. ${option} 25M`);
  return n;
}

/** --split's SIZE in bytes: at least MIN_PART_SIZE. */
function splitBytes(text: string): number {
  return sizeOption('--split', text, MIN_PART_SIZE);
}

/** `replay`'s flags as commander hands them over. */
export interface ReplayFlags {
  dir?: string | undefined;
  batch?: boolean | undefined;
  json?: boolean | undefined;
  gdb?: string | undefined;
  hostThreadDb?: boolean | undefined;
  /** commander's --no-sandbox: false when given. */
  sandbox?: boolean | undefined;
  debuginfod?: string[] | undefined;
  lldb?: boolean | undefined;
  source?: string[] | undefined;
  identity?: string[] | undefined;
  passphrase?: boolean | undefined;
  passphraseFile?: string | undefined;
}

export interface ReplayOptions {
  /** The replay directory, absolute and checked; null: the bundle's cache directory. */
  dir: string | null;
  batch: boolean;
  json: boolean;
  /** Whether gdb runs at all: --json alone only reports. */
  runsGdb: boolean;
  /** --gdb: a path, or a name looked up on PATH; null: the gdb for the core's architecture. */
  gdb: string | null;
  /** --host-thread-db: do not load the bundle's libthread_db (native code from the bundle). */
  hostThreadDb: boolean;
  /** The developer's debug-file-directory list. */
  hostDebugDirs: readonly string[];
  /** Run the debugger in the bubblewrap sandbox (false: --no-sandbox). */
  sandbox: boolean;
  /** --lldb: the debugger is lldb, on DIR/replay.lldb, instead of gdb. */
  lldb: boolean;
  /** --source DIR: source trees the debugger may read (inside the sandbox, read-only), absolute. */
  sourceDirs: readonly string[];
  /** debuginfod servers to ask for missing debug info (--debuginfod, else DEBUGINFOD_URLS), and where the files go; null: none. */
  debuginfod: DebuginfodConfig | null;
  /** Identities and passphrase for an encrypted bundle. */
  keys: KeySources;
}

export function normalizeReplayOptions(flags: ReplayFlags, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): ReplayOptions {
  const { dir, batch = false, json = false, gdb = null, hostThreadDb = false, sandbox = true, debuginfod, lldb = false, source = [] } = flags;
  if (lldb && gdb !== null) throw new BadOptionError('--gdb', gdb, '--gdb and --lldb name two debuggers', 'pass one of them');
  const sourceDirs = source.map((d) => {
    const abs = path.resolve(cwd, d);
    if (!isDirectory(abs)) throw new BadOptionError('--source', d, `--source ${JSON.stringify(d)} is not a directory`, 'pass the directory that holds the program\'s sources');
    return abs;
  });
  return {
    dir: dir === undefined ? null : checkReplayDir(path.resolve(cwd, dir)),
    batch,
    json,
    runsGdb: batch || !json,
    gdb,
    hostThreadDb,
    hostDebugDirs: [DEFAULT_DEBUG_DIR],
    sandbox,
    lldb,
    sourceDirs,
    debuginfod: debuginfodConfig(debuginfod, env),
    keys: normalizeKeySources(flags, env, cwd),
  };
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The debuginfod servers: --debuginfod URL (repeatable) replaces
 * DEBUGINFOD_URLS (space-separated, as libdebuginfod reads it). Only http(s)
 * URLs are asked; another scheme in DEBUGINFOD_URLS is left to gdb's own
 * client, on --debuginfod it is a bad option. The cache and the timeout are
 * libdebuginfod's (DEBUGINFOD_CACHE_PATH, DEBUGINFOD_TIMEOUT), so gdb finds
 * what corepack fetched.
 */
export function debuginfodConfig(option: readonly string[] | undefined, env: NodeJS.ProcessEnv): DebuginfodConfig | null {
  const isHttp = (u: string) => /^https?:\/\/[^/\s]/i.test(u);
  let urls: string[];
  if (option !== undefined && option.length > 0) {
    for (const u of option) {
      if (!isHttp(u)) throw new BadOptionError('--debuginfod', u, `--debuginfod ${JSON.stringify(u)} is not an http:// or https:// URL`, 'pass the server\'s URL, e.g. --debuginfod http://127.0.0.1:8002');
    }
    urls = [...option];
  } else {
    urls = (env.DEBUGINFOD_URLS ?? '').split(/\s+/).filter(isHttp);
  }
  if (urls.length === 0) return null;
  const seconds = Number(env.DEBUGINFOD_TIMEOUT);
  return {
    urls: urls.map((u) => u.replace(/\/+$/, '')),
    cacheDir: debuginfodCacheDir(env),
    timeoutMs: (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_DEBUGINFOD_TIMEOUT_S) * 1000,
  };
}

/**
 * The arguments after `--`, for gdb. gdb runs in an empty directory inside
 * the replay directory (so that a relative link_map name cannot reach a file
 * of the developer's), so a script named by a relative path is made absolute
 * against the directory corepack was started in, where the user meant it.
 */
export function normalizeGdbArgs(args: readonly string[], cwd: string = process.cwd()): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--?([a-zA-Z-]+)(?:=(.*))?$/.exec(arg);
    if (m && DEBUGGER_FILE_OPTIONS.has(m[1]!)) {
      if (m[2] !== undefined) {
        out.push(`${arg.slice(0, arg.indexOf('='))}=${path.resolve(cwd, m[2])}`);
        continue;
      }
      if (i + 1 < args.length) {
        out.push(arg, path.resolve(cwd, args[++i]!));
        continue;
      }
    }
    out.push(arg);
  }
  return out;
}
