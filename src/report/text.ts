/** The report for a terminal: the verdict first, then the crashing thread, the thread groups, the modules. */
import { hex } from '../util/text.js';
import type { CrashReport } from './model.js';
import { oneLine, processLines, provenanceLines, stackLines, threadTitle } from './lines.js';

const table = (rows: ReadonlyArray<readonly [string, string]>) => rows.map(([k, v]) => `  ${`${k}:`.padEnd(12)} ${v}`);

export function renderText(r: CrashReport): string {
  const L: string[] = [];
  L.push(oneLine(r.headline));
  if (r.verdict.abortMessage) L.push(`  abort message: ${oneLine(r.verdict.abortMessage)}`);
  L.push('', ...table(processLines(r)));
  if (r.crashed) {
    L.push('', `Crashing ${threadTitle(r.crashed)}:`, ...stackLines(r.crashed.frames).map((l) => `  ${l}`));
    if (r.crashed.truncated) L.push('  … (deeper frames not listed)');
  }
  L.push('', `Threads: ${r.threads.length} in ${r.groups.length} group${r.groups.length === 1 ? '' : 's'}`);
  for (const g of r.groups) {
    L.push(`  ${g.tids.length} thread${g.tids.length === 1 ? '' : 's'}: ${oneLine(g.label)}${g.crashed ? '  (the crashing thread is here)' : ''}`);
    L.push(`    tids ${g.tids.join(', ')}`);
  }
  L.push('', 'Modules:');
  for (const m of r.modules) L.push(`  ${`${hex(m.start)}-${hex(m.end)}`.padEnd(30)} ${(m.buildId ?? '-').padEnd(40)} ${m.check.padEnd(11)} ${m.debugInfo.padEnd(12)} ${oneLine(m.path ?? m.name)}`);
  L.push('', 'Where it came from:', ...table(provenanceLines(r)));
  if (r.notes.length) L.push('', 'Notes:', ...r.notes.map((n) => `  - ${oneLine(n)}`));
  return `${L.join('\n')}\n`;
}
