/**
 * What the first field trial (issue 18) found, each on a real kernel core of
 * the test program: the command as a new user types it, and what must come out.
 */
import * as fs from 'node:fs/promises';
import { watch } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { makeCore, useCrash } from './helpers/crash.js';
import { BIN, corepack, expectOneLineError } from './helpers/cli.js';
import { summaryLines, type ReportedModule } from './helpers/summaryReporter.js';

const env = useCrash('segv-thread-lib', 'corepack-field-');

async function scratch(name: string): Promise<string> {
  return fs.mkdtemp(path.join(env.work, `${name}-`));
}

describe('defect 1: what -e names must be an ELF executable that can be read', () => {
  const cases: Array<[string, (dir: string) => Promise<string>, RegExp]> = [
    ['a path that does not exist', async (dir) => path.join(dir, 'nonexist'), /-e .*nonexist: no such file or directory/],
    ['an empty file', async (dir) => { const f = path.join(dir, 'empty'); await fs.writeFile(f, ''); return f; }, /-e .*empty: is empty, not an ELF executable/],
    ['a text file', async (dir) => { const f = path.join(dir, 'notes.txt'); await fs.writeFile(f, 'hello\n'.repeat(20)); return f; }, /-e .*notes\.txt: is not an ELF executable/],
    ['a directory', async (dir) => dir, /-e .*: is a directory, not an executable/],
  ];
  for (const [what, make, message] of cases) {
    it(`collect -e naming ${what}: a usage error (exit 2) naming the path, nothing written`, async () => {
      const dir = await scratch('exe');
      const exe = await make(dir);
      const out = path.join(dir, 'x.tbz2');
      const run = await corepack(['collect', env.crash.core, '-e', exe, '-o', out]);
      expect(run.exitCode, run.stderr).toBe(2);
      expect(expectOneLineError(run)).toMatch(message);
      expect((await fs.readdir(dir)).filter((n) => n.includes('x.tbz2'))).toEqual([]);
    });
  }

  it('inspect -e naming another program says that the build IDs differ; -e naming nothing is a usage error', async () => {
    const run = await corepack(['inspect', env.crash.core, '-e', '/usr/bin/true']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/-e \/usr\/bin\/true is not the program that crashed: its build ID is [0-9a-f]+, the core's executable has [0-9a-f]+/);
    const same = await corepack(['inspect', env.crash.core, '-e', env.program.exe]);
    expect(same.stdout).not.toContain('is not the program that crashed');
    const missing = await corepack(['inspect', env.crash.core, '-e', '/nonexist']);
    expect(missing.exitCode).toBe(2);
    expect(expectOneLineError(missing)).toContain('-e /nonexist: no such file or directory');
  });
});

describe('defect 2: the replay command collect and inspect print works where the developer is', () => {
  it('names corepack-crash (Node ships another corepack), and the key option of an encrypted bundle', async () => {
    const dir = await scratch('cmd');
    const plain = await corepack(['collect', env.crash.core, '-o', path.join(dir, 'p.tbz2')], { cwd: dir });
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/the developer runs: corepack-crash replay p\.tbz2$/m);
    expect(plain.stderr).not.toContain('npx corepack');
    expect((await corepack(['inspect', path.join(dir, 'p.tbz2')])).stdout).toContain(`replay it with: corepack-crash replay p.tbz2 --batch`);

    const key = path.join(dir, 'key.txt');
    await execa('age-keygen', ['-o', key]);
    const pub = (await execa('age-keygen', ['-y', key])).stdout.trim();
    const enc = await corepack(['collect', env.crash.core, '-o', path.join(dir, 'e.tbz2'), '--encrypt-to', pub]);
    expect(enc.stderr).toMatch(/the developer runs: corepack-crash replay e\.tbz2\.age --identity KEYFILE$/m);
    const shown = await corepack(['inspect', path.join(dir, 'e.tbz2.age'), '--identity', key]);
    expect(shown.stdout).toContain('replay it with: corepack-crash replay e.tbz2.age --identity KEYFILE --batch');

    await fs.writeFile(path.join(dir, 'pw'), 'a passphrase\n');
    const pass = await corepack(['collect', env.crash.core, '-o', path.join(dir, 'my core.tbz2'), '--passphrase-file', path.join(dir, 'pw')]);
    expect(pass.stderr).toMatch(/the developer runs: corepack-crash replay 'my core\.tbz2\.age' --passphrase$/m);
  });
});

describe('defect 3: Ctrl-C while a compressed core is unpacked', () => {
  /** The kernel core as zstd, followed by 3 GiB of zero frames: a real core whose unpacking takes seconds. */
  async function slowZstdCore(dir: string): Promise<string> {
    const head = (await execa('zstd', ['-q', '-c', env.crash.core], { encoding: 'buffer' })).stdout;
    const zeros = (await execa('zstd', ['-q', '-c'], { input: Buffer.alloc(64 * 1024 * 1024), encoding: 'buffer' })).stdout;
    const file = path.join(dir, 'core.crashme.zst');
    await fs.writeFile(file, Buffer.concat([head, ...Array<Uint8Array>(48).fill(zeros)]));
    return file;
  }

  it('SIGINT while the core is being unpacked: exit 130, the interrupted message, nothing left', async () => {
    const dir = await scratch('int');
    const core = await slowZstdCore(dir);
    const tmp = path.join(dir, 'tmp');
    await fs.mkdir(tmp);
    const child = execa(process.execPath, [BIN, 'collect', core, '-e', env.program.exe, '-o', path.join(dir, 'x.tbz2')], { reject: false, env: { TMPDIR: tmp } });
    // Interrupt once the unpacked core is being written.
    const unpacking = async () => {
      for (const d of await fs.readdir(tmp)) if (await fs.stat(path.join(tmp, d, 'core')).catch(() => undefined)) return true;
      return false;
    };
    for (let i = 0; i < 1500 && !(await unpacking()); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await unpacking(), 'the core was never unpacked').toBe(true);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(130);
    expect(expectOneLineError({ exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) })).toBe('corepack: error: interrupted by SIGINT; no partial output was left behind');
    expect(await fs.readdir(tmp)).toEqual([]);
    expect((await fs.readdir(dir)).sort()).toEqual(['core.crashme.zst', 'tmp']);
  });

  it('SIGINT while the command is still loading (its module held back by a loader hook): exit 130 and says so', async () => {
    const dir = await scratch('early');
    const marker = path.join(dir, 'loading');
    // A module hook (a stand-in for a slow start on a loaded machine) that holds back
    // loading collect's module for 5 s, and says when it has started holding it:
    // tsc's dist/cli/collect.js, or its chunk of the bundled CLI (dist/npm/collect-HASH.js).
    const hooks = path.join(dir, 'hooks.mjs');
    await fs.writeFile(hooks, `import { writeFileSync } from 'node:fs';
export async function load(url, context, next) {
  if (/\\/dist\\/(?:cli\\/collect|npm\\/collect-\\w+)\\.js$/.test(url)) {
    writeFileSync(${JSON.stringify(marker)}, '');
    await new Promise((r) => setTimeout(r, 5000));
  }
  return next(url, context);
}
`);
    const register = path.join(dir, 'register.mjs');
    await fs.writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const child = execa(process.execPath, ['--import', pathToFileURL(register).href, BIN, 'collect', env.crash.core, '-o', path.join(dir, 'x.tbz2')], { reject: false });
    for (let i = 0; i < 1000 && !(await fs.stat(marker).catch(() => undefined)); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    const r = await child;
    expect(r.signal, 'killed by SIGINT without a word').toBeUndefined();
    expect(r.exitCode).toBe(130);
    expect(String(r.stderr).trim()).toBe('corepack: error: interrupted by SIGINT; no partial output was left behind');
    expect((await fs.readdir(dir)).sort()).toEqual(['hooks.mjs', 'loading', 'register.mjs']);
  });
});

describe('defect 4: a damaged part of an encrypted split set is named', () => {
  it('one byte changed in part 4 of 6, or in the age header in part 1: that part is named, nothing extracted', async () => {
    const dir = await scratch('encsplit');
    const key = path.join(dir, 'key.txt');
    await execa('age-keygen', ['-o', key]);
    const pub = (await execa('age-keygen', ['-y', key])).stdout.trim();
    // 1.5 MiB that does not compress: parts of ~300 KB, several of age's 64 KiB chunks each,
    // so the decryption meets the changed byte long before the part's end.
    const noise = path.join(dir, 'noise.bin');
    await fs.writeFile(noise, randomBytes(1536 * 1024));
    const whole = await corepack(['collect', env.crash.core, '-o', path.join(dir, 'w.tbz2'), '--encrypt-to', pub, '--attach', noise]);
    expect(whole.exitCode, whole.stderr).toBe(0);
    const size = (await fs.stat(path.join(dir, 'w.tbz2.age'))).size;
    const base = path.join(dir, 's.tbz2');
    const run = await corepack(['collect', env.crash.core, '-o', base, '--encrypt-to', pub, '--attach', noise, '--split', String(Math.ceil(size / 5.5))]);
    expect(run.exitCode, run.stderr).toBe(0);
    const part = (n: number) => `${base}.age.00${n}`;
    expect(await fs.stat(part(6))).toBeTruthy();
    const flip = async (file: string, at: number) => {
      const b = await fs.readFile(file);
      b[at] = b[at]! ^ 0x01;
      await fs.writeFile(file, b);
    };
    for (const [n, at] of [[4, 100], [1, 40]] as const) {
      await flip(part(n), at);
      const out = path.join(dir, `r${n}`);
      const replay = await corepack(['replay', part(1), '--json', '--dir', out, '--identity', key]);
      expect(replay.exitCode, replay.stderr).toBe(3);
      expect(expectOneLineError(replay)).toBe(`corepack: error: part ${n} of 6 is damaged: the sha256 of s.tbz2.age.00${n} is not the one in s.tbz2.age-parts.sha256`);
      expect(await fs.readdir(out).catch(() => [])).toEqual([]);
      await flip(part(n), at);
    }
  });
});

describe('defect 7: what is unpacked is judged by what is written, the same for every form', () => {
  async function withTmpfs<T>(dir: string, size: string, skip: (why: string) => void, fn: (at: string) => Promise<T>): Promise<T | undefined> {
    await fs.mkdir(dir);
    const m = await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { reject: false });
    if (m.exitCode !== 0) {
      console.warn(`SKIPPED: cannot mount a tmpfs (${String(m.stderr).trim()})`);
      skip('cannot mount a tmpfs');
      return undefined;
    }
    try {
      return await fn(dir);
    } finally {
      await execa('umount', [dir], { reject: false });
    }
  }

  it('a core of 48 MiB, mostly zeros, unpacks into a 4 MiB TMPDIR as .zst and .lz4 stating their size, and as .xz; one too big for it is exit 7, nothing left', async (ctx) => {
    const dir = await scratch('space');
    // The kernel core with 48 MiB of zeros after it (a hole): what the stream states is far more than what is written.
    const padded = path.join(dir, 'core.padded');
    await fs.copyFile(env.crash.core, padded);
    await fs.truncate(padded, 48 * 1024 * 1024);
    const forms = {
      zst: ['zstd', '-q', '-o', `${padded}.zst`, padded],
      lz4: ['lz4', '-q', '--content-size', padded, `${padded}.lz4`],
      xz: ['xz', '-q', '-k', '-0', padded],
    };
    for (const cmd of Object.values(forms)) await execa(cmd[0]!, cmd.slice(1));
    const allocated = (await fs.stat(env.crash.core)).blocks * 512;
    expect(allocated).toBeLessThan(3 * 1024 * 1024);
    await withTmpfs(path.join(dir, 'tmp'), '4m', (why) => ctx.skip(why), async (tmp) => {
      for (const ext of Object.keys(forms)) {
        const run = await corepack(['inspect', `${padded}.${ext}`, '--json'], { env: { ...process.env, TMPDIR: tmp } as Record<string, string> });
        expect(run.exitCode, `${ext}: ${run.stderr}`).toBe(0);
        expect(JSON.parse(run.stdout).process.pid).toBe(env.crash.pid);
        expect(await fs.readdir(tmp)).toEqual([]);
      }
    });
    // Smaller than the core's own data: it cannot fit, whatever the form says.
    await withTmpfs(path.join(dir, 'tiny'), String(Math.floor(allocated / 2 / 4096) * 4096), (why) => ctx.skip(why), async (tmp) => {
      for (const ext of Object.keys(forms)) {
        const run = await corepack(['inspect', `${padded}.${ext}`, '--json'], { env: { ...process.env, TMPDIR: tmp } as Record<string, string> });
        expect(run.exitCode, `${ext}: ${run.stderr}`).toBe(7);
        expect(expectOneLineError(run)).toBe(`corepack: error: no space left in ${tmp} while unpacking the core; nothing was left behind`);
        expect(await fs.readdir(tmp)).toEqual([]);
      }
    });
  });
});

describe('left open: collect --stacks-only writes no plaintext mini core beside the output', () => {
  it('every name created in the output directory while it runs is the bundle or its own temporary, encrypted or not', async () => {
    for (const encrypt of [false, true]) {
      const dir = await scratch('mini');
      const args = ['collect', env.crash.core, '-o', path.join(dir, 'm.tbz2'), '--stacks-only'];
      if (encrypt) {
        const key = path.join(env.work, `mini-key-${Date.now()}.txt`);
        await execa('age-keygen', ['-o', key]);
        args.push('--encrypt-to', (await execa('age-keygen', ['-y', key])).stdout.trim());
      }
      // inotify sees every name made in the directory, however briefly it lived.
      const seen = new Set<string>();
      const watcher = watch(dir, (_event, name) => {
        if (name) seen.add(String(name));
      });
      try {
        const run = await corepack(args);
        expect(run.exitCode, run.stderr).toBe(0);
        await new Promise((r) => setTimeout(r, 100)); // the last events
      } finally {
        watcher.close();
      }
      const out = encrypt ? 'm.tbz2.age' : 'm.tbz2';
      expect([...seen].filter((n) => n !== out && !n.startsWith(`.${out}.corepack-tmp-`))).toEqual([]);
      expect(await fs.readdir(dir)).toEqual([out]);
    }
  });
});

describe('one probe of every input: inspect reads an input through each layer once', () => {
  /** The costly steps a command took, from COREPACK_TRACE. */
  async function traced(args: string[]): Promise<string[]> {
    const file = path.join(await scratch('trace'), 'trace.log');
    const run = await corepack(args, { env: { ...process.env, COREPACK_TRACE: file } as Record<string, string> });
    expect(run.exitCode, run.stderr).toBe(0);
    return (await fs.readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((l) => l.replace(/^\d+ /, ''));
  }

  it('inspect of a zstd core starts one decompressor; of an encrypted bundle, decrypts once', async () => {
    const dir = await scratch('probe');
    const core = path.join(dir, 'core.zst');
    await execa('zstd', ['-q', '-o', core, env.crash.core]);
    expect(await traced(['inspect', core])).toEqual(['decompress zstd']);

    const key = path.join(dir, 'key.txt');
    await execa('age-keygen', ['-o', key]);
    const pub = (await execa('age-keygen', ['-y', key])).stdout.trim();
    expect((await corepack(['collect', env.crash.core, '-o', path.join(dir, 'e.tbz2'), '--encrypt-to', pub])).exitCode).toBe(0);
    const steps = await traced(['inspect', path.join(dir, 'e.tbz2.age'), '--identity', key]);
    expect(steps.filter((s) => s.startsWith('decrypt'))).toEqual(['decrypt age']);
    expect(steps.filter((s) => s.startsWith('decompress'))).toHaveLength(1);
  });

  it('report of an encrypted bundle, whole or split, decrypts once and decompresses once', async () => {
    const dir = await scratch('report-age');
    const key = path.join(dir, 'key.txt');
    await execa('age-keygen', ['-o', key]);
    const pub = (await execa('age-keygen', ['-y', key])).stdout.trim();
    expect((await corepack(['collect', env.crash.core, '-o', path.join(dir, 'e.tbz2'), '--encrypt-to', pub])).exitCode).toBe(0);
    expect((await corepack(['collect', env.crash.core, '-o', path.join(dir, 's.tbz2'), '--encrypt-to', pub, '--split', '200K'])).exitCode).toBe(0);
    for (const [input, name] of [[path.join(dir, 'e.tbz2.age'), 'whole'], [path.join(dir, 's.tbz2.age.001'), 'split']] as const) {
      const out = path.join(dir, `${name}.json`);
      const steps = await traced(['report', input, '--identity', key, '--no-debugger', '--format', 'json', '-o', out, '--dir', path.join(dir, `r-${name}`)]);
      expect(steps.filter((s) => s.startsWith('decrypt')), name).toEqual(['decrypt age']);
      expect(steps.filter((s) => s.startsWith('decompress')), name).toHaveLength(1);
      expect(JSON.parse(await fs.readFile(out, 'utf8')).provenance, name).toMatchObject({ input: 'bundle' });
    }
  });

  it('report of a zstd core starts one decompressor, and still tells a .tar.zst bundle from it', async () => {
    const dir = await scratch('report-probe');
    const core = path.join(dir, 'core.zst');
    await execa('zstd', ['-q', '-o', core, env.crash.core]);
    expect(await traced(['report', core, '--no-debugger', '--format', 'json', '-o', path.join(dir, 'core.json')])).toEqual(['decompress zstd']);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'core.json'), 'utf8')).provenance).toMatchObject({ input: 'core', stored: expect.stringContaining('zstd') });

    const bundle = path.join(dir, 'b.tar.zst');
    expect((await corepack(['collect', env.crash.core, '-o', bundle])).exitCode).toBe(0);
    await traced(['report', bundle, '--no-debugger', '--format', 'json', '-o', path.join(dir, 'bundle.json')]);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'bundle.json'), 'utf8')).provenance).toMatchObject({ input: 'bundle' });
  });
});

describe('defect 10: a --root hint only on evidence of another root', () => {
  it('an executable and a plugin moved away after the crash: named MISSING, no container hint', async () => {
    const dir = await scratch('moved');
    const away = [env.program.exe, env.program.plugin];
    for (const f of away) await fs.rename(f, `${f}.away`);
    let run;
    try {
      run = await corepack(['collect', env.crash.core, '-o', path.join(dir, 'm.tbz2')]);
    } finally {
      for (const f of away) await fs.rename(`${f}.away`, f);
    }
    expect(run.exitCode, run.stderr).toBe(4);
    expect(run.stderr).toContain(`MISSING: ${env.program.exe}`);
    expect(run.stderr).toContain(`MISSING: ${env.program.plugin}`);
    expect(run.stderr).not.toMatch(/pass --root|container/);
  });
});

describe('defect 12: small things', () => {
  it('a split into one part is "1 part … and its index"', async () => {
    const dir = await scratch('one');
    const run = await corepack(['collect', env.crash.core, '-o', path.join(dir, 'o1.tbz2'), '--split', '1G']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^wrote 1 part o1\.tbz2\.001 and its index o1\.tbz2-parts\.sha256 \(/m);
  });

  it('an unknown option is a corepack error line, exit 2', async () => {
    const run = await corepack(['inspect', env.crash.core, '--bogus']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/^corepack: error: unknown option '--bogus'$/m);
  });

  it('the summary reporter names every skipped test with its note (a mock of vitest\'s TestModule)', () => {
    const test = (fullName: string, state: string, note?: string) => ({ fullName, result: () => ({ state, note }) });
    const mod = { moduleId: '/repo/test/a.test.ts', children: { allTests: () => [test('runs', 'passed'), test('corpus > every core: skipped, ../shared/corpus is absent', 'skipped'), test('tmpfs', 'skipped', 'cannot mount a tmpfs')] } };
    expect(summaryLines([mod as unknown as ReportedModule], '/repo')).toEqual([
      'skipped: test/a.test.ts > corpus > every core: skipped, ../shared/corpus is absent',
      'skipped: test/a.test.ts > tmpfs: cannot mount a tmpfs',
      '1 passed, 0 failed, 2 skipped',
    ]);
  });
});

describe('replay writes only where it can, and its gdb says what plain gdb says', () => {
  it('defect 5: --dir on a read-only file system, a read-only existing --dir, a read-only XDG_CACHE_HOME: exit 7 naming that directory', async (ctx) => {
    const dir = await scratch('ro');
    const bundle = path.join(dir, 'b.tbz2');
    expect((await corepack(['collect', env.crash.core, '-o', bundle])).exitCode).toBe(0);
    const ro = path.join(dir, 'ro');
    await fs.mkdir(ro);
    const m = await execa('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro], { reject: false });
    if (m.exitCode !== 0) {
      console.warn(`SKIPPED: cannot mount a read-only tmpfs (${String(m.stderr).trim()})`);
      ctx.skip('cannot mount a read-only tmpfs');
    }
    try {
      for (const target of [path.join(ro, 'r'), ro]) {
        const run = await corepack(['replay', bundle, '--json', '--dir', target]);
        expect(run.exitCode, run.stderr).toBe(7);
        expect(expectOneLineError(run)).toBe(`corepack: error: cannot write ${target}: read-only file system; nothing was extracted`);
        expect(run.stderr).toMatch(/^corepack: pass --dir with a directory you can write to$/m);
      }
      const cache = await corepack(['replay', bundle, '--json'], { env: { ...process.env, XDG_CACHE_HOME: path.join(ro, 'cache') } as Record<string, string> });
      expect(cache.exitCode, cache.stderr).toBe(7);
      expect(expectOneLineError(cache)).toContain(`cannot write ${path.join(ro, 'cache', 'corepack', 'bundles')}: read-only file system`);
      expect(cache.stderr).toMatch(/set XDG_CACHE_HOME to a directory you can write to, or pass --dir DIR/);
    } finally {
      await execa('umount', [ro], { reject: false });
    }
  });

  it('defects 8 and 9: extracted files keep their recorded times, and no gdb warning that plain gdb on the original core does not print', async () => {
    const dir = await scratch('gdb');
    // bash maps the locale's data files (LC_CTYPE, …): NT_FILE names them, and no bundle carries them.
    const { core } = await makeCore(['bash', '-c', 'kill -SEGV $$'], { cwd: dir, env: { LC_ALL: 'C.UTF-8' } });
    const bundle = path.join(dir, 'bash.tbz2');
    expect((await corepack(['collect', core, '-o', bundle])).exitCode).toBe(0);
    const out = path.join(dir, 'r');
    const replay = await corepack(['replay', bundle, '--batch', '--dir', out]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    const exe = await fs.stat(path.join(out, 'bundle', 'sysroot', 'usr', 'bin', 'bash'));
    const bundledCore = await fs.stat(path.join(out, 'bundle', 'core', path.basename(core)));
    expect(exe.mtimeMs).toBe(bundledCore.mtimeMs);
    const plain = await execa('gdb', ['-nx', '-batch', '-ex', 'bt', '-c', core, '/usr/bin/bash'], { reject: false, cwd: dir });
    const warnings = (text: string) => new Set(text.split('\n').filter((l) => l.startsWith('warning:')));
    const expected = warnings(`${plain.stdout}\n${plain.stderr}`);
    const extra = [...warnings(`${replay.stdout}\n${replay.stderr}`)].filter((w) => !expected.has(w));
    expect(extra).toEqual([]);
    expect(replay.stdout).toContain('=== crashed thread ===');
  });
});
