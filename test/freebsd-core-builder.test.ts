/**
 * Sanity tests of the synthetic FreeBSD core builder itself
 * (test/helpers/freebsdCore.ts), checked with tools that do not share its code:
 *
 *  - binutils `readelf -n --wide` and `llvm-readelf --notes` name the FreeBSD
 *    core note types (NT_PRSTATUS, NT_PROCSTAT_VMMAP, ...);
 *  - `eu-readelf -l` / `-h` lists the program headers (elfutils 0.188 decodes
 *    FreeBSD note *types* with Solaris names, so only its sizes are used);
 *  - binutils BFD (`objdump -h` / `objdump -s`) parses FreeBSD core notes the
 *    way gdb does: it cuts `.reg/<lwpid>` out of NT_PRSTATUS (only if
 *    pr_version is 1, using pr_gregsetsz and its own idea of where pr_pid and
 *    pr_reg are), `.auxv` out of NT_PROCSTAT_AUXV (skipping the structsize
 *    word), `.thrmisc/<lwpid>` and `.note.freebsdcore.vmmap`;
 *  - file(1) reads pr_psargs / pr_pid of NT_PRPSINFO and the build-id note.
 *
 * Tools that are missing make their tests skip, not fail.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AT_BASE,
  AT_ENTRY,
  AT_EXECPATH,
  AT_PHDR,
  AT_PAGESZ,
  KVE,
  KVME_FLAG_COW,
  KVME_FLAG_NOCOREDUMP,
  KVME_PROT_EXEC as X,
  KVME_PROT_READ as R,
  KVME_PROT_WRITE as W,
  PRPSINFO,
  PRSTATUS,
  REG,
  THRMISC,
  buildElfImage,
  buildFreebsdCore,
  encodeKinfoVmentry,
  type FbsdCoreSpec,
  type FbsdMapping,
} from './helpers/freebsdCore.js';

function has(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function run(tool: string, args: string[]): string {
  return execFileSync(tool, args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
}

const HAS = {
  readelf: has('readelf'),
  objdump: has('objdump'),
  euReadelf: has('eu-readelf'),
  llvmReadelf: has('llvm-readelf'),
  file: has('file'),
};

const BUILD_ID_EXE = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const BUILD_ID_LIBC = Buffer.from('feedfacecafebeef00112233445566778899aabb', 'hex');
const EXE_PATH = '/usr/home/dev/crasher';
const LIBC_PATH = '/lib/libc.so.7';

const mappings: FbsdMapping[] = [
  { start: 0x200000n, end: 0x201000n, offset: 0n, prot: R, path: EXE_PATH },
  { start: 0x201000n, end: 0x203000n, offset: 0x1000n, prot: R | X, path: EXE_PATH, flags: KVME_FLAG_COW | KVME_FLAG_NOCOREDUMP },
  { start: 0x800200000n, end: 0x800201000n, offset: 0n, prot: R, path: LIBC_PATH },
  { start: 0x800201000n, end: 0x800300000n, offset: 0x1000n, prot: R | X, path: LIBC_PATH },
  { start: 0x7fffdfffe000n, end: 0x7ffffffff000n, offset: 0n, prot: R | W, path: '' },
];

const exeImage = buildElfImage({ buildId: BUILD_ID_EXE, type: 'ET_EXEC' });
const libcImage = buildElfImage({ buildId: BUILD_ID_LIBC, dynamic: true });

const spec: FbsdCoreSpec = {
  pid: 4242,
  fname: 'crasher',
  psargs: './crasher --boom',
  threads: [
    { tid: 100123, cursig: 11, name: 'crasher', rip: 0x201234n, rsp: 0x7fffffffe000n },
    { tid: 100124, cursig: 11, name: 'worker', rip: 0x800201abcn, rsp: 0x7fffdffff000n, regs: { rbp: 0x7fffdffff100n } },
  ],
  mappings,
  auxv: [
    [AT_PHDR, 0x200040n],
    [AT_PAGESZ, 4096n],
    [AT_BASE, 0x800000000n],
    [AT_ENTRY, 0x201000n],
    [AT_EXECPATH, 0x7fffffffefe0n],
  ],
  memory: [
    { vaddr: 0x200000n, bytes: exeImage },
    { vaddr: 0x800200000n, bytes: libcImage },
    { vaddr: 0x7fffffffe000n, bytes: Buffer.alloc(4096, 0xaa) },
  ],
};

function packedSize(path: string): number {
  return Math.ceil((KVE.path + Buffer.byteLength(path) + 1) / 8) * 8;
}

interface NoteLine {
  owner: string;
  size: number;
  type: string;
}

/** Parses the note table of binutils `readelf -n --wide` / `llvm-readelf --notes`. */
function parseNoteTable(out: string): NoteLine[] {
  const notes: NoteLine[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s+(\S+)\s+0x([0-9a-f]+)\s+(NT_\w+)/.exec(line);
    if (m) notes.push({ owner: m[1]!, size: parseInt(m[2]!, 16), type: m[3]! });
  }
  return notes;
}

interface PhdrLine {
  type: string;
  offset: number;
  vaddr: bigint;
  filesz: number;
  memsz: number;
  flags: string;
  align: number;
}

/** Parses `eu-readelf -l` / `readelf -l --wide` program headers. */
function parsePhdrs(out: string): PhdrLine[] {
  const rows: PhdrLine[] = [];
  const re = /^\s+([A-Z_]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(.{3})\s+0x([0-9a-f]+)/;
  for (const line of out.split('\n')) {
    const m = re.exec(line);
    if (m) {
      rows.push({
        type: m[1]!,
        offset: parseInt(m[2]!, 16),
        vaddr: BigInt('0x' + m[3]!),
        filesz: parseInt(m[4]!, 16),
        memsz: parseInt(m[5]!, 16),
        flags: m[6]!.trim(),
        align: parseInt(m[7]!, 16),
      });
    }
  }
  return rows;
}

interface BfdSection {
  name: string;
  size: number;
  vma: bigint;
  offset: number;
}

/** Parses `objdump -h`. */
function parseSections(out: string): BfdSection[] {
  const rows: BfdSection[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+2\*\*\d+/.exec(line);
    if (m) rows.push({ name: m[1]!, size: parseInt(m[2]!, 16), vma: BigInt('0x' + m[3]!), offset: parseInt(m[4]!, 16) });
  }
  return rows;
}

/** The bytes of one section as BFD sees them (`objdump -s -j NAME`). */
function bfdSectionBytes(file: string, name: string): Buffer {
  const out = run('objdump', ['-s', '-j', name, file]);
  const hex: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^ [0-9a-f]{4,} ((?:[0-9a-f]{2,8} ?){1,4})/.exec(line);
    if (m) hex.push(m[1]!.replace(/\s+/g, ''));
  }
  return Buffer.from(hex.join(''), 'hex');
}

let dir: string;
let corePath: string;
let unpackedPath: string;
let core: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fbsd-core-'));
  core = buildFreebsdCore(spec);
  corePath = join(dir, 'crasher.core');
  writeFileSync(corePath, core);
  unpackedPath = join(dir, 'unpacked.core');
  writeFileSync(unpackedPath, buildFreebsdCore({ ...spec, packed: false }));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('buildFreebsdCore: ELF header and program headers', () => {
  it.skipIf(!HAS.readelf)('is an x86-64 FreeBSD ET_CORE (binutils readelf -h)', () => {
    const out = run('readelf', ['-h', corePath]);
    expect(out).toMatch(/Class:\s+ELF64/);
    expect(out).toMatch(/Data:\s+2's complement, little endian/);
    expect(out).toMatch(/OS\/ABI:\s+UNIX - FreeBSD/);
    expect(out).toMatch(/Type:\s+CORE/);
    expect(out).toMatch(/Machine:\s+Advanced Micro Devices X86-64/);
  });

  it.skipIf(!HAS.euReadelf)('is an x86-64 FreeBSD ET_CORE (eu-readelf -h)', () => {
    const out = run('eu-readelf', ['-h', corePath]);
    expect(out).toMatch(/OS\/ABI:\s+FreeBSD/);
    expect(out).toMatch(/Type:\s+CORE/);
    expect(out).toMatch(/Machine:\s+AMD x86-64/);
  });

  it.skipIf(!HAS.euReadelf)('has one PT_NOTE first, then a PT_LOAD per memory chunk at its vaddr (eu-readelf -l)', () => {
    const ph = parsePhdrs(run('eu-readelf', ['-l', corePath]));
    expect(ph.map((p) => p.type)).toEqual(['NOTE', 'LOAD', 'LOAD', 'LOAD']);
    const [note, ...loads] = ph;
    expect(note!.align).toBe(4);
    expect(note!.offset).toBe(64 + 4 * 56); // right after the headers, as the kernel writes it
    expect(loads.map((p) => p.vaddr)).toEqual(spec.memory.map((m) => m.vaddr));
    expect(loads.map((p) => p.filesz)).toEqual(spec.memory.map((m) => m.bytes.length));
    expect(loads.map((p) => p.memsz)).toEqual(spec.memory.map((m) => m.bytes.length));
    // Flags come from the kinfo_vmentry protection of the containing mapping.
    expect(loads.map((p) => p.flags)).toEqual(['R', 'R', 'RW']);
    for (const p of loads) {
      expect(p.offset % 4096).toBe(0);
      expect(p.align).toBe(4096);
      expect(p.offset).toBeGreaterThanOrEqual(note!.offset + note!.filesz);
    }
    // The bytes at each PT_LOAD offset are the chunk we asked for.
    loads.forEach((p, i) => {
      expect(core.subarray(p.offset, p.offset + p.filesz).equals(spec.memory[i]!.bytes)).toBe(true);
    });
  });

  it.skipIf(!HAS.llvmReadelf)('agrees with llvm-readelf -l', () => {
    const ph = parsePhdrs(run('llvm-readelf', ['-l', corePath]));
    expect(ph.filter((p) => p.type === 'LOAD').map((p) => p.vaddr)).toEqual(spec.memory.map((m) => m.vaddr));
  });
});

describe('buildFreebsdCore: notes', () => {
  const expectedTypes = [
    'NT_PRPSINFO',
    ...spec.threads.flatMap(() => ['NT_PRSTATUS', 'NT_FPREGSET', 'NT_THRMISC']),
    'NT_PROCSTAT_VMMAP',
    'NT_PROCSTAT_OSREL',
    'NT_PROCSTAT_AUXV',
  ];
  const vmmapPacked = 4 + mappings.reduce((s, m) => s + packedSize(m.path), 0);
  const vmmapFull = 4 + mappings.length * KVE.SIZE;
  const auxvSize = 4 + 16 * (spec.auxv.length + 1); // + AT_NULL
  const expectedSizes = [
    PRPSINFO.SIZE,
    ...spec.threads.flatMap(() => [PRSTATUS.SIZE, 512, THRMISC.SIZE]),
    vmmapPacked,
    8,
    auxvSize,
  ];

  it('uses the documented struct sizes', () => {
    expect([PRPSINFO.SIZE, PRSTATUS.SIZE, REG.SIZE, THRMISC.SIZE, KVE.SIZE]).toEqual([120, 224, 176, 24, 1160]);
  });

  it.skipIf(!HAS.readelf)('binutils readelf names every note type, owner "FreeBSD", in kernel order', () => {
    const notes = parseNoteTable(run('readelf', ['-n', '--wide', corePath]));
    expect(notes.map((n) => n.type)).toEqual(expectedTypes);
    expect(new Set(notes.map((n) => n.owner))).toEqual(new Set(['FreeBSD']));
    expect(notes.map((n) => n.size)).toEqual(expectedSizes);
  });

  it.skipIf(!HAS.llvmReadelf)('llvm-readelf names the same note types', () => {
    const notes = parseNoteTable(run('llvm-readelf', ['--notes', corePath]));
    expect(notes.map((n) => n.type)).toEqual(expectedTypes);
    expect(notes.map((n) => n.size)).toEqual(expectedSizes);
  });

  it.skipIf(!HAS.euReadelf)('eu-readelf walks the same notes (4-byte aligned, sizes match)', () => {
    const out = run('eu-readelf', ['-n', corePath]);
    const rows = [...out.matchAll(/^\s+FreeBSD\s+(\d+)\s+\S+/gm)].map((m) => Number(m[1]));
    expect(rows).toEqual(expectedSizes);
  });

  it.skipIf(!HAS.readelf)('NT_PROCSTAT_VMMAP holds full 1160-byte records when packed is false', () => {
    const notes = parseNoteTable(run('readelf', ['-n', '--wide', unpackedPath]));
    expect(notes.find((n) => n.type === 'NT_PROCSTAT_VMMAP')!.size).toBe(vmmapFull);
  });

  it.skipIf(!HAS.objdump)('BFD cuts .reg/<lwpid>, .reg2, .thrmisc, .auxv and vmmap out of the notes', () => {
    const secs = parseSections(run('objdump', ['-h', corePath]));
    const byName = new Map(secs.map((s) => [s.name, s]));
    const noteStart = byName.get('note0')!.offset;
    for (const t of spec.threads) {
      // BFD accepts the note only with pr_version == 1 and takes the LWP id from pr_pid.
      expect(byName.get(`.reg/${t.tid}`)?.size).toBe(REG.SIZE); // pr_gregsetsz
      expect(byName.get(`.reg2/${t.tid}`)?.size).toBe(512);
      expect(byName.get(`.thrmisc/${t.tid}`)?.size).toBe(THRMISC.SIZE);
    }
    // The first thread's registers start 48 bytes into its NT_PRSTATUS desc, which
    // follows NT_PRPSINFO (12 + 8 + 120) and its own header (12 + 8).
    expect(byName.get(`.reg/${spec.threads[0]!.tid}`)!.offset).toBe(noteStart + 140 + 20 + PRSTATUS.reg);
    // The first thread is the one gdb/BFD select: plain ".reg" aliases it.
    expect(byName.get('.reg')!.offset).toBe(byName.get(`.reg/${spec.threads[0]!.tid}`)!.offset);
    expect(byName.get('.note.freebsdcore.vmmap')?.size).toBe(vmmapPacked);
    expect(byName.get('.auxv')?.size).toBe(auxvSize - 4); // BFD drops the structsize word
    const loads = secs.filter((s) => s.name.startsWith('load'));
    expect(loads.map((s) => s.vma)).toEqual(spec.memory.map((m) => m.vaddr));
  });

  it.skipIf(!HAS.objdump)('register, thread-name and auxv bytes read back through BFD', () => {
    spec.threads.forEach((t) => {
      const reg = bfdSectionBytes(corePath, `.reg/${t.tid}`);
      expect(reg.length).toBe(REG.SIZE);
      expect(reg.readBigUInt64LE(REG.rip)).toBe(t.rip);
      expect(reg.readBigUInt64LE(REG.rsp)).toBe(t.rsp);
      expect(reg.readBigUInt64LE(REG.cs)).toBe(0x43n);
      const name = bfdSectionBytes(corePath, `.thrmisc/${t.tid}`);
      expect(name.toString('latin1', 0, name.indexOf(0))).toBe(t.name);
    });
    expect(bfdSectionBytes(corePath, `.reg/${spec.threads[1]!.tid}`).readBigUInt64LE(REG.rbp)).toBe(0x7fffdffff100n);
    const auxv = bfdSectionBytes(corePath, '.auxv');
    const pairs: Array<[number, bigint]> = [];
    for (let o = 0; o < auxv.length; o += 16) pairs.push([Number(auxv.readBigInt64LE(o)), auxv.readBigUInt64LE(o + 8)]);
    expect(pairs).toEqual([...spec.auxv, [0, 0n]]);
  });

  it.skipIf(!HAS.objdump)('vmmap records walk by kve_structsize and carry start/end/offset/prot/path', () => {
    const vm = bfdSectionBytes(corePath, '.note.freebsdcore.vmmap');
    expect(vm.readInt32LE(0)).toBe(KVE.SIZE); // leading structsize = sizeof(struct kinfo_vmentry)
    const got: FbsdMapping[] = [];
    let o = 4;
    while (o < vm.length) {
      const size = vm.readInt32LE(o + KVE.structsize);
      expect(size % 8).toBe(0);
      const pathEnd = vm.indexOf(0, o + KVE.path);
      got.push({
        start: vm.readBigUInt64LE(o + KVE.start),
        end: vm.readBigUInt64LE(o + KVE.end),
        offset: vm.readBigUInt64LE(o + KVE.offset),
        prot: vm.readInt32LE(o + KVE.protection),
        path: vm.toString('utf8', o + KVE.path, pathEnd),
        flags: vm.readInt32LE(o + KVE.flags),
      });
      o += size;
    }
    expect(o).toBe(vm.length);
    expect(got).toEqual(mappings.map((m) => ({ ...m, flags: m.flags ?? 0 })));
  });

  it.skipIf(!HAS.file)('file(1) reads pr_psargs and pr_pid from NT_PRPSINFO', () => {
    const out = run('file', ['-b', corePath]);
    expect(out).toMatch(/core file, x86-64/);
    expect(out).toContain('FreeBSD-style');
    expect(out).toContain("from './crasher --boom'");
    expect(out).toContain('pid=4242');
  });
});

describe('buildFreebsdCore: record encoding', () => {
  it('packs a kinfo_vmentry to offsetof(kve_path) + strlen + 1, rounded up to 8', () => {
    expect(encodeKinfoVmentry(mappings[0]!, true).length).toBe(packedSize(EXE_PATH));
    expect(encodeKinfoVmentry(mappings[4]!, true).length).toBe(144); // anonymous: 136 + 1 -> 144
    const rec = encodeKinfoVmentry(mappings[0]!, true);
    expect(rec.readInt32LE(KVE.structsize)).toBe(rec.length);
    expect(rec.readInt32LE(KVE.type)).toBe(2); // KVME_TYPE_VNODE
    expect(encodeKinfoVmentry(mappings[4]!, true).readInt32LE(KVE.type)).toBe(3); // KVME_TYPE_SWAP
    const full = encodeKinfoVmentry(mappings[0]!, false);
    expect(full.length).toBe(1160);
    expect(full.readInt32LE(KVE.structsize)).toBe(1160);
  });

  it('truncates pr_fname to 16 bytes and pr_psargs to 80 bytes, NUL-terminated', () => {
    const long = buildFreebsdCore({ ...spec, fname: 'x'.repeat(40), psargs: 'y'.repeat(200), memory: [] });
    const desc = 64 + 56 + 12 + 8; // ehdr + 1 phdr + note header + "FreeBSD\0"
    expect(long.toString('latin1', desc + PRPSINFO.fname, desc + PRPSINFO.fname + 17)).toBe('x'.repeat(16) + '\0');
    expect(long.toString('latin1', desc + PRPSINFO.psargs, desc + PRPSINFO.psargs + 81)).toBe('y'.repeat(80) + '\0');
    expect(long.readInt32LE(desc + PRPSINFO.pid)).toBe(spec.pid);
  });
});

describe('buildElfImage', () => {
  it('is one 4096-byte page', () => {
    expect(exeImage.length).toBe(4096);
    expect(libcImage.length).toBe(4096);
  });

  it.skipIf(!HAS.readelf)('carries an NT_GNU_BUILD_ID note reachable through PT_NOTE (readelf -n)', () => {
    const p = join(dir, 'libc.so.7');
    writeFileSync(p, libcImage);
    const out = run('readelf', ['-n', '--wide', p]);
    expect(out).toContain('NT_GNU_BUILD_ID');
    expect(out).toContain(`Build ID: ${BUILD_ID_LIBC.toString('hex')}`);
    expect(run('readelf', ['-h', p])).toMatch(/Type:\s+DYN/);
  });

  it.skipIf(!HAS.euReadelf)('has PT_LOAD, optional PT_DYNAMIC and PT_NOTE (eu-readelf -l)', () => {
    const lib = join(dir, 'lib.so');
    writeFileSync(lib, libcImage);
    expect(parsePhdrs(run('eu-readelf', ['-l', lib])).map((p) => p.type)).toEqual(['LOAD', 'DYNAMIC', 'NOTE']);
    const exe = join(dir, 'exe');
    writeFileSync(exe, exeImage);
    const ph = parsePhdrs(run('eu-readelf', ['-l', exe]));
    expect(ph.map((p) => p.type)).toEqual(['LOAD', 'NOTE']);
    expect(ph[0]!.vaddr).toBe(0x200000n);
    expect(run('eu-readelf', ['-h', exe])).toMatch(/Type:\s+EXEC/);
    expect(run('eu-readelf', ['-n', exe])).toContain(`Build ID: ${BUILD_ID_EXE.toString('hex')}`);
  });

  it.skipIf(!HAS.file)('file(1) sees the FreeBSD ABI tag and the build id', () => {
    const p = join(dir, 'img');
    writeFileSync(p, buildElfImage({ buildId: BUILD_ID_EXE, type: 'ET_EXEC' }));
    const out = run('file', ['-b', p]);
    expect(out).toContain('for FreeBSD 14.0');
    expect(out).toContain(`BuildID[sha1]=${BUILD_ID_EXE.toString('hex')}`);
  });

  it.skipIf(!HAS.readelf || !HAS.euReadelf)('the build id can be found in core memory via the PT_LOAD that holds the page', () => {
    const ph = parsePhdrs(run('eu-readelf', ['-l', corePath])).filter((p) => p.type === 'LOAD');
    const libcLoad = ph.find((p) => p.vaddr === 0x800200000n)!;
    const page = join(dir, 'page-from-core');
    writeFileSync(page, core.subarray(libcLoad.offset, libcLoad.offset + 4096));
    expect(run('readelf', ['-n', page])).toContain(`Build ID: ${BUILD_ID_LIBC.toString('hex')}`);
  });
});
