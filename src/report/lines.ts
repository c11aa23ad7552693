/**
 * The lines every format shares: a frame, a module's state, where the crash
 * came from. Plain text; each format escapes them its own way.
 */
import { hex, hexEscape } from '../util/text.js';
import type { CrashReport, ReportFrame, ReportThread } from './model.js';

/** A string from the core on one line: control characters shown as \xNN (a command line may hold anything). */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => hexEscape(c.charCodeAt(0)));
}

export function moduleOffset(f: Pick<ReportFrame, 'module' | 'offset'>): string {
  return f.module === null ? 'no module' : `${f.module}+${f.offset === null ? '?' : hex(f.offset)}`;
}

/** "#3  recurse at a.c:7 (a+0x11c3) × 31245": the frame's index (range when folded), function, place and module. */
export function frameLine(f: ReportFrame): string {
  const index = f.repeat > 1 ? `#${f.index}-${f.index + f.repeat - 1}` : `#${f.index}`;
  if (f.signalFrame) return `${index.padEnd(4)} <signal handler called>`;
  const fn = f.function === null ? '??' : oneLine(f.function);
  const at = f.file !== null ? ` at ${oneLine(f.file)}${f.line !== null ? `:${f.line}` : ''}` : '';
  const inline = f.inline ? ' [inlined]' : '';
  const rep = f.repeat > 1 ? `  × ${f.repeat} (recursion)` : '';
  return `${index.padEnd(4)} ${hex(f.pc).padEnd(18)} ${fn}${at}  (${oneLine(moduleOffset(f))})${inline}${rep}`;
}

/** The source line under its frame, indented, when it is known. */
export function sourceLine(f: ReportFrame): string | null {
  return f.source === null || f.line === null ? null : `${' '.repeat(24)}${String(f.line).padStart(5)} | ${oneLine(f.source.replace(/\s+$/, ''))}`;
}

export function stackLines(frames: readonly ReportFrame[]): string[] {
  const out: string[] = [];
  for (const f of frames) {
    out.push(frameLine(f));
    const src = sourceLine(f);
    if (src) out.push(src);
  }
  return out;
}

export function threadTitle(t: Pick<ReportThread, 'tid' | 'name' | 'crashed'>): string {
  return `thread ${t.tid}${t.name ? ` "${oneLine(t.name)}"` : ''}${t.crashed ? ' (crashed)' : ''}`;
}

/** "collected on HOST at TIME; stored: …; captured: …; full core; exact": one line per fact. */
export function provenanceLines(r: CrashReport): Array<[string, string]> {
  const p = r.provenance;
  const rows: Array<[string, string]> = [];
  rows.push(['Input', `${p.input === 'bundle' ? 'bundle' : 'core'} ${oneLine(p.path)}`]);
  if (p.host) rows.push(['Host', oneLine(p.host)]);
  if (p.collectedAt) rows.push(['Collected', oneLine(p.collectedAt)]);
  if (p.stored) rows.push(['Stored', oneLine(p.stored)]);
  if (p.captured) rows.push(['Captured', oneLine(p.captured)]);
  rows.push(['Memory', p.mini ? 'mini core (stacks, registers and loader state only; no heap)' : 'full core']);
  if (p.exact !== null) rows.push(['Files', p.exact ? 'exact: every mapped file bundled as it was at the crash' : 'not exact: a file was missing or replaced (see Modules)']);
  if (p.attachments.length) rows.push(['Attached', p.attachments.map(oneLine).join(', ')]);
  return rows;
}

/** Process facts, one line each. */
export function processLines(r: CrashReport): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (r.process.command !== null) rows.push(['Command', oneLine(r.process.command)]);
  if (r.process.executable !== null) rows.push(['Executable', oneLine(r.process.executable)]);
  rows.push(['Process', `pid ${r.process.pid ?? '?'}, ${r.process.os} ${r.process.arch}, ${r.threads.length} thread${r.threads.length === 1 ? '' : 's'}`]);
  if (r.signal) {
    const code = r.signal.codeName ?? (r.signal.code !== null ? `code ${r.signal.code}` : null);
    rows.push(['Signal', `${r.signal.name ?? 'signal'} (${r.signal.signo})${code ? `, ${code}` : ''}${r.signal.addr !== undefined ? `, fault address ${hex(r.signal.addr)}` : ''}`]);
  }
  rows.push(['Signature', `${r.signature.hash}  (${r.signature.frames.map(oneLine).join(' ← ') || 'no frames'})`]);
  rows.push(['Symbols', r.symbols.from === 'gdb' ? `from gdb (${oneLine(r.symbols.debugger)}${r.symbols.sandboxed ? ', sandboxed' : ', not sandboxed'})` : `none: ${r.symbols.why}`]);
  return rows;
}
