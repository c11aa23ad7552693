/**
 * Cores where real systems keep them, made for real: a kernel core of
 * crashme stored by the test as systemd-coredump stores it (zstd, lz4, xz,
 * its file name and user.coredump.* xattrs), as apport's own writer stores
 * it (../shared/tools/apport/problem_report.py), in an ABRT-style directory,
 * and cut by the kernel (ulimit -c). Bad input gets a one-line error, a
 * nonzero exit and leaves no temporary file.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCrash } from './helpers/crash.js';
import { corepack, expectOneLineError } from './helpers/cli.js';
import { escapeComm } from '../src/input/systemd.js';
import { decompressFile } from '../src/input/decompress.js';
import { crashLockPrefix } from './helpers/corepattern.js';

const env = useCrash('segv-main', 'corepack-input-');
const APPORT = resolve('../shared/tools/apport/problem_report.py');
const hasApport = existsSync(APPORT);
if (!hasApport) console.warn(`SKIPPED: apport report tests need ${APPORT} (../shared is absent)`);

let tmp: string; // TMPDIR of every run: must be empty afterwards
let store: string;
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');
const run = (args: string[]) => corepack(args, { env: { TMPDIR: tmp } });

async function expectNoTemporaries(): Promise<void> {
  expect(await readdir(tmp)).toEqual([]);
}

/** Stores the core as systemd-coredump does: compressed, its name, mode 0640, xattrs. */
async function systemdStore(ext: 'zst' | 'lz4' | 'xz', comm: string): Promise<string> {
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim().replace(/-/g, '');
  const usec = 1_700_000_000_000_000 + { zst: 1, lz4: 2, xz: 3 }[ext];
  const name = `core.${escapeComm(comm)}.0.${bootId}.${env.crash.pid}.${usec}.${ext}`;
  const out = join(store, name);
  const prog = { zst: ['zstd', '-q', '-c'], lz4: ['lz4', '-q', '-c'], xz: ['xz', '-q', '-c', '-0'] }[ext];
  await execa(prog[0]!, prog.slice(1), { inputFile: env.crash.core, stdout: { file: out } });
  await execa('chmod', ['0640', out]);
  const attrs: Record<string, string> = { pid: String(env.crash.pid), uid: '0', gid: '0', signal: '11', timestamp: String(usec), rlimit: '18446744073709551615', hostname: 'testhost', comm, exe: env.program.exe };
  for (const [k, v] of Object.entries(attrs)) await execa('setfattr', ['-n', `user.coredump.${k}`, '-v', v, out]);
  return out;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(env.work, 'tmpdir-'));
  store = join(env.work, 'store');
  await mkdir(store);
});

describe('a decompressor whose output is read late', () => {
  // The cause of the flaky systemd-xz case (issue 11's closing note, issue 18): execa resumes a
  // stdout that nobody reads yet (buffer: false) on the next turn of the loop, and what the
  // program writes meanwhile is dropped; unpacking reads only after mkdtemp and open, which
  // take longer than that on a loaded machine, and then starts mid-core, in its zeros.
  for (const form of ['xz', 'zstd', 'lz4'] as const) {
    it(`${form}: every byte reaches a consumer that starts reading 300 ms after the start`, async () => {
      const file = join(env.work, `late.${form}`);
      const prog = { xz: ['xz', '-q', '-c', '-0'], zstd: ['zstd', '-q', '-c'], lz4: ['lz4', '-q', '-c'] }[form];
      await execa(prog[0]!, prog.slice(1), { inputFile: env.crash.core, stdout: { file } });
      const stream = await decompressFile(file, form);
      await new Promise((r) => setTimeout(r, 300));
      const hash = createHash('sha256');
      for await (const chunk of stream.bytes) hash.update(chunk);
      await stream.done;
      expect(hash.digest('hex')).toBe(await sha(env.crash.core));
    });
  }
});

describe('systemd-coredump cores (zstd, lz4, xz with name and xattrs)', () => {
  for (const ext of ['zst', 'lz4', 'xz'] as const) {
    it(`${ext}: inspect reads it like the raw core, collect bundles the plain core and records the origin`, async () => {
      const file = await systemdStore(ext, 'crash me.x');
      const raw = JSON.parse((await run(['inspect', env.crash.core, '--json'])).stdout);
      const r = await run(['inspect', file, '--json']);
      expect(r.exitCode, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.threads).toEqual(raw.threads);
      expect(j.signal).toEqual(raw.signal);
      expect(j.origin).toMatchObject({ form: { zst: 'zstd', lz4: 'lz4', xz: 'xz' }[ext], store: 'systemd-coredump', pid: env.crash.pid, signal: 11, executable: env.program.exe });
      expect(j.origin.metadata).toMatchObject({ comm: 'crash me.x', hostname: 'testhost' });
      await expectNoTemporaries();

      const out = join(env.work, `sd-${ext}.tbz2`);
      const c = await run(['collect', file, '-o', out, '--json']);
      expect(c.exitCode, c.stderr).toBe(0);
      expect(JSON.parse(c.stdout).origin).toMatchObject({ store: 'systemd-coredump' });
      const dest = await mkdtemp(join(env.work, 'x-'));
      await execa('tar', ['-xjf', out, '-C', dest]);
      const [root] = await readdir(dest);
      const manifest = JSON.parse(await readFile(join(dest, root!, 'manifest.json'), 'utf8'));
      expect(manifest.core.originalPath).toBe(file);
      expect(await sha(join(dest, root!, manifest.core.bundlePath))).toBe(await sha(env.crash.core));
      const insp = await run(['inspect', out, '--json']);
      expect(JSON.parse(insp.stdout).origin.form).toBe({ zst: 'zstd', lz4: 'lz4', xz: 'xz' }[ext]);
      await expectNoTemporaries();
    });
  }
});

describe.skipIf(!hasApport)(`apport reports written by apport's own writer${hasApport ? '' : ' (skipped: ../shared/tools/apport is absent)'}`, () => {
  const writeReport = async (name: string, withCore: boolean): Promise<string> => {
    const out = join(store, name);
    const py = [
      'import sys',
      `sys.path.insert(0, ${JSON.stringify(resolve('../shared/tools/apport'))})`,
      'import problem_report',
      'r = problem_report.ProblemReport("Crash")',
      `r["ExecutablePath"] = ${JSON.stringify(env.program.exe)}`,
      'r["Signal"] = "11"',
      `r["ProcCmdline"] = ${JSON.stringify(`${env.program.exe} segv-main`)}`,
      'r["DistroRelease"] = "Ubuntu 24.04"',
      'r["Package"] = "crashme 1.0"',
      `r["ProcStatus"] = "Name:\\tcrashme\\nPid:\\t${env.crash.pid}\\nUid:\\t0"`,
      withCore ? `r["CoreDump"] = (open(${JSON.stringify(env.crash.core)}, "rb"),)` : '',
      `r.write(open(${JSON.stringify(out)}, "wb"))`,
    ].join('\n');
    await execa('python3', ['-c', py]);
    return out;
  };

  it('inspect and collect read the core inside a .crash, with its fields as metadata', async () => {
    const report = await writeReport('_app_crashme.0.crash', true);
    const r = await run(['inspect', report, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.signal.name).toBe('SIGSEGV');
    expect(j.origin).toMatchObject({ form: 'apport', store: 'apport', compression: 'gzip', executable: env.program.exe, pid: env.crash.pid, signal: 11 });
    expect(j.origin.metadata).toMatchObject({ Package: 'crashme 1.0', DistroRelease: 'Ubuntu 24.04' });
    const out = join(env.work, 'apport.tbz2');
    const c = await run(['collect', report, '-o', out]);
    expect(c.exitCode, c.stderr).toBe(0);
    await expectNoTemporaries();
  });

  it('a report without CoreDump, and one with corrupt base64: one-line error, exit 3, nothing left', async () => {
    const bare = await writeReport('bare.crash', false);
    const a = await run(['collect', bare, '-o', join(env.work, 'bare.tbz2')]);
    expect(a.exitCode).toBe(3);
    expect(expectOneLineError(a)).toMatch(/has no CoreDump/);
    const good = await readFile(join(store, '_app_crashme.0.crash'), 'latin1');
    const lines = good.split('\n');
    const i = lines.findIndex((l) => l.startsWith('CoreDump:')) + 3;
    lines[i] = ` ${lines[i]!.slice(1, 20)}!!!not*base64${lines[i]!.slice(30)}`;
    const corrupt = join(store, 'corrupt.crash');
    await writeFile(corrupt, lines.join('\n'), 'latin1');
    const b = await run(['inspect', corrupt]);
    expect(b.exitCode).toBe(3);
    expect(expectOneLineError(b)).toMatch(/not valid base64/);
    expect(existsSync(join(env.work, 'bare.tbz2'))).toBe(false);
    await expectNoTemporaries();
  });
});

describe('an ABRT problem directory', () => {
  it('is read with its files as metadata, the core compressed or not', async () => {
    const dir = join(store, 'ccpp-2024-01-01-00:00:00-1');
    await mkdir(dir);
    await execa('zstd', ['-q', '-o', join(dir, 'coredump.zst'), env.crash.core]);
    await writeFile(join(dir, 'executable'), `${env.program.exe}\n`);
    await writeFile(join(dir, 'pid'), `${env.crash.pid}\n`);
    await writeFile(join(dir, 'time'), '1700000100\n');
    await writeFile(join(dir, 'os_release'), 'Fedora release 39\n');
    const r = await run(['inspect', dir, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).origin).toMatchObject({ form: 'abrt', store: 'abrt', compression: 'zstd', pid: env.crash.pid, time: new Date(1700000100000).toISOString() });
    await expectNoTemporaries();
  });
});

describe('corepack list and collect --latest', () => {
  it('lists every stored core oldest first, with pid, signal, executable and form', async () => {
    const r = await run(['list', store, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { cores: Array<{ path: string; form: string; pid: number; signal: string; executable: string; time: string }> };
    const forms = j.cores.map((c) => c.form);
    expect(forms).toEqual(expect.arrayContaining(['zstd', 'lz4', 'xz', 'abrt']));
    for (const c of j.cores) {
      expect(c.pid, c.path).toBe(env.crash.pid);
      expect(c.signal).toBe('SIGSEGV');
      expect(c.executable).toBe(env.program.exe);
    }
    const times = j.cores.map((c) => c.time);
    expect(times).toEqual([...times].sort());
    const text = await run(['list', store]);
    expect(text.stdout).toMatch(/SIGSEGV .*crashme .* zstd +.*\.zst$/m);
    await expectNoTemporaries();
  });

  it('collect --latest NAME bundles the newest core of that executable', async () => {
    const out = join(env.work, 'latest.tbz2');
    const r = await corepack(['collect', '--latest', 'crashme', '-o', out], { cwd: store, env: { TMPDIR: tmp } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/collecting the latest core: /);
    const none = await corepack(['collect', '--latest', 'no-such-program'], { cwd: store, env: { TMPDIR: tmp } });
    expect(none.exitCode).toBe(3);
    expect(expectOneLineError(none)).toMatch(/no core of an executable named "no-such-program" found/);
  });
});

describe('bad compressed input', () => {
  it('a zstd stream that is not a core, and a cut one: one-line error, exit 3, no temporary file', async () => {
    const text = join(env.work, 'text.zst');
    await execa('zstd', ['-q', '-o', text], { input: 'hello, not a core\n'.repeat(100) });
    const a = await run(['collect', text, '-o', join(env.work, 'text.tbz2')]);
    expect(a.exitCode).toBe(3);
    expect(expectOneLineError(a)).toMatch(/zstd stream: it decompresses to something that is not an ELF core/);
    const whole = await readFile(join(store, (await readdir(store)).find((n) => n.endsWith('.zst'))!));
    const cut = join(env.work, 'cut.zst');
    await writeFile(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const b = await run(['inspect', cut]);
    expect(b.exitCode).toBe(3);
    expect(expectOneLineError(b)).toMatch(/zstd stream: .*corrupt or cut short/);
    await expectNoTemporaries();
  });

  it('corrupt zstd data (a valid magic, garbage after it): the decompressor\'s own words, not an empty bundle', async () => {
    const junk = join(env.work, 'junk.zst');
    await writeFile(junk, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(2000, 0x5a)]));
    for (const cmd of ['inspect', 'collect'] as const) {
      const r = await run(cmd === 'inspect' ? ['inspect', junk] : ['collect', junk, '-o', join(env.work, 'junk.tbz2')]);
      expect(r.exitCode, cmd).toBe(3);
      const line = expectOneLineError(r);
      expect(line, cmd).toContain(junk);
      expect(line, cmd).toMatch(/zstd (decompression failed|stream)/);
      expect(line, cmd).not.toMatch(/holds no entries|\d+,\d+,\d+,\d+/);
    }
    await expectNoTemporaries();
  });
});

describe('a compressed core whose decompressor is not installed', () => {
  it('names the program and its package, exit 6, nothing left; the same core reads once it is there', async () => {
    const core = join(store, (await readdir(store)).find((n) => n.endsWith('.xz'))!);
    // A PATH holding every program of this machine but xz.
    const bin = join(env.work, 'bin-without-xz');
    await mkdir(bin, { recursive: true });
    for (const n of await readdir('/usr/bin')) if (n !== 'xz') await symlink(join('/usr/bin', n), join(bin, n)).catch(() => undefined);
    const without = await corepack(['inspect', core], { env: { TMPDIR: tmp, PATH: bin } });
    expect(without.exitCode).toBe(6);
    expect(expectOneLineError(without)).toMatch(/no xz program is installed \(looked for xz\)/);
    expect(without.stderr).toMatch(/xz-utils/);
    expect(without.stderr).toMatch(/decompress the core yourself/);
    await expectNoTemporaries();
    const withIt = await run(['inspect', core]);
    expect(withIt.exitCode, withIt.stderr).toBe(0);
  });
});

describe('a core cut by the kernel (ulimit -c)', () => {
  let cutCore: string;
  beforeAll(async () => {
    const dir = join(env.work, 'bigheap');
    await mkdir(dir);
    const src = join(dir, 'bigheap.c');
    await writeFile(src, '#include <stdlib.h>\n#include <string.h>\nint main(void){ char *p = malloc(60 << 20); memset(p, 7, 60 << 20); volatile int *q = 0; *q = p[5]; return 0; }\n');
    await execa('gcc', ['-g', '-o', join(dir, 'bigheap'), src]);
    await execa('bash', ['-c', `${crashLockPrefix()}ulimit -c 20000; exec ./bigheap`], { cwd: dir, reject: false });
    const name = (await readdir(dir)).find((n) => n === 'core' || n.startsWith('core.'));
    if (!name) throw new Error('the kernel wrote no core for bigheap');
    cutCore = join(dir, name);
    await copyFile(cutCore, `${cutCore}.keep`);
  });

  it('inspect shows the threads and a warning saying how much is missing; collect bundles it and exits 4', async () => {
    const r = await run(['inspect', cutCore]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/signal: +SIGSEGV/);
    expect(r.stdout).toMatch(/the core is cut at 20\.\d MB of 6\d\.\d MB: .*missing/);
    const c = await run(['collect', cutCore, '-o', join(env.work, 'cut.tbz2'), '--json']);
    expect(c.exitCode, c.stderr).toBe(4);
    const j = JSON.parse(c.stdout);
    expect(j.exact).toBe(false);
    expect(j.truncation.expectedSize).toBeGreaterThan(j.truncation.fileSize);
  });

  it('too little free disk for the unpacked core: one-line error, exit 7, nothing left (a 1 MiB tmpfs)', async (ctx) => {
    const small = await mkdtemp(join(env.work, 'small-'));
    const m = await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small], { reject: false });
    if (m.exitCode !== 0) {
      console.warn(`SKIPPED: cannot mount a tmpfs (${String(m.stderr).trim()})`);
      ctx.skip();
    }
    try {
      // 20 MB of non-zero heap: sparse unpacking cannot make it fit.
      const file = join(env.work, 'bigheap.zst');
      await execa('zstd', ['-q', '-f', '-o', file, cutCore]);
      const r = await corepack(['inspect', file], { env: { TMPDIR: small } });
      expect(r.exitCode).toBe(7);
      expect(expectOneLineError(r)).toMatch(/space/);
      expect(await readdir(small)).toEqual([]);
    } finally {
      await execa('umount', [small], { reject: false });
      await rm(small, { recursive: true, force: true });
    }
  });
});
