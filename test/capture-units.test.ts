/**
 * The pieces of the crash-time handler that need no crash: core_pattern
 * parsing and expansion, the configuration's validation, the pass-on file
 * written as the kernel writes it, install/uninstall against a stand-in for
 * /proc/sys/kernel (a directory: the real one is only changed by the kernel
 * tests), and the rate limiter under concurrency.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { expandFile, expandPipe, handlerPattern, MAX_PATTERN_LENGTH, parseHandlerArgs, parsePattern, specifiersOf } from '../src/capture/pattern.js';
import { validateConfig, wantsExecutable } from '../src/capture/config.js';
import { HandlerConfigError, HandlerInstallError } from '../src/capture/errors.js';
import { coreLimit, openPassOn } from '../src/capture/passon.js';
import { handlerStatus, installHandler, uninstallHandler } from '../src/capture/install.js';
import { takeRateSlot } from '../src/capture/state.js';
import { decodeCoreHead, headBytesNeeded } from '../src/capture/livecore.js';
import { planElf } from '../src/elf/writer.js';
import { EM, PT } from '../src/elf/constants.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-capture-')));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('core_pattern', () => {
  it('splits a pipe pattern at spaces before expanding, as the kernel does since 5.3, and expands a file pattern with core_uses_pid', () => {
    const systemd = '|/lib/systemd/systemd-coredump %P %u %g %s %t %c %h';
    const p = parsePattern(systemd);
    expect(p).toEqual({ kind: 'pipe', argv: ['/lib/systemd/systemd-coredump', '%P', '%u', '%g', '%s', '%t', '%c', '%h'] });
    const values = { P: '4242', u: '0', g: '0', s: '11', t: '1700000000', c: '0', h: 'vm one', e: 'my app' };
    expect(expandPipe((p as { argv: string[] }).argv, values)).toEqual(['/lib/systemd/systemd-coredump', '4242', '0', '0', '11', '1700000000', '0', 'vm one']);
    expect(expandFile('core', { p: '77' }, true)).toBe('core.77');
    expect(expandFile('core.%p', { p: '77' }, true)).toBe('core.77');
    expect(expandFile('/var/crash/%e-%%-%p', { p: '77', e: 'my app' }, false)).toBe('/var/crash/my app-%-77');
    expect(parsePattern('')).toEqual({ kind: 'file', template: 'core' });
    expect(specifiersOf('|x %P %%p %e')).toEqual(['P', 'e']);
  });

  it("the handler's line passes what it needs and every specifier the previous pattern uses, and its arguments parse back", () => {
    const line = handlerPattern('/usr/local/bin/corepack-crash', '|/lib/systemd/systemd-coredump %P %u %g %s %t %c %h %d %F');
    expect(line).toBe('|/usr/local/bin/corepack-crash handle P=%P p=%p i=%i s=%s c=%c d=%d t=%t u=%u g=%g e=%e h=%h F=%F');
    expect(line.length).toBeLessThanOrEqual(MAX_PATTERN_LENGTH);
    expect(parseHandlerArgs(['P=1', 'e=a b=c', 'bogus', 'e2=x'])).toEqual({ values: { P: '1', e: 'a b=c' }, unknown: ['bogus', 'e2=x'] });
    expect(coreLimit('18446744073709551615')).toBe(Infinity);
    expect(coreLimit('0')).toBe(0);
  });
});

describe('configuration', () => {
  it('names every problem at once, with its key', () => {
    let err: HandlerConfigError | undefined;
    try {
      validateConfig({ spool: 'x', format: 'zip', stackCap: '1K', encryptTo: ['ssh-ed25519 AAA'], rateLimit: { overall: -1, burst: 2 }, chain: 'sometimes', extra: 1 }, '/etc/corepack/handler.json', '/var/lib/corepack');
    } catch (e) {
      err = e as HandlerConfigError;
    }
    expect(err).toBeInstanceOf(HandlerConfigError);
    expect(err!.problems).toEqual([
      'unknown key "extra" (known: spool, format, stacksOnly, stackCap, encryptTo, recipientsFile, attach, attachMax, split, executables, chain, rateLimit, spoolMaxBytes, timeoutSeconds)',
      '"spool" must be an absolute path, not "x"',
      expect.stringMatching(/^"format" "zip" is not a bundle format \(one of: /),
      '"stackCap" must be at least 4096 bytes',
      '"encryptTo" "ssh-ed25519 AAA" is not an age recipient (age1…)',
      '"chain" must be "always" or "on-failure", not "sometimes"',
      'unknown key "rateLimit.burst" (known: perExecutable, overall, windowSeconds)',
      '"rateLimit.overall" must be a whole number ≥ 0',
    ]);
    expect(err!.message.startsWith('/etc/corepack/handler.json: unknown key "extra"')).toBe(true);
  });

  it('fills in every default, and picks executables by glob', () => {
    const c = validateConfig({ stacksOnly: true, stackCap: '256K', split: '25M', executables: { include: ['/srv/**', 'nginx'], exclude: ['*-test'] } }, 'f', '/var/lib/corepack');
    expect(c).toMatchObject({ spool: '/var/lib/corepack/spool', stackCap: 262144, split: 25 * 1024 * 1024, chain: 'always', timeoutMs: 120_000 });
    expect(c.format.extensions[0]).toBe('.tar.zst');
    expect(wantsExecutable(c, '/srv/app/bin/server')).toBe(true);
    expect(wantsExecutable(c, '/usr/sbin/nginx')).toBe(true);
    expect(wantsExecutable(c, '/srv/app/bin/unit-test')).toBe(false);
    expect(wantsExecutable(c, '/usr/bin/python3')).toBe(false);
  });
});

describe('passing the core on to a plain pattern', () => {
  /** A stand-in for /proc/PID: its cwd and root links point into the scratch directory. */
  async function fakeProc(pid: string): Promise<{ procDir: string; cwd: string }> {
    const procDir = path.join(dir, `proc-${pid}`);
    const cwd = path.join(dir, `cwd-${pid}`);
    await fs.mkdir(path.join(procDir, pid), { recursive: true });
    await fs.mkdir(cwd);
    await fs.symlink(cwd, path.join(procDir, pid, 'cwd'));
    return { procDir, cwd };
  }

  it('writes the file the kernel would: core_uses_pid, holes for zero pages, cut at RLIMIT_CORE, mode 0600, replacing an old file', async () => {
    const { procDir, cwd } = await fakeProc('101');
    await fs.writeFile(path.join(cwd, 'core.7'), 'old');
    const data = Buffer.concat([Buffer.alloc(4096, 1), Buffer.alloc(1 << 20), Buffer.alloc(100, 2)]);
    const t = await openPassOn('core', { values: { P: '101', p: '7', u: String(process.getuid!()), g: String(process.getgid!()), c: String(1 << 30) }, coreUsesPid: true, finishTimeoutMs: 1000, procDir });
    expect(t.describe).toBe('the file <cwd>/core.7');
    for (let i = 0; i < data.length; i += 5000) await t.write(data.subarray(i, i + 5000));
    await t.finish();
    const file = path.join(cwd, 'core.7');
    expect((await fs.readFile(file)).equals(data)).toBe(true);
    const st = await fs.stat(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.blocks * 512).toBeLessThan(64 * 1024); // the MiB of zeros is a hole

    const cut = await openPassOn('core', { values: { P: '101', p: '8', c: '8192' }, coreUsesPid: true, finishTimeoutMs: 1000, procDir });
    await cut.write(data);
    await cut.finish();
    expect((await fs.stat(path.join(cwd, 'core.8'))).size).toBe(8192);

    const none = await openPassOn('core', { values: { P: '101', p: '9', c: '0' }, coreUsesPid: true, finishTimeoutMs: 1000, procDir });
    expect(none.active).toBe(false);
    expect(none.describe).toMatch(/RLIMIT_CORE of the process is 0/);
    const suid = await openPassOn('core', { values: { P: '101', p: '9', c: '100000', d: '2' }, coreUsesPid: false, finishTimeoutMs: 1000, procDir });
    expect(suid.active).toBe(false);
  });

  it('hands a previous pipe handler the core on its stdin with its arguments expanded', async () => {
    const out = path.join(dir, 'piped');
    const t = await openPassOn(`|/bin/sh -c cat>${out}.%p`, { values: { P: '1', p: '55' }, coreUsesPid: true, finishTimeoutMs: 5000 });
    await t.write(Buffer.from('core bytes'));
    await t.finish();
    expect(await fs.readFile(`${out}.55`, 'utf8')).toBe('core bytes');
  });
});

describe('handler install / uninstall (against a stand-in for /proc/sys/kernel)', () => {
  it('records the exact previous values before changing them, chains, refuses a second handler, and uninstall restores them byte for byte', async () => {
    const procDir = path.join(dir, 'proc-sys');
    await fs.mkdir(path.join(procDir, 'sys/kernel'), { recursive: true });
    const previous = '|/lib/systemd/systemd-coredump %P %u %g %s %t %c %h';
    await fs.writeFile(path.join(procDir, 'sys/kernel/core_pattern'), `${previous}\n`);
    await fs.writeFile(path.join(procDir, 'sys/kernel/core_pipe_limit'), '0\n');
    const stateDir = path.join(dir, 'state-install');
    const exe = path.join(dir, 'corepack-crash');
    await fs.writeFile(exe, '#!/bin/sh\n', { mode: 0o755 });
    const o = { procDir, stateDir, exe, config: path.join(dir, 'no-such-config.json'), pipeLimit: 16 };
    const r = await installHandler(o);
    expect(r.changed).toBe(true);
    expect(await fs.readFile(path.join(procDir, 'sys/kernel/core_pattern'), 'utf8')).toBe(`|${exe} handle P=%P p=%p i=%i s=%s c=%c d=%d t=%t u=%u g=%g e=%e h=%h`);
    expect(await fs.readFile(path.join(procDir, 'sys/kernel/core_pipe_limit'), 'utf8')).toBe('16');
    expect(r.record).toMatchObject({ previousPattern: previous, previousPipeLimit: 0, pipeLimit: 16 });
    expect((await installHandler(o)).changed).toBe(false);
    const s = await handlerStatus({ procDir, stateDir, recent: 5 });
    expect(s).toMatchObject({ installed: true, active: true, pipeLimit: 16 });

    await fs.writeFile(path.join(procDir, 'sys/kernel/core_pattern'), 'core');
    await expect(uninstallHandler({ procDir, stateDir, force: false })).rejects.toThrow(HandlerInstallError);
    await fs.writeFile(path.join(procDir, 'sys/kernel/core_pattern'), r.record.pattern);
    expect((await uninstallHandler({ procDir, stateDir, force: false })).restored).toEqual({ pattern: previous, pipeLimit: 0 });
    expect(await fs.readFile(path.join(procDir, 'sys/kernel/core_pattern'), 'utf8')).toBe(previous);
    expect(await fs.readFile(path.join(procDir, 'sys/kernel/core_pipe_limit'), 'utf8')).toBe('0');
    await expect(uninstallHandler({ procDir, stateDir, force: false })).rejects.toThrow(/not installed/);
    // A line over the kernel's 127 bytes is refused before anything changes.
    const long = path.join(dir, 'x'.repeat(80));
    await fs.writeFile(long, '', { mode: 0o755 });
    await expect(installHandler({ ...o, exe: long })).rejects.toThrow(/more than the kernel's 127/);
    expect(await fs.readFile(path.join(procDir, 'sys/kernel/core_pattern'), 'utf8')).toBe(previous);
  });
});

describe('rate limit and the streamed head', () => {
  it('hands out exactly the limit to concurrent captures', async () => {
    const stateDir = path.join(dir, 'state-rate');
    const limits = { perExecutable: 3, overall: 5, windowSeconds: 60 };
    const now = Date.now();
    const a = await Promise.all(Array.from({ length: 10 }, () => takeRateSlot(stateDir, '/srv/a', limits, now)));
    expect(a.filter((x) => x === 'ok')).toHaveLength(3);
    expect(a.filter((x) => x === 'per-executable')).toHaveLength(7);
    const b = await Promise.all(Array.from({ length: 4 }, () => takeRateSlot(stateDir, '/srv/b', limits, now)));
    expect(b.filter((x) => x === 'ok')).toHaveLength(2);
    expect(b.filter((x) => x === 'overall')).toHaveLength(1);
    expect(b.filter((x) => x === 'per-executable')).toHaveLength(1);
    // A window later, slots are free again.
    expect(await takeRateSlot(stateDir, '/srv/a', limits, now + 60_000)).toBe('ok');
  });

  it('the window slides: a storm across a minute boundary still gets only perExecutable captures in any 60 s', async () => {
    const stateDir = path.join(dir, 'rate-sliding');
    const limits = { perExecutable: 3, overall: 10, windowSeconds: 60 };
    // 59.5 s into a minute, then one second later: with fixed windows, each side had 3 (6 in one second).
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 + 59_500;
    const before = await Promise.all(Array.from({ length: 5 }, () => takeRateSlot(stateDir, '/srv/storm', limits, t0)));
    const after = await Promise.all(Array.from({ length: 5 }, () => takeRateSlot(stateDir, '/srv/storm', limits, t0 + 1000)));
    expect([...before, ...after].filter((x) => x === 'ok')).toHaveLength(3);
    // 60 s after the first three, they are free again; not a moment before.
    expect(await takeRateSlot(stateDir, '/srv/storm', limits, t0 + 59_000)).toBe('per-executable');
    const later = await Promise.all(Array.from({ length: 5 }, () => takeRateSlot(stateDir, '/srv/storm', limits, t0 + 60_000)));
    expect(later.filter((x) => x === 'ok')).toHaveLength(3);
  });

  it('knows how much of the stream it needs before the head decodes, and the core size from the program headers', () => {
    const plan = planElf({ elfClass: 64, byteOrder: 'little', e_machine: EM.EM_X86_64, notes: [{ name: 'CORE', n_type: 1, desc: Buffer.alloc(336) }], segments: [{ p_type: PT.PT_LOAD, p_flags: 6, p_vaddr: 0x1000n, p_filesz: 8192n, p_memsz: 8192n, p_align: 4096n }] });
    const head = plan.head;
    expect(headBytesNeeded(head.subarray(0, 10))).toBe(16);
    expect(headBytesNeeded(head.subarray(0, 16))).toBe(64);
    expect(headBytesNeeded(head.subarray(0, 64))).toBe(64 + 2 * 56);
    expect(headBytesNeeded(head)).toBe(0);
    expect(decodeCoreHead(head).size).toBe(Number(plan.fileSize));
  });
});
