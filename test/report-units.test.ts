/**
 * The crash report's pure parts: the verdict from signal, code, fault address
 * and mappings; the signature; thread groups; the address map; the formats'
 * escaping and Markdown's length limit; reading report.py's output.
 * The real cores, gdb and Chromium are in report.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseAssertion, PF, verdictOf, type MemorySegment, type VerdictInput } from '../src/report/verdict.js';
import { callerFrame, canonicalFunction, foldRepeats, groupLabel, groupThreads, ifuncBase, isRuntimeModule, signatureOf, whereFrame } from '../src/report/stacks.js';
import { addressMap } from '../src/report/map.js';
import { GITHUB_BODY_LIMIT, mdBlock, mdCode, mdText, renderMarkdown } from '../src/report/markdown.js';
import { esc, renderHtml } from '../src/report/html.js';
import { renderText } from '../src/report/text.js';
import { reportJson } from '../src/report/json.js';
import { parseGdbFrames } from '../src/report/frames.js';
import { REPORT_SCHEMA, type CrashReport, type ReportFrame, type ReportThread } from '../src/report/model.js';
import type { Module } from '../src/core/model.js';

const RW = PF.R | PF.W;
const RX = PF.R | PF.X;
const seg = (start: bigint, end: bigint, flags: number): MemorySegment => ({ start, end, flags });

// A process: an executable, a heap, a library, a thread stack with its guard page, the main stack.
const SEGMENTS: MemorySegment[] = [
  seg(0x555555554000n, 0x555555555000n, PF.R),
  seg(0x555555555000n, 0x555555556000n, RX),
  seg(0x555555557000n, 0x555555558000n, PF.R),
  seg(0x555555558000n, 0x555555559000n, RW),
  seg(0x555555580000n, 0x5555555a1000n, RW), // heap
  seg(0x7ffff7000000n, 0x7ffff7001000n, 0), // guard page of a thread stack
  seg(0x7ffff7001000n, 0x7ffff7801000n, RW), // that thread's stack
  seg(0x7ffff7c00000n, 0x7ffff7c28000n, PF.R),
  seg(0x7ffff7c28000n, 0x7ffff7dbd000n, RX),
  seg(0x7ffffffde000n, 0x7ffffffff000n, RW), // main stack
];

function input(over: Partial<VerdictInput> & { name: string; codeName?: string; addr?: bigint }): VerdictInput {
  const { name, codeName, addr, ...rest } = over;
  return { signal: { name, signo: 11, codeName, code: undefined, addr }, segments: SEGMENTS, pc: 0x555555555123n, sp: 0x7fffffffe000n, abortMessage: undefined, ...rest };
}

describe('verdict', () => {
  it('SEGV_MAPERR below 4096 is a NULL dereference, with the offset', () => {
    const v = verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0x10n }));
    expect(v.cause).toBe('null-dereference');
    // One sentence, the title said once and the address once.
    expect(v.sentence).toBe('NULL pointer dereference: address 0x10 is 16 bytes past NULL (a field of a struct or an element of an array reached through a NULL pointer).');
    expect(v.detail).toBe('address 0x10 is 16 bytes past NULL (a field of a struct or an element of an array reached through a NULL pointer)');
    expect(verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0n })).sentence).toBe('NULL pointer dereference: address 0x0 is the NULL pointer itself.');
    expect(verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0n, pc: 0n })).title).toBe('Call through a NULL function pointer');
    // 4096 is no longer the NULL page.
    expect(verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 4096n })).cause).toBe('unmapped-address');
  });

  it('SEGV_MAPERR just below the main stack, with the SP there, is a stack overflow', () => {
    const v = verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0x7ffffffddff8n, sp: 0x7ffffffde000n - 16n }));
    expect(v.cause).toBe('stack-overflow');
    expect(v.sentence).toContain('0x7ffffffde000-0x7ffffffff000');
    expect(v.sentence).toContain('8 bytes below it');
  });

  it("a thread's guard page (SEGV_ACCERR on a no-access page under its stack) is a stack overflow too", () => {
    const v = verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_ACCERR', addr: 0x7ffff7000ff0n, sp: 0x7ffff7000ff8n }));
    expect(v.cause).toBe('stack-overflow');
  });

  it('an unmapped fault far from the SP is not a stack overflow', () => {
    expect(verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0x7ffffffddff8n, sp: 0x7ffff7100000n })).cause).toBe('unmapped-address');
    expect(verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0x600000000000n })).cause).toBe('unmapped-address');
  });

  it('SEGV_ACCERR: a write to read-only memory, a jump to non-executable memory, a no-access page', () => {
    const ro = verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_ACCERR', addr: 0x555555557010n }));
    expect(ro.cause).toBe('write-to-read-only');
    expect(ro.sentence).toContain('0x555555557000-0x555555558000 r--');
    const nx = verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_ACCERR', addr: 0x555555580040n, pc: 0x555555580040n }));
    expect(nx.cause).toBe('execute-non-executable');
    expect(nx.sentence).toContain('not executable (0x555555580000-0x5555555a1000 rw-;');
    const none = verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_ACCERR', addr: 0x7ffff7000010n, sp: 0x7ffff7500000n }));
    expect(none.cause).toBe('no-access-page');
  });

  it('a jump to unmapped memory: the PC is the fault address', () => {
    expect(verdictOf(input({ name: 'SIGSEGV', codeName: 'SEGV_MAPERR', addr: 0x414141414141n, pc: 0x414141414141n })).title).toBe('Jump to unmapped memory');
  });

  it("SIGABRT: glibc's assert message gives expression, file, line and function", () => {
    const msg = "server: src/queue.c:118: queue_pop: Assertion `q->len > 0' failed.\n";
    const v = verdictOf(input({ name: 'SIGABRT', abortMessage: msg }));
    expect(v.cause).toBe('assertion');
    expect(v.assertion).toEqual({ expression: 'q->len > 0', file: 'src/queue.c', line: 118, function: 'queue_pop' });
    // Function, file and line are the report's "where" (the caller of __assert_fail): the headline says them once.
    expect(v.sentence).toBe('Assertion failed: `q->len > 0` is false.');
    expect(v.abortMessage).toBe(msg.trimEnd());
    const other = verdictOf(input({ name: 'SIGABRT', abortMessage: 'free(): double free detected in tcache 2\n' }));
    expect(other.cause).toBe('abort-message');
    expect(other.sentence).toContain('free(): double free detected in tcache 2');
    expect(verdictOf(input({ name: 'SIGABRT' })).cause).toBe('abort');
  });

  it('parses assert messages whose expression holds quotes and colons', () => {
    expect(parseAssertion("a: a.c:6: check: Assertion `x == 42 && \"x: must be 42\"' failed.")).toEqual({ file: 'a.c', line: 6, function: 'check', expression: 'x == 42 && "x: must be 42"' });
    expect(parseAssertion('not an assertion')).toBeUndefined();
  });

  it('SIGBUS, SIGFPE, SIGILL, SIGTRAP by their codes', () => {
    expect(verdictOf(input({ name: 'SIGFPE', codeName: 'FPE_INTDIV', addr: 0x555555555123n })).sentence).toBe('Arithmetic error: integer division by zero at 0x555555555123 (SIGFPE, FPE_INTDIV).');
    expect(verdictOf(input({ name: 'SIGBUS', codeName: 'BUS_ADRERR', addr: 0x7f0000001000n })).sentence).toContain('not in the file behind it');
    expect(verdictOf(input({ name: 'SIGILL', codeName: 'ILL_ILLOPN' })).cause).toBe('illegal-instruction');
    expect(verdictOf(input({ name: 'SIGILL', codeName: 'ILL_ILLOPC' })).sentence).toContain('__builtin_trap');
    expect(verdictOf(input({ name: 'SIGTRAP', codeName: 'TRAP_BRKPT' })).sentence).toContain('breakpoint');
    expect(verdictOf(input({ name: 'SIGQUIT', codeName: 'SI_USER' })).sentence).toBe('Killed by SIGQUIT: sent by a process (kill, or the program itself).');
    expect(verdictOf(input({ name: 'SIGTERM', codeName: 'SI_KERNEL' })).sentence).toBe('Killed by SIGTERM.');
    expect(verdictOf({ ...input({ name: 'SIGSEGV' }), signal: undefined }).cause).toBe('no-signal');
  });
});

let pcs = 0x1000n;
function frame(fn: string | null, module: string, over: Partial<ReportFrame> = {}): ReportFrame {
  pcs += 0x10n;
  return { index: 0, pc: pcs, function: fn, file: null, line: null, module, offset: pcs & 0xfffn, inline: false, signalFrame: false, source: null, repeat: 1, ...over };
}
const indexed = (fs: ReportFrame[]) => fs.map((f, index) => ({ ...f, index }));
const thread = (tid: number, frames: ReportFrame[], crashed = false): ReportThread => ({ tid, name: null, crashed, pc: frames[0]?.pc, sp: 0x7ffe0000n + BigInt(tid), frames: indexed(frames), truncated: false });

describe('signature', () => {
  const abortStack = () => [
    frame('__pthread_kill_implementation', 'libc.so.6'),
    frame('__pthread_kill_internal', 'libc.so.6'),
    frame('__GI_raise', 'libc.so.6'),
    frame('__GI_abort', 'libc.so.6'),
    frame('__assert_fail_base', 'libc.so.6'),
    frame('__GI___assert_fail', 'libc.so.6'),
    frame('queue_pop', 'libqueue.so.1.2.3'),
    frame('worker', 'server'),
    frame('start_thread', 'libc.so.6'),
  ];

  it('skips the abort and assert glue, and uses names, not addresses', () => {
    const s = signatureOf('SIGABRT', indexed(abortStack()));
    expect(s.frames).toEqual(['queue_pop (libqueue.so)', 'worker (server)', 'start_thread (libc.so)']);
    expect(s.hash).toMatch(/^cp1-[0-9a-f]{16}$/);
    expect(s.basis).toBe('functions');
    // Another build: other addresses and offsets, another library version, a compiler clone suffix.
    const again = abortStack().map((f) => ({ ...f, pc: f.pc + 0x1234000n, offset: (f.offset ?? 0n) + 0x40n }));
    again[6] = { ...again[6]!, module: 'libqueue.so.1.2.4', function: 'queue_pop.isra.0' };
    expect(signatureOf('SIGABRT', indexed(again)).hash).toBe(s.hash);
  });

  it('differs for another function, another module or another signal', () => {
    const base = signatureOf('SIGABRT', indexed(abortStack())).hash;
    const other = abortStack();
    other[6] = { ...other[6]!, function: 'queue_push' };
    expect(signatureOf('SIGABRT', indexed(other)).hash).not.toBe(base);
    expect(signatureOf('SIGSEGV', indexed(abortStack())).hash).not.toBe(base);
  });

  it('folds recursion, so the depth reached does not change it', () => {
    const deep = (n: number) => indexed([...Array.from({ length: n }, () => frame('recurse', 'app', { file: 'a.c', line: 7 })), frame('main', 'app')]);
    expect(foldRepeats(deep(100))[0]!.repeat).toBe(100);
    expect(signatureOf('SIGSEGV', deep(100)).hash).toBe(signatureOf('SIGSEGV', deep(7000)).hash);
  });

  it('without symbols: module+offset, marked as such', () => {
    const s = signatureOf('SIGSEGV', indexed([frame(null, 'app', { offset: 0x1155n })]));
    expect(s.frames).toEqual(['app+0x1155']);
    expect(s.basis).toBe('offsets');
  });

  it('"where" is past the glue', () => {
    expect(whereFrame(indexed(abortStack()))!.function).toBe('queue_pop');
  });

  it("glibc's ifunc variants are one function: the same bug on another CPU has the same signature", () => {
    expect(['__strlen_avx2', '__strlen_evex', '__strlen_sse2', '__strlen_avx2_rtm', '__strlen_evex512', '__strlen_asimd', '__strlen_power9'].map(ifuncBase)).toEqual(Array(7).fill('strlen'));
    expect(ifuncBase('__memmove_avx_unaligned_erms')).toBe('memmove');
    expect(ifuncBase('__strcasecmp_l_avx2')).toBe('strcasecmp_l');
    expect(ifuncBase('__wcslen_sse4_1')).toBe('wcslen');
    // Not variants: glibc's own internal names, and a program's.
    for (const n of ['__libc_start_main', '__pthread_kill_implementation', 'strlen', '___pthread_cond_wait', '__x86_cacheinfo']) expect(ifuncBase(n)).toBeUndefined();
    // Only in the C library and the runtimes: a program's __parse_generic is its own function.
    expect(canonicalFunction('__strlen_evex', 'libc.so.6')).toBe('strlen');
    expect(canonicalFunction('__parse_generic', 'server')).toBe('__parse_generic');
    const stack = (variant: string) => indexed([frame(variant, 'libc.so.6'), frame('parse_line', 'app', { file: 'a.c', line: 12 }), frame('main', 'app')]);
    const avx2 = signatureOf('SIGSEGV', stack('__strlen_avx2'));
    expect(avx2.frames).toEqual(['strlen (libc.so)', 'parse_line (app)', 'main (app)']);
    expect(signatureOf('SIGSEGV', stack('__strlen_evex')).hash).toBe(avx2.hash);
    expect(signatureOf('SIGSEGV', stack('__strlen_sse2')).hash).toBe(avx2.hash);
    expect(signatureOf('SIGSEGV', stack('__strchr_sse2')).hash).not.toBe(avx2.hash);
    expect(groupLabel(stack('__strlen_evex'))).toBe('main → parse_line → strlen');
  });

  it('a crash in the C library is told through the frame of the program that called it', () => {
    const frames = indexed([frame('__strlen_evex', 'libc.so.6'), frame('parse_line', 'app', { file: 'a.c', line: 12 }), frame('main', 'app')]);
    expect(callerFrame(frames, frames[0])!.function).toBe('parse_line');
    expect(callerFrame(frames, frames[1])).toBeUndefined(); // the program's own code: no caller needed
    // Through libc's own callers (qsort calling back, abort's glue), to the program.
    const nested = indexed([frame('__memmove_avx_unaligned_erms', 'libc.so.6'), frame('msort_with_tmp', 'libc.so.6'), frame('__GI___qsort_r', 'libc.so.6'), frame('sort_rows', 'app'), frame('main', 'app')]);
    expect(callerFrame(nested, nested[0])!.function).toBe('sort_rows');
    // A thread that only ever ran libc code: no caller.
    const only = indexed([frame('__strlen_sse2', 'libc.so.6'), frame('start_thread', 'libc.so.6'), frame('clone3', 'libc.so.6')]);
    expect(callerFrame(only, only[0])).toBeUndefined();
    expect(['libc.so.6', 'ld-linux-x86-64.so.2', 'ld-linux-aarch64.so.1', 'libstdc++.so.6', 'libm.so.6', 'ld-musl-x86_64.so.1', 'ld64.so.1'].every(isRuntimeModule)).toBe(true);
    expect(['libz.so.1', 'plugin.so', 'app', 'libcrypto.so.3', null].some(isRuntimeModule)).toBe(false);
  });
});

describe('thread groups', () => {
  it('groups identical stacks, biggest first after the crashing thread, labelled outermost to innermost', () => {
    const waiting = (tid: number) => thread(tid, [frame('__futex_abstimed_wait_common', 'libc.so.6'), frame('___pthread_cond_wait', 'libc.so.6'), frame('queue_pop', 'server'), frame('worker', 'server'), frame('start_thread', 'libc.so.6'), frame('clone3', 'libc.so.6')]);
    const sleeping = (tid: number) => thread(tid, [frame('clock_nanosleep', 'libc.so.6'), frame('nanosleep', 'libc.so.6'), frame('ticker', 'server'), frame('start_thread', 'libc.so.6')]);
    const threads = [thread(1, [frame('crash_here', 'server'), frame('main', 'server')], true), ...[2, 3, 4].map(sleeping), ...[5, 6, 7, 8, 9].map(waiting)];
    const groups = groupThreads(threads);
    expect(groups.map((g) => g.tids)).toEqual([[1], [5, 6, 7, 8, 9], [2, 3, 4]]);
    expect(groups[0]!.crashed).toBe(true);
    expect(groups[1]!.label).toBe('worker → queue_pop → pthread_cond_wait');
    expect(groupLabel(sleeping(1).frames)).toBe('ticker → nanosleep');
  });
});

describe('address map', () => {
  it('joins a module’s segments and its .bss, names stacks, the heap and guard pages', () => {
    const modules = [
      { start: 0x555555554000n, end: 0x555555559000n, path: '/opt/app/server', kind: 'executable' },
      { start: 0x7ffff7c00000n, end: 0x7ffff7dbd000n, path: '/usr/lib/x86_64-linux-gnu/libc.so.6', kind: 'library' },
    ] as unknown as Module[];
    const map = addressMap({ segments: SEGMENTS, modules, threads: [{ tid: 10, sp: 0x7fffffffe000n }, { tid: 11, sp: 0x7ffff7700000n }] });
    expect(map.map((r) => [r.kind, r.label, r.perms])).toEqual([
      ['module', 'server', 'rwx'],
      ['heap', 'heap (brk)', 'rw-'],
      ['guard', 'no access (guard)', '---'],
      ['stack', 'stack of thread 11', 'rw-'],
      ['module', 'libc.so.6', 'r-x'],
      ['stack', 'stack of thread 10', 'rw-'],
    ]);
  });
});

const HOSTILE = `./app '<script>alert(1)</script>' '"><img src=x onerror=alert(2)>' \`id\` | ~~x~~`;

function sampleReport(over: Partial<CrashReport> = {}): CrashReport {
  const frames = indexed([frame('<script>evil()</script>', 'lib"x.so', { file: 'a|b.c', line: 3, source: '  return p->b[3]; // ```' }), frame('main', 'app')]);
  const t: ReportThread = { ...thread(42, frames, true), name: '<b>name</b>' };
  return {
    schema: REPORT_SCHEMA,
    verdict: { cause: 'null-dereference', title: 'NULL pointer dereference', detail: 'address 0x10 is 16 bytes past NULL', sentence: 'NULL pointer dereference: address 0x10 is 16 bytes past NULL.' },
    where: 'in <script>evil()</script> at a|b.c:3',
    headline: 'NULL pointer dereference in <script>evil()</script> at a|b.c:3: address 0x10 is 16 bytes past NULL.',
    signal: { signo: 11, name: 'SIGSEGV', code: 1, codeName: 'SEGV_MAPERR', addr: 0x10n },
    process: { pid: 42, command: HOSTILE, executable: '/opt/app', arch: 'x86_64', os: 'linux' },
    crashed: t,
    threads: [t],
    groups: groupThreads([t]),
    modules: [{ name: 'app', path: '/opt/<app>|x', kind: 'executable', start: 0x1000n, end: 0x2000n, loadBias: 0n, buildId: 'ab', check: 'exact', debugInfo: 'bundled' }],
    map: [{ start: 0x1000n, end: 0x2000n, kind: 'module', label: '<app>', perms: 'r-x' }],
    signature: signatureOf('SIGSEGV', frames),
    provenance: { input: 'bundle', path: '/tmp/b.tbz2', host: 'host<1>', collectedAt: '2026-12-03T08:00:00Z', stored: null, captured: null, mini: false, exact: true, attachments: ['/var/log/<x>.log'] },
    symbols: { from: 'gdb', debugger: '/usr/bin/gdb', sandboxed: true },
    notes: ['a <note>'],
    ...over,
  };
}

describe('formats', () => {
  it('HTML: every string from the core is escaped, no script can run, one self-contained file', () => {
    const html = renderHtml(sampleReport());
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toMatch(/<b>name/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    expect(html).toContain("default-src 'none'");
    // No network: nothing is fetched from anywhere.
    expect(html).not.toMatch(/<[^>]*\s(?:src|href)=/i);
    expect(html).toContain('<svg');
    expect(esc('a\nb\u0000')).toBe('a\\x0ab\\x00');
  });

  it('Markdown: code spans, fences and table cells cannot be broken out of', () => {
    expect(mdCode('a`b')).toBe('``a`b``');
    expect(mdCode('`x`')).toBe('`` `x` ``');
    expect(mdCode('a|b', true)).toBe('`a\\|b`');
    expect(mdBlock(['x ``` y'])).toMatch(/^````text\n/);
    expect(mdText('<img src=x onerror=1> *b* [l](u)')).toBe('&lt;img src=x onerror=1&gt; \\*b\\* \\[l\\](u)');
    expect(mdText('crash_here _x_ __libc')).toBe('crash_here \\_x\\_ \\_\\_libc');
    const md = renderMarkdown(sampleReport());
    // Outside code blocks and code spans (shown literally), no HTML from the core.
    const prose = md.replace(/^(`{3,})text\n[\s\S]*?\n\1$/gm, '').replace(/(`+)[\s\S]*?\1/g, '');
    expect(prose).not.toMatch(/<script|<img|<b>/i);
    expect(md).toContain('&lt;script&gt;evil()&lt;/script&gt;');
    // The verdict is the first line, one sentence: its title is not said again below it.
    expect(md.split('\n')[0]).toBe('### NULL pointer dereference in &lt;script&gt;evil()&lt;/script&gt; at a\\|b.c:3: address 0x10 is 16 bytes past NULL.');
    expect(md.match(/NULL pointer dereference/gi)).toHaveLength(1);
    expect(md).toContain('<details><summary>');
    expect(md).toContain(sampleReport().signature.hash);
    // Each table row still has its cells: an escaped `|` does not split a cell.
    for (const row of md.split('\n').filter((l) => l.startsWith('| Command'))) expect(row.split(/(?<!\\)\|/).length).toBe(4);
  });

  it("Markdown: a report over GitHub's limit is cut, with a note", () => {
    const deep = indexed(Array.from({ length: 3000 }, (_, i) => frame(`function_with_a_long_name_${i}`, 'libbig.so')));
    const threads = Array.from({ length: 300 }, (_, i) => ({ ...thread(1000 + i, deep.slice(i % 50), i === 0) }));
    const r = sampleReport({ crashed: threads[0]!, threads, groups: groupThreads(threads) });
    const md = renderMarkdown(r);
    expect(md.length).toBeLessThanOrEqual(GITHUB_BODY_LIMIT);
    expect(md).toContain('cut to fit 65536 characters');
    expect(md.startsWith('### NULL pointer dereference')).toBe(true);
  });

  it('JSON: addresses as hex strings; text: the verdict first', () => {
    const j = reportJson(sampleReport());
    expect(j.schema).toBe(REPORT_SCHEMA);
    expect((j.signal as { addr: string }).addr).toBe('0x10');
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
    // The headline, once: not the title, then the sentence repeating it.
    expect(renderText(sampleReport()).split('\n')[0]).toBe('NULL pointer dereference in <script>evil()</script> at a|b.c:3: address 0x10 is 16 bytes past NULL.');
    expect(renderText(sampleReport()).match(/NULL pointer dereference/gi)).toHaveLength(1);
    expect(j.headline).toBe(sampleReport().headline);
  });
});

describe("report.py's output", () => {
  const doc = JSON.stringify({ gdb: '13.1', threads: [{ num: 1, lwp: 7, name: null, frames: [{ pc: '0x401000', function: 'main', file: 'a.c', fullname: '/src/a.c', line: 3, solib: null, inline: false, signalFrame: false }], truncated: false, error: null }], symbols: { __abort_msg: '0x7f0010' } });

  it('is read between the two nonce lines only', () => {
    const out = `Core was generated by \`./a\`.\nN1\n${doc}\nN1\n`;
    const f = parseGdbFrames(out, 'N1')!;
    expect(f.threads[0]!.frames[0]).toMatchObject({ pc: 0x401000n, function: 'main', line: 3 });
    expect(f.symbols.__abort_msg).toBe(0x7f0010n);
  });

  it('a crashed program cannot forge it without the nonce', () => {
    const forged = `Core was generated by \`./a\nFAKE\n${doc}\nFAKE\n\`.\n`;
    expect(parseGdbFrames(forged, 'N1')).toBeUndefined();
    expect(parseGdbFrames('N1\nnot json\nN1\n', 'N1')).toBeUndefined();
  });
});
