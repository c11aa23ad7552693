/**
 * The crash report: plain data built once (build.ts) and rendered by each
 * format (markdown.ts, html.ts, text.ts, json.ts). Every string in it that
 * came from the core, the bundle or gdb is untrusted: formats escape it.
 */
import type { ArchName, OsName } from '../core/model.js';

/** Bumped when a field of the JSON form changes meaning or goes away (README: "The report's JSON"). */
export const REPORT_SCHEMA = 1;

/** One frame as gdb's Python API gave it (frames.ts), or the PC alone without a debugger. */
export interface ReportFrame {
  /** 0 is the innermost frame. */
  index: number;
  pc: bigint;
  /** The function gdb names (null: no symbol for the PC). */
  function: string | null;
  /** The source file as the debug info names it. */
  file: string | null;
  line: number | null;
  /** Basename of the module holding the PC ("libc.so.6"); null when no module holds it. */
  module: string | null;
  /** pc − the module's load bias: what addr2line/eu-addr2line take with the module's file. */
  offset: bigint | null;
  /** gdb inlined this frame into the next outer one. */
  inline: boolean;
  /** The kernel's signal frame (<signal handler called>). */
  signalFrame: boolean;
  /** The source line's text, when the file is at hand on this machine. */
  source: string | null;
  /** This frame stands for `repeat` identical consecutive frames (unbounded recursion); 1 otherwise. */
  repeat: number;
}

export interface ReportThread {
  tid: number;
  name: string | null;
  crashed: boolean;
  pc: bigint | undefined;
  sp: bigint | undefined;
  frames: ReportFrame[];
  /** gdb stopped listing before the outermost frame (very deep stacks). */
  truncated: boolean;
}

/** Threads whose stacks name the same functions in the same modules. */
export interface ThreadGroup {
  /** "worker → queue_pop → pthread_cond_wait": outermost to innermost, runtime glue left out. */
  label: string;
  tids: number[];
  /** Whether the crashing thread is one of them. */
  crashed: boolean;
  /** The first thread's frames (all of them are the same functions). */
  frames: ReportFrame[];
}

export type BuildIdState = 'exact' | 'replaced' | 'missing' | 'unproven' | 'not checked';
export type DebugState = 'bundled' | 'local' | 'debuginfod' | 'symbols only' | 'none' | 'unknown';

export interface ReportModule {
  name: string;
  path: string | null;
  kind: 'executable' | 'interpreter' | 'library' | 'vdso';
  start: bigint;
  end: bigint;
  loadBias: bigint | undefined;
  buildId: string | null;
  check: BuildIdState;
  debugInfo: DebugState;
}

export type RegionKind = 'module' | 'stack' | 'heap' | 'anonymous' | 'guard';

/** One stretch of the address space for the map: a module's mappings together, a stack, the heap. */
export interface MapRegion {
  start: bigint;
  end: bigint;
  kind: RegionKind;
  label: string;
  /** "r-x" style, of the segments in it (the widest). */
  perms: string;
}

export interface Provenance {
  /** What the user named. */
  input: 'bundle' | 'core';
  path: string;
  host: string | null;
  collectedAt: string | null;
  /** How the core was stored before it was read ("zstd, stored by systemd-coredump"); null: a plain file. */
  stored: string | null;
  /** How it was captured ("corepack handle at the crash"); null: from a core file. */
  captured: string | null;
  mini: boolean;
  /** Every mapped file bundled as it was at the crash; null for a bare core. */
  exact: boolean | null;
  attachments: string[];
}

export interface Signature {
  /** "cp1-" and 16 hex digits of the SHA-256 of `frames` and the signal. */
  hash: string;
  /** The frames it is made of: "function (module)", innermost first. */
  frames: string[];
  /** 'functions' with symbols; 'offsets' without a debugger (stable across ASLR, not across rebuilds). */
  basis: 'functions' | 'offsets';
}

export interface CrashReport {
  schema: typeof REPORT_SCHEMA;
  verdict: import('./verdict.js').Verdict;
  /**
   * "in crash_here at a.c:5 (a+0x1139), thread 1234 "name""; a crash inside
   * the C library is told through the program's frame: "in strlen
   * (libc.so.6+0x167ad8) called from parse_line at a.c:12 (a+0x1151), …".
   */
  where: string;
  /** What the report says first, in one sentence: the verdict's title, where, and its detail. */
  headline: string;
  signal: { signo: number; name: string | null; code: number | null; codeName: string | null; addr: bigint | undefined } | null;
  process: { pid: number | null; command: string | null; executable: string | null; arch: ArchName; os: OsName };
  crashed: ReportThread | null;
  threads: ReportThread[];
  groups: ThreadGroup[];
  modules: ReportModule[];
  map: MapRegion[];
  signature: Signature;
  provenance: Provenance;
  /** Frames came from gdb (named here), or only the core's PCs (and why). */
  symbols: { from: 'gdb'; debugger: string; sandboxed: boolean } | { from: 'core'; why: string };
  notes: string[];
}
