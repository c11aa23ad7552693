/**
 * Mini cores across architectures: the thread-pointer table (src/collect/
 * minicore/arch.ts) row by row, and a real aarch64 core (cross-compiled,
 * run under qemu-aarch64, whose cores have no NT_ARM_TLS) cut into a mini
 * core that keeps every stack, says the thread data could not be kept, and
 * leaves the heap out. The aarch64 part skips, saying why, where the cross
 * toolchain, qemu-aarch64 or gdb-multiarch is missing.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decoder } from '../src/elf/decoder.js';
import { NT_LINUX } from '../src/elf/constants.js';
import type { Note } from '../src/elf/notes.js';
import { CoreFile } from '../src/core/open.js';
import { notesByThread, THREAD_ARCH } from '../src/collect/minicore/arch.js';
import { selectMiniCoreRanges, type MiniCoreSelection } from '../src/collect/minicore/select.js';
import { writeMiniCore } from '../src/collect/minicore/write.js';
import { onPath } from './helpers/prerequisites.js';
import { corpusCore, corpusDir, readManifest, readOracleText, removeCorpusTemp } from './helpers/oracles.js';
import { crashLockPrefix } from './helpers/corepattern.js';

const note = (name: string, n_type: number, desc: Buffer): Note => ({ name, n_type, desc, offset: 0, descOffset: 0 });
const le = (n: Note): Decoder => new Decoder(n.desc, 'little', 64, 0, 'note');

describe('the thread-pointer table', () => {
  it('x86_64: fs_base from NT_PRSTATUS, the DTV one word up, a 128-byte red zone', () => {
    const x = THREAD_ARCH.x86_64!;
    expect(x.threadPointer({ fs_base: 0x7f00n, rsp: 1n }, [], le)).toBe(0x7f00n);
    expect([x.dtvSlot, x.redZone]).toEqual([8, 128]);
  });

  it('aarch64: TPIDR_EL0 from the thread\'s own NT_ARM_TLS, the DTV at the thread pointer, no red zone', () => {
    const a = THREAD_ARCH.aarch64!;
    const tls = Buffer.alloc(16);
    tls.writeBigUInt64LE(0x5555_1234_5000n, 0);
    tls.writeBigUInt64LE(0xdeadn, 8); // TPIDR2_EL0 on newer kernels: not the thread pointer
    expect(a.threadPointer({ sp: 1n }, [note('LINUX', NT_LINUX.NT_ARM_TLS, tls)], le)).toBe(0x5555_1234_5000n);
    expect(a.threadPointer({ sp: 1n }, [], le)).toBeUndefined();
    expect([a.dtvSlot, a.redZone]).toEqual([0, 0]);
  });

  it('i386: the base of the NT_386_TLS entry %gs selects; with a zero selector, the only entry that has a base', () => {
    const i = THREAD_ARCH.i386!;
    const desc = (entries: Array<[number, number]>): Buffer => {
      const b = Buffer.alloc(16 * entries.length);
      entries.forEach(([index, base], k) => {
        b.writeUInt32LE(index, 16 * k);
        b.writeUInt32LE(base, 16 * k + 4);
      });
      return b;
    };
    const d32 = (n: Note): Decoder => new Decoder(n.desc, 'little', 32, 0, 'note');
    const tls = (entries: Array<[number, number]>) => [note('LINUX', NT_LINUX.NT_386_TLS, desc(entries))];
    expect(i.threadPointer({ gs: 0x63n }, tls([[12, 0xf77f6b40], [13, 0], [14, 0]]), d32)).toBe(0xf77f6b40n);
    expect(i.threadPointer({ gs: 0n }, tls([[12, 0x099dc840], [13, 0]]), d32)).toBe(0x099dc840n);
    expect(i.threadPointer({ gs: 0n }, tls([[12, 0x1000], [13, 0x2000]]), d32)).toBeUndefined();
    expect(i.threadPointer({ gs: 0x6bn }, tls([[12, 0x1000]]), d32)).toBeUndefined();
    expect([i.dtvSlot, i.redZone]).toEqual([4, 0]);
  });

  it('has no row for architectures whose rule is not written yet (their mini cores keep the stacks and say so)', () => {
    expect(THREAD_ARCH.s390x).toBeUndefined();
    expect(THREAD_ARCH.arm).toBeUndefined();
  });

  it('gives each thread the notes between its NT_PRSTATUS and the next', () => {
    const d = Buffer.alloc(8);
    const notes = [
      note('CORE', NT_LINUX.NT_PRSTATUS, d), note('CORE', NT_LINUX.NT_PRPSINFO, d), note('CORE', NT_LINUX.NT_AUXV, d), note('LINUX', NT_LINUX.NT_ARM_TLS, Buffer.from('a')),
      note('CORE', NT_LINUX.NT_PRSTATUS, d), note('CORE', NT_LINUX.NT_FPREGSET, d), note('LINUX', NT_LINUX.NT_ARM_TLS, Buffer.from('b')),
    ];
    const per = notesByThread(notes);
    expect(per.map((t) => t.map((n) => n.n_type))).toEqual([
      [NT_LINUX.NT_PRSTATUS, NT_LINUX.NT_ARM_TLS],
      [NT_LINUX.NT_PRSTATUS, NT_LINUX.NT_FPREGSET, NT_LINUX.NT_ARM_TLS],
    ]);
  });
});

const SRC = fileURLToPath(new URL('./fixtures/c/tlsthreads.c', import.meta.url));
const SYSROOT = '/usr/aarch64-linux-gnu';
const NEEDS = ['aarch64-linux-gnu-gcc', 'qemu-aarch64', 'gdb-multiarch'];
const missing = NEEDS.filter((p) => onPath(p) === undefined);

describe.skipIf(missing.length > 0)(`an aarch64 core from qemu-aarch64${missing.length ? ` (skipped: ${missing.join(', ')} not installed)` : ''}`, () => {
  let dir: string;
  let exe: string;
  let full: string;
  let mini: string;
  let sel: MiniCoreSelection;

  beforeAll(async () => {
    dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-minicore-a64-')));
    exe = path.join(dir, 'tlsthreads');
    await execa('aarch64-linux-gnu-gcc', ['-g', '-O0', '-pthread', '-o', exe, SRC]);
    // qemu-user writes its own core, qemu_<prog>_<time>_<pid>.core, in the working directory.
    const run = await execa('bash', ['-c', `${crashLockPrefix()}ulimit -c unlimited; exec qemu-aarch64 -L "$1" "$2"`, 'bash', SYSROOT, exe], { cwd: dir, reject: false, timeout: 60_000 });
    const name = (await fs.readdir(dir)).find((n) => /^qemu_.*\.core$/.test(n));
    if (!name) throw new Error(`qemu-aarch64 wrote no core (exit ${run.exitCode}, ${run.signal ?? 'no signal'}):\n${run.stderr}`);
    full = path.join(dir, name);
    mini = path.join(dir, 'mini.core');
    const core = await CoreFile.open(full);
    try {
      expect(core.summary.arch).toBe('aarch64');
      sel = await selectMiniCoreRanges({ summary: core.summary, memory: core.memory, notes: core.notes, decoder: (n) => core.elf.decoder(n.desc, n.descOffset, 'note'), fileSize: core.elf.reader.size }, { stackCap: null });
      await writeMiniCore(core, sel.ranges, { cutFrom: { path: full, size: core.elf.reader.size, sha256: null }, ranges: sel.ranges.length, bytes: sel.bytes, stackCap: null }, mini);
    } finally {
      await core.close();
    }
  });

  afterAll(async () => {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps every thread\'s stack and says the thread pointer is not in the core (no NT_ARM_TLS)', async () => {
    const summary = (await CoreFile.open(full).then(async (c) => [c.summary, await c.close()] as const))[0];
    expect(summary.threads).toHaveLength(3);
    for (const t of summary.threads) {
      const stack = sel.ranges.find((r) => r.why.includes(`stack of thread ${t.tid}`));
      expect(stack, `thread ${t.tid}`).toBeDefined();
      expect(stack!.start <= t.sp! && t.sp! < stack!.end).toBe(true);
    }
    expect(sel.warnings.join('\n')).toMatch(/no thread pointer \(TPIDR_EL0 \(NT_ARM_TLS\)\) in the core for any thread: .* the stacks are kept/);
  });

  it('gdb-multiarch shows the crashing frames and every thread in the mini core; the heap marker is gone', async () => {
    const gdb = (core: string) =>
      execa('gdb-multiarch', ['-batch', '-nx', '-iex', 'set debuginfod enabled off', '-ex', `set sysroot ${SYSROOT}`, '-ex', 'info threads', '-ex', 'echo @@bt@@\\n', '-ex', 'bt', exe, core], { reject: false, timeout: 60_000 });
    const m = await gdb(mini);
    expect(m.stdout.match(/^[* ] +\d+ +LWP \d+/gm), m.stdout).toHaveLength(3);
    const bt = m.stdout.slice(m.stdout.indexOf('@@bt@@'));
    expect([...bt.matchAll(/^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(/gm)].map((x) => x[1]).slice(0, 2), m.stdout).toEqual(['crash_here', 'main']);
    const [fullBytes, miniBytes] = await Promise.all([fs.readFile(full), fs.readFile(mini)]);
    expect(fullBytes.includes('SECRET-HEAP-MARKER')).toBe(true);
    expect(miniBytes.includes('SECRET-HEAP-MARKER')).toBe(false);
    expect(miniBytes.length).toBeLessThan(fullBytes.length / 100);
  });
});

const CORPUS = corpusDir();
const A64_KERNEL_CORE = 'elfutils/backtrace.aarch64.core';

describe.skipIf(!CORPUS)(`a real aarch64 kernel core with NT_ARM_TLS (${A64_KERNEL_CORE}${CORPUS ? '' : ': skipped, ../shared/corpus is absent'})`, () => {
  let dir: string;
  afterAll(async () => {
    await removeCorpusTemp();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps struct pthread, static TLS and the DTV at each thread\'s TPIDR_EL0, and eu-unstrip and inspect see the same modules', async () => {
    const full = await corpusCore(A64_KERNEL_CORE);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-minicore-a64k-'));
    const mini = path.join(dir, 'mini.core');
    const core = await CoreFile.open(full);
    let sel: MiniCoreSelection;
    try {
      sel = await selectMiniCoreRanges({ summary: core.summary, memory: core.memory, notes: core.notes, decoder: (n) => core.elf.decoder(n.desc, n.descOffset, 'note'), fileSize: core.elf.reader.size }, { stackCap: null });
      await writeMiniCore(core, sel.ranges, { cutFrom: { path: full, size: core.elf.reader.size, sha256: null }, ranges: sel.ranges.length, bytes: sel.bytes, stackCap: null }, mini);
    } finally {
      await core.close();
    }
    // The thread pointers as elfutils decodes NT_ARM_TLS ("tls: 0x…"), in thread order.
    const oracle = readOracleText(CORPUS!, A64_KERNEL_CORE, 'eu-readelf')!;
    const tps = [...oracle.matchAll(/^\s+tls: (0x[0-9a-f]+)$/gm)].map((m) => BigInt(m[1]!));
    expect(tps).toHaveLength(2);
    for (const tp of tps) {
      const r = sel.ranges.find((x) => x.why.includes(`(thread pointer 0x${tp.toString(16)})`));
      expect(r, `thread pointer 0x${tp.toString(16)}`).toBeDefined();
      expect(r!.start <= tp && tp < r!.end).toBe(true);
    }
    expect(sel.ranges.filter((x) => /DTV of thread \d+/.test(x.why)).length).toBeGreaterThanOrEqual(1);
    expect(sel.warnings).toEqual([]);
    const [fu, mu] = await Promise.all([execa('eu-unstrip', ['-n', '--core', full]), execa('eu-unstrip', ['-n', '--core', mini])]);
    expect(mu.stdout).toBe(fu.stdout);
    const [fs1, ms1] = await Promise.all([CoreFile.open(full), CoreFile.open(mini)]);
    try {
      expect(ms1.summary.modules).toEqual(fs1.summary.modules);
      expect(ms1.summary.threads).toEqual(fs1.summary.threads);
    } finally {
      await Promise.all([fs1.close(), ms1.close()]);
    }
  });
});

describe.skipIf(!CORPUS)(`every core of the corpus${CORPUS ? '' : ' (skipped: ../shared/corpus is absent)'}`, () => {
  const entries = CORPUS ? readManifest(CORPUS) : [];
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-minicore-corpus-'));
  });
  afterAll(async () => {
    await removeCorpusTemp();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it.each(entries.filter((e, i) => entries.findIndex((x) => x.localPath === e.localPath) === i).map((e) => [e.localPath, e] as const))(
    '%s: the mini core keeps only dumped bytes, in order, and reads back with the same threads',
    async (_name, e) => {
      const full = await corpusCore(e.localPath);
      const core = await CoreFile.open(full, { allowTruncated: true });
      const mini = path.join(dir, e.localPath.replace(/\//g, '__'));
      let sel: MiniCoreSelection;
      try {
        sel = await selectMiniCoreRanges({ summary: core.summary, memory: core.memory, notes: core.notes, decoder: (n) => core.elf.decoder(n.desc, n.descOffset, 'note'), fileSize: core.elf.reader.size }, { stackCap: null });
        let last = 0n;
        for (const r of sel.ranges) {
          expect(r.start >= last && r.end > r.start, `${r.start.toString(16)}-${r.end.toString(16)}`).toBe(true);
          const seg = core.memory.segmentAt(r.start)!;
          expect(r.end <= seg.vaddr + seg.filesz && seg.offset + (r.end - seg.vaddr) <= BigInt(core.elf.reader.size)).toBe(true);
          last = r.end;
        }
        if (!(core.summary.arch in THREAD_ARCH) && core.summary.threads.length > 0) expect(sel.warnings.join('\n')).toMatch(/no thread-pointer rule for /);
        await writeMiniCore(core, sel.ranges, { cutFrom: { path: full, size: core.elf.reader.size, sha256: null }, ranges: sel.ranges.length, bytes: sel.bytes, stackCap: null }, mini);
      } finally {
        await core.close();
      }
      const back = await CoreFile.open(mini);
      try {
        expect(back.summary.threads.map((t) => [t.tid, t.pc, t.sp])).toEqual(core.summary.threads.map((t) => [t.tid, t.pc, t.sp]));
        expect(back.summary.miniCore?.ranges).toBe(sel.ranges.length);
      } finally {
        await back.close();
      }
    },
  );
});

describe.skipIf(!CORPUS)(`i386 thread pointers from %gs and NT_386_TLS${CORPUS ? '' : ' (skipped: ../shared/corpus is absent)'}`, () => {
  afterAll(removeCorpusTemp);

  it.each(['elfutils/backtrace.i386.core', 'elfutils/backtrace.i386.fp.core'])('%s: struct pthread and the DTV at the TLS entry base elfutils decodes, for every thread', async (localPath) => {
    const core = await CoreFile.open(await corpusCore(localPath));
    let sel: MiniCoreSelection;
    try {
      expect(core.summary.arch).toBe('i386');
      sel = await selectMiniCoreRanges({ summary: core.summary, memory: core.memory, notes: core.notes, decoder: (n) => core.elf.decoder(n.desc, n.descOffset, 'note'), fileSize: core.elf.reader.size }, { stackCap: null });
    } finally {
      await core.close();
    }
    // "index: 12, base: 0xf77f6b40, …": the one entry with a base, per thread.
    const bases = [...readOracleText(CORPUS!, localPath, 'eu-readelf')!.matchAll(/^\s+index: \d+, base: (0x[0-9a-f]+),/gm)].map((m) => BigInt(m[1]!)).filter((b) => b !== 0n);
    expect(bases.length).toBe(2);
    for (const tp of bases) expect(sel.ranges.some((r) => r.why.includes(`(thread pointer 0x${tp.toString(16)})`) && r.start <= tp && tp < r.end), `0x${tp.toString(16)}`).toBe(true);
    expect(sel.ranges.filter((r) => /DTV of thread/.test(r.why)).length).toBeGreaterThanOrEqual(1);
    expect(sel.warnings.join('\n')).not.toMatch(/thread pointer/);
  });
});

describe.skipIf(!CORPUS)(`riscv64 and ppc64 DTVs from tp and r13${CORPUS ? '' : ' (skipped: ../shared/corpus is absent)'}`, () => {
  afterAll(removeCorpusTemp);

  // A DTV read through the row's offsets has glibc's length word (14 spare slots + the modules) in front: the offsets are right.
  it.each([
    ['elfutils/testfile-riscv64-core', 'riscv64', 1],
    ['elfutils/backtrace.ppc64le.fp.core', 'ppc64', 2],
  ] as const)('%s (%s): the TCB window and the DTV of each of its %i threads', async (localPath, arch, threads) => {
    const core = await CoreFile.open(await corpusCore(localPath));
    let sel: MiniCoreSelection;
    try {
      expect(core.summary.arch).toBe(arch);
      expect(core.summary.threads).toHaveLength(threads);
      sel = await selectMiniCoreRanges({ summary: core.summary, memory: core.memory, notes: core.notes, decoder: (n) => core.elf.decoder(n.desc, n.descOffset, 'note'), fileSize: core.elf.reader.size }, { stackCap: null });
    } finally {
      await core.close();
    }
    const dtvs = [...sel.ranges.map((r) => r.why).join('; ').matchAll(/DTV of thread \d+ \((\d+) slots\)/g)].map((m) => Number(m[1]));
    expect(dtvs).toHaveLength(threads);
    for (const n of dtvs) expect(n).toBeGreaterThanOrEqual(14);
    expect(sel.ranges.filter((r) => r.why.includes('struct pthread and static TLS of thread')).length).toBeGreaterThanOrEqual(1);
    expect(sel.warnings.join('\n')).not.toMatch(/thread pointer|thread-pointer/);
  });
});
