/**
 * `corepack handle`: the kernel's core_pattern handler. The kernel starts it
 * with the core on standard input and holds the crashed task until it exits
 * (core_pipe_limit > 0), so it must never make a crash worse:
 *
 *   - the core is passed on to where the previous pattern sent it (the
 *     previous handler, or its file) as the bytes arrive, before anything of
 *     corepack's own can fail; with `"chain": "on-failure"` only when no
 *     bundle was made;
 *   - every step has a deadline; past the capture's deadline the bundle is
 *     given up (its temporary removed) and the core still passed on;
 *   - memory stays flat: the core streams in chunks, never whole;
 *   - a crash storm is rate-limited per executable and overall, the spool
 *     has a size cap, and whatever is not bundled is passed on;
 *   - one line goes to the system log, one record to the captures log.
 *
 * A crash of the handler itself is not handled again: the kernel sets the
 * handler's RLIMIT_CORE to 1, its mark for "do not pipe this one".
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readlink, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { CoreFile } from '../core/open.js';
import type { ManifestCapture } from '../bundle/manifest.js';
import type { OutputLayers } from '../bundle/output.js';
import { DEFAULT_CONFIG_PATH, loadConfig, wantsExecutable, type HandlerConfig } from './config.js';
import { CoreStreamError, DeadlineError } from './errors.js';
import { decodeCoreHead, headBytesNeeded, LiveCoreReader, type CoreHead } from './livecore.js';
import { nothingPassedOn, openPassOn, type PassOn } from './passon.js';
import { parseHandlerArgs } from './pattern.js';
import { appendCapture, readInstallRecord, takeRateSlot, type CaptureRecord } from './state.js';
import { systemLog, type LogLevel } from './syslog.js';
import type { writeCaptureBundle } from './bundle.js';
import { rootAt } from '../util/rootfs.js';

export interface HandleEnvironment {
  stateDir: string;
  /** The core; standard input when run by the kernel. */
  input?: AsyncIterable<Buffer>;
  procDir?: string;
  /** The system log; tests may watch it, the kernel log is the real one. */
  log?: (level: LogLevel, line: string) => Promise<unknown>;
}

export interface HandleOutcome extends CaptureRecord {
  /** What went to the system log. */
  line: string;
}

/** After the core's end, the previous handler gets this long to exit. */
const PREVIOUS_HANDLER_MS = 60_000;
/** Past the capture's deadline, this much more before the process exits whatever is pending. */
const HARD_STOP_GRACE_MS = 30_000;
const SIGNAL_NAMES: Record<number, string> = { 4: 'SIGILL', 5: 'SIGTRAP', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 11: 'SIGSEGV', 3: 'SIGQUIT', 24: 'SIGXCPU', 25: 'SIGXFSZ', 31: 'SIGSYS' };

function readSysctl(name: string, procDir: string): string | null {
  try {
    return readFileSync(`${procDir}/sys/kernel/${name}`, 'utf8').replace(/\n$/, '');
  } catch {
    return null;
  }
}

/**
 * A one-slot queue between the reader of the core and the bundle's tar
 * entry: push() resolves when the entry took the chunk, so the kernel's pipe
 * is read no faster than the bundle is written (flat memory). When the bundle
 * fails the channel closes and pushes cost nothing: the pass-on goes on.
 */
class Channel implements AsyncIterable<Buffer> {
  private item: Buffer | null = null;
  private taken: (() => void) | null = null;
  private ready: (() => void) | null = null;
  private ended = false;
  closed = false;

  async push(chunk: Buffer): Promise<void> {
    if (this.closed) return;
    this.item = chunk;
    await new Promise<void>((resolve) => {
      this.taken = resolve;
      this.ready?.();
    });
  }

  end(): void {
    this.ended = true;
    this.ready?.();
  }

  /** The consumer is gone (or never came): pending and later pushes return at once. */
  close(): void {
    this.closed = true;
    this.taken?.();
    this.taken = null;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.item) {
          const c = this.item;
          this.item = null;
          yield c;
          const t = this.taken;
          this.taken = null;
          t?.();
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((r) => (this.ready = r));
        this.ready = null;
      }
    } finally {
      this.close();
    }
  }
}

/** Races `p` against a deadline named for the step. */
async function within<T>(step: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DeadlineError(step, ms)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The bundle's name in the spool: what crashed, its pid, when (sortable); no `core` prefix, so `list` does not take it for a core. */
export function spoolName(comm: string, pid: number, time: Date, extension: string): string {
  const safe = comm.replace(/[^A-Za-z0-9._+-]/g, '_').replace(/^\.+/, '_').slice(0, 64) || 'unknown';
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `crash-${safe}-${pid}-${stamp}${extension}`;
}

/** Bytes the spool holds: the bundles and their temporaries. */
async function spoolBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) total += st.blocks * 512;
  }
  return total;
}

async function outputLayers(config: HandlerConfig): Promise<OutputLayers> {
  const { createEncryptor, readRecipientsFile } = await import('../bundle/encrypt.js');
  const recipients = [...config.encryptTo];
  for (const f of config.recipientsFiles) recipients.push(...(await readRecipientsFile(f)));
  if (config.recipientsFiles.length && recipients.length === config.encryptTo.length) throw new Error(`${config.recipientsFiles.join(', ')}: no age recipient in the recipients file`);
  const encrypt = recipients.length ? await createEncryptor({ recipients, passphrase: null }, (r, why) => new Error(`recipient ${r}: ${why}`)) : null;
  return { splitBytes: config.split, encrypt };
}

export async function handleCrash(argv: readonly string[], env: HandleEnvironment): Promise<HandleOutcome> {
  const started = Date.now();
  const procDir = env.procDir ?? '/proc';
  const log = env.log ?? ((level: LogLevel, line: string) => systemLog(level, line));
  const { values } = parseHandlerArgs(argv);
  const pid = Number(values.P);
  const proc = `${procDir}/${values.P}`;
  const comm = values.e ?? 'unknown';
  const signo = values.s !== undefined && /^\d+$/.test(values.s) ? Number(values.s) : null;
  const record: CaptureRecord = { time: new Date().toISOString(), pid: Number(values.p ?? values.P), executable: null, signal: signo, outcome: 'failed', bundle: null, passedOn: null, heldMs: 0, message: null };
  const problems: string[] = [];
  /** Worth saying, but no reason not to bundle. */
  const notes: string[] = [];

  // 1. Where the core goes if not here: what install replaced (the kernel's default, `core`, when nothing is recorded).
  let previous = 'core';
  let configPath = DEFAULT_CONFIG_PATH;
  try {
    const r = await readInstallRecord(env.stateDir);
    if (r) {
      previous = r.previousPattern;
      configPath = r.config;
    } else notes.push(`no install record in ${env.stateDir}: the core is passed on as the kernel's default pattern "core" would`);
  } catch (err) {
    problems.push(`the install record cannot be read (${(err as Error).message}): passing the core on as the pattern "core" would`);
  }
  let config: HandlerConfig | null = null;
  try {
    config = await loadConfig(configPath, env.stateDir);
  } catch (err) {
    problems.push(`bad configuration: ${(err as Error).message}`);
  }
  const timeoutMs = config?.timeoutMs ?? 120_000;
  const chainAlways = config?.chain !== 'on-failure';
  const ac = new AbortController();
  const deadline = setTimeout(() => ac.abort(new DeadlineError('the capture', timeoutMs)), timeoutMs);
  // The last resort: whatever hangs, the kernel gets its task back.
  const hardStop = setTimeout(() => {
    void log('err', `pid ${values.p} (${comm}): the handler is stopping after ${timeoutMs + HARD_STOP_GRACE_MS} ms; the core may be lost`).finally(() => process.exit(70));
  }, timeoutMs + HARD_STOP_GRACE_MS);
  hardStop.unref();

  const passCtx = { values, coreUsesPid: readSysctl('core_uses_pid', procDir) === '1', finishTimeoutMs: PREVIOUS_HANDLER_MS, procDir };
  const openTarget = async (): Promise<PassOn> => openPassOn(previous, passCtx).catch((err: unknown) => nothingPassedOn(`passing on failed: ${(err as Error).message}`));
  let passOn: PassOn | null = chainAlways ? await openTarget() : null;
  // process.stdin, not a file stream on fd 0: the kernel's pipe may be non-blocking (EAGAIN), which libuv's pipe handles.
  const input = env.input ?? process.stdin;
  const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  /** Everything read so far that must still reach the pass-on target when it opens late (on-failure). */
  const held: Buffer[] = [];
  let passFailed: string | null = null;
  const forward = async (chunk: Buffer): Promise<void> => {
    if (!passOn || passFailed) return;
    try {
      await passOn.write(chunk);
    } catch (err) {
      passFailed = (err as Error).message;
    }
  };

  // 2. The head: ELF header, program headers, notes (they come first).
  let head: CoreHead | null = null;
  let headBuf = Buffer.alloc(0);
  let streamDone = false;
  // Set when the deadline gives up on the head: the loop then stops after the read it waits on.
  let headGivenUp = false;
  const readHead = (async () => {
    while (!headGivenUp && headBytesNeeded(headBuf) > 0) {
      const r = await it.next();
      if (r.done) {
        streamDone = true;
        throw new CoreStreamError(`the core ended after ${headBuf.length} bytes, inside its head`);
      }
      headBuf = Buffer.concat([headBuf, r.value]);
      if (!chainAlways) held.push(r.value);
      await forward(r.value);
    }
    if (!headGivenUp) head = decodeCoreHead(headBuf);
  })();
  try {
    await within('reading the core\'s head', timeoutMs, readHead);
  } catch (err) {
    headGivenUp = true;
    problems.push(`the core cannot be read: ${(err as Error).message}`);
    // One reader of the stream at a time: the chunk it waits for is passed on
    // by it, in order, before the rest is read below (a waiting stdin is
    // ended by the hard stop, as any other read would be).
    await readHead.catch(() => undefined);
  }

  // 3. Whether to bundle at all.
  let exePath: string | null = null;
  try {
    exePath = (await readlink(`${proc}/exe`)).replace(/ \(deleted\)$/, '');
  } catch {
    // a kernel thread, or the process is gone
  }
  record.executable = exePath;
  let skip: { outcome: CaptureRecord['outcome']; why: string } | null = null;
  if (problems.length || !config || !head) skip = { outcome: 'failed', why: problems.join('; ') };
  else if (!Number.isInteger(pid) || pid <= 0) skip = { outcome: 'failed', why: 'the handler was started without P=%P' };
  else if (exePath && !wantsExecutable(config, exePath)) skip = { outcome: 'skipped', why: `${exePath} is not among the executables to bundle (executables.include/exclude)` };
  else {
    try {
      await mkdir(config.spool, { recursive: true, mode: 0o700 });
      const used = await spoolBytes(config.spool);
      if (used >= config.spoolMaxBytes) skip = { outcome: 'spool-full', why: `the spool ${config.spool} holds ${used} bytes, at its cap of ${config.spoolMaxBytes} (spoolMaxBytes)` };
      else {
        const slot = await takeRateSlot(env.stateDir, exePath ?? comm, config.rateLimit);
        if (slot !== 'ok') skip = { outcome: 'rate-limited', why: slot === 'per-executable' ? `more than ${config.rateLimit.perExecutable} crashes of ${exePath ?? comm} in ${config.rateLimit.windowSeconds} s` : `more than ${config.rateLimit.overall} crashes in ${config.rateLimit.windowSeconds} s` };
      }
    } catch (err) {
      skip = { outcome: 'failed', why: `the spool cannot be used: ${(err as Error).message}` };
    }
  }

  // 4. The bundle, while the rest of the core streams (full core), or from /proc/PID/mem (mini core).
  let bundleError: string | null = null;
  let bundled: Awaited<ReturnType<typeof writeCaptureBundle>> | null = null;
  const channel = new Channel();
  let bundling: Promise<void> = Promise.resolve();
  let liveCore: CoreFile | null = null;
  const h = head as CoreHead | null;
  if (!skip && config && h) {
    const cfg = config;
    const output = join(cfg.spool, spoolName(comm, Number(values.p ?? pid), values.t ? new Date(Number(values.t) * 1000) : new Date(), cfg.format.extensions[0]!));
    const aborted = new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true }));
    aborted.catch(() => undefined);
    const work = (async () => {
      // Loaded only when bundling: a crash that is only passed on (a storm past the rate limit) starts faster.
      const [{ CoreFile: Core }, { writeCaptureBundle: write }] = await Promise.all([import('../core/open.js'), import('./bundle.js')]);
      const layers = await within('reading the recipients', 10_000, outputLayers(cfg));
      const reader = await LiveCoreReader.open(h, pid, procDir);
      liveCore = await within('reading the process', timeoutMs, Core.fromReader(reader, { allowTruncated: true, root: rootAt(`${proc}/root`) }));
      const root = await readlink(`${proc}/root`).catch(() => '/');
      const capture: ManifestCapture = {
        by: 'core_pattern',
        pid: Number(values.p ?? pid),
        globalPid: pid,
        signal: signo,
        uid: values.u !== undefined ? Number(values.u) : null,
        gid: values.g !== undefined ? Number(values.g) : null,
        dumpedAt: values.t ? new Date(Number(values.t) * 1000).toISOString() : null,
        coreFrom: cfg.stacksOnly ? `/proc/${values.p ?? pid}/mem (the process, held by the kernel while it dumped)` : 'the kernel\'s core_pattern pipe',
        filesFrom: 'map_files',
        root,
        pipeLimit: Number(readSysctl('core_pipe_limit', procDir) ?? NaN),
        passedOn: passOn ? passOn.describe : chainAlways ? 'nowhere' : 'only if the bundle fails ("chain": "on-failure")',
      };
      bundled = await write({ live: { pid, proc }, core: liveCore, config: cfg, layers, output, capture, coreStream: cfg.stacksOnly ? null : channel, signal: ac.signal });
    })();
    // Past the deadline the bundle is given up: its compressor is killed through the signal, its temporary removed.
    bundling = Promise.race([work, aborted]).catch((err: unknown) => {
      bundleError = ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason.message : (err as Error).message;
      // Whatever the tar entry had not taken: the reader goes on without it.
      channel.close();
    });
  }
  // With "on-failure" and a mini core, the bundle is made first: the rest of the stream waits in the kernel's pipe.
  if (!chainAlways && (skip || config?.stacksOnly)) {
    await bundling;
    if (skip || bundleError) {
      passOn = await openTarget();
      for (const c of held) await forward(c);
    }
  }
  held.length = 0;

  // 5. The rest of the core: to the pass-on target and, for a full core, into the bundle.
  const feedsBundle = !skip && config !== null && !config.stacksOnly && h !== null;
  let fed = 0;
  const coreSize = h?.size ?? 0;
  const feed = async (chunk: Buffer): Promise<void> => {
    if (!feedsBundle || channel.closed || fed >= coreSize) return;
    const part = fed + chunk.length > coreSize ? chunk.subarray(0, coreSize - fed) : chunk;
    fed += part.length;
    await channel.push(part);
  };
  try {
    if (headBuf.length) await feed(headBuf);
    headBuf = Buffer.alloc(0);
    while (!streamDone) {
      const r = await it.next();
      if (r.done) break;
      await Promise.all([forward(r.value), feed(r.value)]);
    }
  } catch (err) {
    problems.push(`reading the core failed: ${(err as Error).message}`);
  }
  channel.end();
  await bundling;
  if (!chainAlways && !passOn && (bundleError || !bundled)) {
    // A full core whose bundle failed late: its start is gone, so there is nothing whole to pass on.
    passFailed = 'the bundle failed after the core had streamed ("chain": "on-failure" keeps no copy)';
  }
  if (passOn) {
    try {
      await passOn.finish();
    } catch (err) {
      passFailed ??= (err as Error).message;
    }
  }
  await (liveCore as CoreFile | null)?.close().catch(() => undefined);
  clearTimeout(deadline);

  const result = bundled as Awaited<ReturnType<typeof writeCaptureBundle>> | null;
  record.passedOn = passOn?.active && !passFailed ? passOn.describe : null;
  if (result) {
    record.outcome = 'bundled';
    record.bundle = result.files[0]!;
  } else if (skip) {
    record.outcome = skip.outcome;
    record.message = skip.why;
  } else {
    record.outcome = 'failed';
    record.message = [bundleError, ...problems].filter(Boolean).join('; ');
  }
  record.heldMs = Date.now() - started;
  const who = `pid ${record.pid} (${comm}${exePath ? `, ${exePath}` : ''}) ${signo !== null ? (SIGNAL_NAMES[signo] ?? `signal ${signo}`) : ''}`.trim();
  const where = passOn ? (passOn.active ? (passFailed ? `passing it on to ${passOn.describe} failed: ${passFailed}` : `passed on to ${passOn.describe}`) : `not passed on: ${passOn.describe}`) : 'not passed on ("chain": "on-failure")';
  const line = `${result ? `${who}: bundled ${basename(record.bundle!)} (${result.size} bytes${result.exact ? '' : ', not exact'}) in ${record.heldMs} ms; ${where}` : `${who}: NOT bundled (${record.outcome}: ${record.message}); ${where}`}${notes.length ? `; ${notes.join('; ')}` : ''}`;
  await within('logging', 5000, log(result && !passFailed ? 'info' : 'warning', line)).catch(() => undefined);
  await appendCapture(env.stateDir, record).catch(() => undefined);
  clearTimeout(hardStop);
  return { ...record, line };
}
