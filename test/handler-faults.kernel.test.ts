/**
 * The crash-time handler under the real kernel, where it matters most that it
 * never makes a crash worse: a process in a chroot, --stacks-only with
 * encryption watched while it runs for any plaintext, the handler killed
 * mid-way, and a storm of 50 crashes in 5 seconds. Like handler.kernel.test.ts
 * these change core_pattern, inside the suite's exclusive core_pattern lock,
 * in the run after the main one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildCrashProgram, type CrashProgram } from './helpers/crash.js';
import { crashUnlimited as crash, NO_PIPE_HANDLERS, probePipeHandlers, sandboxPool, withHandler } from './helpers/kernelHandler.js';
import { frames, section } from './helpers/gdbOutput.js';
import { readBuildIdFromFile } from '../src/core/image.js';

const ELF64_LE = Buffer.from('\x7fELF\x02\x01\x01', 'latin1');
const HEAP_MARKER = 'SECRET-HEAP-MARKER';

let supported = false;
let program: CrashProgram;
const { sandbox, cleanup } = sandboxPool();

/** A small program that dies of SIGSEGV in main, built once. */
let tiny: string;

beforeAll(async () => {
  supported = await probePipeHandlers();
  if (!supported) return;
  program = await buildCrashProgram();
  tiny = path.join(path.dirname(program.dir), 'tiny');
  await fs.writeFile(`${tiny}.c`, 'int *volatile p;\nint main(void) { return *p; }\n');
  await execa('gcc', ['-g', '-o', tiny, `${tiny}.c`]);
});

afterAll(async () => {
  await cleanup();
  if (program) await fs.rm(path.dirname(program.dir), { recursive: true, force: true });
});

describe('corepack handle never makes a crash worse (real kernel)', () => {
  it("a process in a chroot: its files come from its own root, named by the process's paths", async (ctx) => {
    if (!supported) return ctx.skip(NO_PIPE_HANDLERS);
    const sb = await sandbox({ format: 'tar.zst' });
    const jail = path.join(sb.dir, 'jail');
    await fs.mkdir(path.join(jail, 'opt/lib'), { recursive: true });
    await fs.mkdir(path.join(jail, 'bin'));
    const src = path.join(sb.dir, 'jail.c');
    await fs.writeFile(src, 'int *volatile jail_p;\n__attribute__((noinline)) int jail_crash(void) { return *jail_p; }\n');
    await execa('gcc', ['-g', '-shared', '-fPIC', '-Wl,--build-id', '-o', path.join(jail, 'opt/lib/libjail.so'), src]);
    await fs.writeFile(`${src}.main.c`, 'int jail_crash(void);\nint main(void) { return jail_crash(); }\n');
    await execa('gcc', ['-g', '-o', path.join(jail, 'bin/t'), `${src}.main.c`, '-L', path.join(jail, 'opt/lib'), '-ljail', '-Wl,-rpath,/opt/lib']);
    // The host's libc and loader, copied in at the paths ldd names (the loader's path from PT_INTERP).
    const ldd = await execa('ldd', [path.join(jail, 'bin/t')]);
    for (const m of ldd.stdout.matchAll(/(\/\S+) \(0x/g)) {
      const p = m[1]!;
      if (p.includes('libjail')) continue;
      await fs.mkdir(path.join(jail, path.dirname(p)), { recursive: true });
      await fs.copyFile(await fs.realpath(p), path.join(jail, p));
    }
    const crashed = await withHandler(sb, async () => {
      const c = crash(['chroot', jail, '/bin/t'], sb.dir);
      const r = await c;
      return { pid: c.pid!, signal: r.signal };
    });
    expect(crashed.signal).toBe('SIGSEGV');
    // Filtered: a program of anyone else's crashing in the window is handled too.
    const rec = (await sb.captures()).find((c) => c.pid === crashed.pid);
    expect(rec, JSON.stringify(rec)).toMatchObject({ outcome: 'bundled' });
    const m = JSON.parse((await sb.cli(['inspect', '--json', rec!.bundle!])).stdout);
    expect(m.capture.root).toBe(jail);
    expect(m.root).toBe(jail);
    const lib = m.files.find((f: { path: string }) => f.path === '/opt/lib/libjail.so');
    expect(lib).toMatchObject({ status: 'ok', bundlePath: 'sysroot/opt/lib/libjail.so', buildIdOnDisk: await readBuildIdFromFile(path.join(jail, 'opt/lib/libjail.so')) });
    expect(m.files.find((f: { path: string }) => f.path === '/bin/t')).toMatchObject({ status: 'ok', role: 'executable' });
    // The kernel would have written `core` in the process's cwd, its chroot's /.
    expect((await fs.readFile(path.join(jail, 'core'))).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    const r = await sb.cli(['replay', '--batch', '--dir', path.join(sb.dir, 'r'), rec!.bundle!]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(frames(section(r.stdout, 'crashed thread'))[0]).toBe('jail_crash');
  });

  it('--stacks-only --encrypt-to: no plaintext of the core or of a library in the spool, TMPDIR or the working directory, checked while it runs', async (ctx) => {
    if (!supported) return ctx.skip(NO_PIPE_HANDLERS);
    const sb = await sandbox();
    const key = path.join(sb.dir, 'key.txt');
    await execa('age-keygen', ['-o', key]);
    const recipient = /public key: (age1\w+)/.exec(await fs.readFile(key, 'utf8'))![1]!;
    await sb.writeConfig({ stacksOnly: true, encryptTo: [recipient], chain: 'on-failure' });
    const cwd = path.join(sb.dir, 'cwd');
    await fs.mkdir(cwd);
    const seen = { scans: 0, spoolFiles: new Set<string>(), plaintext: [] as string[] };
    const scan = async (): Promise<void> => {
      for (const dir of [sb.spool, sb.tmp, cwd]) {
        for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
          const file = path.join(dir, name);
          const data = await fs.readFile(file).catch(() => undefined);
          if (!data) continue;
          if (dir === sb.spool) seen.spoolFiles.add(name);
          if (data.includes(ELF64_LE) || data.includes(HEAP_MARKER)) seen.plaintext.push(file);
          if (data.length >= 4 && [0x28b52ffd, 0x425a6839].includes(data.readUInt32BE(0))) seen.plaintext.push(`${file} (compressed plaintext)`);
        }
      }
      seen.scans++;
    };
    await withHandler(sb, async () => {
      const child = crash([program.exe, 'segv-thread', program.plugin], cwd, { CRASHME_HEAP_MIB: '32' });
      let running = true;
      void child.finally(() => (running = false));
      while (running) {
        await scan();
        await new Promise((r) => setTimeout(r, 5));
      }
      expect((await child).signal).toBe('SIGSEGV');
    });
    await scan();
    expect(seen.plaintext).toEqual([]);
    expect(seen.scans).toBeGreaterThan(3);
    // The spool was watched while the bundle was being written: its temporary was seen.
    expect([...seen.spoolFiles].some((n) => n.includes('.corepack-tmp-'))).toBe(true);
    const rec = (await sb.captures()).find((c) => c.executable === program.exe);
    expect(rec, JSON.stringify(rec)).toMatchObject({ outcome: 'bundled', passedOn: null });
    expect(rec!.bundle).toMatch(/\.tar\.zst\.age$/);
    expect(await fs.readdir(cwd)).toEqual([]);
    // What the vendor gets: the mini core, without the heap.
    const plain = await execa('sh', ['-c', 'age -d -i "$1" "$2" | zstd -dc', 'sh', key, rec!.bundle!], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 });
    expect(Buffer.from(plain.stdout).includes(HEAP_MARKER)).toBe(false);
    const r = await sb.cli(['replay', '--batch', '--identity', key, '--dir', path.join(sb.dir, 'r'), rec!.bundle!]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(frames(section(r.stdout, 'crashed thread'))[0]).toBe('thread_crash');
  });

  it('the handler killed mid-way: the crashed process is released, and the next capture leaves no half-written bundle', async (ctx) => {
    if (!supported) return ctx.skip(NO_PIPE_HANDLERS);
    // bzip2 of a 200 MiB heap takes long enough to be killed in the middle.
    const sb = await sandbox({ format: 'tbz2' });
    const cwd = path.join(sb.dir, 'cwd');
    await fs.mkdir(cwd);
    await withHandler(sb, async () => {
      const child = crash([program.exe, 'segv-main', program.plugin], cwd, { CRASHME_HEAP_MIB: '200' });
      let temp: string | undefined;
      for (let i = 0; i < 2000 && !temp; i++) {
        temp = (await fs.readdir(sb.spool).catch(() => [] as string[])).find((n) => n.includes('.corepack-tmp-'));
        if (!temp) await new Promise((r) => setTimeout(r, 20));
      }
      expect(temp).toBeDefined();
      const handlerPid = Number((await fs.readFile(sb.pidFile, 'utf8')).trim().split('\n').pop());
      process.kill(handlerPid, 'SIGKILL');
      expect((await child).signal).toBe('SIGSEGV');
      expect((await fs.readdir(sb.spool)).some((n) => n.includes('.corepack-tmp-'))).toBe(true);
      // The next crash's handler clears what the killed one left.
      const next = crash([tiny], cwd);
      expect((await next).signal).toBe('SIGSEGV');
    });
    const all = await fs.readdir(sb.spool);
    expect(all.filter((n) => n.startsWith('.'))).toEqual([]);
    const left = all.filter((n) => !n.startsWith('crash-') || n.startsWith('crash-tiny-') || n.startsWith('crash-crashme-'));
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^crash-tiny-\d+-\d{8}T\d{6}Z\.tbz2$/);
    const t = await execa('tar', ['tjf', path.join(sb.spool, left[0]!)]);
    expect(t.stdout).toMatch(/SHA256SUMS$/);
  });

  it('50 crashes in 5 seconds: the rate limit holds, and every core is either bundled or passed on', async (ctx) => {
    if (!supported) return ctx.skip(NO_PIPE_HANDLERS);
    const sb = await sandbox({ format: 'tar.zst', rateLimit: { perExecutable: 3, overall: 10, windowSeconds: 60 } });
    const cwd = path.join(sb.dir, 'cwd');
    await fs.mkdir(cwd);
    const pids = await withHandler(
      sb,
      async () => {
        const runs = Array.from({ length: 50 }, (_, i) =>
          new Promise((r) => setTimeout(r, i * 100)).then(async () => {
            const c = crash([tiny], cwd);
            const r = await c;
            expect(r.signal).toBe('SIGSEGV');
            return c.pid!;
          }),
        );
        return Promise.all(runs);
      },
      // Beyond core_pipe_limit handlers at once the kernel itself skips a core (it says so in dmesg); this
      // test is about corepack's own limit, so the kernel's is set above the storm, as an administrator expecting one would.
      { previous: 'core.%p', installArgs: ['--pipe-limit', '64'] },
    );
    // Only this test's crashes: a program of anyone else's that crashes meanwhile is handled too (and passed on), not counted here.
    const caps = (await sb.captures()).filter((c) => c.executable === tiny);
    expect(caps).toHaveLength(50);
    const outcomes = JSON.stringify(caps.map((c) => `${c.outcome}${c.message ? `: ${c.message}` : ''}`));
    expect(caps.filter((c) => c.outcome === 'bundled'), outcomes).toHaveLength(3);
    expect(caps.filter((c) => c.outcome === 'rate-limited'), outcomes).toHaveLength(47);
    const all = await fs.readdir(sb.spool);
    expect(all.filter((n) => n.startsWith('.'))).toEqual([]);
    expect(all.filter((n) => /^crash-tiny-\d+-\d{8}T\d{6}Z\.tar\.zst$/.test(n))).toHaveLength(3);
    // Every core also reached the previous pattern, core.%p, whole.
    for (const pid of pids) {
      const head = await fs.readFile(path.join(cwd, `core.${pid}`));
      expect(head.subarray(0, 4).toString('latin1'), `core.${pid}`).toBe('\x7fELF');
    }
  });
});
