/**
 * Fixtures for cores "from elsewhere": another architecture run under
 * qemu-user, and a process in a chroot (a container without the runtime).
 *
 * Both build a root directory the crashed process saw as `/`:
 *
 *   <tmp>/corepack-foreign-XXXXXX/
 *     root/                       what the process saw as /
 *       lib/... or lib/<triplet>/ the loader, libc (copied from the toolchain or the host)
 *       opt/app/bin/xcrash[-pie|-nopie]   RUNPATH/LD_LIBRARY_PATH /opt/app/lib
 *       opt/app/lib/libxfoo.so.1
 *       opt/app/plugins/libplugin.so      dlopen()ed by absolute path
 *     cwd/                        qemu's working directory (its cores land here)
 *
 * qemu 7.2 writes the guest's core as qemu_<prog>_<date>_<pid>.core in its
 * working directory, and the kernel dumps qemu itself too; coredump_filter 0
 * in the shell that execs qemu keeps that second core tiny.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCore } from './crash.js';
import { crashLockPrefix } from './corepattern.js';

const SRC_DIR = fileURLToPath(new URL('../fixtures/c/', import.meta.url));
const CFLAGS = ['-g', '-O0', '-Wl,--build-id'];

export interface GuestArch {
  /** CoreSummary.arch */
  arch: string;
  cc: string;
  qemu: string;
  /** The cross toolchain's libraries: what qemu -L is usually given. */
  sysroot: string;
  loader: string;
}

export const AARCH64: GuestArch = {
  arch: 'aarch64',
  cc: 'aarch64-linux-gnu-gcc',
  qemu: 'qemu-aarch64',
  sysroot: '/usr/aarch64-linux-gnu',
  loader: 'ld-linux-aarch64.so.1',
};

/** Big-endian, and qemu-s390x places a PIE at 0x4000000000. */
export const S390X: GuestArch = {
  arch: 's390x',
  cc: 's390x-linux-gnu-gcc',
  qemu: 'qemu-s390x',
  sysroot: '/usr/s390x-linux-gnu',
  loader: 'ld64.so.1',
};

export async function which(program: string): Promise<string | undefined> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', program], { reject: false });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

/** The first missing tool of `tools`, or undefined when all are installed. */
export async function missingTool(tools: readonly string[]): Promise<string | undefined> {
  for (const t of tools) if (!(await which(t))) return t;
  return undefined;
}

export interface GuestRoot {
  /** The temp dir holding root/ and cwd/; remove it to clean up. */
  top: string;
  /** What the process saw as / (canonical). */
  root: string;
  cwd: string;
  /** Programs by name, as host paths (inside root). */
  exes: Record<string, string>;
  /** Guest paths. */
  lib: string;
  plugin: string;
}

async function makeTop(prefix: string): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
}

async function cc(compiler: string, args: string[]): Promise<void> {
  await execa(compiler, args, { stdin: 'ignore' });
}

/** Builds libxfoo, the plugin and the programs with `compiler` into `root`. */
async function buildApp(compiler: string, root: string, programs: Record<string, string[]>, link: string[]): Promise<Record<string, string>> {
  const bin = path.join(root, 'opt/app/bin');
  const lib = path.join(root, 'opt/app/lib');
  const plugins = path.join(root, 'opt/app/plugins');
  await Promise.all([bin, lib, plugins].map((d) => fs.mkdir(d, { recursive: true })));
  await Promise.all([
    cc(compiler, [...CFLAGS, '-fPIC', '-shared', '-Wl,-soname,libxfoo.so.1', '-o', path.join(lib, 'libxfoo.so.1'), path.join(SRC_DIR, 'xfoo.c')]),
    cc(compiler, [...CFLAGS, '-fPIC', '-shared', '-o', path.join(plugins, 'libplugin.so'), path.join(SRC_DIR, 'xplugin.c')]),
  ]);
  const exes: Record<string, string> = {};
  await Promise.all(
    Object.entries(programs).map(async ([name, flags]) => {
      exes[name] = path.join(bin, name);
      await cc(compiler, [...CFLAGS, ...flags, '-pthread', '-o', exes[name]!, path.join(SRC_DIR, 'xcrash.c'), '-L', lib, '-l:libxfoo.so.1', ...link, '-ldl']);
    }),
  );
  return exes;
}

/**
 * A guest root for `arch`: the toolchain's loader, libc and libthread_db
 * copied in (qemu -L would find them in the toolchain's dir too, but then the
 * program would have to live there), and a PIE and a non-PIE xcrash.
 */
export async function buildGuestRoot(arch: GuestArch): Promise<GuestRoot> {
  const top = await makeTop('corepack-foreign-');
  const root = path.join(top, 'root');
  const cwd = path.join(top, 'cwd');
  await fs.mkdir(path.join(root, 'lib'), { recursive: true });
  await fs.mkdir(cwd);
  for (const f of [arch.loader, 'libc.so.6', 'libthread_db.so.1']) await fs.copyFile(path.join(arch.sysroot, 'lib', f), path.join(root, 'lib', f));
  const exes = await buildApp(arch.cc, root, { 'xcrash-pie': ['-fPIE', '-pie'], 'xcrash-nopie': ['-fno-PIE', '-no-pie'] }, ['-Xlinker', '-rpath', '-Xlinker', '/opt/app/lib']);
  return { top, root, cwd, exes, lib: '/opt/app/lib/libxfoo.so.1', plugin: '/opt/app/plugins/libplugin.so' };
}

/** Runs `exe` (a host path inside g.root) under qemu -L g.root, in `cwd` or a fresh directory, until it crashes; returns the guest's core. */
export async function qemuCore(arch: GuestArch, g: GuestRoot, exe: string, args: string[], cwd?: string): Promise<string> {
  // A fresh directory per run unless the caller chose one (a plugin to dlopen by a relative name is there).
  const dir = cwd ?? (await fs.mkdtemp(path.join(g.cwd, 'run-')));
  const r = await execa(
    'bash',
    ['-c', `${crashLockPrefix()}ulimit -c unlimited; echo 0 > /proc/self/coredump_filter; exec "$@"`, 'bash', arch.qemu, '-L', g.root, exe, ...args],
    { cwd: dir, reject: false, stdin: 'ignore', timeout: 60_000, killSignal: 'SIGKILL' },
  );
  if (r.signal !== 'SIGSEGV') throw new Error(`${arch.qemu} ${exe}: expected SIGSEGV, got ${r.signal ?? `exit ${r.exitCode}`}\n${String(r.stderr)}`);
  const cores = (await fs.readdir(dir)).filter((n) => /^qemu_.*\.core$/.test(n));
  if (cores.length !== 1) throw new Error(`${arch.qemu} wrote ${cores.length} guest cores in ${dir}: ${(await fs.readdir(dir)).join(', ')}`);
  // qemu's own (host) core, if the kernel wrote one: not what the tests are about.
  await fs.rm(path.join(dir, 'core'), { force: true });
  return path.join(dir, cores[0]!);
}

export interface NativeApp {
  /** What the app was built into (its opt/app holds the files). */
  root: string;
  exe: string;
  /** Host path of the plugin. */
  plugin: string;
}

/** xcrash for this machine at `root`/opt/app, with an absolute RUNPATH to its library. */
export async function buildNativeApp(root: string): Promise<NativeApp> {
  const exes = await buildApp('gcc', root, { xcrash: [] }, ['-Xlinker', '-rpath', '-Xlinker', path.join(root, 'opt/app/lib')]);
  return { root, exe: exes.xcrash!, plugin: path.join(root, 'opt/app/plugins/libplugin.so') };
}

/** A libplugin.so that is not the crashed process's: it has a function the real one lacks. */
export async function buildDecoyPlugin(output: string): Promise<void> {
  await cc('gcc', [...CFLAGS, '-fPIC', '-shared', '-DPLUGIN_DECOY', '-DPLUGIN_VALUE=2', '-o', output, path.join(SRC_DIR, 'xplugin.c')]);
}

export interface ContainerCrash {
  top: string;
  root: string;
  exe: string;
  core: string;
  /** Host path of the container-only libz.so.1 stand-in. */
  containerLibz: string;
  /** Its path as the process saw it, and the host's own file at that path. */
  libzPath: string;
}

/** The host's directory of libc, e.g. /lib/x86_64-linux-gnu. */
async function hostLibDir(): Promise<string> {
  const { stdout } = await execa('gcc', ['-print-file-name=libc.so.6']);
  return path.dirname(await fs.realpath(stdout.trim()));
}

/**
 * A chroot "container": the host's loader and libc copied into a root, the
 * program and its libraries at /opt/app, and a libz.so.1 of its own at the
 * path where the host has the real zlib (another build ID). /proc is absent
 * inside, so the program finds its library through LD_LIBRARY_PATH.
 */
export async function chrootCrash(): Promise<ContainerCrash> {
  const top = await makeTop('corepack-container-');
  const root = path.join(top, 'root');
  const libDir = await hostLibDir(); // /lib/x86_64-linux-gnu (or /usr/lib/...: /lib is a link)
  const guestLibDir = libDir.replace(/^\/usr\/lib\//, '/lib/');
  await fs.mkdir(path.join(root, guestLibDir), { recursive: true });
  const { stdout: interpOut } = await execa('sh', ['-c', 'readelf -l /bin/true | sed -n "s/.*interpreter: \\(.*\\)]/\\1/p"']);
  const interp = interpOut.trim(); // /lib64/ld-linux-x86-64.so.2
  const loaderReal = await fs.realpath(interp);
  await fs.copyFile(loaderReal, path.join(root, guestLibDir, path.basename(loaderReal)));
  await fs.copyFile(path.join(libDir, 'libc.so.6'), path.join(root, guestLibDir, 'libc.so.6'));
  if (path.dirname(interp) !== guestLibDir) {
    // As on the host: /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/..., an absolute link.
    await fs.mkdir(path.join(root, path.dirname(interp)), { recursive: true });
    await fs.symlink(path.join(guestLibDir, path.basename(loaderReal)), path.join(root, interp));
  }
  const libzPath = path.join(guestLibDir, 'libz.so.1');
  const containerLibz = path.join(root, libzPath);
  await cc('gcc', [...CFLAGS, '-fPIC', '-shared', '-Wl,-soname,libz.so.1', '-o', containerLibz, path.join(SRC_DIR, 'xzlib.c')]);
  const exes = await buildApp('gcc', root, { xcrash: [] }, []);
  const exe = exes.xcrash!;
  const result = await makeCore(['chroot', root, '/opt/app/bin/xcrash', '/opt/app/plugins/libplugin.so', 'libz.so.1'], {
    cwd: root, // chroot(8) runs the program in the new root's /, where the kernel writes `core`
    env: { LD_LIBRARY_PATH: '/opt/app/lib' },
    signal: 'SIGSEGV',
  });
  return { top, root, exe, core: result.core, containerLibz, libzPath };
}
