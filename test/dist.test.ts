/**
 * The single executables (`npm run dist`, issue 19), built by the test
 * with scripts/dist.mjs on the dist/ npm test compiled (it keeps the last
 * build when none of its inputs changed):
 *  - x64: in a chroot holding only it, its `ldd` libraries, a real kernel core
 *    and the crashed program with its libraries at their paths — no tar, no
 *    compressor, no elfutils, no /proc — collect writes a bundle (Node's
 *    built-in zstd, said in one line), inspect reads it, list finds the core,
 *    doctor names what is missing; outside, the bundle replays with gdb to the crashing function;
 *  - arm64: under qemu-aarch64 -L /usr/aarch64-linux-gnu, on a qemu-aarch64
 *    core of a program of the test's own: collect --root writes a bundle that
 *    replays outside with gdb-multiarch to the crashing function.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corepack } from './helpers/cli.js';
import { makeCrash, type CrashFixture } from './helpers/crash.js';
import { AARCH64, buildGuestRoot, missingTool, qemuCore, type GuestRoot } from './helpers/foreign.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const { version: VERSION } = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
const RELEASE = path.join(REPO, 'dist', 'release');
const CHROOT = (await execa('sh', ['-c', 'command -v chroot'], { reject: false })).stdout.trim() || undefined;
const exe = (arch: 'x64' | 'arm64') => path.join(RELEASE, `corepack-crash-${VERSION}-linux-${arch}`);

let dist: { exitCode: number; stderr: string };
let top: string;

beforeAll(async () => {
  top = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-dist-test-')));
  // npm run dist is tsc, then scripts/dist.mjs. npm test has compiled dist/ already, and tsc rewriting
  // it here would hand the other test files' CLI runs half-written modules: only the second step runs.
  const r = await execa(process.execPath, [path.join(REPO, 'scripts', 'dist.mjs')], { cwd: REPO, reject: false, stdin: 'ignore', all: true, timeout: 900_000 });
  dist = { exitCode: r.exitCode ?? -1, stderr: String(r.all) };
  if (dist.exitCode !== 0) throw new Error(`scripts/dist.mjs failed:\n${dist.stderr}`);
}, 960_000);

afterAll(async () => {
  if (top) await fs.rm(top, { recursive: true, force: true });
});

describe('npm run dist', () => {
  it('writes both executables, an .xz of each and SHA256SUMS that checks', async () => {
    const names = (await fs.readdir(RELEASE)).filter((n) => !n.startsWith('.')).sort();
    const base = `corepack-crash-${VERSION}-linux-`;
    expect(names).toEqual(['SHA256SUMS', `${base}arm64`, `${base}arm64.xz`, `${base}x64`, `${base}x64.xz`]);
    const check = await execa('sha256sum', ['-c', 'SHA256SUMS'], { cwd: RELEASE, reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    expect(check.stdout.trim().split('\n')).toHaveLength(4);
    // The .xz is the executable.
    const unpacked = createHash('sha256').update((await execa('xz', ['-dc', `${exe('x64')}.xz`], { encoding: 'buffer', maxBuffer: 1 << 30 })).stdout).digest('hex');
    expect(unpacked).toBe(createHash('sha256').update(await fs.readFile(exe('x64'))).digest('hex'));
  });

  it('--version: the version, the commit and the Node.js built in', async () => {
    const r = await execa(exe('x64'), ['--version']);
    expect(r.stdout).toMatch(new RegExp(`^corepack-crash ${VERSION.replace(/\./g, '\\.')} \\(commit [0-9a-f]{40}(?:-dirty)?, built \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\), Node\\.js v24\\.\\d+\\.\\d+ \\(built in: a single executable\\)$`));
  });
});

/** Copies `file` (following links) to the same path under `root`. */
async function place(root: string, file: string): Promise<void> {
  const to = path.join(root, file);
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.copyFile(await fs.realpath(file), to);
  await fs.chmod(to, (await fs.stat(file)).mode & 0o7777);
}

/** What `ldd` says `file` needs, with its interpreter: absolute paths. */
async function lddLibraries(file: string): Promise<string[]> {
  const { stdout } = await execa('ldd', [file]);
  return [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) if (!e.isDirectory()) out.push(path.join(e.parentPath, e.name).slice(dir.length));
  return out.sort();
}

describe('the x64 executable in a chroot with nothing else', () => {
  let root: string;
  let crash: CrashFixture;
  let collect: { exitCode: number; stdout: string; stderr: string };
  const inChroot = async (args: string[]) => {
    // chroot is looked up on the test's PATH; inside, PATH names directories that hold nothing.
    const r = await execa(CHROOT!, [root, '/corepack-crash', ...args], { reject: false, stdin: 'ignore', env: { PATH: '/usr/bin:/bin' }, extendEnv: false, timeout: 120_000 });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };

  beforeAll(async () => {
    root = path.join(top, 'chroot');
    crash = await makeCrash('segv-main');
    await fs.mkdir(path.join(root, 'tmp'), { recursive: true, mode: 0o1777 });
    await fs.copyFile(exe('x64'), path.join(root, 'corepack-crash'));
    await fs.chmod(path.join(root, 'corepack-crash'), 0o755);
    for (const lib of await lddLibraries(exe('x64'))) await place(root, lib);
    // The crashed program and every file it had mapped, at their paths.
    const inspect = await corepack(['inspect', crash.core, '--json']);
    for (const m of JSON.parse(inspect.stdout).modules as Array<{ path: string | null; kind: string }>) if (m.path && m.kind !== 'vdso') await place(root, m.path);
    await fs.mkdir(path.join(root, 'work'));
    await fs.copyFile(crash.core, path.join(root, 'work', 'core'));
    collect = await inChroot(['collect', '/work/core']);
  }, 300_000);

  afterAll(async () => {
    await crash?.cleanup();
  });

  it('the chroot holds no tar, compressor, elfutils or gdb, and no /proc', async () => {
    const files = await filesUnder(root);
    expect(files.filter((f) => /\/(?:tar|bzip2|lbzip2|pbzip2|zstd|gzip|pigz|xz|lz4|eu-[\w-]+|gdb|readelf|sh|bash|ldd)$/.test(f))).toEqual([]);
    expect(files.some((f) => f.startsWith('/proc/'))).toBe(false);
  });

  it("collect writes an exact bundle with Node's built-in zstd, and says so in one line", async () => {
    expect(collect.exitCode, collect.stderr).toBe(0);
    expect(collect.stderr).toContain("corepack: no bzip2 program is installed (lbzip2, pbzip2, bzip2): writing the bundle as .tar.zst with Node's built-in zstd instead (-o NAME.tbz2 insists on bzip2)");
    expect((await fs.stat(path.join(root, 'core.tar.zst'))).size).toBeGreaterThan(1000);
    // -o NAME.tbz2 insists: no bzip2 here, so it says what to install (exit 6) and writes nothing.
    const insist = await inChroot(['collect', '/work/core', '-o', '/work/insist.tbz2']);
    expect(insist.exitCode).toBe(6);
    expect(insist.stderr).toMatch(/^corepack: error: no bzip2 program is installed/);
    await expect(fs.stat(path.join(root, 'work', 'insist.tbz2'))).rejects.toThrow();
  });

  it('inspect reads the bundle inside', async () => {
    const r = await inChroot(['inspect', '/core.tar.zst']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('SIGSEGV');
    expect(r.stdout).toContain(crash.exe);
  });

  it('list finds the core inside', async () => {
    const r = await inChroot(['list', '/work', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const cores = (JSON.parse(r.stdout) as { cores: Array<{ path: string; pid: number | null }> }).cores;
    expect(cores.map((c) => c.path)).toEqual(['/work/core']);
    expect(cores[0]!.pid).toBe(crash.pid);
  });

  it('doctor names what is missing and can collect', async () => {
    const r = await inChroot(['doctor', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as { canCollect: boolean; checks: Array<{ name: string; status: string; install?: { debian: string } }> };
    const byName = Object.fromEntries(d.checks.map((c) => [c.name, c]));
    expect(d.canCollect).toBe(true);
    expect(byName['compressor bzip2']).toMatchObject({ status: 'missing', install: { debian: 'lbzip2' } });
    expect(byName['compressor zstd']).toMatchObject({ status: 'warn' });
    expect(byName.gdb).toMatchObject({ status: 'missing', install: { debian: 'gdb' } });
    expect(byName.core_pattern!.status).toBe('warn'); // no /proc here
  });

  it('outside, the bundle replays with gdb to the crashing function', async () => {
    const r = await corepack(['replay', path.join(root, 'core.tar.zst'), '--batch', '--dir', path.join(top, 'replay-x64')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/=== crashed thread ===[\s\S]*?#0 [^\n]*\bcrash_here\b/);
  });
});

const missingForArm = await missingTool(['qemu-aarch64', 'aarch64-linux-gnu-gcc', 'gdb-multiarch']);

describe.skipIf(missingForArm !== undefined)(`the arm64 executable under qemu-aarch64${missingForArm ? ` (skipped: ${missingForArm} is not installed)` : ''}`, () => {
  let g: GuestRoot;
  let core: string;
  let collect: { exitCode: number; stdout: string; stderr: string };
  const bundle = () => path.join(g.top, 'arm64.tar.zst');

  beforeAll(async () => {
    g = await buildGuestRoot(AARCH64);
    core = await qemuCore(AARCH64, g, g.exes['xcrash-pie']!, [g.plugin]);
    const r = await execa(AARCH64.qemu, ['-L', AARCH64.sysroot, exe('arm64'), 'collect', core, '--root', g.root, '-o', bundle()], { reject: false, stdin: 'ignore', timeout: 300_000 });
    collect = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  }, 400_000);

  afterAll(async () => {
    if (g) await fs.rm(g.top, { recursive: true, force: true });
  });

  it('collect --root writes an exact bundle', () => {
    expect(collect.exitCode, collect.stderr).toBe(0);
    expect(collect.stderr).toContain(bundle());
  });

  it('the bundle replays outside with gdb-multiarch to the crashing function', async () => {
    const r = await corepack(['replay', bundle(), '--batch', '--dir', path.join(g.top, 'replay')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/=== crashed thread ===[\s\S]*?#0 [^\n]*\bfoo_crash\b/);
  });
});
