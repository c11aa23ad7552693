/**
 * The handler's configuration (default /etc/corepack/handler.json): the
 * options collect takes on its command line, plus what only a crash-time
 * handler needs (where the spool is, how much it may hold, rate limits,
 * deadlines, when to chain to the previous pattern). Read and validated
 * once per crash; every problem is named, all at once, with the key it is
 * about, so one edit fixes the file.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { formatForName, supportedExtensions, type FormatInfo } from '../bundle/formats.js';
import { parseSize } from '../util/size.js';
import { DEFAULT_ATTACH_MAX_BYTES } from '../collect/limits.js';
import { HandlerConfigError } from './errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/corepack/handler.json';
/** Where the handler keeps its state (install's record, the captures log, rate slots) unless $COREPACK_STATE_DIR says otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/corepack';

export interface HandlerConfig {
  /** Absolute; created root-only (0700) when missing. */
  spool: string;
  /** The bundle format, as an output name's extension picks it. */
  format: FormatInfo;
  stacksOnly: boolean;
  stackCap: number | null;
  /** age1… recipients, and files of them (absolute). */
  encryptTo: string[];
  recipientsFiles: string[];
  attach: string[];
  attachMax: number;
  split: number | null;
  /** Which executables are bundled: globs on the executable's path (a pattern without / matches the base name). */
  include: string[];
  exclude: string[];
  /** 'always': the core also goes where the previous pattern sent it; 'on-failure': only when no bundle was made. */
  chain: 'always' | 'on-failure';
  rateLimit: { perExecutable: number; overall: number; windowSeconds: number };
  /** The spool's cap, in bytes: over it, no new bundle (the core is passed on). */
  spoolMaxBytes: number;
  /** The whole capture's deadline: past it the bundle is given up and the core passed on. */
  timeoutMs: number;
}

const KEYS = ['spool', 'format', 'stacksOnly', 'stackCap', 'encryptTo', 'recipientsFile', 'attach', 'attachMax', 'split', 'executables', 'chain', 'rateLimit', 'spoolMaxBytes', 'timeoutSeconds'] as const;

export function defaultConfig(stateDir: string): HandlerConfig {
  return {
    spool: `${stateDir}/spool`,
    format: formatForName('x.tar.zst')!,
    stacksOnly: false,
    stackCap: null,
    encryptTo: [],
    recipientsFiles: [],
    attach: [],
    attachMax: DEFAULT_ATTACH_MAX_BYTES,
    split: null,
    include: ['*'],
    exclude: [],
    chain: 'always',
    rateLimit: { perExecutable: 5, overall: 20, windowSeconds: 60 },
    spoolMaxBytes: 2 * 1024 ** 3,
    timeoutMs: 120_000,
  };
}

/**
 * Checks a parsed configuration object; throws a HandlerConfigError listing
 * every problem. `file` names it in messages.
 */
export function validateConfig(raw: unknown, file: string, stateDir: string): HandlerConfig {
  const c = defaultConfig(stateDir);
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HandlerConfigError(file, ['is not a JSON object']);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!(KEYS as readonly string[]).includes(k)) problems.push(`unknown key "${k}" (known: ${KEYS.join(', ')})`);
  const str = (k: string): string | undefined => {
    if (o[k] === undefined || o[k] === null) return undefined;
    if (typeof o[k] === 'string') return o[k];
    problems.push(`"${k}" must be a string`);
    return undefined;
  };
  const strings = (k: string): string[] | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    problems.push(`"${k}" must be a string or a list of strings`);
    return undefined;
  };
  const bool = (k: string): boolean | undefined => {
    if (o[k] === undefined) return undefined;
    if (typeof o[k] === 'boolean') return o[k];
    problems.push(`"${k}" must be true or false`);
    return undefined;
  };
  const size = (k: string, min: number): number | null | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (v === null) return null;
    const n = typeof v === 'number' && Number.isSafeInteger(v) ? v : typeof v === 'string' ? parseSize(v) : undefined;
    if (n === undefined) problems.push(`"${k}" must be a size such as "25M" or a number of bytes, not ${JSON.stringify(v)}`);
    else if (n < min) problems.push(`"${k}" must be at least ${min} bytes`);
    else return n;
    return undefined;
  };
  const positive = (where: Record<string, unknown>, k: string, label: string): number | undefined => {
    const v = where[k];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    problems.push(`"${label}" must be a whole number ≥ 0`);
    return undefined;
  };

  const spool = str('spool');
  if (spool !== undefined) {
    if (!isAbsolute(spool)) problems.push(`"spool" must be an absolute path, not ${JSON.stringify(spool)}`);
    else c.spool = spool.replace(/\/+$/, '') || '/';
  }
  const format = str('format');
  if (format !== undefined) {
    const f = formatForName(`bundle.${format.replace(/^\./, '')}`);
    if (!f) problems.push(`"format" ${JSON.stringify(format)} is not a bundle format (one of: ${supportedExtensions()})`);
    else c.format = f;
  }
  c.stacksOnly = bool('stacksOnly') ?? c.stacksOnly;
  const cap = size('stackCap', 4096);
  if (cap !== undefined) c.stackCap = cap;
  if (c.stackCap !== null && !c.stacksOnly) problems.push('"stackCap" applies to mini cores only: set "stacksOnly": true');
  c.encryptTo = strings('encryptTo') ?? [];
  for (const r of c.encryptTo) if (!/^age1[0-9a-z]+$/.test(r)) problems.push(`"encryptTo" ${JSON.stringify(r)} is not an age recipient (age1…)`);
  c.recipientsFiles = strings('recipientsFile') ?? [];
  for (const f of c.recipientsFiles) if (!isAbsolute(f)) problems.push(`"recipientsFile" must be an absolute path, not ${JSON.stringify(f)}`);
  c.attach = strings('attach') ?? [];
  for (const a of c.attach) if (!isAbsolute(a)) problems.push(`"attach" patterns must be absolute (the handler runs in /), not ${JSON.stringify(a)}`);
  c.attachMax = size('attachMax', 0) ?? c.attachMax;
  const split = size('split', 1024);
  if (split !== undefined) c.split = split;
  const ex = o.executables;
  if (ex !== undefined) {
    if (typeof ex !== 'object' || ex === null || Array.isArray(ex)) problems.push('"executables" must be an object: { "include": [globs], "exclude": [globs] }');
    else {
      const e = ex as Record<string, unknown>;
      for (const k of Object.keys(e)) if (k !== 'include' && k !== 'exclude') problems.push(`unknown key "executables.${k}" (known: include, exclude)`);
      for (const k of ['include', 'exclude'] as const) {
        const v = e[k];
        if (v === undefined) continue;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) problems.push(`"executables.${k}" must be a list of glob patterns`);
        else c[k] = v as string[];
      }
    }
  }
  const chain = str('chain');
  if (chain !== undefined) {
    if (chain !== 'always' && chain !== 'on-failure') problems.push(`"chain" must be "always" or "on-failure", not ${JSON.stringify(chain)}`);
    else c.chain = chain;
  }
  const rl = o.rateLimit;
  if (rl !== undefined) {
    if (typeof rl !== 'object' || rl === null || Array.isArray(rl)) problems.push('"rateLimit" must be an object: { "perExecutable": N, "overall": N, "windowSeconds": N }');
    else {
      const r = rl as Record<string, unknown>;
      for (const k of Object.keys(r)) if (!['perExecutable', 'overall', 'windowSeconds'].includes(k)) problems.push(`unknown key "rateLimit.${k}" (known: perExecutable, overall, windowSeconds)`);
      c.rateLimit.perExecutable = positive(r, 'perExecutable', 'rateLimit.perExecutable') ?? c.rateLimit.perExecutable;
      c.rateLimit.overall = positive(r, 'overall', 'rateLimit.overall') ?? c.rateLimit.overall;
      const w = positive(r, 'windowSeconds', 'rateLimit.windowSeconds');
      if (w === 0) problems.push('"rateLimit.windowSeconds" must be at least 1');
      else if (w !== undefined) c.rateLimit.windowSeconds = w;
    }
  }
  const cap2 = size('spoolMaxBytes', 0);
  if (cap2 === null) problems.push('"spoolMaxBytes" must be a size');
  else if (cap2 !== undefined) c.spoolMaxBytes = cap2;
  const t = o.timeoutSeconds;
  if (t !== undefined) {
    if (typeof t !== 'number' || !(t > 0) || t > 3600) problems.push('"timeoutSeconds" must be a number of seconds between 0 and 3600');
    else c.timeoutMs = Math.round(t * 1000);
  }
  if (problems.length) throw new HandlerConfigError(file, problems);
  return c;
}

/** Reads and validates the configuration at `file`; a missing file means every default. */
export async function loadConfig(file: string, stateDir: string): Promise<HandlerConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return defaultConfig(stateDir);
    throw new HandlerConfigError(file, [`cannot be read (${(err as Error).message})`], { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HandlerConfigError(file, [`is not valid JSON (${(err as Error).message})`], { cause: err });
  }
  return validateConfig(raw, file, stateDir);
}

/** A glob (`*`, `**`, `?`) as a regular expression over a whole path. */
function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Whether the executable at `path` is to be bundled: a pattern without / is matched against its base name. */
export function wantsExecutable(config: Pick<HandlerConfig, 'include' | 'exclude'>, path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const matches = (g: string): boolean => globRegExp(g).test(g.includes('/') ? path : base);
  return config.include.some(matches) && !config.exclude.some(matches);
}
