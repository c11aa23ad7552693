/**
 * FreeBSD cores. No real FreeBSD userspace core is public, so these cores are
 * SYNTHETIC: built by test/helpers/freebsdCore.ts from the documented
 * structures (sys/user.h kinfo_vmentry, sys/procfs.h prstatus/prpsinfo/
 * thrmisc; see test/helpers/FREEBSD-LAYOUT.md). The builder itself is checked
 * against binutils and elfutils in freebsd-core-builder.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCore } from '../src/core/open.js';
import {
  AT_BASE,
  AT_ENTRY,
  AT_EXECPATH,
  AT_PHDR,
  KVME_FLAG_NOCOREDUMP,
  KVME_PROT_EXEC as X,
  KVME_PROT_READ as R,
  KVME_PROT_WRITE as W,
  buildElfImage,
  buildFreebsdCore,
  type FbsdCoreSpec,
} from './helpers/freebsdCore.js';

const LIBC_ID = Buffer.from('0123456789abcdef0123456789abcdef01234567', 'hex');
const EXECPATH_ADDR = 0x7fffffffe000n;

function spec(packed: boolean): FbsdCoreSpec {
  const execpath = Buffer.alloc(4096);
  execpath.write('/usr/local/bin/app\0');
  return {
    pid: 4242,
    fname: 'app',
    psargs: '/usr/local/bin/app --serve',
    packed,
    threads: [
      { tid: 100123, cursig: 11, name: 'app', rip: 0x8002001234n, rsp: 0x7fffffffd000n },
      { tid: 100124, cursig: 11, name: 'worker', rip: 0x200100n, rsp: 0x7fffdfffd000n },
    ],
    mappings: [
      { start: 0x200000n, end: 0x201000n, offset: 0n, prot: R | X, path: '/usr/local/bin/app', flags: KVME_FLAG_NOCOREDUMP },
      { start: 0x210000n, end: 0x211000n, offset: 0x10000n, prot: R | W, path: '/usr/local/bin/app' },
      { start: 0x8001000000n, end: 0x8001020000n, offset: 0n, prot: R | X, path: '/libexec/ld-elf.so.1', flags: KVME_FLAG_NOCOREDUMP },
      { start: 0x8002000000n, end: 0x8002100000n, offset: 0n, prot: R | X, path: '/lib/libc.so.7' },
      { start: 0x8002200000n, end: 0x8002210000n, offset: 0x100000n, prot: R | W, path: '/lib/libc.so.7' },
      { start: 0x7fffdfffc000n, end: 0x7fffe0000000n, offset: 0n, prot: R | W, path: '' },
      { start: 0x7fffffffd000n, end: 0x800000000000n, offset: 0n, prot: R | W, path: '' },
    ],
    auxv: [
      [AT_PHDR, 0x200040n],
      [AT_ENTRY, 0x200100n],
      [AT_BASE, 0x8001000000n],
      [AT_EXECPATH, EXECPATH_ADDR],
    ],
    memory: [
      // libc's first page was dumped, so its build ID can be read from the core.
      { vaddr: 0x8002000000n, bytes: buildElfImage({ buildId: LIBC_ID }) },
      { vaddr: EXECPATH_ADDR, bytes: execpath },
    ],
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corepack-fbsd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function coreFile(name: string, bytes: Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

for (const packed of [true, false]) {
  describe(`synthetic FreeBSD amd64 core (${packed ? 'packed' : 'fixed-size'} kinfo_vmentry records)`, () => {
    it('decodes process, threads with names, signal and the crashing thread', async () => {
      const s = await readCore(await coreFile(`fbsd-${packed}`, buildFreebsdCore(spec(packed))));
      expect(s.os).toBe('freebsd');
      expect(s.arch).toBe('x86_64');
      expect(s.process).toMatchObject({ pid: 4242, fname: 'app', psargs: '/usr/local/bin/app --serve' });
      expect(s.threads.map((t) => [t.tid, t.name, t.pc, t.sp, t.crashed])).toEqual([
        [100123, 'app', 0x8002001234n, 0x7fffffffd000n, true],
        [100124, 'worker', 0x200100n, 0x7fffdfffd000n, false],
      ]);
      expect(s.signal?.name).toBe('SIGSEGV');
    });

    it('reads the file mappings from NT_PROCSTAT_VMMAP (kve_path), skipping anonymous memory', async () => {
      const s = await readCore(await coreFile(`fbsd-map-${packed}`, buildFreebsdCore(spec(packed))));
      expect(s.mappings.map((m) => [m.start, m.end, m.fileOffset, m.path, m.protection])).toEqual([
        [0x200000n, 0x201000n, 0n, '/usr/local/bin/app', 'r-x'],
        [0x210000n, 0x211000n, 0x10000n, '/usr/local/bin/app', 'rw-'],
        [0x8001000000n, 0x8001020000n, 0n, '/libexec/ld-elf.so.1', 'r-x'],
        [0x8002000000n, 0x8002100000n, 0n, '/lib/libc.so.7', 'r-x'],
        [0x8002200000n, 0x8002210000n, 0x100000n, '/lib/libc.so.7', 'rw-'],
      ]);
    });

    it('builds the module table: executable by AT_PHDR, rtld by AT_BASE, build ID from a dumped page', async () => {
      const s = await readCore(await coreFile(`fbsd-mod-${packed}`, buildFreebsdCore(spec(packed))));
      const byPath = Object.fromEntries(s.modules.map((m) => [m.path, m]));
      expect(byPath['/usr/local/bin/app']?.kind).toBe('executable');
      expect(byPath['/libexec/ld-elf.so.1']?.kind).toBe('interpreter');
      expect(byPath['/lib/libc.so.7']?.buildId).toBe(LIBC_ID.toString('hex'));
      // Read-only segments are not dumped on FreeBSD, so no build ID is known for these.
      expect(byPath['/usr/local/bin/app']?.buildId).toBeUndefined();
      expect(s.executable).toBe('/usr/local/bin/app');
      expect(s.auxv.find((a) => a.a_type === AT_EXECPATH)?.name).toBe('AT_EXECPATH');
    });
  });
}

describe('synthetic FreeBSD core with a corrupt vmmap note', () => {
  it('a kve_structsize of 0 becomes a warning naming the note, not a hang or a crash', async () => {
    const bytes = buildFreebsdCore(spec(true));
    // Find the first kinfo_vmentry: the int32 1160 that starts the VMMAP descriptor, then the record.
    const marker = Buffer.alloc(4);
    marker.writeInt32LE(1160);
    const at = bytes.indexOf(marker);
    expect(at).toBeGreaterThan(0);
    bytes.writeInt32LE(0, at + 4); // first record's kve_structsize
    const s = await readCore(await coreFile('fbsd-zero', bytes));
    expect(s.mappings).toEqual([]);
    expect(s.warnings.join('\n')).toMatch(/NT_PROCSTAT_VMMAP: kinfo_vmentry kve_structsize 0 is invalid/);
    expect(s.threads).toHaveLength(2);
  });
});
