/**
 * The report as JSON (schema in the README, "The report's JSON"): the same
 * fields as CrashReport, addresses as "0x…" strings (JSON numbers lose
 * precision above 2^53), unknown as null.
 */
import type { Json } from '../core/json.js';
import type { CrashReport, ReportFrame, ReportThread } from './model.js';
import { hex } from '../util/text.js';

const hexOrNull = (v: bigint | undefined | null): string | null => (v === undefined || v === null ? null : hex(v));

function frameJson(f: ReportFrame): Json {
  return { index: f.index, pc: hexOrNull(f.pc), function: f.function, file: f.file, line: f.line, module: f.module, offset: hexOrNull(f.offset), inline: f.inline, signalFrame: f.signalFrame, source: f.source, repeat: f.repeat };
}

function threadJson(t: ReportThread): Json {
  return { tid: t.tid, name: t.name, crashed: t.crashed, pc: hexOrNull(t.pc), sp: hexOrNull(t.sp), truncated: t.truncated, frames: t.frames.map(frameJson) };
}

export function reportJson(r: CrashReport): { [key: string]: Json } {
  return {
    schema: r.schema,
    verdict: {
      cause: r.verdict.cause,
      title: r.verdict.title,
      detail: r.verdict.detail,
      sentence: r.verdict.sentence,
      abortMessage: r.verdict.abortMessage ?? null,
      assertion: r.verdict.assertion ? { ...r.verdict.assertion } : null,
    },
    where: r.where,
    headline: r.headline,
    signal: r.signal ? { signo: r.signal.signo, name: r.signal.name, code: r.signal.code, codeName: r.signal.codeName, addr: hexOrNull(r.signal.addr) } : null,
    process: { ...r.process },
    signature: { hash: r.signature.hash, frames: [...r.signature.frames], basis: r.signature.basis },
    crashedThread: r.crashed?.tid ?? null,
    threads: r.threads.map(threadJson),
    groups: r.groups.map((g) => ({ label: g.label, tids: [...g.tids], crashed: g.crashed })),
    modules: r.modules.map((m) => ({ name: m.name, path: m.path, kind: m.kind, start: hexOrNull(m.start), end: hexOrNull(m.end), loadBias: hexOrNull(m.loadBias), buildId: m.buildId, check: m.check, debugInfo: m.debugInfo })),
    map: r.map.map((m) => ({ start: hexOrNull(m.start), end: hexOrNull(m.end), kind: m.kind, label: m.label, perms: m.perms })),
    provenance: { ...r.provenance, attachments: [...r.provenance.attachments] },
    symbols: { ...r.symbols },
    notes: [...r.notes],
  };
}

export function renderJson(r: CrashReport): string {
  return `${JSON.stringify(reportJson(r), null, 2)}\n`;
}
