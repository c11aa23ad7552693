/**
 * The report as Markdown for a ticket (GitHub, GitLab, Jira): the verdict
 * first, stacks in code blocks, a module table, every thread in <details>.
 * Strings from the core are escaped for where they land: code spans and
 * fences longer than any backtick run in them, `|` in tables, HTML entities
 * in <summary>. A report longer than GitHub's limit for an issue body is
 * cut, deepest details first, with a note saying what was left out.
 */
import { hex } from '../util/text.js';
import type { CrashReport, ReportFrame } from './model.js';
import { oneLine, processLines, provenanceLines, stackLines, threadTitle } from './lines.js';

/** GitHub's limit for an issue or comment body, in characters. */
export const GITHUB_BODY_LIMIT = 65_536;

/** Text escaped for HTML (the <summary> of a <details>). */
export function htmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Markdown inline text: HTML special characters as entities, Markdown punctuation backslashed. */
export function mdText(s: string): string {
  return (
    oneLine(s)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/[\\`*[\]|~]/g, '\\$&')
      // An underscore inside a word (crash_here) is no emphasis in GitHub's, GitLab's or Jira's Markdown: only those at a word's edge are escaped.
      .replace(/_/g, (u, at: number, all: string) => (/[A-Za-z0-9]/.test(all[at - 1] ?? '') && /[A-Za-z0-9]/.test(all[at + 1] ?? '') ? u : '\\_'))
  );
}

/** An inline code span holding `s` literally (backquotes inside take a longer fence); `|` escaped for tables. */
export function mdCode(s: string, inTable = false): string {
  let t = oneLine(s);
  if (inTable) t = t.replace(/\|/g, '\\|');
  const longest = Math.max(0, ...[...t.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = t.startsWith('`') || t.endsWith('`') || t === '' ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

/** A fenced code block whose fence no line of it can close. */
export function mdBlock(lines: readonly string[]): string {
  const longest = Math.max(0, ...lines.flatMap((l) => [...l.matchAll(/`+/g)].map((m) => m[0].length)));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}text\n${lines.join('\n')}\n${fence}`;
}

interface Budget {
  /** Frames shown per stack. */
  frames: number;
  /** Groups whose stacks are shown in <details>. */
  groups: number;
  modules: number;
}

const BUDGETS: readonly Budget[] = [
  { frames: 200, groups: 1000, modules: 1000 },
  { frames: 64, groups: 50, modules: 300 },
  { frames: 32, groups: 10, modules: 100 },
  { frames: 16, groups: 3, modules: 40 },
  { frames: 8, groups: 0, modules: 10 },
];

function stackBlock(frames: readonly ReportFrame[], max: number, truncated: boolean): string {
  const lines = stackLines(frames.slice(0, max));
  if (frames.length > max) lines.push(`… ${frames.length - max} more frame${frames.length - max === 1 ? '' : 's'} not shown`);
  else if (truncated) lines.push('… (deeper frames not listed)');
  return mdBlock(lines);
}

function render(r: CrashReport, b: Budget, cutNote: string | null): string {
  const P: string[] = [];
  P.push(`### ${mdText(r.headline)}`);
  if (r.verdict.abortMessage) P.push(`Abort message: ${mdCode(r.verdict.abortMessage)}`);
  if (cutNote) P.push(`> **Note:** ${cutNote}`);
  P.push(['| | |', '|---|---|', ...processLines(r).map(([k, v]) => `| ${k} | ${mdCode(v, true)} |`)].join('\n'));
  if (r.crashed) {
    P.push(`#### Crashing ${mdText(threadTitle(r.crashed))}`);
    P.push(stackBlock(r.crashed.frames, b.frames, r.crashed.truncated));
  }
  P.push(`#### Threads: ${r.threads.length} in ${r.groups.length} group${r.groups.length === 1 ? '' : 's'}`);
  const groupLines = r.groups.map((g, i) => {
    const head = `${g.tids.length} thread${g.tids.length === 1 ? '' : 's'}: ${oneLine(g.label)}${g.crashed ? ' (the crashing thread is here)' : ''}`;
    if (i >= b.groups) return `- ${mdText(head)}`;
    return `<details><summary>${htmlText(head)}</summary>\n\nThreads ${g.tids.join(', ')}\n\n${stackBlock(g.frames, b.frames, false)}\n\n</details>`;
  });
  P.push(groupLines.join('\n'));
  const mods = r.modules.slice(0, b.modules);
  P.push(
    [
      '#### Modules',
      '',
      '| Module | Address | Build ID | Check | Debug info |',
      '|---|---|---|---|---|',
      ...mods.map((m) => `| ${mdCode(m.path ?? m.name, true)} | ${hex(m.start)} | ${m.buildId ? mdCode(m.buildId, true) : '-'} | ${m.check} | ${m.debugInfo} |`),
      ...(r.modules.length > mods.length ? [`| … ${r.modules.length - mods.length} more | | | | |`] : []),
    ].join('\n'),
  );
  P.push(['#### Where it came from', '', '| | |', '|---|---|', ...provenanceLines(r).map(([k, v]) => `| ${k} | ${mdCode(v, true)} |`)].join('\n'));
  if (r.notes.length) P.push(['#### Notes', '', ...r.notes.map((n) => `- ${mdText(n)}`)].join('\n'));
  P.push(`<sub>corepack report, schema ${r.schema}</sub>`);
  return `${P.join('\n\n')}\n`;
}

/** The Markdown report, under `limit` characters (GitHub's, by default). */
export function renderMarkdown(r: CrashReport, limit = GITHUB_BODY_LIMIT): string {
  const full = render(r, BUDGETS[0]!, null);
  if (full.length <= limit) return full;
  const note = (b: Budget) =>
    `cut to fit ${limit} characters: stacks to ${b.frames} frames, ${b.groups} thread group${b.groups === 1 ? '' : 's'} expanded, ${b.modules} modules. The whole report: \`corepack-crash report --format html\` (or \`--format json\`).`;
  for (const b of BUDGETS.slice(1)) {
    const text = render(r, b, note(b));
    if (text.length <= limit) return text;
  }
  // Still too long (enormous names): cut at a line boundary, closing any fence.
  const last = BUDGETS[BUDGETS.length - 1]!;
  const text = render(r, last, note(last));
  const tail = '\n```\n\n> **Note:** the rest was cut (GitHub\'s limit); see the HTML or JSON report.\n';
  const cut = text.slice(0, limit - tail.length);
  return `${cut.slice(0, cut.lastIndexOf('\n'))}${tail}`;
}
