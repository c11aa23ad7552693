/**
 * Building the report from what is known about a crash: the core (its
 * summary and memory), gdb's frames when a debugger ran, the modules' checks
 * and where the crash came from. Formats only render what this returns.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { CoreMemory } from '../core/memory.js';
import type { CoreSummary, Module } from '../core/model.js';
import { locate, moduleLabel } from '../core/json.js';
import { hex } from '../util/text.js';
import type { GdbFrames, GdbThread } from './frames.js';
import { addressMap } from './map.js';
import { REPORT_SCHEMA, type BuildIdState, type CrashReport, type DebugState, type Provenance, type ReportFrame, type ReportModule, type ReportThread } from './model.js';
import { callerFrame, canonicalFunction, foldRepeats, groupThreads, signatureOf, whereFrame } from './stacks.js';
import { verdictOf, type MemorySegment, type Verdict } from './verdict.js';
import { oneLine } from './lines.js';

export interface ModuleState {
  check: BuildIdState;
  debugInfo: DebugState;
}

export interface ReportInputs {
  summary: CoreSummary;
  memory: CoreMemory;
  /** gdb's frames, or why there are none. */
  debugger: { frames: GdbFrames; program: string; sandboxed: boolean } | { why: string };
  moduleState: (m: Module) => ModuleState;
  provenance: Provenance;
  /** --source directories: source lines are read from these, besides the paths the debug info names. */
  sourceDirs: readonly string[];
  notes: readonly string[];
}

/** Files read for source lines: text of a plausible size. */
const MAX_SOURCE_BYTES = 8 * 1024 * 1024;
/** Only source files are read for their lines: a debug info path may name any file on this machine. */
const SOURCE_EXTENSIONS = /\.(?:c|cc|cpp|cxx|c\+\+|h|hh|hpp|hxx|inl|ipp|m|mm|rs|go|zig|d|f|f90|s|S|asm)$/i;

export class SourceLines {
  private readonly files = new Map<string, Promise<string[] | null>>();
  constructor(private readonly dirs: readonly string[]) {}

  private candidates(file: string | null, fullname: string | null): string[] {
    const out: string[] = [];
    if (fullname && path.isAbsolute(fullname)) out.push(fullname);
    for (const d of this.dirs) {
      for (const name of [file, fullname]) {
        if (!name) continue;
        const rel = path.normalize(name).replace(/^(\.\.\/|\/)+/, '');
        out.push(path.join(d, rel), path.join(d, path.basename(name)));
      }
    }
    return out.filter((p) => SOURCE_EXTENSIONS.test(p));
  }

  private load(p: string): Promise<string[] | null> {
    let got = this.files.get(p);
    if (!got) {
      got = (async () => {
        const st = await fs.stat(p).catch(() => undefined);
        if (!st?.isFile() || st.size > MAX_SOURCE_BYTES) return null;
        return (await fs.readFile(p, 'utf8').catch(() => null))?.split('\n') ?? null;
      })();
      this.files.set(p, got);
    }
    return got;
  }

  async line(file: string | null, fullname: string | null, line: number | null): Promise<string | null> {
    if (line === null) return null;
    for (const p of this.candidates(file, fullname)) {
      const lines = await this.load(p);
      if (lines && line <= lines.length) return lines[line - 1]!.slice(0, 500);
    }
    return null;
  }
}

function moduleOffsetOf(modules: readonly Module[], pc: bigint): { module: string | null; offset: bigint | null } {
  const at = locate(modules, pc);
  if (!at) return { module: null, offset: null };
  return { module: moduleLabel(at.module), offset: pc - (at.module.loadBias ?? at.module.start) };
}

async function framesOf(t: GdbThread, modules: readonly Module[], sources: SourceLines): Promise<ReportFrame[]> {
  const out: ReportFrame[] = [];
  for (const [index, f] of t.frames.entries()) {
    out.push({
      index,
      pc: f.pc,
      function: f.function,
      file: f.file,
      line: f.line,
      ...moduleOffsetOf(modules, f.pc),
      inline: f.inline,
      signalFrame: f.signalFrame,
      source: await sources.line(f.file, f.fullname, f.line),
      repeat: 1,
    });
  }
  return foldRepeats(out);
}

/** Without a debugger: the PC, as module+offset. */
function pcFrame(pc: bigint | undefined, modules: readonly Module[]): ReportFrame[] {
  if (pc === undefined) return [];
  return [{ index: 0, pc, function: null, file: null, line: null, ...moduleOffsetOf(modules, pc), inline: false, signalFrame: false, source: null, repeat: 1 }];
}

/** glibc's `struct abort_msg_s *__abort_msg` ({ unsigned int size; char msg[]; }), read from the core's memory. */
export async function readAbortMessage(memory: CoreMemory, symbol: bigint, shape: { elfClass: 32 | 64; byteOrder: 'little' | 'big' }): Promise<string | undefined> {
  const word = shape.elfClass / 8;
  const p = await memory.read(symbol, word);
  if (!p) return undefined;
  const le = shape.byteOrder === 'little';
  const ptr = word === 8 ? (le ? p.readBigUInt64LE(0) : p.readBigUInt64BE(0)) : BigInt(le ? p.readUInt32LE(0) : p.readUInt32BE(0));
  if (ptr === 0n) return undefined;
  const msg = await memory.readCString(ptr + 4n, 4096);
  return msg === undefined || msg === '' ? undefined : msg;
}

/** "crash_here at a.c:5 (a+0x1139)": a frame as the where line names it. */
function frameText(f: ReportFrame): string {
  const mod = f.module ? `${f.module}+${f.offset === null ? '?' : hex(f.offset)}` : `pc ${hex(f.pc)}, in no module`;
  if (f.function === null) return `${mod} (no symbols)`;
  const at = f.file !== null ? ` at ${f.file}${f.line !== null ? `:${f.line}` : ''}` : '';
  return `${f.function}${at} (${mod})`;
}

function whereText(t: ReportThread | null): string {
  if (!t) return 'no thread recorded the crash';
  const f = whereFrame(t.frames);
  const thread = `thread ${t.tid}${t.name ? ` "${oneLine(t.name)}"` : ''}`;
  if (!f) return `in ${thread} (no frames)`;
  const caller = callerFrame(t.frames, f);
  if (caller && f.function !== null) {
    // The library's own file and line (strlen-evex.S:79) say nothing about the bug: the caller's do.
    return `in ${canonicalFunction(f.function, f.module)} (${f.module}+${f.offset === null ? '?' : hex(f.offset)}) called from ${frameText(caller)}, ${thread}`;
  }
  return `${f.function === null ? 'at' : 'in'} ${frameText(f)}, ${thread}`;
}

/** The verdict's title, where, and its detail: one sentence. */
function headlineOf(v: Verdict, where: string, crashed: ReportThread | null): string {
  if (!crashed) return v.sentence;
  return `${v.title} ${where}${v.detail ? `: ${v.detail}` : ''}.`;
}

export async function buildReport(inp: ReportInputs): Promise<CrashReport> {
  const s = inp.summary;
  const sources = new SourceLines(inp.sourceDirs);
  const gdb = 'frames' in inp.debugger ? inp.debugger.frames : null;
  const byLwp = new Map((gdb?.threads ?? []).map((t) => [t.lwp, t] as const));
  const threads: ReportThread[] = [];
  for (const t of s.threads) {
    const g = byLwp.get(t.tid);
    const name = t.name ?? g?.name ?? (t.tid === s.process.pid && s.process.fname ? s.process.fname : null);
    const frames = g && g.frames.length ? await framesOf(g, s.modules, sources) : pcFrame(t.pc, s.modules);
    threads.push({ tid: t.tid, name, crashed: t.crashed, pc: t.pc, sp: t.sp, frames, truncated: g?.truncated ?? false });
  }
  const crashed = threads.find((t) => t.crashed) ?? threads[0] ?? null;
  const segments: MemorySegment[] = inp.memory.segments.map((x) => ({ start: x.vaddr, end: x.vaddr + x.memsz, flags: x.flags }));
  const abortSymbol = gdb?.symbols.__abort_msg ?? null;
  const abortMessage = s.signal?.name === 'SIGABRT' && abortSymbol !== null ? await readAbortMessage(inp.memory, abortSymbol, s) : undefined;
  const verdict = verdictOf({ signal: s.signal, segments, pc: crashed?.pc, sp: crashed?.sp, abortMessage });
  const modules: ReportModule[] = s.modules.map((m) => ({
    name: moduleLabel(m),
    path: m.path ?? m.linkMapName ?? null,
    kind: m.kind,
    start: m.start,
    end: m.end,
    loadBias: m.loadBias,
    buildId: m.buildId ?? null,
    ...inp.moduleState(m),
  }));
  const notes = [...inp.notes];
  if (!gdb) notes.push(`Symbols come with gdb: this report has each thread's PC as module+offset only (${'why' in inp.debugger ? inp.debugger.why : ''}).`);
  if (s.signal?.name === 'SIGABRT' && abortMessage === undefined) notes.push(gdb ? "glibc's __abort_msg holds no message (abort() called directly, or not glibc)." : "glibc's abort message is read with gdb's help (the address of __abort_msg): run with gdb to see it.");
  const sig = s.signal;
  const where = whereText(crashed);
  return {
    schema: REPORT_SCHEMA,
    verdict,
    where,
    headline: headlineOf(verdict, where, crashed),
    signal: sig ? { signo: sig.signo, name: sig.name ?? null, code: sig.code ?? null, codeName: sig.codeName ?? null, addr: sig.addr } : null,
    process: { pid: s.process.pid ?? null, command: s.process.psargs || s.process.fname || null, executable: s.executable ?? null, arch: s.arch, os: s.os },
    crashed,
    threads,
    groups: groupThreads(threads),
    modules,
    map: addressMap({ segments, modules: s.modules, threads }),
    signature: signatureOf(sig?.name ?? null, crashed?.frames ?? []),
    provenance: inp.provenance,
    symbols: 'frames' in inp.debugger ? { from: 'gdb', debugger: inp.debugger.program, sandboxed: inp.debugger.sandboxed } : { from: 'core', why: inp.debugger.why },
    notes,
  };
}
