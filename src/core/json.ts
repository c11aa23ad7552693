/**
 * The JSON form of a CoreSummary, used by `inspect --json` and in bundle
 * manifests. Addresses become "0x…" strings: JSON numbers lose precision
 * above 2^53 and addresses are read as hex by everyone anyway.
 */
import type { CoreSummary, Module, Thread } from './model.js';
import { hex } from '../util/text.js';

export const INSPECT_SCHEMA_VERSION = 1;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON addresses are hex strings (numbers lose precision above 2^53); unknown is null, not the reports' "?". */
const hexOrNull = (v: bigint | undefined): string | null => (v === undefined ? null : hex(v));

/** The module containing `addr`, and the offset into it. */
export function locate(modules: readonly Module[], addr: bigint | undefined): { module: Module; offset: bigint } | undefined {
  if (addr === undefined) return undefined;
  const m = modules.find((x) => x.start <= addr && addr < x.end);
  return m ? { module: m, offset: addr - m.start } : undefined;
}

export function moduleLabel(m: Module): string {
  const name = m.path ?? m.linkMapName ?? (m.kind === 'vdso' ? '[vdso]' : '[unknown]');
  return name.slice(name.lastIndexOf('/') + 1) || name;
}

function threadJson(t: Thread, modules: readonly Module[]): Json {
  const at = locate(modules, t.pc);
  return {
    tid: t.tid,
    name: t.name ?? null,
    crashed: t.crashed,
    cursig: t.cursig,
    pc: hexOrNull(t.pc),
    sp: hexOrNull(t.sp),
    pcModule: at ? moduleLabel(at.module) : null,
    pcOffset: at ? hexOrNull(at.offset) : null,
    registers: Object.fromEntries(Object.entries(t.registers).map(([k, v]) => [k, hexOrNull(v)])),
  };
}

export function moduleJson(m: Module): { [key: string]: Json } {
  return {
    start: hexOrNull(m.start),
    end: hexOrNull(m.end),
    kind: m.kind,
    path: m.path ?? null,
    linkMapName: m.linkMapName ?? null,
    loadBias: hexOrNull(m.loadBias),
    buildId: m.buildId ?? null,
    buildIdAddr: hexOrNull(m.buildIdAddr),
    deleted: m.deleted,
    sources: m.sources,
    headersInCore: m.headersInCore,
  };
}

export function summaryJson(s: CoreSummary, corePath?: string): { [key: string]: Json } {
  return {
    schema: INSPECT_SCHEMA_VERSION,
    ...(corePath !== undefined ? { core: corePath } : {}),
    os: s.os,
    arch: s.arch,
    machine: s.machine,
    elfClass: s.elfClass,
    byteOrder: s.byteOrder,
    executable: s.executable ?? null,
    process: {
      pid: s.process.pid ?? null,
      ppid: s.process.ppid ?? null,
      uid: s.process.uid ?? null,
      gid: s.process.gid ?? null,
      fname: s.process.fname ?? null,
      psargs: s.process.psargs ?? null,
    },
    signal: s.signal
      ? { signo: s.signal.signo, name: s.signal.name ?? null, code: s.signal.code ?? null, codeName: s.signal.codeName ?? null, addr: hexOrNull(s.signal.addr) }
      : null,
    crashedThread: s.threads.find((t) => t.crashed)?.tid ?? null,
    threads: s.threads.map((t) => threadJson(t, s.modules)),
    modules: s.modules.map(moduleJson),
    unplaced: s.unplaced.map((u) => ({ name: u.name, loadBias: hexOrNull(u.loadBias) })),
    mappings: s.mappings.map((m) => ({ start: hexOrNull(m.start), end: hexOrNull(m.end), fileOffset: hexOrNull(m.fileOffset), path: m.path, deleted: m.deleted, protection: m.protection ?? null })),
    auxv: s.auxv.map((a) => ({ type: a.a_type, name: a.name ?? null, value: hexOrNull(a.a_val) })),
    warnings: s.warnings,
    ...(s.writer ? { writer: s.writer } : {}),
    ...(s.miniCore ? { miniCore: { cutFrom: { ...s.miniCore.cutFrom }, ranges: s.miniCore.ranges, bytes: s.miniCore.bytes, stackCap: s.miniCore.stackCap } } : {}),
  };
}
