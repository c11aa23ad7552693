/**
 * The kernel's `core_pattern` (core(5)), read and written the way the kernel
 * reads it: a plain pattern is a file name relative to the crashing process's
 * working directory (an absolute one to its root); `|program args` starts a
 * handler with the core on its standard input. Since Linux 5.3 the kernel
 * splits a pipe pattern at spaces *before* expanding the `%` specifiers, so
 * an expanded value (a command name with a space) stays one argument.
 *
 * Pure functions: which specifiers a pattern uses, expanding one with the
 * values a crash gave, and the line that installs corepack's handler.
 */

/** The specifiers of core(5) and what each stands for. */
export const SPECIFIERS = {
  c: 'RLIMIT_CORE soft limit of the crashed process',
  d: 'dump mode (the value of /proc/sys/fs/suid_dumpable at the crash)',
  e: 'the process\'s command name (comm)',
  E: 'the executable\'s path, with / as !',
  f: 'the executable\'s file name',
  F: 'a pidfd of the crashed process',
  g: 'numeric real GID',
  h: 'hostname',
  i: 'TID of the thread that triggered the dump, in its PID namespace',
  I: 'TID of that thread in the initial PID namespace',
  p: 'PID, in its PID namespace',
  P: 'PID in the initial PID namespace',
  s: 'the signal that caused the dump',
  t: 'time of the dump, seconds since the epoch',
  u: 'numeric real UID',
} as const;

export type Specifier = keyof typeof SPECIFIERS;
export type SpecifierValues = Partial<Record<Specifier, string>>;

/** The kernel's buffer for core_pattern is 128 bytes with its NUL (CORENAME_MAX_SIZE). */
export const MAX_PATTERN_LENGTH = 127;

/** What corepack's handler itself needs from the kernel, whatever the previous pattern uses. */
export const HANDLER_SPECIFIERS: readonly Specifier[] = ['P', 'p', 'i', 's', 'c', 'd', 't', 'u', 'g', 'e'];

export type ParsedPattern =
  | { kind: 'pipe'; /** The program and its arguments, split at spaces, specifiers not yet expanded. */ argv: string[] }
  | { kind: 'file'; template: string };

export function parsePattern(pattern: string): ParsedPattern {
  const line = pattern.replace(/\n$/, '');
  if (line.startsWith('|')) return { kind: 'pipe', argv: line.slice(1).split(' ').filter((a) => a !== '') };
  // An empty pattern is the kernel's default, "core".
  return { kind: 'file', template: line === '' ? 'core' : line };
}

/** The specifiers `pattern` uses (%% is a literal %). */
export function specifiersOf(pattern: string): Specifier[] {
  const out = new Set<Specifier>();
  for (let i = 0; i < pattern.length - 1; i++) {
    if (pattern[i] !== '%') continue;
    const c = pattern[++i]!;
    if (c in SPECIFIERS) out.add(c as Specifier);
  }
  return [...out];
}

/**
 * Expands the specifiers of one pattern piece with `values`, as the kernel
 * does: %% is %, an unknown specifier is dropped, a lone % at the end too.
 */
export function expandSpecifiers(template: string, values: SpecifierValues): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const s = template[++i];
    if (s === undefined) break;
    if (s === '%') out += '%';
    else if (s in SPECIFIERS) out += values[s as Specifier] ?? '';
  }
  return out;
}

/** The argv of a previous pipe handler, for the crash `values` describe. */
export function expandPipe(argv: readonly string[], values: SpecifierValues): string[] {
  return argv.map((a) => expandSpecifiers(a, values));
}

/**
 * The file a plain pattern names for a crash, as the kernel builds it:
 * `core_uses_pid` appends `.PID` when the pattern has no %p of its own.
 */
export function expandFile(template: string, values: SpecifierValues, coreUsesPid: boolean): string {
  let name = expandSpecifiers(template, values);
  if (coreUsesPid && !specifiersOf(template).includes('p')) name += `.${values.p ?? ''}`;
  return name;
}

/**
 * The core_pattern line that starts corepack's handler: `|EXE handle X=%X …`
 * for every specifier the handler or the previous pattern needs, so that the
 * handler can hand the previous one exactly the arguments the kernel would
 * have. Each value travels as its own `X=value` argument.
 */
export function handlerPattern(exe: string, previous: string): string {
  const wanted = new Set<Specifier>(HANDLER_SPECIFIERS);
  for (const s of specifiersOf(previous)) wanted.add(s);
  return `|${exe} handle ${[...wanted].map((s) => `${s}=%${s}`).join(' ')}`;
}

/** The `X=value` arguments the handler was started with, back into values; anything else is named. */
export function parseHandlerArgs(args: readonly string[]): { values: SpecifierValues; unknown: string[] } {
  const values: SpecifierValues = {};
  const unknown: string[] = [];
  for (const a of args) {
    const m = /^([A-Za-z])=(.*)$/s.exec(a);
    if (m && m[1]! in SPECIFIERS) values[m[1] as Specifier] = m[2]!;
    else unknown.push(a);
  }
  return { values, unknown };
}

/** True when `pattern` is a line corepack's handler installed (its program, then `handle`). */
export function isHandlerPattern(pattern: string, exe?: string): boolean {
  const p = parsePattern(pattern);
  return p.kind === 'pipe' && p.argv[1] === 'handle' && (exe === undefined || p.argv[0] === exe);
}
