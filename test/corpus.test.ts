/**
 * The core reader against real cores written by other projects
 * (../shared/corpus: 62 cores, see its README.md and MANIFEST.tsv).
 *
 * Every core in MANIFEST.tsv gets its own `describe`, and every check its own
 * `it`, so a failure names the core and the field. The cores are gunzipped
 * into a temporary directory (never into the repository).
 *
 * Oracles, strongest first:
 *  1. `<core>.expected.txt`: answers asserted by the source project's tests.
 *     Hand-transcribed into FACTS below, except for two literal tool outputs
 *     that are parsed from it: the `readelf -n` here-doc of elfutils'
 *     run-readelf-mixed-corenote.sh / run-readelf-vmcoreinfo.sh, and the
 *     `unstrip -n` lines of run-unstrip-n.sh.
 *  2. `<core>.eu-readelf.txt` / `<core>.eu-unstrip.txt`: elfutils 0.188.
 *
 * ── Opening: which cores may throw (OPEN_EXCEPTIONS) ────────────────────────
 * readCore must throw nothing but FormatError on any input, and on these real
 * cores nothing at all, except the two that elfutils ships cut short on
 * purpose. readCore refuses a core whose PT_LOADs run past the end of the file
 * (FormatError "the core is truncated"); for those two the test asserts that
 * refusal and runs every other check on readCore(path,
 * { allowTruncated: true }).
 *
 *   core                      what it is                           readCore                  other checks on
 *   ------------------------  -----------------------------------  ------------------------  ------------------------
 *   testfile62                Linux kernel vmcore (kdump); only    FormatError "truncated"   allowTruncated: two
 *                             the first 16064 bytes (headers and   (segments need            PRSTATUS "threads",
 *                             notes) are in elfutils' test file    1984645520 bytes)         vmcore warning
 *   testfile63                ARM core, only its first 4096 bytes  FormatError "truncated"   allowTruncated: notes
 *                             (headers and notes)                  (segments need 212992)    as eu-readelf shows
 *   testfile-phdrs.elf        synthetic ET_CORE, e_phnum = PN_XNUM opens                     os "unknown", no threads;
 *                             (66000 phdrs), no notes                                        ElfFile.phnum 66000
 *   linux-arm.core            hand-made 252-byte note-only core,   opens                     r0..r12 = 0..12, sp=0xd,
 *                             no PT_LOAD                                                     lr=0xe, pc=0xf, cpsr=0x10
 *
 * ── Where an oracle is not taken literally (ORACLE NOTES) ────────────────────
 *  A. corpus README: elfutils/test-core.core — module addresses come from
 *     test-core.core.eu-unstrip-with-exe.txt (0.188 without the executable
 *     puts test-core-lib.so at 0x7f67f2caf000, which the elfutils test calls
 *     wrong; the .expected.txt lines agree with the with-exe file).
 *  B. corpus README: elfutils/testcore-noncontig — 0.188 misses
 *     liblgpllibs.so; the module the .expected.txt note names
 *     (0x7f14e4795000 175efdce…@0x7f14e4795248) is added to the 0.188 list.
 *  C. corpus README: lldb/thread_crash.* — pr_cursig is 4 in all three
 *     threads. Thread.cursig is pr_cursig, so it is compared with eu-readelf
 *     (4,4,4); lldb's "signal only on the crashing thread" is checked through
 *     Thread.crashed (FACTS.crashedTid).
 *  D. MIPS (lldb/linux-mips*): eu-readelf 0.188 prints no PRSTATUS or
 *     PRPSINFO body for MIPS, so only the PRSTATUS note count is compared;
 *     pid/tid come from the lldb facts. It also prints SIGINFO with the generic
 *     layout, but MIPS siginfo_t is {si_signo, si_code, si_errno}
 *     (arch/mips/include/uapi/asm/siginfo.h): eu-readelf's "si_errno: 1,
 *     si_code: 0" is si_code 1 (SEGV_MAPERR), si_errno 0. The test swaps them.
 *  E. MIPS o32/n32 NT_FILE (lldb/linux-mipsel-gnuabio32.core,
 *     linux-mips64el-gnuabin32.core): the kernel that wrote these 32-bit cores
 *     wrote NT_FILE with 64-bit longs (raw note: count=1, page_size=0x1000,
 *     start=0x400000 / 0x10000000, end=+0x1000, ofs=0, then the a.out path).
 *     eu-readelf 0.188 decodes it with 32-bit longs into garbage ("00001000-
 *     00000000 00000000 -4096", empty path). The FILE table is asserted from
 *     the raw bytes instead (FACTS.mappings), consistent with eu-unstrip's
 *     [exe] line and lldb's "NT_FILE lists only the a.out".
 *  F. elfutils/testfile_aarch64_core, pyelftools/core_simple64.elf and
 *     elfutils/testfile61 (arm, text at 0x8000, copy at 0x10000): the
 *     executable's first page (its ELF header) is not in the core, but its
 *     data page maps file offset 0 again one page (64 KiB / 4 KiB) higher.
 *     eu-unstrip 0.188 reads the header copy there and places the executable at
 *     0x410000 / 0x401000 (bias 0x10000 / 0x1000). The executable is linked
 *     at and loaded at 0x400000: AT_PHDR is 0x400040 and its PT_PHDR has
 *     p_vaddr 0x400040 (bias 0). The test keeps eu-unstrip's build ID (the
 *     copy is the same file) but expects the module at 0x400000, with the
 *     extent the program headers give, and leaves the build-id address
 *     unchecked (the note at 0x400000+offset is not in the core).
 *  G. eu-readelf shows x86 segment registers as 16-bit values ("cs: 0x0033")
 *     although their pr_reg slot is a full word, and gdb's gcore
 *     (lldb/gcore.linux-x86_64.core) leaves garbage in the upper bits (cs slot
 *     0x561c00000033). Registers are compared on the bits eu-readelf shows
 *     (its zero-padded hex width; the register width for decimal values).
 *
 * ── Module extents ───────────────────────────────────────────────────────────
 * eu-unstrip prints START+SIZE with SIZE the ELF extent (end of the last
 * PT_LOAD's p_memsz, not rounded, e.g. 0x400000+0x202038). Module.end is
 * page-aligned up. Tolerance: Module.end must equal START+SIZE exactly or
 * START+SIZE rounded up to AT_PAGESZ (4 KiB, 8 KiB or 64 KiB in this corpus);
 * nothing else. Independently of any oracle, every module must be
 * well-formed: start < end <= 2^class and loadBias (l_addr) an address in
 * [0, 2^class) (a vDSO linked high, e.g. at 0xffffe000, has a bias that wraps).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreFile, readCore } from '../src/core/open.js';
import type { CoreSummary, Module, Thread } from '../src/core/model.js';
import { FormatError } from '../src/elf/errors.js';
import { ElfFile } from '../src/elf/file.js';
import { FileReader } from '../src/elf/reader.js';
import {
  corpusCore,
  corpusDir,
  parseEuReadelf,
  parseEuUnstrip,
  parseUnstripLine,
  readelfFromExpected,
  readManifest,
  readOracleText,
  removeCorpusTemp,
  unstripFromExpected,
  type ManifestEntry,
  type ReadelfOracle,
  type UnstripModule,
} from './helpers/oracles.js';

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));
const hex = (v: bigint | undefined): string | undefined => (v === undefined ? undefined : v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);

/** Cores readCore must refuse with FormatError (see the table above); the rest of their checks use allowTruncated. */
const OPEN_EXCEPTIONS: Record<string, { error: RegExp; why: string }> = {
  testfile62: { error: /truncated/, why: 'elfutils keeps only the headers and notes of this vmcore (16064 of ~1.9 GB)' },
  testfile63: { error: /truncated/, why: 'elfutils keeps only the first 4096 bytes (headers and notes) of this core' },
};

// ─────────────────────────────────────────────────────────────────────────────
// Hand-transcribed facts from the .expected.txt files (and where each is from)
// ─────────────────────────────────────────────────────────────────────────────

interface AddrInModule {
  addr: bigint;
  /** What the source test says the address resolves to. */
  what: string;
  path?: string;
  kind?: Module['kind'];
  linkMapNameEndsWith?: string;
}

interface Facts {
  /** Which test of the source project asserts these (see the core's .expected.txt). */
  source: string;
  os?: CoreSummary['os'];
  arch?: string;
  pid?: number;
  threadCount?: number;
  /** Thread ids in note order. */
  tids?: number[];
  /** The one thread with crashed === true. */
  crashedTid?: number;
  signo?: number;
  /** Per-thread signal (NetBSD: the LWP that took the signal, or all LWPs for a process-wide one). */
  cursigByTid?: Record<number, number>;
  fname?: string;
  psargs?: string;
  uid?: number;
  gid?: number;
  ppid?: number;
  /** The whole NT_FILE table: [start, end, file offset in bytes, path]. */
  mappings?: Array<[bigint, bigint, bigint, string]>;
  /** eu-readelf's FILE table is wrong for this core (why); `mappings` replaces it. */
  euFileTableWrong?: string;
  /** Registers of the first thread, by our names. */
  registers?: Record<string, bigint>;
  pc?: bigint;
  sp?: bigint;
  /** The first thread's pc lies in [lo, hi): the source test unwinds frame #0 in that module. */
  pcWithin?: [bigint, bigint, string];
  addrInModule?: AddrInModule[];
  /** memory.read(addr, 4) must say "not in the core". */
  unreadable?: Array<{ addr: bigint; why: string }>;
  warning?: RegExp;
  /** Real program header count, via ElfFile (PN_XNUM). */
  phnum?: number;
  /** Compare with the `readelf -n` output quoted in .expected.txt as well. */
  quotedReadelf?: boolean;
}

const BACKTRACE = 'backtrace-subr.sh check_core: the child has 2 threads (core made with --gencore)';
const LLDB_LINUX = 'lldb TestLinuxCore.py (pid, thread count, tid, thread name = pr_fname; backtrace bar/foo/_start in the a.out)';
const LLDB_NETBSD = 'lldb TestNetBSDCore.py';
const MIXED = 'elfutils run-readelf-mixed-corenote.sh (literal readelf -n output)';
const LINKMAP_CUT_DIR = `.${'/'.repeat(36)}`;

const FACTS: Record<string, Facts> = {
  // elfutils backtrace cores: two threads each.
  'backtrace.aarch64.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.aarch64.fp.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.i386.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.i386.fp.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.ppc.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.ppc64le.fp.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.s390.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.s390x.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.sparc.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.x32.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.x86_64.core': { source: BACKTRACE, threadCount: 2 },
  'backtrace.x86_64.fp.core': { source: BACKTRACE, threadCount: 2 },

  'core.bash': { source: 'elfutils run-sysroot.sh (eu-stack: PID 431185, TID 431185)', arch: 'aarch64', pid: 431185, tids: [431185] },
  'linkmap-cut.core': {
    source: 'elfutils run-linkmap-cut.sh (eu-stack frames #0 libfunc in the relativized lib, #1 main)',
    pc: 0x7f08bc24d681n,
    addrInModule: [
      { addr: 0x7f08bc24d681n, what: 'libfunc', path: `${LINKMAP_CUT_DIR}linkmap-cut-lib.so` },
      { addr: 0x4006b4n, what: 'main', path: `${LINKMAP_CUT_DIR}linkmap-cut`, kind: 'executable' },
    ],
  },
  'test-core.core': {
    source: 'elfutils run-addrname-test.sh (addr2line 0x7f67f2aaf619 -> libfunc+0x9) + run-unstrip-n.sh',
    pc: 0x7f67f2aaf619n,
    addrInModule: [{ addr: 0x7f67f2aaf619n, what: 'libfunc+0x9', path: '/home/jkratoch/redhat/elfutils-libregr/test-core-lib.so' }],
  },
  'testfile-m68k-core': { source: MIXED, arch: 'm68k', quotedReadelf: true },
  'testfile-riscv64-core': { source: MIXED, arch: 'riscv64', quotedReadelf: true },
  'testfile-x32-core': { source: MIXED, arch: 'x32', quotedReadelf: true },
  testfile63: { source: MIXED, arch: 'arm', quotedReadelf: true },
  testfile67: { source: MIXED, arch: 's390x', quotedReadelf: true },
  testfile68: { source: MIXED, arch: 's390', quotedReadelf: true },
  testfile71: { source: MIXED, arch: 'x86_64', quotedReadelf: true },
  testfile_aarch64_core: { source: MIXED, arch: 'aarch64', quotedReadelf: true },
  testfile_i686_core: { source: MIXED, arch: 'i386', quotedReadelf: true },
  'testfile-phdrs.elf': { source: 'elfutils run-getphdrnum.sh (PN_XNUM: 66000 program headers)', phnum: 66000, os: 'unknown', threadCount: 0 },
  testfile62: {
    source: 'elfutils run-readelf-vmcoreinfo.sh (kernel vmcore, two PRSTATUS notes)',
    threadCount: 2,
    tids: [3519, 0],
    warning: /vmcore/,
    quotedReadelf: true,
  },
  testfile65: {
    source: 'elfutils run-addrname-test.sh (addr2line --core 0x7fff94bffa30 -> __vdso_time)',
    addrInModule: [{ addr: 0x7fff94bffa30n, what: '__vdso_time', kind: 'vdso' }],
  },
  'testfile66.core': {
    source: 'elfutils run-addrname-test.sh (0x461b02d8 -> _start (.text), 0x461c03d0 -> _start (.opd) in the PIE)',
    addrInModule: [
      { addr: 0x461b02d8n, what: '_start (.text)', kind: 'executable' },
      { addr: 0x461c03d0n, what: '_start (.opd)', kind: 'executable' },
    ],
  },
  'testfile69.core': {
    source: 'elfutils run-addrname-test.sh (0x7f0bc6a33535 -> libstatic+0x9, 0x7f0bc6a33546 -> libglobal+0x9 in testfile69.so)',
    addrInModule: [
      { addr: 0x7f0bc6a33535n, what: 'libstatic+0x9', linkMapNameEndsWith: 'testfile69.so' },
      { addr: 0x7f0bc6a33546n, what: 'libglobal+0x9', linkMapNameEndsWith: 'testfile69.so' },
    ],
  },
  'testfile70.core': {
    source: 'elfutils run-addrname-test.sh (addr2line -e testfile70.exec 0x7ff2cfe9b6b5 -> main+0x9)',
    addrInModule: [{ addr: 0x7ff2cfe9b6b5n, what: 'main+0x9 in the PIE executable', kind: 'executable' }],
  },
  'testfiledwarfinlines.core': {
    source: 'elfutils run-stack-d-test.sh (PID 13654, TID 13654, #0 0x4006c8)',
    pid: 13654,
    tids: [13654],
    pc: 0x4006c8n,
  },

  // pyelftools test_core_notes64.py / test_core_notes32.py
  'core_linux64.elf': {
    source: 'pyelftools test_core_notes64.py (NT_PRPSINFO, NT_FILE)',
    pid: 23395,
    ppid: 23187,
    uid: 1000,
    gid: 1000,
    fname: 'coredump_self',
    psargs: './coredump_self foo bar 42',
    mappings: [
      [0x00400000n, 0x00401000n, 0x00000000n, '/home/max42/pyelftools/test/coredump_self'],
      [0x00600000n, 0x00601000n, 0x00000000n, '/home/max42/pyelftools/test/coredump_self'],
      [0x00601000n, 0x00602000n, 0x00001000n, '/home/max42/pyelftools/test/coredump_self'],
      [0x7fa4593ae000n, 0x7fa45956d000n, 0x00000000n, '/lib/x86_64-linux-gnu/libc-2.23.so'],
      [0x7fa45956d000n, 0x7fa45976d000n, 0x001bf000n, '/lib/x86_64-linux-gnu/libc-2.23.so'],
      [0x7fa45976d000n, 0x7fa459771000n, 0x001bf000n, '/lib/x86_64-linux-gnu/libc-2.23.so'],
      [0x7fa459771000n, 0x7fa459773000n, 0x001c3000n, '/lib/x86_64-linux-gnu/libc-2.23.so'],
      [0x7fa459777000n, 0x7fa45979d000n, 0x00000000n, '/lib/x86_64-linux-gnu/ld-2.23.so'],
      [0x7fa45999c000n, 0x7fa45999d000n, 0x00025000n, '/lib/x86_64-linux-gnu/ld-2.23.so'],
      [0x7fa45999d000n, 0x7fa45999e000n, 0x00026000n, '/lib/x86_64-linux-gnu/ld-2.23.so'],
    ],
  },
  'core_linux32.elf': {
    // pyelftools asserts page offsets (page_offset × page_size 4096 = bytes below).
    source: 'pyelftools test_core_notes32.py (NT_PRPSINFO, NT_FILE with page offsets)',
    pid: 11038,
    ppid: 10442,
    uid: 1000,
    gid: 1000,
    fname: 'coredump',
    psargs: './coredump foo bar 42',
    mappings: [
      [0x56624000n, 0x56625000n, 0x0n * 4096n, '/tmp/coredump'],
      [0x56625000n, 0x56626000n, 0x0n * 4096n, '/tmp/coredump'],
      [0x56626000n, 0x56627000n, 0x1n * 4096n, '/tmp/coredump'],
      [0xf7d13000n, 0xf7ee8000n, 0x0n * 4096n, '/lib/i386-linux-gnu/libc-2.27.so'],
      [0xf7ee8000n, 0xf7ee9000n, 0x1d5n * 4096n, '/lib/i386-linux-gnu/libc-2.27.so'],
      [0xf7ee9000n, 0xf7eeb000n, 0x1d5n * 4096n, '/lib/i386-linux-gnu/libc-2.27.so'],
      [0xf7eeb000n, 0xf7eec000n, 0x1d7n * 4096n, '/lib/i386-linux-gnu/libc-2.27.so'],
      [0xf7f39000n, 0xf7f5f000n, 0x0n * 4096n, '/lib/i386-linux-gnu/ld-2.27.so'],
      [0xf7f5f000n, 0xf7f60000n, 0x25n * 4096n, '/lib/i386-linux-gnu/ld-2.27.so'],
      [0xf7f60000n, 0xf7f61000n, 0x26n * 4096n, '/lib/i386-linux-gnu/ld-2.27.so'],
    ],
  },

  // lldb
  'altmain.core': { source: 'lldb TestLinuxCore.py (altmain)', threadCount: 1, pid: 32259 },
  'gcore.linux-i386.core': { source: 'lldb TestGCore.py (threads=3, pid 5586, stop signal 19)', threadCount: 3, pid: 5586, signo: 19 },
  'gcore.linux-x86_64.core': { source: 'lldb TestGCore.py (threads=3, pid 5669, stop signal 19)', threadCount: 3, pid: 5669, signo: 19 },
  'linux-arm.core': {
    source: 'lldb TestLinuxCore.py test_arm_core',
    arch: 'arm',
    threadCount: 1,
    registers: {
      r0: 0x0n, r1: 0x1n, r2: 0x2n, r3: 0x3n, r4: 0x4n, r5: 0x5n, r6: 0x6n, r7: 0x7n, r8: 0x8n, r9: 0x9n, r10: 0xan, r11: 0xbn, r12: 0xcn,
      sp: 0xdn, lr: 0xen, pc: 0xfn, cpsr: 0x10n,
    },
    pc: 0xfn,
    sp: 0xdn,
  },
  'linux-i386.core': { source: LLDB_LINUX, threadCount: 1, pid: 32306, tids: [32306], fname: 'a.out', pcWithin: [0x8048000n, 0x8049000n, 'a.out'] },
  'linux-mips64el-gnuabi64.core': {
    source: LLDB_LINUX,
    arch: 'mips64',
    threadCount: 1,
    pid: 25619,
    tids: [25619],
    fname: 'linux-mips64el-',
    pcWithin: [0x120000000n, 0x120001000n, 'linux-mips64el-gnuabi64.out'],
  },
  'linux-mips64el-gnuabin32.core': {
    // n32: ELFCLASS32 with 64-bit registers. The core's e_flags is 0 (no
    // EF_MIPS_ABI2); its NT_PRSTATUS is 440 bytes (o32: 256, n64: 480).
    source: `${LLDB_LINUX}; NT_FILE decoded from the raw note (ORACLE NOTES E)`,
    arch: 'mipsn32',
    threadCount: 1,
    pid: 3670,
    tids: [3670],
    fname: 'linux-mips64el-',
    pcWithin: [0x10000000n, 0x10001000n, 'linux-mips64el-gnuabin32.out (eu-unstrip [exe] 0x10000000+0x1000)'],
    euFileTableWrong: 'NT_FILE written with 64-bit longs in an ELFCLASS32 core; eu-readelf 0.188 decodes it with 32-bit longs (ORACLE NOTES E)',
    mappings: [
      [
        0x10000000n,
        0x10001000n,
        0n,
        '/home/nin/LLVM-new/llvm/tools/lldb/packages/Python/lldbsuite/test/functionalities/postmortem/elf-core/linux-mips64el-gnuabin32.out',
      ],
    ],
  },
  'linux-mipsel-gnuabio32.core': {
    source: `${LLDB_LINUX}; NT_FILE decoded from the raw note (ORACLE NOTES E)`,
    arch: 'mips',
    threadCount: 1,
    pid: 3532,
    tids: [3532],
    fname: 'linux-mipsel-gn',
    pcWithin: [0x400000n, 0x401000n, 'linux-mipsel-gnuabio32.out (eu-unstrip [exe] 0x400000+0x1000)'],
    euFileTableWrong: 'NT_FILE written with 64-bit longs in an ELFCLASS32 core; eu-readelf 0.188 decodes it with 32-bit longs (ORACLE NOTES E)',
    mappings: [
      [
        0x400000n,
        0x401000n,
        0n,
        '/home/nin/LLVM-new/llvm/tools/lldb/packages/Python/lldbsuite/test/functionalities/postmortem/elf-core/linux-mipsel-gnuabio32.out',
      ],
    ],
  },
  'linux-ppc64le.core': { source: LLDB_LINUX, threadCount: 1, pid: 28147, tids: [28147], fname: 'linux-ppc64le.ou' },
  'linux-s390x.core': { source: LLDB_LINUX, threadCount: 1, pid: 1045, tids: [1045], fname: 'a.out', pcWithin: [0x80000000n, 0x80001000n, 'a.out'] },
  'linux-x86_64.core': { source: LLDB_LINUX, threadCount: 1, pid: 32259, tids: [32259], fname: 'a.out', pcWithin: [0x400000n, 0x401000n, 'a.out'] },
  'thread_crash.linux-i386.core': {
    source: 'lldb TestLinuxCore.py thread_crash (threads=3, pid 5193, crashing tid 5195, SIGILL; PT_LOAD 0x8048000 has p_filesz 0)',
    threadCount: 3,
    pid: 5193,
    crashedTid: 5195,
    signo: 4,
    unreadable: [{ addr: 0x8048000n, why: 'PT_LOAD at 0x8048000 has p_filesz=0' }],
  },
  'thread_crash.linux-x86_64.core': {
    source: 'lldb TestLinuxCore.py thread_crash (threads=3, pid 5222, crashing tid 5250, SIGILL; PT_LOAD 0x400000 has p_filesz 0)',
    threadCount: 3,
    pid: 5222,
    crashedTid: 5250,
    signo: 4,
    unreadable: [{ addr: 0x400000n, why: 'PT_LOAD at 0x400000 has p_filesz=0' }],
  },
  'netbsd.1lwp_SIGSEGV.aarch64.core': {
    source: LLDB_NETBSD,
    os: 'netbsd',
    arch: 'aarch64',
    pid: 8339,
    threadCount: 1,
    signo: 11,
    crashedTid: 1,
    cursigByTid: { 1: 11 },
  },
  'netbsd.1lwp_SIGSEGV.amd64.core': {
    source: LLDB_NETBSD,
    os: 'netbsd',
    arch: 'x86_64',
    pid: 693,
    threadCount: 1,
    signo: 11,
    crashedTid: 1,
    cursigByTid: { 1: 11 },
  },
  'netbsd.2lwp_process_SIGSEGV.aarch64.core': {
    source: `${LLDB_NETBSD} (process-wide SIGSEGV: both LWPs report SIGSEGV)`,
    os: 'netbsd',
    arch: 'aarch64',
    pid: 1403,
    threadCount: 2,
    signo: 11,
    cursigByTid: { 2: 11, 1: 11 },
  },
  'netbsd.2lwp_process_SIGSEGV.amd64.core': {
    source: `${LLDB_NETBSD} (process-wide SIGSEGV: both LWPs report SIGSEGV)`,
    os: 'netbsd',
    arch: 'x86_64',
    pid: 665,
    threadCount: 2,
    signo: 11,
    cursigByTid: { 2: 11, 1: 11 },
  },
  'netbsd.2lwp_t2_SIGSEGV.aarch64.core': {
    source: `${LLDB_NETBSD} (LWP 2 SIGSEGV, LWP 1 signal 0)`,
    os: 'netbsd',
    arch: 'aarch64',
    pid: 14142,
    threadCount: 2,
    signo: 11,
    crashedTid: 2,
    cursigByTid: { 2: 11, 1: 0 },
  },
  'netbsd.2lwp_t2_SIGSEGV.amd64.core': {
    source: `${LLDB_NETBSD} (LWP 2 SIGSEGV, LWP 1 signal 0)`,
    os: 'netbsd',
    arch: 'x86_64',
    pid: 622,
    threadCount: 2,
    signo: 11,
    crashedTid: 2,
    cursigByTid: { 2: 11, 1: 0 },
  },
  'shell.netbsd-amd64.core': { source: 'lldb-test object-file (x86_64-unknown-netbsd core file)', os: 'netbsd', arch: 'x86_64' },
};

/** ORACLE NOTES F: eu-unstrip lines replaced, keyed by core and the START eu-unstrip printed. */
const UNSTRIP_CORRECTIONS: Record<string, Record<string, { start: bigint; size: bigint; checkBuildIdAddr: false }>> = {
  // ELF extent from the program headers (read from the header copy at 0x410000): PT_LOADs 0x400000+0x67c, 0x410680+0x228.
  testfile_aarch64_core: { '0x410000': { start: 0x400000n, size: 0x4108a8n - 0x400000n, checkBuildIdAddr: false } },
  // PT_LOADs 0x400000+0x7a0, 0x401e08+0x264 (header copy at 0x401000).
  'core_simple64.elf': { '0x401000': { start: 0x400000n, size: 0x40206cn - 0x400000n, checkBuildIdAddr: false } },
  // ARM: text at 0x8000 not dumped (AT_PHDR 0x8034, AT_ENTRY agrees), header copy at 0x10000.
  testfile61: { '0x10000': { start: 0x8000n, size: 0xa000n, checkBuildIdAddr: false } },
};

// ─────────────────────────────────────────────────────────────────────────────
// Architecture tables
// ─────────────────────────────────────────────────────────────────────────────

/** MANIFEST.tsv arch → CoreSummary.arch. */
function manifestArch(e: ManifestEntry): string {
  if (e.arch === 'sparcv9') return 'sparc64';
  if (e.arch === 'x86_64(x32)') return 'x32';
  return e.arch;
}

function manifestOs(e: ManifestEntry): CoreSummary['os'] {
  if (e.os.startsWith('Linux')) return 'linux';
  if (e.os === 'NetBSD') return 'netbsd';
  return 'unknown';
}

/** eu-readelf's names of the PC and SP registers, per CoreSummary.arch. */
const PC_SP: Record<string, [string, string]> = {
  x86_64: ['rip', 'rsp'],
  x32: ['rip', 'rsp'],
  i386: ['eip', 'esp'],
  aarch64: ['pc', 'sp'],
  arm: ['pc', 'sp'],
  ppc: ['nip', 'r1'],
  ppc64: ['nip', 'r1'],
  s390: ['pswa', 'r15'],
  s390x: ['pswa', 'r15'],
  riscv64: ['pc', 'sp'],
  sparc64: ['pc', 'o6'],
  m68k: ['pc', 'a7'],
};

/**
 * eu-readelf register name → ours, where they differ. Same slot of
 * elf_gregset_t, different name (elfutils backends/*_corenote.c).
 */
const REG_ALIASES: Record<string, Record<string, string>> = {
  x86_64: { 'fs.base': 'fs_base', 'gs.base': 'gs_base' },
  x32: { 'fs.base': 'fs_base', 'gs.base': 'gs_base' },
  arm: { spsr: 'cpsr' },
  ppc: { cr: 'ccr', mq: 'softe', orig_gpr3: 'orig_r3' },
  ppc64: { cr: 'ccr', spr0: 'softe', orig_gpr3: 'orig_r3' },
  sparc64: { state: 'tstate' },
  m68k: { a7: 'usp' },
};

function pageUp(a: bigint, page: bigint): bigint {
  return ((a + page - 1n) / page) * page;
}

function moduleLabel(m: Module): string {
  return `${hex(m.start)}-${hex(m.end)} ${m.kind} ${m.path ?? m.linkMapName ?? '?'}`;
}

// ─────────────────────────────────────────────────────────────────────────────
// Checks shared by eu-readelf and the readelf -n quoted in .expected.txt
// ─────────────────────────────────────────────────────────────────────────────

function readelfChecks(label: string, oracle: ReadelfOracle, get: () => CoreSummary, isMips: boolean, facts: Facts | undefined): void {
  const ps = oracle.prstatus;
  if (ps.length > 0) {
    it(`${label}: thread count, tids and cursig in PRSTATUS note order (first = signalled thread)`, () => {
      const s = get();
      expect(s.threads.length, 'number of threads = number of CORE/PRSTATUS notes').toBe(ps.length);
      if (ps.every((p) => p.pid !== undefined)) {
        expect(s.threads.map((t) => [t.tid, t.cursig])).toEqual(ps.map((p) => [p.pid, p.cursig]));
      } else {
        expect(isMips, 'only MIPS PRSTATUS is printed without pid (ORACLE NOTES D)').toBe(true);
      }
      if (ps[0]!.cursig !== undefined && ps[0]!.cursig > 0) {
        expect(s.threads.filter((t) => t.crashed).map((t) => t.tid), 'the first PRSTATUS thread is the crashed one').toEqual([ps[0]!.pid]);
      }
    });
  }
  const pid = oracle.prpsinfo?.pid ?? ps[0]?.pid;
  if (pid !== undefined && ps.length > 0) {
    it(`${label}: process pid (PRPSINFO pr_pid, else first PRSTATUS)`, () => {
      expect(get().process.pid).toBe(pid);
    });
  }
  const withRegs = ps.map((p, i) => ({ p, i })).filter(({ p }) => p.registers.size > 0);
  if (withRegs.length > 0) {
    it(`${label}: pc and sp of every thread`, () => {
      const s = get();
      const names = PC_SP[s.arch];
      expect(names, `no PC/SP names for arch ${s.arch}`).toBeDefined();
      const [pcName, spName] = names!;
      const ours = withRegs.map(({ i }) => ({ pc: hex(s.threads[i]?.pc), sp: hex(s.threads[i]?.sp) }));
      const want = withRegs.map(({ p }) => ({ pc: hex(p.registers.get(pcName)), sp: hex(p.registers.get(spName)) }));
      expect(ours).toEqual(want);
    });
    it(`${label}: every general register printed under a name we also use`, () => {
      const s = get();
      const alias = REG_ALIASES[s.arch] ?? {};
      for (const { p, i } of withRegs) {
        const t: Thread | undefined = s.threads[i];
        expect(t, `thread ${i}`).toBeDefined();
        const ours: Record<string, string | undefined> = {};
        const want: Record<string, string | undefined> = {};
        for (const [euName, v] of p.registers) {
          const name = alias[euName] ?? euName;
          if (!(name in t!.registers)) continue;
          // Compare the bits eu-readelf shows (x86 segment registers: the low 16).
          const bits = p.registerBits.get(euName) ?? 64;
          want[name] = hex(v);
          ours[name] = hex(BigInt.asUintN(bits, t!.registers[name]!));
        }
        expect(Object.keys(want).length, `registers compared for thread ${t!.tid}`).toBeGreaterThan(0);
        expect({ tid: t!.tid, ...ours }).toEqual({ tid: p.pid, ...want });
      }
    });
  }
  if (oracle.siginfo.length > 0) {
    const si = oracle.siginfo[0]!;
    it(`${label}: signal agrees with the first SIGINFO${isMips ? ' (si_code/si_errno swapped for MIPS, ORACLE NOTES D)' : ''}`, () => {
      const s = get();
      const code = isMips ? si.errno : si.code;
      expect(s.signal?.signo, 'si_signo').toBe(si.signo);
      expect(s.signal?.code, 'si_code').toBe(code);
      if (si.faultAddress !== undefined) {
        expect(hex(s.signal?.addr), 'fault address').toBe(hex(si.faultAddress));
      } else if (code <= 0) {
        // si_code <= 0: sent by a process (SI_USER, SI_TKILL, ...): the union
        // holds the sender's pid/uid, there is no fault address.
        expect(hex(s.signal?.addr), `no fault address for a signal sent by a process (si_code ${code})`).toBeUndefined();
      }
    });
  } else if (ps.length > 0 && ps[0]!.cursig !== undefined && facts?.signo === undefined) {
    const cursig = ps[0]!.cursig;
    it(`${label}: no SIGINFO: signal is the first thread's pr_cursig (${cursig})`, () => {
      const s = get();
      if (cursig > 0) expect(s.signal?.signo).toBe(cursig);
      else expect(s.signal).toBeUndefined();
    });
  }
  const info = oracle.prpsinfo;
  if (info && info.pid !== undefined) {
    it(`${label}: PRPSINFO pid, ppid, uid, gid, fname, psargs`, () => {
      const p = get().process;
      expect({ pid: p.pid, ppid: p.ppid, uid: p.uid, gid: p.gid, fname: p.fname, psargs: p.psargs?.trimEnd() }).toEqual({
        pid: info.pid,
        ppid: info.ppid,
        uid: info.uid,
        gid: info.gid,
        fname: info.fname,
        psargs: info.psargs?.trimEnd(),
      });
    });
  }
  if (oracle.files && !facts?.euFileTableWrong) {
    const files = oracle.files;
    it(`${label}: NT_FILE table (start, end, byte offset, path) in order`, () => {
      expect(files.length, 'the oracle lists as many entries as it announces').toBe(oracle.fileCount);
      const s = get();
      expect(s.mappings.map((m) => [hex(m.start), hex(m.end), hex(m.fileOffset), m.deleted ? `${m.path} (deleted)` : m.path])).toEqual(
        files.map((f) => [hex(f.start), hex(f.end), hex(f.offset), f.path]),
      );
    });
  }
}

// ─────────────────────────────────────────────────────────────────────────────
// The module oracle for one core: eu-unstrip lines + .expected.txt lines,
// with the corrections listed in ORACLE NOTES A, B and F
// ─────────────────────────────────────────────────────────────────────────────

interface ModuleExpectation extends UnstripModule {
  source: string;
  checkBuildIdAddr: boolean;
}

function moduleOracle(dir: string, e: ManifestEntry, expected: string | undefined): ModuleExpectation[] {
  const out: ModuleExpectation[] = [];
  const add = (m: UnstripModule, source: string, checkBuildIdAddr = true): void => {
    const i = out.findIndex((x) => x.start === m.start);
    if (i >= 0) out.splice(i, 1); // a later (stronger) source replaces an earlier one
    out.push({ ...m, source, checkBuildIdAddr });
  };
  // A: test-core.core uses the with-executable run.
  const withExe = readOracleText(dir, e.localPath, 'eu-unstrip-with-exe');
  const eu = withExe ?? readOracleText(dir, e.localPath, 'eu-unstrip');
  if (eu) for (const m of parseEuUnstrip(eu).modules) add(m, withExe ? 'eu-unstrip 0.188 -e <exe>' : 'eu-unstrip 0.188');
  if (expected) {
    for (const m of unstripFromExpected(expected)) add(m, '.expected.txt (unstrip -n)');
    // B: "misses `0x7f14e4795000 175e...@0x7f14e4795248`" in the corpus builder's note.
    for (const mm of expected.matchAll(/misses `(0x[0-9a-f]+) ([0-9a-f]+@0x[0-9a-f]+)`/g)) {
      const m = parseUnstripLine(`${mm[1]}+0x0 ${mm[2]} - - (module eu-unstrip 0.188 missed)`);
      if (m) add({ ...m, size: -1n }, '.expected.txt (module 0.188 misses)');
    }
  }
  // F: eu-unstrip's start misplaced by a header copy.
  for (const [at, fix] of Object.entries(UNSTRIP_CORRECTIONS[e.name] ?? {})) {
    const i = out.findIndex((x) => hex(x.start) === at);
    if (i < 0) throw new Error(`UNSTRIP_CORRECTIONS: ${e.name} has no eu-unstrip module at ${at}`);
    const old = out[i]!;
    out[i] = { ...old, start: fix.start, size: fix.size, checkBuildIdAddr: fix.checkBuildIdAddr, source: `${old.source}, start corrected (ORACLE NOTES F)` };
  }
  return out;
}

// ─────────────────────────────────────────────────────────────────────────────
// The suite
// ─────────────────────────────────────────────────────────────────────────────

const dir = corpusDir();

if (!dir) {
  const msg = 'corpus absent: ../shared/corpus not found, corpus tests skipped';
  console.warn(msg);
  it.skip(msg, () => {});
} else {
  const manifest = readManifest(dir);

  afterAll(async () => {
    await removeCorpusTemp();
  });

  it('MANIFEST.tsv lists 62 cores, each with its oracle files', () => {
    expect(manifest.length).toBe(62);
    for (const e of manifest) {
      expect(readOracleText(dir, e.localPath, 'eu-readelf'), `${e.localPath}.eu-readelf.txt`).toBeDefined();
      expect(readOracleText(dir, e.localPath, 'eu-unstrip'), `${e.localPath}.eu-unstrip.txt`).toBeDefined();
    }
  });

  it('oracle check: eu-readelf 0.188 prints NT_FILE offsets in bytes (= pyelftools core_linux32 page offsets x 4096)', () => {
    const files = parseEuReadelf(readOracleText(dir, 'pyelftools/core_linux32.elf', 'eu-readelf') ?? '').files;
    expect(files?.map((f) => [hex(f.start), hex(f.end), hex(f.offset), f.path])).toEqual(
      FACTS['core_linux32.elf']!.mappings!.map(([a, b, o, p]) => [hex(a), hex(b), hex(o), p]),
    );
  });

  it('every FACTS entry names a core in MANIFEST.tsv', () => {
    const names = new Set(manifest.map((e) => e.name));
    expect(Object.keys(FACTS).filter((n) => !names.has(n))).toEqual([]);
  });

  for (const e of manifest) {
    const facts = FACTS[e.name];
    const expected = readOracleText(dir, e.localPath, 'expected');
    const readelf = parseEuReadelf(readOracleText(dir, e.localPath, 'eu-readelf') ?? '');
    const quoted = facts?.quotedReadelf && expected ? readelfFromExpected(expected) : undefined;
    const modules = moduleOracle(dir, e, expected);
    const isMips = e.arch.startsWith('mips');

    describe(e.localPath, () => {
      let corePath = '';
      let summary: CoreSummary | undefined;
      let openError: unknown;

      const exception = OPEN_EXCEPTIONS[e.name];

      beforeAll(async () => {
        corePath = await corpusCore(e.localPath, dir);
        try {
          summary = await readCore(corePath);
        } catch (err) {
          openError = err;
        }
        if (exception && openError !== undefined) summary = await readCore(corePath, { allowTruncated: true });
      });

      const get = (): CoreSummary => {
        if (!summary) throw new Error(`readCore failed: ${errorText(openError)}`);
        return summary;
      };

      if (exception) {
        it(`readCore refuses it with FormatError ${exception.error} (${exception.why}); allowTruncated opens it`, () => {
          expect(openError).toBeInstanceOf(FormatError);
          expect((openError as Error).message).toMatch(exception.error);
          expect(summary).toBeDefined();
        });
      } else {
        it('readCore opens it without throwing (on these real cores even a FormatError is a bug)', () => {
          expect(openError === undefined ? undefined : errorText(openError), 'readCore threw').toBeUndefined();
          expect(summary).toBeDefined();
        });
      }

      it('module table is well-formed: start < end <= 2^class, loadBias (when known) an address in [0, 2^class)', () => {
        const s = get();
        const limit = 1n << BigInt(s.elfClass);
        const bad = s.modules
          .filter((m) => !(m.start < m.end && m.end <= limit && (m.loadBias === undefined || (m.loadBias >= 0n && m.loadBias < limit))))
          .map((m) => `${moduleLabel(m)} loadBias=${hex(m.loadBias)}`);
        expect(bad).toEqual([]);
      });

      it(`os, arch, class and byte order as MANIFEST.tsv says (${e.os} ${e.arch} ${e.elfClass}-bit ${e.endian})`, () => {
        const s = get();
        expect({ os: s.os, arch: s.arch, elfClass: s.elfClass, byteOrder: s.byteOrder }).toEqual({
          os: facts?.os ?? manifestOs(e),
          arch: facts?.arch ?? manifestArch(e),
          elfClass: e.elfClass,
          byteOrder: e.endian === 'LE' ? 'little' : 'big',
        });
      });

      // ── eu-readelf -n ────────────────────────────────────────────────────
      if (e.os === 'NetBSD') {
        it('NetBSD LWPs are the NetBSD-CORE@<lwp> notes, in note order', () => {
          expect(get().threads.map((t) => t.tid)).toEqual(readelf.netbsdLwps);
        });
      } else {
        readelfChecks('eu-readelf', readelf, get, isMips, facts);
        if (readelf.prstatus.length === 0) {
          it('eu-readelf shows no CORE/PRSTATUS note: no threads', () => {
            expect(get().threads).toEqual([]);
          });
        }
      }
      if (quoted) readelfChecks('readelf -n quoted in .expected.txt', quoted, get, isMips, facts);
      if (!readelf.files && !facts?.mappings && e.os !== 'NetBSD') {
        it('no NT_FILE note: no file mappings', () => {
          expect(get().mappings).toEqual([]);
        });
      }

      // ── eu-unstrip -n --core ─────────────────────────────────────────────
      for (const m of modules) {
        it(`module ${hex(m.start)}${m.size >= 0n ? `+${hex(m.size)}` : ''} ${m.buildId ?? '-'} ${m.name} [${m.source}]`, () => {
          const s = get();
          const ours = s.modules.find((x) => x.start === m.start);
          expect(ours, `no module starts at ${hex(m.start)}; we have:\n  ${s.modules.map(moduleLabel).join('\n  ')}`).toBeDefined();
          if (m.buildId !== undefined) {
            expect(ours!.buildId, 'build ID').toBe(m.buildId);
            if (m.buildIdAddr !== undefined && m.checkBuildIdAddr) expect(hex(ours!.buildIdAddr), 'build-id descriptor address').toBe(hex(m.buildIdAddr));
          }
          if (m.size >= 0n) {
            const end = m.start + m.size;
            const page = s.auxv.find((a) => a.name === 'AT_PAGESZ')?.a_val ?? readelf.auxv.get('PAGESZ') ?? 4096n;
            const ok = ours!.end === end || ours!.end === pageUp(end, page);
            expect(ok, `end ${hex(ours!.end)} is neither START+SIZE ${hex(end)} nor that rounded up to the ${page}-byte page (${hex(pageUp(end, page))})`).toBe(true);
          }
        });
      }
      if (e.name === 'testcore-noncontig') {
        it('10 modules, as elfutils 0.191 run-dwfl-core-noncontig.sh expects (ORACLE NOTES B)', () => {
          expect(modules.length).toBe(10);
          for (const m of modules) expect(get().modules.some((x) => x.start === m.start && x.buildId === m.buildId)).toBe(true);
        });
      }

      if (facts?.euFileTableWrong && readelf.files) {
        const files = readelf.files;
        it(`oracle check: eu-readelf's FILE table is unusable here (${facts.euFileTableWrong})`, () => {
          expect(files.some((f) => f.end <= f.start || f.path === '')).toBe(true);
        });
      }

      // ── Facts from .expected.txt ─────────────────────────────────────────
      if (facts) registerFacts(facts, get, () => corePath);
    });
  }
}

function registerFacts(f: Facts, get: () => CoreSummary, corePath: () => string): void {
  const p = `fact (${f.source})`;
  if (f.pid !== undefined) it(`${p}: pid ${f.pid}`, () => expect(get().process.pid).toBe(f.pid));
  if (f.threadCount !== undefined) it(`${p}: ${f.threadCount} thread(s)`, () => expect(get().threads.length).toBe(f.threadCount));
  if (f.tids) it(`${p}: tids ${f.tids.join(', ')}`, () => expect(get().threads.map((t) => t.tid)).toEqual(f.tids));
  if (f.crashedTid !== undefined) {
    it(`${p}: thread ${f.crashedTid} (only) crashed`, () => expect(get().threads.filter((t) => t.crashed).map((t) => t.tid)).toEqual([f.crashedTid]));
  }
  if (f.signo !== undefined) it(`${p}: signal ${f.signo}`, () => expect(get().signal?.signo).toBe(f.signo));
  if (f.cursigByTid) {
    const want = f.cursigByTid;
    it(`${p}: per-thread signal ${JSON.stringify(want)}`, () => {
      const got: Record<number, number> = {};
      for (const t of get().threads) got[t.tid] = t.cursig;
      expect(got).toEqual(want);
    });
  }
  const ps: Record<string, unknown> = {};
  for (const k of ['ppid', 'uid', 'gid', 'fname', 'psargs'] as const) if (f[k] !== undefined) ps[k] = f[k];
  if (Object.keys(ps).length > 0) {
    it(`${p}: process ${Object.keys(ps).join(', ')}`, () => {
      const proc = get().process;
      const got: Record<string, unknown> = {};
      for (const k of Object.keys(ps)) got[k] = k === 'psargs' ? proc.psargs?.trimEnd() : proc[k as keyof typeof proc];
      expect(got).toEqual(ps);
    });
  }
  if (f.mappings) {
    const want = f.mappings.map(([s, en, off, path]) => [hex(s), hex(en), hex(off), path]);
    it(`${p}: NT_FILE table (${f.mappings.length} entries, byte offsets)`, () => {
      expect(get().mappings.map((m) => [hex(m.start), hex(m.end), hex(m.fileOffset), m.path])).toEqual(want);
    });
  }
  if (f.registers) {
    const want = Object.fromEntries(Object.entries(f.registers).map(([k, v]) => [k, hex(v)]));
    it(`${p}: registers of the first thread`, () => {
      const regs = get().threads[0]?.registers ?? {};
      expect(Object.fromEntries(Object.keys(want).map((k) => [k, hex(regs[k])]))).toEqual(want);
    });
  }
  if (f.pc !== undefined) it(`${p}: first thread pc ${hex(f.pc)}`, () => expect(hex(get().threads[0]?.pc)).toBe(hex(f.pc)));
  if (f.sp !== undefined) it(`${p}: first thread sp ${hex(f.sp)}`, () => expect(hex(get().threads[0]?.sp)).toBe(hex(f.sp)));
  if (f.pcWithin) {
    const [lo, hi, what] = f.pcWithin;
    it(`${p}: first thread pc in ${what} [${hex(lo)}, ${hex(hi)})`, () => {
      const pc = get().threads[0]?.pc;
      expect(pc !== undefined && pc >= lo && pc < hi, `pc ${hex(pc)} not in [${hex(lo)}, ${hex(hi)})`).toBe(true);
    });
  }
  for (const a of f.addrInModule ?? []) {
    it(`${p}: ${hex(a.addr)} (${a.what}) lies in a module${a.path ? ` ${a.path}` : ''}${a.kind ? ` of kind ${a.kind}` : ''}`, () => {
      const s = get();
      const m = s.modules.find((x) => x.start <= a.addr && a.addr < x.end);
      expect(m, `no module contains ${hex(a.addr)}; we have:\n  ${s.modules.map(moduleLabel).join('\n  ')}`).toBeDefined();
      if (a.path) expect(m!.path).toBe(a.path);
      if (a.kind) expect(m!.kind).toBe(a.kind);
      if (a.linkMapNameEndsWith) expect(m!.linkMapName ?? '', 'link_map name').toMatch(new RegExp(`${a.linkMapNameEndsWith.replace(/\./g, '\\.')}$`));
    });
  }
  for (const u of f.unreadable ?? []) {
    it(`${p}: memory at ${hex(u.addr)} is not in the core (${u.why})`, async () => {
      const core = await CoreFile.open(corePath());
      try {
        expect(await core.memory.read(u.addr, 4)).toBeUndefined();
      } finally {
        await core.close();
      }
    });
  }
  if (f.warning) {
    const re = f.warning;
    it(`${p}: warns ${re}`, () => expect(get().warnings.some((w) => re.test(w)), get().warnings.join('\n')).toBe(true));
  }
  if (f.phnum !== undefined) {
    it(`${p}: ElfFile.phnum ${f.phnum} (e_phnum = PN_XNUM, real count in section header 0)`, async () => {
      const reader = await FileReader.open(corePath());
      try {
        const elf = await ElfFile.open(reader);
        expect(elf.header.e_phnum).toBe(0xffff);
        expect(elf.phnum).toBe(f.phnum);
        expect(elf.progs.length).toBe(f.phnum);
      } finally {
        await reader.close();
      }
    });
  }
}
