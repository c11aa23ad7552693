/**
 * `npm run example` (examples/run.sh), the README's first command, end to
 * end on a real crash: it collects, inspects, replays, and writes the crash
 * report the README shows first for support.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCoreSettings, withCorePatternRead } from './helpers/corepattern.js';

const SCRIPT = fileURLToPath(new URL('../examples/run.sh', import.meta.url));
let out: string;
let run: { exitCode: number; stdout: string; stderr: string };
/** core_pattern while the script ran: it reads it, then crashes by it. */
let pattern: string;

beforeAll(async () => {
  out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-example-')), 'out');
  // The script crashes a program: like every test that does, it holds the core_pattern lock shared,
  // so no other test (of this checkout or another) installs its pipe handler meanwhile. Without it,
  // a handler caught the crash, the script fell back to gdb's gcore, and that core's bundle failed
  // to replay ("tar TAR_ENTRY_INVALID: checksum failure": a frame of its own without tar's padding).
  const r = await withCorePatternRead(async () => {
    pattern = readCoreSettings().pattern;
    return execa('bash', [SCRIPT], { reject: false, stdin: 'ignore', env: { COREPACK_EXAMPLE_OUT: out }, timeout: 240_000 });
  });
  run = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}, 300_000);

afterAll(async () => {
  if (out) await fs.rm(path.dirname(out), { recursive: true, force: true });
});

describe('npm run example', () => {
  it('collects, inspects and replays the example crash', () => {
    expect(run.exitCode, run.stderr).toBe(0);
    // The kernel wrote the core where the pattern says so: the script never fell back to gcore behind the test's back.
    if (!pattern.startsWith('|')) expect(run.stdout).not.toContain('no kernel core here');
    expect(run.stdout).toMatch(/\$ corepack-crash collect /);
    expect(run.stdout).toMatch(/=== crashed thread ===\n(?:\[Current thread[^\n]*\n)?#0 [^\n]*strlen[^\n]*\n#1 [^\n]*parse_header/);
  });

  it("writes the report: the verdict told through the program's frame that called strlen", async () => {
    const md = await fs.readFile(path.join(out, 'report.md'), 'utf8');
    expect(md.split('\n')[0]).toMatch(/^### NULL pointer dereference in strlen \(libc\.so\.6\+0x[0-9a-f]+\) called from parse_header at \S*crash\.c:35 \(crash\+0x[0-9a-f]+\), thread \d+: address 0x4 is 4 bytes past NULL/);
    const html = await fs.readFile(path.join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/i);
    expect(html).toContain('called from parse_header');
    // And on the terminal, the same first line as text.
    expect(run.stdout).toMatch(/\$ corepack-crash report crash\.tbz2 --format text\nNULL pointer dereference in strlen \(libc\.so\.6\+0x[0-9a-f]+\) called from parse_header at /);
  });
});
