/**
 * `corepack report` on real kernel cores of test/fixtures/c/report.c (and of
 * crashme's dlopen'ed plugin, through a real bundle), with the real gdb in
 * the sandbox, and its HTML page rendered by a real headless Chromium.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCore, makeCrash, type CrashFixture } from './helpers/crash.js';
import { corepack, expectOneLineError, type CliRun } from './helpers/cli.js';

const SOURCE = fileURLToPath(new URL('./fixtures/c/report.c', import.meta.url));
/** x86-64's strlen variants: the CPU's choice, without the EVEX ones (AVX2), without AVX2 either (SSE2). */
const LIBC_VARIANTS: Array<[string, string]> = [
  ['libc', ''],
  ['libc-no-evex', 'glibc.cpu.hwcaps=-AVX512VL'],
  ['libc-no-avx2', 'glibc.cpu.hwcaps=-AVX512VL,-AVX2'],
];
const HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>'];

interface JsonFrame { function: string | null; file: string | null; line: number | null; module: string | null; offset: string | null; source: string | null; repeat: number }
interface JsonReport {
  verdict: { cause: string; title: string; sentence: string; assertion: { expression: string; file: string; line: number; function: string } | null; abortMessage: string | null };
  where: string;
  headline: string;
  process: { command: string | null };
  signature: { hash: string; frames: string[]; basis: string };
  crashedThread: number | null;
  threads: Array<{ tid: number; crashed: boolean; frames: JsonFrame[] }>;
  groups: Array<{ label: string; tids: number[]; crashed: boolean }>;
  modules: Array<{ name: string; path: string | null; start: string; check: string; debugInfo: string }>;
  provenance: { input: string; exact: boolean | null };
  symbols: { from: string };
  notes: string[];
}

let root: string;
let plugin: CrashFixture;
const cores = new Map<string, { core: string; pid: number }>();
const reports = new Map<string, JsonReport>();

/** The line of report.c holding `text`. */
async function lineOf(text: string): Promise<number> {
  const lines = (await fs.readFile(SOURCE, 'utf8')).split('\n');
  const i = lines.findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`report.c has no line with ${text}`);
  return i + 1;
}

async function build(dir: string, flags: string[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await execa('gcc', ['-g', '-O0', '-pthread', ...flags, '-o', path.join(dir, 'r'), SOURCE], { stdin: 'ignore' });
}

/** The report as JSON, exit code 0 expected. */
async function jsonReport(input: string, extra: string[] = []): Promise<JsonReport> {
  const run = await corepack(['report', input, '--json', ...extra]);
  if (run.exitCode !== 0) throw new Error(`report ${input}: exit ${run.exitCode}\n${run.stderr}`);
  return JSON.parse(run.stdout) as JsonReport;
}

const crashedFrames = (r: JsonReport) => r.threads.find((t) => t.crashed)!.frames;

beforeAll(async () => {
  root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-report-test-')));
  // Build "a" is PIE; build "b" of the same source is not, with 4 KiB of code in front: other addresses, other offsets.
  await Promise.all([build(path.join(root, 'a'), ['-fPIE', '-pie']), build(path.join(root, 'b'), ['-DPADDING=4096', '-fno-pie', '-no-pie'])]);
  const crash = async (key: string, dir: string, args: string[], signal: NodeJS.Signals) => {
    // Run as ./r from its directory: the kernel keeps 80 bytes of the command line, the hostile arguments fit.
    const r = await makeCore(['./r', ...args], { cwd: path.join(root, dir), signal });
    cores.set(key, r);
  };
  await crash('null', 'a', ['null', ...HOSTILE], 'SIGSEGV');
  await crash('null-b', 'b', ['null'], 'SIGSEGV');
  await crash('null-other', 'a', ['null-other'], 'SIGSEGV');
  await crash('overflow', 'a', ['overflow'], 'SIGSEGV');
  await crash('assert', 'a', ['assert'], 'SIGABRT');
  await crash('threads', 'a', ['threads'], 'SIGSEGV');
  await crash('deep', 'a', ['deep'], 'SIGSEGV');
  // strlen(NULL + 8) inside libc, in the ifunc variant the CPU picks, and in those GLIBC_TUNABLES makes it pick instead.
  for (const [key, tunables] of LIBC_VARIANTS) {
    cores.set(key, await makeCore(['./r', 'libc'], { cwd: path.join(root, 'a'), signal: 'SIGSEGV', env: { GLIBC_TUNABLES: tunables } }));
  }
  plugin = await makeCrash('abort-plugin');
  const bundle = path.join(root, 'plugin.tbz2');
  const collected = await corepack(['collect', plugin.core, '-o', bundle]);
  if (collected.exitCode !== 0) throw new Error(`collect: ${collected.stderr}`);
  cores.set('plugin', { core: bundle, pid: plugin.pid });
  for (const [key, c] of cores) if (key !== 'deep') reports.set(key, await jsonReport(c.core, key === 'plugin' ? ['--dir', path.join(root, 'replay-dir')] : []));
}, 300_000);

afterAll(async () => {
  await plugin?.cleanup();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

describe('report: the verdict names the cause, the function and the line', () => {
  it('a NULL dereference: the offset, crash_here at its line, with the source line', async () => {
    const r = reports.get('null')!;
    expect(r.verdict.cause).toBe('null-dereference');
    expect(r.verdict.sentence).toBe('NULL pointer dereference: address 0x10 is 16 bytes past NULL (a field of a struct or an element of an array reached through a NULL pointer).');
    const line = await lineOf('r->count = 42');
    expect(r.where).toMatch(new RegExp(`^in crash_here at .*report\\.c:${line} \\(r\\+0x[0-9a-f]+\\), thread ${cores.get('null')!.pid} `));
    // The headline is one sentence: the title once, where, the detail once.
    expect(r.headline).toBe(`NULL pointer dereference ${r.where}: address 0x10 is 16 bytes past NULL (a field of a struct or an element of an array reached through a NULL pointer).`);
    const top = crashedFrames(r)[0]!;
    expect(top).toMatchObject({ function: 'crash_here', line, module: 'r' });
    expect(top.source).toContain('r->count = 42');
    expect(crashedFrames(r).map((f) => f.function)).toEqual(['crash_here', 'main']);
    expect(r.symbols.from).toBe('gdb');
    // The exact hostile command line, as the kernel kept it.
    expect(r.process.command).toBe(`./r null ${HOSTILE.join(' ')}`);
  });

  it('unbounded recursion: a stack overflow in recurse, the recursion folded', async () => {
    const r = reports.get('overflow')!;
    expect(r.verdict.cause).toBe('stack-overflow');
    expect(r.verdict.sentence).toMatch(/^Stack overflow: the stack pointer \(0x[0-9a-f]+\) ran past the bottom of the thread's stack mapping/);
    // The fault is where the frame is made: at the function's first lines.
    const [first, last] = [await lineOf('int recurse(int depth)'), await lineOf('return recurse(depth + 1)')];
    const line = Number(/^in recurse at .*report\.c:(\d+) /.exec(r.where)?.[1]);
    expect(line).toBeGreaterThanOrEqual(first);
    expect(line).toBeLessThanOrEqual(last);
    const frames = crashedFrames(r);
    expect(frames[0]!.function).toBe('recurse');
    // gdb lists 4096 frames at most; they come out as one or two frames with a count.
    expect(frames.reduce((n, f) => n + f.repeat, 0)).toBeGreaterThan(1000);
    expect(frames.length).toBeLessThan(5);
  });

  it("a failed assert: glibc's message from the core gives expression, function, file and line", async () => {
    const r = reports.get('assert')!;
    const line = await lineOf('assert(cfg->port != 0);');
    expect(r.verdict.cause).toBe('assertion');
    expect(r.verdict.assertion).toMatchObject({ expression: 'cfg->port != 0', function: 'check_config', line });
    expect(r.verdict.assertion!.file).toMatch(/report\.c$/);
    expect(r.verdict.abortMessage).toMatch(/Assertion `cfg->port != 0' failed\.$/);
    // "Where" is the caller of assert, past raise/abort/__assert_fail.
    expect(r.where).toMatch(new RegExp(`^in check_config at .*report\\.c:${line} `));
    expect(r.headline).toBe(`Assertion failed ${r.where}: \`cfg->port != 0\` is false.`);
    expect(r.signature.frames[0]).toBe('check_config (r)');
  });

  it("an abort in a dlopen'ed plugin, through a bundle: plugin_abort in plugin.so at its abort() line, every module exact", async () => {
    const r = reports.get('plugin')!;
    expect(r.verdict.cause).toBe('abort');
    const pluginSource = await fs.readFile(fileURLToPath(new URL('./fixtures/c/plugin.c', import.meta.url)), 'utf8');
    const abortLine = pluginSource.split('\n').findIndex((l) => /\babort\(\)/.test(l)) + 1;
    expect(abortLine).toBeGreaterThan(0);
    expect(r.where).toMatch(new RegExp(`^in plugin_abort at .*plugin\\.c:${abortLine} \\(plugin\\.so\\+0x[0-9a-f]+\\), thread ${plugin.pid}`));
    expect(r.provenance).toMatchObject({ input: 'bundle', exact: true });
    const mod = r.modules.find((m) => m.name === 'plugin.so')!;
    expect(mod.check).toBe('exact');
    expect(mod.debugInfo).toBe('bundled');
    expect(r.signature.frames.slice(0, 2)).toEqual(['plugin_abort (plugin.so)', 'main (crashme)']);
  });

  it('20 threads in 3 groups: the crashing one, 12 waiting in queue_pop, 7 in pause', async () => {
    const r = reports.get('threads')!;
    expect(r.threads).toHaveLength(20);
    expect(r.groups.map((g) => g.tids.length)).toEqual([1, 12, 7]);
    expect(r.groups[0]).toMatchObject({ crashed: true, tids: [cores.get('threads')!.pid], label: 'main → threads → crash_here' });
    expect(r.groups[1]!.label).toBe('worker → queue_pop → pthread_cond_wait');
    expect(r.groups[2]!.label).toMatch(/^ticker → \S*pause$/);
    expect(r.verdict.cause).toBe('null-dereference');
    expect(r.where).toMatch(new RegExp(`^in crash_here at .*report\\.c:${await lineOf('r->count = 42')} `));
  });
});

describe('report: the signature', () => {
  it('is the same for the same bug in two builds at different load addresses', () => {
    const a = reports.get('null')!;
    const b = reports.get('null-b')!;
    // Really two builds: the executable at other addresses, crash_here at another offset.
    expect(b.modules.find((m) => m.name === 'r')!.start).not.toBe(a.modules.find((m) => m.name === 'r')!.start);
    expect(crashedFrames(b)[0]!.offset).not.toBe(crashedFrames(a)[0]!.offset);
    expect(b.signature.hash).toBe(a.signature.hash);
    expect(a.signature.frames).toEqual(['crash_here (r)', 'main (r)']);
  });

  it('differs for a different bug', () => {
    const hashes = ['null', 'null-other', 'overflow', 'assert', 'threads'].map((k) => reports.get(k)!.signature.hash);
    expect(new Set(hashes).size).toBe(hashes.length);
  });
});

describe('report: a crash inside the C library', () => {
  const libc = () => reports.get('libc')!;

  it('is told through the calling frame: in strlen called from parse_line at its line', async () => {
    const r = libc();
    const line = await lineOf('return strlen(l->text);');
    expect(r.verdict.cause).toBe('null-dereference');
    expect(crashedFrames(r)[0]!.module).toBe('libc.so.6');
    expect(crashedFrames(r)[0]!.function).toMatch(/^__strlen_/);
    expect(r.where).toMatch(new RegExp(`^in strlen \\(libc\\.so\\.6\\+0x[0-9a-f]+\\) called from parse_line at .*report\\.c:${line} \\(r\\+0x[0-9a-f]+\\), thread ${cores.get('libc')!.pid} "r"$`));
    expect(r.headline).toBe(`NULL pointer dereference ${r.where}: address 0x8 is 8 bytes past NULL (a field of a struct or an element of an array reached through a NULL pointer).`);
    expect(r.signature.frames).toEqual(['strlen (libc.so)', 'parse_line (r)', 'main (r)']);
    expect(r.groups[0]!.label).toBe('main → parse_line → strlen');
  });

  it('has one signature whichever ifunc variant of strlen the CPU ran', (ctx) => {
    const variants = LIBC_VARIANTS.map(([key]) => crashedFrames(reports.get(key)!)[0]!.function);
    for (const v of variants) expect(v).toMatch(/^__strlen_/);
    const hashes = LIBC_VARIANTS.map(([key]) => reports.get(key)!.signature.hash);
    expect(new Set(hashes).size).toBe(1);
    expect(hashes[0]).not.toBe(reports.get('null')!.signature.hash);
    // Proof needs two variants: a CPU without AVX2 runs __strlen_sse2 whatever the tunables say.
    if (new Set(variants).size < 2) ctx.skip(`this CPU ran one strlen variant only (${variants[0]}): nothing to compare`);
    expect(new Set(variants).size).toBeGreaterThan(1);
  });
});

describe('report: formats, options and errors', () => {
  it('without a debugger: each PC as module+offset, and it says symbols come with gdb', async () => {
    const r = await jsonReport(cores.get('null')!.core, ['--no-debugger']);
    expect(r.symbols.from).toBe('core');
    expect(r.verdict.cause).toBe('null-dereference');
    expect(crashedFrames(r)).toHaveLength(1);
    expect(crashedFrames(r)[0]).toMatchObject({ function: null, module: 'r' });
    expect(r.where).toMatch(/^at r\+0x[0-9a-f]+ \(no symbols\)/);
    expect(r.notes.join('\n')).toContain('Symbols come with gdb');
    const text = await corepack(['report', cores.get('null')!.core, '--no-debugger', '--format', 'text']);
    expect(text.stdout).toContain('Symbols come with gdb');
  });

  it('Markdown: the verdict first, stacks in code blocks, <details> for every group, under 65,536 characters', async () => {
    const run = await corepack(['report', cores.get('threads')!.core, '--format', 'md']);
    expect(run.exitCode).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^### NULL pointer dereference in crash_here at /);
    // The verdict once, not a heading and then a sentence repeating it.
    expect(run.stdout.match(/NULL pointer dereference/g)).toHaveLength(1);
    expect(run.stdout.match(/<details>/g)).toHaveLength(3);
    expect(run.stdout).toContain('| Module | Address | Build ID | Check | Debug info |');
    expect(run.stdout).toContain(reports.get('threads')!.signature.hash);
    expect(run.stdout.length).toBeLessThan(65_536);
  });

  it("Markdown of 41 threads with 60- to 100-frame stacks, none alike, is cut under GitHub's 65,536 characters, with a note, the verdict still first", async () => {
    const core = cores.get('deep')!.core;
    const json = await jsonReport(core);
    expect(json.threads).toHaveLength(41);
    expect(json.groups).toHaveLength(41);
    // Uncut, over 2,400 frame lines of about 100 characters: several times the limit.
    expect(json.threads.reduce((n, t) => n + t.frames.length, 0)).toBeGreaterThan(40 * 60);
    const md = await corepack(['report', core, '--format', 'md']);
    expect(md.exitCode).toBe(0);
    expect(md.stdout.length).toBeLessThanOrEqual(65_536);
    expect(md.stdout.split('\n')[0]).toMatch(/^### NULL pointer dereference in crash_here at /);
    expect(md.stdout).toMatch(/> \*\*Note:\*\* cut to fit 65536 characters: stacks to \d+ frames/);
    expect(md.stdout).toContain('corepack-crash report --format html');
    expect(md.stdout).toContain(json.signature.hash);
    // Every fence opened is closed: what follows the cut still renders.
    expect((md.stdout.match(/^```/gm) ?? []).length % 2).toBe(0);
  });

  it("every field of the JSON is in the README's table (\"The report's JSON\")", async () => {
    const readme = await fs.readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    const table = readme.slice(readme.indexOf("### The report's JSON"), readme.indexOf('### Developers: the same crash in gdb'));
    const documented = [...table.matchAll(/^\| `([A-Za-z]+)(?:\[\])?` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(reports.get('null')!).sort());
  });

  it('-o writes the file atomically and names it; -o into a missing directory is exit 7; a non-core is exit 3', async () => {
    const out = path.join(root, 'ticket.md');
    const run = await corepack(['report', cores.get('assert')!.core, '-o', out]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`wrote the Markdown report to ${out}`);
    expect(await fs.readFile(out, 'utf8')).toMatch(/^### Assertion failed in check_config/);
    expect((await fs.readdir(root)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const missing = await corepack(['report', cores.get('assert')!.core, '-o', path.join(root, 'no', 'such', 'x.html')]);
    expect(missing.exitCode).toBe(7);
    expect(expectOneLineError(missing)).toContain('no report was written');
    const bad = await corepack(['report', SOURCE]);
    expect(bad.exitCode).toBe(3);
    expectOneLineError(bad);
    const format = await corepack(['report', SOURCE, '--format', 'pdf']);
    expect(format.exitCode).toBe(2);
    expect(expectOneLineError(format)).toContain('unknown report format "pdf"');
  });
});

/** Headless Chromium as the brief runs it, with a fresh profile; stderr has its log (console messages included). */
async function chromium(args: string[]): Promise<CliRun> {
  const profile = await fs.mkdtemp(path.join(root, 'chromium-profile-'));
  const r = await execa(
    'chromium',
    ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0', ...args],
    { reject: false, stdin: 'ignore', timeout: 120_000, env: { HOME: profile } },
  );
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const consoleLines = (stderr: string) => stderr.split('\n').filter((l) => /:CONSOLE[:(]/.test(l));

describe('report: the HTML page in a real browser', () => {
  let page: string;
  beforeAll(async () => {
    page = path.join(root, 'report.html');
    const run = await corepack(['report', cores.get('null')!.core, '-o', page]);
    if (run.exitCode !== 0) throw new Error(run.stderr);
  }, 120_000);

  it('a screenshot is taken', async () => {
    const shot = path.join(root, 'report.png');
    const run = await chromium([`--screenshot=${shot}`, '--window-size=1200,1600', `file://${page}`]);
    expect(run.exitCode).toBe(0);
    const png = await fs.readFile(shot);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.length).toBeGreaterThan(20_000); // a page with text and the map, not a blank one
  }, 150_000);

  it('the DOM holds the verdict and the frames, the console has no error, the hostile command line is text', async () => {
    const run = await chromium(['--dump-dom', `file://${page}`]);
    expect(run.exitCode).toBe(0);
    const dom = run.stdout;
    expect(dom).toMatch(/<section class="verdict" id="verdict"><h1>NULL pointer dereference in crash_here at [^<]*report\.c:\d+ [^<]*: address 0x10 is 16 bytes past NULL/);
    expect(dom).toMatch(/<span class="fn">crash_here<\/span> at <span class="loc">[^<]*report\.c:\d+<\/span>/);
    expect(dom).toContain('<span class="fn">main</span>');
    expect(dom).toContain('<svg');
    // The arguments are text in the page: no element came of them.
    expect(dom).toContain('./r null &lt;script&gt;alert(1)&lt;/script&gt; "&gt;&lt;img src=x onerror=alert(2)&gt;');
    expect(dom).not.toMatch(/<script|<img/i);
    expect(consoleLines(run.stderr)).toEqual([]);
  }, 150_000);

  it('(control) the same browser does report a console error, and runs a script where one is', async () => {
    const bad = path.join(root, 'control.html');
    await fs.writeFile(bad, '<!DOCTYPE html><html><body><script>console.error("control-error"); document.body.dataset.ran = "yes";</script></body></html>');
    const run = await chromium(['--dump-dom', `file://${bad}`]);
    expect(run.stdout).toContain('data-ran="yes"');
    expect(consoleLines(run.stderr).join('\n')).toContain('control-error');
  }, 150_000);
});
