/**
 * `corepack inspect CORE [--json]`: what a support engineer wants to see
 * first about a crash.
 */
import { CoreFile } from '../core/open.js';
import { locate, moduleLabel, summaryJson } from '../core/json.js';
import type { CoreSummary } from '../core/model.js';

export interface InspectOptions {
  json?: boolean;
}

const hex = (v: bigint | undefined): string => (v === undefined ? '?' : `0x${v.toString(16)}`);

export async function inspectCommand(corePath: string, opts: InspectOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const core = await CoreFile.open(corePath);
  try {
    const s = core.summary;
    if (opts.json) out.write(`${JSON.stringify(summaryJson(s, corePath), null, 2)}\n`);
    else out.write(formatSummary(s, corePath));
    return 0;
  } finally {
    await core.close();
  }
}

export function formatSummary(s: CoreSummary, corePath: string): string {
  const lines: string[] = [];
  const p = s.process;
  lines.push(`core:        ${corePath} (${s.os} ${s.arch}, ELF${s.elfClass} ${s.byteOrder}-endian)`);
  lines.push(`executable:  ${s.executable ?? '(unknown)'}`);
  if (p.psargs !== undefined || p.fname !== undefined) lines.push(`command:     ${p.psargs || p.fname}`);
  const ids = [p.ppid !== undefined ? `ppid ${p.ppid}` : '', p.uid !== undefined ? `uid ${p.uid}` : '', p.gid !== undefined ? `gid ${p.gid}` : ''].filter(Boolean);
  lines.push(`pid:         ${p.pid ?? '?'}${ids.length ? ` (${ids.join(', ')})` : ''}`);
  if (s.signal) {
    const sig = s.signal;
    const parts = [`${sig.name ?? 'signal'} (${sig.signo})`];
    if (sig.codeName ?? sig.code !== undefined) parts.push(sig.codeName ?? `code ${sig.code}`);
    if (sig.addr !== undefined) parts.push(`fault address ${hex(sig.addr)}`);
    lines.push(`signal:      ${parts.join(', ')}`);
  } else lines.push('signal:      none recorded');
  const crashed = s.threads.find((t) => t.crashed);
  if (crashed) lines.push(`crashed:     thread ${crashed.tid}${crashed.name ? ` "${crashed.name}"` : ''}`);

  lines.push('', `threads (${s.threads.length}):`);
  for (const t of s.threads) {
    const at = locate(s.modules, t.pc);
    const where = at ? `${moduleLabel(at.module)}+0x${at.offset.toString(16)}` : '(no module)';
    lines.push(`  ${t.crashed ? '*' : ' '} ${String(t.tid).padEnd(8)} pc ${hex(t.pc).padEnd(18)} ${where.padEnd(36)} sp ${hex(t.sp)}${t.name ? `  "${t.name}"` : ''}`);
  }

  lines.push('', `modules (${s.modules.length}):`);
  for (const m of s.modules) {
    const range = `${hex(m.start)}-${hex(m.end)}`;
    const names = [m.path ?? (m.kind === 'vdso' ? '[vdso]' : '(no mapped file)')];
    if (m.linkMapName && m.linkMapName !== m.path) names.push(`(loader: ${m.linkMapName})`);
    if (m.deleted) names.push('[deleted at crash]');
    lines.push(`  ${range.padEnd(35)} ${(m.buildId ?? '-').padEnd(40)} ${m.kind.padEnd(11)} ${names.join(' ')}`);
  }
  if (s.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of s.warnings) lines.push(`  - ${w}`);
  }
  return `${lines.join('\n')}\n`;
}
