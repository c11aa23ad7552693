/**
 * What the report reads from the stacks: the frame that is "where" (past the
 * C library's abort and assert glue), threads grouped by identical stacks,
 * and the crash signature. Pure.
 */
import { createHash } from 'node:crypto';
import type { ReportFrame, ReportThread, Signature, ThreadGroup } from './model.js';
import { hex } from '../util/text.js';

/**
 * Frames between the fatal signal and the code that asked for it: abort,
 * raise, assert and the C library's fatal-error paths. They are the same in
 * every abort, so "where" and the signature skip them.
 */
const GLUE = new Set([
  'raise', 'gsignal', 'abort', 'kill', 'pthread_kill', '__pthread_kill', '__pthread_kill_implementation', '__pthread_kill_internal',
  '__assert_fail', '__assert_fail_base', '__assert_perror_fail', '__assert', '__libc_message', '__libc_message_impl', '__fortify_fail',
  '__chk_fail', '__stack_chk_fail', 'malloc_printerr', '__malloc_assert', '__restore_rt', 'std::terminate', '__cxxabiv1::__terminate',
  '__gnu_cxx::__verbose_terminate_handler', '__cxa_throw', '__cxa_rethrow', 'std::__terminate',
]);

/** Where threads begin: left out of group labels (every thread has them). */
const BOTTOM = new Set(['_start', '__libc_start_main', '__libc_start_main_impl', '__libc_start_call_main', 'start_thread', 'clone', 'clone3', '__clone', '__clone3', '__clone_internal']);

/** "__GI___pthread_kill" → "pthread_kill": glibc's internal aliases of one function. */
export function plainFunction(name: string): string {
  let n = name.replace(/^__GI_/, '');
  // Compiler clones differ between builds of the same code.
  n = n.replace(/\.(?:isra|constprop|part|cold|lto_priv|llvm)(?:\.\d+)?/g, '');
  return n;
}

/**
 * The C library and the language runtimes: a crash inside one of them (strlen
 * given NULL) is the caller's bug, told through the caller's frame.
 */
const RUNTIME_MODULE = /^(?:(?:libc|libm|libmvec|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s|libc\+\+|libc\+\+abi|libunwind)\.so(?:\.[\d.]+)?|ld-linux[\w.-]*\.so(?:\.[\d.]+)?|ld-musl-[\w.-]+\.so(?:\.[\d.]+)?|libc\.musl-[\w.-]+\.so(?:\.[\d.]+)?|ld64\.so(?:\.[\d.]+)?|ld\.so(?:\.[\d.]+)?)$/;

export function isRuntimeModule(module: string | null): boolean {
  return module !== null && RUNTIME_MODULE.test(module);
}

/**
 * The CPU variants glibc's ifunc resolvers choose between: __strlen_avx2,
 * __strlen_evex, __strlen_sse2 and __memmove_avx_unaligned_erms are strlen
 * and memmove on one CPU or another (x86-64, AArch64, POWER, s390x names).
 */
const IFUNC_VARIANT = new Set([
  'sse2', 'sse3', 'ssse3', 'sse4', 'sse42', '1', '2', 'avx', 'avx2', 'avx512', 'avx512f', 'avx512bw', 'evex', 'evex512', 'erms', 'rtm', 'fma', 'fma4', 'movbe', 'bmi2',
  'unaligned', 'aligned', 'back', 'no', 'bsf', 'generic', 'asimd', 'sve', 'mte', 'nosimd', 'simd', 'thunderx', 'thunderx2', 'falkor', 'kunpeng', 'emag', 'a64fx', 'oryon1', 'zva64',
  'power4', 'power5', 'power6', 'power7', 'power8', 'power9', 'power10', 'ppc', 'z900', 'z990', 'z10', 'z13', 'z15', 'z196', 'vx', 'arch13',
]);

/** "__strlen_avx2" → "strlen": one function whichever variant the CPU ran (undefined: not a variant's name). */
export function ifuncBase(name: string): string | undefined {
  if (!/^__[A-Za-z]/.test(name)) return undefined;
  const words = name.slice(2).split('_');
  // The shortest base whose rest is variant words only: "__strcasecmp_l_avx2" is strcasecmp_l.
  for (let cut = 1; cut < words.length; cut++) {
    if (words.slice(cut).every((w) => IFUNC_VARIANT.has(w.toLowerCase()))) return words.slice(0, cut).join('_');
  }
  return undefined;
}

/**
 * A function as the signature and the labels name it: plainFunction, and in
 * the C library and runtimes an ifunc variant as the function it implements,
 * so the same bug on two CPUs has one signature.
 */
export function canonicalFunction(name: string, module: string | null): string {
  const plain = plainFunction(name);
  return isRuntimeModule(module) ? (ifuncBase(plain) ?? plain) : plain;
}

/** Glue by its plain name, with glibc's underscores ("___pthread_kill") stripped. */
export function isGlue(f: ReportFrame): boolean {
  if (f.signalFrame) return true;
  if (f.function === null) return false;
  const n = plainFunction(f.function);
  return GLUE.has(n) || GLUE.has(n.replace(/^_+/, ''));
}

/** The innermost frame that is not glue: where the program went wrong. */
export function whereFrame(frames: readonly ReportFrame[]): ReportFrame | undefined {
  return frames.find((f) => !isGlue(f)) ?? frames[0];
}

/**
 * Where a crash inside the C library or a runtime (strlen given NULL) came
 * from: the first frame outside them, past the glue and the threads'
 * start-up frames. Undefined when `where` is the program's own code, or no
 * frame of the program called it.
 */
export function callerFrame(frames: readonly ReportFrame[], where: ReportFrame | undefined): ReportFrame | undefined {
  if (!where || !isRuntimeModule(where.module)) return undefined;
  return frames
    .slice(frames.indexOf(where) + 1)
    .find((f) => f.module !== null && !isRuntimeModule(f.module) && !isGlue(f) && !(f.function !== null && BOTTOM.has(plainFunction(f.function))));
}

/** "libfoo.so.1.2.3" → "libfoo.so": a library's version changes with an upgrade, not with the bug. */
export function plainModule(name: string | null): string {
  if (name === null) return '?';
  return name.replace(/(\.so)(?:\.\d+)+$/, '$1');
}

/** Consecutive identical frames (recursion) folded into one with a count. */
export function foldRepeats(frames: readonly ReportFrame[]): ReportFrame[] {
  const out: ReportFrame[] = [];
  for (const f of frames) {
    const last = out[out.length - 1];
    if (last && last.function !== null && last.function === f.function && last.module === f.module && last.file === f.file && last.line === f.line && !f.inline && !last.inline) {
      out[out.length - 1] = { ...last, repeat: last.repeat + f.repeat };
    } else out.push(f);
  }
  return out;
}

/** How many frames of the crashing thread make the signature (ABRT's duphash takes 3 to 6). */
export const SIGNATURE_FRAMES = 5;

function frameKey(f: ReportFrame, basis: Signature['basis']): string {
  const module = plainModule(f.module);
  if (basis === 'offsets' || f.function === null) return `${module}+${hex(f.offset ?? undefined)}`;
  return `${canonicalFunction(f.function, f.module)} (${module})`;
}

/**
 * The crash signature: the signal and the top frames of the crashing thread
 * (past the glue, recursion folded), by function and module name only —
 * no addresses, so two builds and two runs (ASLR) give the same one. Without
 * symbols the frames are module+offset: stable across runs, not rebuilds.
 */
export function signatureOf(signalName: string | null, frames: readonly ReportFrame[]): Signature {
  const basis: Signature['basis'] = frames.some((f) => f.function !== null) ? 'functions' : 'offsets';
  const start = Math.max(0, frames.findIndex((f) => !isGlue(f)));
  const top = foldRepeats(frames.slice(start)).slice(0, SIGNATURE_FRAMES).map((f) => frameKey(f, basis));
  const text = [signalName ?? 'no signal', ...top].join('\n');
  return { hash: `cp1-${createHash('sha256').update(text).digest('hex').slice(0, 16)}`, frames: top, basis };
}

function stackKey(t: ReportThread): string {
  return t.frames.map((f) => `${f.function ?? `?${f.module ?? ''}+${f.offset ?? f.pc}`} ${f.module ?? ''}`).join('\n');
}

/** A name as the label shows it: glibc's internal "___pthread_cond_wait" is pthread_cond_wait to a reader. */
const labelName = (fn: string, module: string | null) => canonicalFunction(fn, module).replace(/^___(?=[A-Za-z])/, '');

/**
 * Outermost to innermost, without the thread's start-up frames and the abort
 * glue, down to the first call into another module (the library function
 * the thread waits or crashes in): "worker → queue_pop → pthread_cond_wait".
 */
export function groupLabel(frames: readonly ReportFrame[]): string {
  const outerFirst = foldRepeats(frames)
    .filter((f) => !isGlue(f) && !(f.function !== null && BOTTOM.has(plainFunction(f.function))))
    .reverse();
  if (outerFirst.length === 0) return frames[0] ? `${frames[0].module ?? '?'}` : '(no frames)';
  const cut = outerFirst.findIndex((f, i) => i > 0 && f.module !== outerFirst[i - 1]!.module);
  const shownFrames = cut > 0 ? outerFirst.slice(0, cut + 1) : outerFirst;
  const names = shownFrames.map((f) => (f.function !== null ? labelName(f.function, f.module) : `${f.module ?? '?'}+${hex(f.offset ?? f.pc)}`));
  const shown = names.length > 5 ? [...names.slice(0, 2), '…', ...names.slice(-2)] : names;
  return shown.join(' → ');
}

/** Threads with identical stacks (the same functions in the same modules), biggest group first; the crashing thread's group leads. */
export function groupThreads(threads: readonly ReportThread[]): ThreadGroup[] {
  const groups = new Map<string, ThreadGroup>();
  for (const t of threads) {
    const key = stackKey(t);
    const g = groups.get(key);
    if (g) {
      g.tids.push(t.tid);
      g.crashed ||= t.crashed;
    } else groups.set(key, { label: groupLabel(t.frames), tids: [t.tid], crashed: t.crashed, frames: t.frames });
  }
  for (const g of groups.values()) g.tids.sort((a, b) => a - b);
  return [...groups.values()].sort((a, b) => Number(b.crashed) - Number(a.crashed) || b.tids.length - a.tids.length || a.tids[0]! - b.tids[0]!);
}
