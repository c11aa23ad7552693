/**
 * Passing the core on to where the previous core_pattern would have sent it,
 * as the kernel would have: to the previous handler's standard input, with
 * its arguments expanded from this crash's values; or into the file a plain
 * pattern names, created the way the kernel creates it (relative to the
 * crashed process's working directory, an absolute one under its root,
 * through /proc/PID/cwd and /proc/PID/root; core_uses_pid; at most
 * RLIMIT_CORE bytes, none below a page; zero pages left as holes; owned by
 * the crashed process's user; mode 0600).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { expandFile, expandPipe, parsePattern, type SpecifierValues } from './pattern.js';

export interface PassOn {
  /** "the previous handler /lib/systemd/systemd-coredump", "the file /srv/app/core.123", or why nothing. */
  readonly describe: string;
  /** False when nothing is passed on (RLIMIT_CORE 0 with a plain pattern): writes are no-ops. */
  readonly active: boolean;
  write(chunk: Buffer): Promise<void>;
  /** Ends the core; resolves when the previous handler exited (or the file is complete). */
  finish(): Promise<void>;
  /** Stops: the previous handler is killed, a file is left as far as it got (the kernel does the same when a dump is cut). */
  abort(): void;
}

export interface PassOnContext {
  values: SpecifierValues;
  coreUsesPid: boolean;
  /** How long the previous handler may take after the core's end, ms. */
  finishTimeoutMs: number;
  procDir?: string;
}

const PAGE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE);

/** RLIMIT_CORE from %c: "18446744073709551615" is unlimited. */
export function coreLimit(c: string | undefined): number {
  if (c === undefined || !/^\d+$/.test(c)) return Infinity;
  const n = Number(c);
  return n >= Number.MAX_SAFE_INTEGER ? Infinity : n;
}

export function nothingPassedOn(why: string): PassOn {
  return { describe: why, active: false, write: async () => undefined, finish: async () => undefined, abort: () => undefined };
}

/** Opens the target the previous pattern names for this crash, before the first byte of the core is read. */
export async function openPassOn(previousPattern: string, ctx: PassOnContext): Promise<PassOn> {
  const p = parsePattern(previousPattern);
  if (p.kind === 'pipe') return pipeTarget(expandPipe(p.argv, ctx.values), ctx);
  return fileTarget(p.template, ctx);
}

function pipeTarget(argv: string[], ctx: PassOnContext): PassOn {
  const [program, ...args] = argv;
  if (!program) return nothingPassedOn('the previous pattern names no program');
  // %F: the kernel gave us a pidfd; the previous handler gets the same descriptor number.
  const stdio: (number | 'pipe' | 'ignore')[] = ['pipe', 'ignore', 'ignore'];
  const pidfd = ctx.values.F !== undefined && /^\d+$/.test(ctx.values.F) ? Number(ctx.values.F) : undefined;
  if (pidfd !== undefined && pidfd > 2) {
    while (stdio.length < pidfd) stdio.push('ignore');
    stdio[pidfd] = pidfd;
  }
  let child: ChildProcess;
  try {
    child = spawn(program, args, { stdio, cwd: '/', detached: false });
  } catch (err) {
    return nothingPassedOn(`the previous handler ${program} could not be started (${(err as Error).message})`);
  }
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`the previous handler ${program} exited with ${signal ?? `status ${code}`}`))));
  });
  exited.catch(() => undefined);
  const stdin = child.stdin!;
  let broken: Error | null = null;
  stdin.on('error', (err) => (broken ??= err));
  return {
    describe: `the previous handler ${program}`,
    active: true,
    async write(chunk) {
      if (broken) throw broken;
      if (!stdin.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onError = (e: Error): void => reject(e);
          stdin.once('drain', () => {
            stdin.off('error', onError);
            resolve();
          });
          stdin.once('error', onError);
          exited.catch(reject);
        });
      }
    },
    async finish() {
      stdin.end();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          exited,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              child.kill('SIGKILL');
              reject(new Error(`the previous handler ${program} did not exit within ${ctx.finishTimeoutMs} ms after the core's end; it was killed`));
            }, ctx.finishTimeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    abort() {
      child.kill('SIGKILL');
    },
  };
}

async function fileTarget(template: string, ctx: PassOnContext): Promise<PassOn> {
  const limit = coreLimit(ctx.values.c);
  const name = expandFile(template, ctx.values, ctx.coreUsesPid);
  // The kernel writes no file below one page of RLIMIT_CORE (binfmt_elf's min_coredump).
  if (limit < PAGE) return nothingPassedOn(`no file: RLIMIT_CORE of the process is ${ctx.values.c} (the kernel would have written none)`);
  // suid_dumpable 2 ("suidsafe") dumps a privileged process only to an absolute pattern, as root.
  const suidSafe = ctx.values.d === '2';
  if (suidSafe && !name.startsWith('/')) return nothingPassedOn(`no file: the process was privileged (dump mode 2) and ${template} is relative (the kernel would have written none)`);
  const proc = `${ctx.procDir ?? '/proc'}/${ctx.values.P}`;
  const shown = name.startsWith('/') ? name : posix.join('<cwd>', name);
  const path = name.startsWith('/') ? `${proc}/root${name}` : `${proc}/cwd/${name}`;
  // As the kernel: unlink what is there (not for a privileged process), then create exclusively, never through a symlink.
  if (!suidSafe) await unlink(path).catch(() => undefined);
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    return nothingPassedOn(`the file ${shown} could not be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const uid = suidSafe ? 0 : Number(ctx.values.u);
  const gid = suidSafe ? 0 : Number(ctx.values.g);
  if (Number.isInteger(uid) && Number.isInteger(gid)) await fh.chown(uid, gid).catch(() => undefined);
  // Bytes are written page by page at page-aligned file positions, so that a
  // zero page is seen whole whatever the chunks' sizes: the tail of a chunk
  // waits for the next one (at most a page is held).
  let size = 0;
  let pagePos = 0;
  let tail = Buffer.alloc(0);
  return {
    describe: `the file ${shown}`,
    active: true,
    async write(chunk) {
      const room = limit - size;
      if (room <= 0) return;
      const data = chunk.length > room ? chunk.subarray(0, room) : chunk;
      size += data.length;
      const all = tail.length ? Buffer.concat([tail, data]) : data;
      const whole = all.length - (all.length % PAGE);
      await writeSparse(fh, all.subarray(0, whole), pagePos);
      pagePos += whole;
      tail = Buffer.from(all.subarray(whole));
    },
    async finish() {
      try {
        if (tail.length && !tail.equals(ZERO_PAGE.subarray(0, tail.length))) await fh.write(tail, 0, tail.length, pagePos);
        // Holes at the end need the size set explicitly.
        await fh.truncate(size);
      } finally {
        await fh.close();
      }
    },
    abort() {
      void fh.close().catch(() => undefined);
    },
  };
}

/** Writes whole pages `data` at page-aligned `pos`, skipping zero pages (they stay holes, as in the kernel's own core files). */
async function writeSparse(fh: FileHandle, data: Buffer, pos: number): Promise<void> {
  let i = 0;
  while (i < data.length) {
    const pageEnd = Math.min(data.length, i + PAGE);
    if (pageEnd - i === PAGE && data.subarray(i, pageEnd).equals(ZERO_PAGE)) {
      i = pageEnd;
      continue;
    }
    // A run of pages with data, written at once.
    let j = pageEnd;
    while (j < data.length) {
      const next = Math.min(data.length, j + PAGE);
      if (next - j === PAGE && data.subarray(j, next).equals(ZERO_PAGE)) break;
      j = next;
    }
    let off = i;
    while (off < j) {
      const { bytesWritten } = await fh.write(data, off, j - off, pos + off);
      off += bytesWritten;
    }
    i = j;
  }
}
