/**
 * The report as one self-contained HTML page for a ticket's attachment
 * preview: inline CSS, an inline SVG map of the address space, threads in
 * <details>, no script and no network. Its Content-Security-Policy allows
 * neither, so even a string that escaped escaping could not run; and every
 * string from the core, the bundle or gdb goes through esc().
 */
import { hex } from '../util/text.js';
import type { CrashReport, MapRegion, ReportFrame } from './model.js';
import { moduleOffset, oneLine, processLines, provenanceLines, threadTitle } from './lines.js';
import { isGlue } from './stacks.js';

/** Text and attribute values escaped for HTML. */
export function esc(s: string): string {
  return oneLine(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#1b1f24;background:#fff}
h1{font-size:1.35em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #d0d7de}
.verdict{border-left:5px solid #cf222e;background:#fff5f5;padding:.6em 1em;margin:.5em 0}
.verdict p{margin:.3em 0}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #d0d7de;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code,pre,.frames{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
ol.frames{list-style:none;padding-left:0;margin:.3em 0}ol.frames li{padding:1px 0}
.idx{color:#57606a;display:inline-block;min-width:4.5em}.fn{font-weight:600}.loc{color:#0550ae}.mod{color:#6e7781}
.glue{opacity:.6}.src{display:block;margin-left:4.5em;color:#24292f;background:#f6f8fa;white-space:pre}
details{margin:.3em 0;border:1px solid #d0d7de;border-radius:4px;padding:.2em .6em}summary{cursor:pointer}
.exact{color:#1a7f37}.replaced,.missing{color:#cf222e;font-weight:600}.unproven{color:#9a6700}
svg text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}
`;

function frameItem(f: ReportFrame): string {
  const index = f.repeat > 1 ? `#${f.index}-${f.index + f.repeat - 1}` : `#${f.index}`;
  if (f.signalFrame) return `<li class="frame"><span class="idx">${index}</span> <span class="fn">&lt;signal handler called&gt;</span></li>`;
  const loc = f.file !== null ? ` at <span class="loc">${esc(f.file)}${f.line !== null ? `:${f.line}` : ''}</span>` : '';
  const rep = f.repeat > 1 ? ` <strong>× ${f.repeat} (recursion)</strong>` : '';
  const src = f.source !== null ? `<code class="src">${String(f.line).padStart(5)} | ${esc(f.source.replace(/\s+$/, ''))}</code>` : '';
  return `<li class="frame${isGlue(f) ? ' glue' : ''}"><span class="idx">${index}</span> <span class="fn">${esc(f.function ?? '??')}</span>${loc} <span class="mod">(${esc(moduleOffset(f))}, pc ${hex(f.pc)})</span>${f.inline ? ' [inlined]' : ''}${rep}${src}</li>`;
}

function frameList(frames: readonly ReportFrame[], truncated: boolean): string {
  return `<ol class="frames">${frames.map(frameItem).join('')}${truncated ? '<li>… (deeper frames not listed)</li>' : ''}</ol>`;
}

const COLORS: Record<MapRegion['kind'], string> = { module: '#54aeff', stack: '#4ac26b', heap: '#d4a72c', anonymous: '#afb8c1', guard: '#ff8182' };

function bytes(n: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

interface Marker {
  addr: bigint;
  label: string;
  color: string;
}

/** Where `addr` falls within [start, end) as a fraction, for a marker on that row. */
function fraction(addr: bigint, start: bigint, end: bigint): number {
  if (end <= start) return 0;
  return Number(((addr - start) * 1000n) / (end - start)) / 1000;
}

/**
 * The address space, low addresses at the top: one row per region and per
 * gap between them (the space is sparse, so each row has the same height
 * whatever its size), the fault address and every thread's stack pointer
 * marked on the row they fall in.
 */
export function addressSpaceSvg(map: readonly MapRegion[], markers: readonly Marker[]): string {
  type Row = { start: bigint; end: bigint; kind: MapRegion['kind'] | 'gap'; label: string; perms: string };
  const rows: Row[] = [];
  let at = 0n;
  for (const r of map) {
    if (r.start > at) rows.push({ start: at, end: r.start, kind: 'gap', label: `unmapped, ${bytes(r.start - at)}`, perms: '' });
    rows.push({ ...r });
    at = r.end > at ? r.end : at;
  }
  const top = markers.reduce((m, k) => (k.addr >= m ? k.addr + 1n : m), at);
  if (top > at) rows.push({ start: at, end: top, kind: 'gap', label: 'unmapped', perms: '' });
  const rowH = 18;
  const barX = 150;
  const barW = 260;
  const W = 1000;
  const H = rows.length * rowH + 10;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="address space map">`);
  rows.forEach((row, i) => {
    const y = 5 + i * rowH;
    const fill = row.kind === 'gap' ? '#ffffff' : COLORS[row.kind];
    const stroke = row.kind === 'gap' ? ' stroke="#d0d7de" stroke-dasharray="3,3"' : '';
    out.push(`<text x="0" y="${y + 13}">${hex(row.start)}</text>`);
    out.push(`<rect x="${barX}" y="${y + 2}" width="${barW}" height="${rowH - 4}" fill="${fill}"${stroke}><title>${esc(`${hex(row.start)}-${hex(row.end)} ${row.label}`)}</title></rect>`);
    out.push(`<text x="${barX + barW + 10}" y="${y + 13}"${row.kind === 'gap' ? ' fill="#8c959f"' : ''}>${esc(`${row.perms ? `${row.perms} ` : ''}${row.label}${row.kind === 'gap' ? '' : `, ${bytes(row.end - row.start)}`}`)}</text>`);
    const here = markers.filter((m) => row.start <= m.addr && m.addr < row.end);
    for (const m of here) {
      const x = barX + Math.round(fraction(m.addr, row.start, row.end) * barW);
      out.push(`<line x1="${x}" y1="${y}" x2="${x}" y2="${y + rowH}" stroke="${m.color}" stroke-width="3"/>`);
    }
    if (here.length) out.push(`<text x="${barX + barW + 330}" y="${y + 13}" fill="${here[0]!.color}">${esc(here.map((k) => k.label).join(', '))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

export function renderHtml(r: CrashReport): string {
  const B: string[] = [];
  B.push(`<section class="verdict" id="verdict"><h1>${esc(r.headline)}</h1>${r.verdict.abortMessage ? `<p>Abort message: <code>${esc(r.verdict.abortMessage)}</code></p>` : ''}</section>`);
  B.push(`<table id="facts">${processLines(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join('')}</table>`);
  if (r.crashed) B.push(`<h2>Crashing ${esc(threadTitle(r.crashed))}</h2><div id="crashed">${frameList(r.crashed.frames, r.crashed.truncated)}</div>`);
  B.push(`<h2>Threads: ${r.threads.length} in ${r.groups.length} group${r.groups.length === 1 ? '' : 's'}</h2><div id="threads">`);
  for (const g of r.groups) {
    const head = `${g.tids.length} thread${g.tids.length === 1 ? '' : 's'}: ${g.label}${g.crashed ? ' (the crashing thread is here)' : ''}`;
    B.push(`<details class="group"><summary>${esc(head)}</summary><p>Threads ${g.tids.join(', ')}</p>${frameList(g.frames, false)}</details>`);
  }
  B.push('</div>');
  const markers: Marker[] = [];
  if (r.signal?.addr !== undefined && r.signal.name !== 'SIGABRT') markers.push({ addr: r.signal.addr, label: `fault ${hex(r.signal.addr)}`, color: '#cf222e' });
  for (const t of r.threads) if (t.sp !== undefined) markers.push({ addr: t.sp, label: `SP of ${t.tid}${t.crashed ? ' (crashed)' : ''}`, color: t.crashed ? '#8250df' : '#0550ae' });
  B.push(`<h2>Address space</h2><div id="map">${addressSpaceSvg(r.map, markers)}</div>`);
  B.push('<h2>Modules</h2><table id="modules"><tr><th>Module</th><th>Address</th><th>Build ID</th><th>Check</th><th>Debug info</th></tr>');
  for (const m of r.modules) {
    B.push(`<tr><td><code>${esc(m.path ?? m.name)}</code></td><td><code>${hex(m.start)}-${hex(m.end)}</code></td><td><code>${esc(m.buildId ?? '-')}</code></td><td class="${m.check.replace(/\s/g, '-')}">${m.check}</td><td>${m.debugInfo}</td></tr>`);
  }
  B.push('</table>');
  B.push(`<h2>Where it came from</h2><table id="provenance">${provenanceLines(r).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>`);
  if (r.notes.length) B.push(`<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  const title = `${r.verdict.title} — ${r.process.command ?? r.process.executable ?? 'crash'}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="corepack report, schema ${r.schema}">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
${B.join('\n')}
</body></html>
`;
}
