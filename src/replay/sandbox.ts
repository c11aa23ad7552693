/**
 * The debugger in a sandbox: bubblewrap (bwrap) around gdb and lldb.
 *
 * A bundle is untrusted input, and a debugger is a large parser of it (ELF,
 * DWARF, the core) that has had memory-safety bugs; with the bundle's
 * libthread_db it even runs the bundle's native code. Inside the sandbox the
 * debugger sees:
 *
 *  - /usr (and the /bin, /lib… links or directories beside it) and a short
 *    list of /etc files the loader, gdb and Python read, all read-only;
 *  - the replay directory (the extracted bundle, the scripts) read-only, at
 *    its own path, and the few other files the session needs (scripts given
 *    after `--`, debug files corepack fetched from debuginfod, the debugger
 *    itself when it lives outside /usr), each read-only;
 *  - a private /tmp, with HOME in it: not the developer's home, nor any other
 *    file of theirs;
 *  - no network (a network namespace of its own, with only `lo`), no other
 *    process (a pid namespace), no capabilities, no further user namespaces;
 *  - a reduced environment (PATH, HOME, TERM, the locale, what the caller adds).
 *
 * The terminal passes through for interactive use. A program that shares a
 * terminal can push keystrokes into it (the TIOCSTI and TIOCLINUX ioctls):
 * batch runs get a session of their own (no controlling terminal at all),
 * interactive ones a seccomp filter that refuses those two ioctls.
 *
 * Root: corepack's tests (and some developers) run as root. bwrap then keeps
 * no capabilities (`--cap-drop ALL`) and, where it can, runs in a user
 * namespace of its own that cannot create another (`--disable-userns`), so a
 * process inside cannot remount the read-only binds or reach the host's files.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { which } from '../util/which.js';

/** Whether the debugger runs in a sandbox, and if not, why. Part of every report. */
export type SandboxState =
  | { sandboxed: true; tool: 'bubblewrap'; bwrap: string; userNamespace: boolean; description: string }
  | { sandboxed: false; reason: 'disabled' | 'unavailable'; description: string };

/** What one sandboxed run needs. */
export interface SandboxSpec {
  /** Files and directories bound read-only at their own paths; each must exist. */
  readOnly: readonly string[];
  /** Files bound read-only when they exist (a script the user named may be missing: the debugger says so). */
  readOnlyIfPresent?: readonly string[];
  /** The debugger's working directory (inside one of readOnly). */
  cwd: string;
  /** Environment variables set inside, besides PATH, HOME and TMPDIR. */
  env: Readonly<Record<string, string>>;
  /** The terminal is the user's: no session of its own; keystroke injection filtered instead. */
  interactive: boolean;
  /** A seccomp program is passed on this file descriptor (see tiocstiFilter). */
  seccompFd?: number | undefined;
}

/** HOME inside the sandbox: in the private /tmp, empty at every start. */
export const SANDBOX_HOME = '/tmp/home';

/** The PATH inside: the system's programs only. */
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The top-level names beside /usr that are links into it on merged-/usr systems, or directories of their own on older ones. */
const ROOT_PROGRAM_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * /etc entries the debugger's process reads: the dynamic loader's cache and
 * configuration, gdb's system-wide init directory, Python's configuration
 * (gdb embeds Python), update-alternatives links, the time zone, the
 * terminal database and readline's configuration. Nothing else of /etc.
 */
const ETC_ENTRIES = ['ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'gdb', 'alternatives', 'localtime', 'terminfo', 'inputrc'];

/** Variables passed through from the user's environment: the terminal and the locale. */
const PASSED_ENV = ['TERM', 'COLORTERM', 'COLUMNS', 'LINES', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'LC_MESSAGES', 'LC_NUMERIC', 'LC_COLLATE', 'TZ'];

/** How the host lays out its root: which program directories are links, which /etc entries exist. Read once. */
export interface HostLayout {
  /** [path, link target] for each of ROOT_PROGRAM_DIRS that is a symlink. */
  links: ReadonlyArray<readonly [string, string]>;
  /** Each of ROOT_PROGRAM_DIRS that is a directory. */
  dirs: readonly string[];
  /** /etc entries that exist. */
  etc: readonly string[];
}

export async function readHostLayout(): Promise<HostLayout> {
  const links: Array<[string, string]> = [];
  const dirs: string[] = [];
  for (const p of ROOT_PROGRAM_DIRS) {
    const st = await fs.lstat(p).catch(() => undefined);
    if (st?.isSymbolicLink()) links.push([p, await fs.readlink(p)]);
    else if (st?.isDirectory()) dirs.push(p);
  }
  const names = await fs.readdir('/etc').catch(() => [] as string[]);
  const wanted = (n: string) => ETC_ENTRIES.includes(n) || /^python3(\.\d+)?$/.test(n);
  const etc = names.filter(wanted).sort().map((n) => path.join('/etc', n));
  return { links, dirs, etc };
}

/** Is `p` at or under `dir`? */
function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * bwrap's arguments, up to and including `--`: pure, from the layout, the
 * spec and whether a user namespace is used. The caller appends the command.
 */
export function bwrapArgs(layout: HostLayout, spec: SandboxSpec, userNamespace: boolean): string[] {
  const a: string[] = [];
  if (userNamespace) a.push('--unshare-user', '--disable-userns');
  a.push('--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try');
  a.push('--cap-drop', 'ALL', '--die-with-parent');
  if (!spec.interactive) a.push('--new-session');
  a.push('--ro-bind', '/usr', '/usr');
  for (const [p, target] of layout.links) a.push('--symlink', target, p);
  for (const d of layout.dirs) a.push('--ro-bind', d, d);
  for (const e of layout.etc) a.push('--ro-bind', e, e);
  a.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', SANDBOX_HOME);
  // /usr is bound whole already; anything else gets its own read-only bind (after /tmp, so a path under /tmp is kept).
  const system = ['/usr', ...layout.dirs, ...layout.etc];
  const seen = new Set<string>();
  const bind = (flag: string, p: string) => {
    const abs = path.resolve(p);
    if (seen.has(abs) || system.some((s) => within(abs, s))) return;
    seen.add(abs);
    a.push(flag, abs, abs);
  };
  for (const p of spec.readOnly) bind('--ro-bind', p);
  for (const p of spec.readOnlyIfPresent ?? []) bind('--ro-bind-try', p);
  a.push('--clearenv', '--setenv', 'PATH', SANDBOX_PATH, '--setenv', 'HOME', SANDBOX_HOME, '--setenv', 'TMPDIR', '/tmp');
  for (const [k, v] of Object.entries(spec.env)) a.push('--setenv', k, v);
  if (spec.seccompFd !== undefined) a.push('--seccomp', String(spec.seccompFd));
  a.push('--chdir', spec.cwd, '--');
  return a;
}

/** The terminal and locale variables of `env` that pass into the sandbox. */
export function passedEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of PASSED_ENV) {
    const v = env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

// --- The seccomp filter against keystroke injection --------------------------------------------

/** Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h). */
const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO_EPERM = 0x00050000 | 1;
/** struct seccomp_data: nr at 0, arch at 4, args[] at 16, 8 bytes each; the low half of args[1] (little-endian). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG1_LOW = 24;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

/** ioctl's number per audit architecture a process on this host can call with (compat ABIs too). */
const IOCTL_BY_HOST: Partial<Record<NodeJS.Architecture, ReadonlyArray<{ arch: number; ioctl: readonly number[] }>>> = {
  // x86_64, its x32 ABI (nr | __X32_SYSCALL_BIT, 514 is x32's ioctl) and i386 (int 0x80).
  x64: [
    { arch: 0xc000003e, ioctl: [16, 0x40000000 + 514] },
    { arch: 0x40000003, ioctl: [54] },
  ],
  // aarch64 and 32-bit arm (compat).
  arm64: [
    { arch: 0xc00000b7, ioctl: [29] },
    { arch: 0x40000028, ioctl: [54] },
  ],
};

type Insn = { code: number; jt: number | string; jf: number | string; k: number } | { label: string };

/**
 * A seccomp program (cBPF, as bwrap --seccomp reads it) that makes
 * ioctl(fd, TIOCSTI) and ioctl(fd, TIOCLINUX) fail with EPERM and allows
 * everything else; undefined on a host architecture it does not know. Only
 * the low 32 bits of the request are compared: the kernel ignores the rest
 * (CVE-2019-10063 was a filter that compared all 64).
 */
export function tiocstiFilter(hostArch: NodeJS.Architecture = process.arch): Buffer | undefined {
  const abis = IOCTL_BY_HOST[hostArch];
  if (!abis) return undefined;
  const prog: Insn[] = [{ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: OFF_ARCH }];
  abis.forEach((abi, i) => prog.push({ code: BPF_JEQ_K, jt: `abi${i}`, jf: 0, k: abi.arch }));
  prog.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  abis.forEach((abi, i) => {
    prog.push({ label: `abi${i}` }, { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: OFF_NR });
    for (const nr of abi.ioctl) prog.push({ code: BPF_JEQ_K, jt: 'request', jf: 0, k: nr });
    prog.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  });
  prog.push(
    { label: 'request' },
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: OFF_ARG1_LOW },
    { code: BPF_JEQ_K, jt: 'deny', jf: 0, k: TIOCSTI },
    { code: BPF_JEQ_K, jt: 'deny', jf: 0, k: TIOCLINUX },
    { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW },
    { label: 'deny' },
    { code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO_EPERM },
  );
  return assemble(prog);
}

/** Resolves labels to forward jump offsets and encodes struct sock_filter (u16 code, u8 jt, u8 jf, u32 k; host byte order). */
function assemble(prog: readonly Insn[]): Buffer {
  const labels = new Map<string, number>();
  const insns: Array<Exclude<Insn, { label: string }>> = [];
  for (const i of prog) {
    if ('label' in i) labels.set(i.label, insns.length);
    else insns.push(i);
  }
  const out = Buffer.alloc(insns.length * 8);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  insns.forEach((ins, pc) => {
    const jump = (j: number | string): number => {
      if (typeof j === 'number') return j;
      const at = labels.get(j);
      if (at === undefined || at <= pc || at - pc - 1 > 255) throw new Error(`seccomp program: bad jump to ${j}`);
      return at - pc - 1;
    };
    const o = pc * 8;
    if (little) {
      out.writeUInt16LE(ins.code, o);
      out.writeUInt32LE(ins.k >>> 0, o + 4);
    } else {
      out.writeUInt16BE(ins.code, o);
      out.writeUInt32BE(ins.k >>> 0, o + 4);
    }
    out.writeUInt8(jump(ins.jt), o + 2);
    out.writeUInt8(jump(ins.jf), o + 3);
  });
  return out;
}

// --- Finding out whether a sandbox can be made here -------------------------------------------

export interface SandboxProbeOptions {
  /** --no-sandbox. */
  disabled: boolean;
  /** PATH to find bwrap on. */
  pathEnv?: string | undefined;
}

/** The install hint used in the one line that says there is no sandbox. */
const INSTALL = 'install bubblewrap (apt-get install bubblewrap)';

let layoutOnce: Promise<HostLayout> | undefined;
/** The host's layout, read once per process. */
export function hostLayout(): Promise<HostLayout> {
  layoutOnce ??= readHostLayout();
  return layoutOnce;
}

/**
 * Can bwrap make the sandbox here? It is run once, as the debugger will be
 * (user namespace first, then without one: setuid bwrap, or user namespaces
 * disabled for unprivileged users), on `true`. bwrap being installed is not
 * enough: a kernel or a container may refuse every namespace it needs.
 */
export async function probeSandbox(opts: SandboxProbeOptions): Promise<SandboxState> {
  if (opts.disabled) {
    return { sandboxed: false, reason: 'disabled', description: 'not sandboxed (--no-sandbox): the debugger runs with your files and network, and loads the bundle\'s libthread_db' };
  }
  const bwrap = await which('bwrap', opts.pathEnv ?? process.env.PATH);
  if (!bwrap) return unavailable(`bubblewrap (bwrap) is not installed`);
  const layout = await hostLayout();
  const spec: SandboxSpec = { readOnly: [], cwd: '/', env: {}, interactive: false };
  const { execa } = await import('execa');
  let firstError = '';
  for (const userNamespace of [true, false]) {
    const r = await execa(bwrap, [...bwrapArgs(layout, spec, userNamespace), 'true'], { reject: false, stdin: 'ignore', timeout: 15_000, env: { LC_ALL: 'C' } });
    if (r.exitCode === 0) {
      return { sandboxed: true, tool: 'bubblewrap', bwrap, userNamespace, description: `sandboxed (bubblewrap${userNamespace ? ', own user namespace' : ''}): no network, the bundle read-only, a private /tmp and HOME, none of your files` };
    }
    firstError ||= firstLine(String(r.stderr)) || (r.timedOut ? 'timed out' : `exit ${r.exitCode ?? r.signal}`);
  }
  return unavailable(`bwrap cannot make a sandbox here (${firstError})`);
}

function unavailable(why: string): SandboxState {
  return {
    sandboxed: false,
    reason: 'unavailable',
    description: `not sandboxed: ${why}; the debugger loads this machine's libthread_db, not the bundle's; ${INSTALL} or pass --no-sandbox`,
  };
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.trim() ?? '';
}

/**
 * What a debugger outside /usr needs bound into the sandbox: its real file,
 * and its installation prefix (PREFIX/bin/gdb: PREFIX/share/gdb holds its
 * data directory) unless that prefix is the root or a home directory.
 */
export async function debuggerPaths(debuggerPath: string, home: string | undefined): Promise<string[]> {
  const real = await fs.realpath(debuggerPath).catch(() => debuggerPath);
  if (within(real, '/usr')) return [];
  const out = [real];
  const binDir = path.dirname(real);
  const prefix = path.dirname(binDir);
  const homes = [home, '/root', '/home'].filter((h): h is string => Boolean(h)).map((h) => path.resolve(h));
  if (path.basename(binDir) === 'bin' && prefix !== '/' && !homes.some((h) => within(h, prefix))) out.push(prefix);
  return out;
}
