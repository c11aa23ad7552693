/**
 * src/elf/writer.ts: files it writes are read back by our reader and by
 * elfutils (eu-readelf), including a PN_XNUM file and a mini core copied by
 * range, segment by segment, from a real kernel core.
 */
import { execa } from 'execa';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EM, ET, PN_XNUM, PT, PF } from '../src/elf/constants.js';
import { EncodeError } from '../src/elf/errors.js';
import { ElfFile } from '../src/elf/file.js';
import { parseNotes } from '../src/elf/notes.js';
import { BufferReader } from '../src/elf/reader.js';
import { encodeNote, planElf, writeElf, type ElfPlan, type NoteSpec, type SegmentSource } from '../src/elf/writer.js';
import { CoreFile, readCore } from '../src/core/open.js';
import { useCrash } from './helpers/crash.js';

async function toBuffer(plan: ElfPlan, source: SegmentSource): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await writeElf(plan, async (c) => void chunks.push(Buffer.from(c)), source);
  return Buffer.concat(chunks);
}

const fill = (seg: { p_filesz: bigint; index: number }): Buffer[] => [Buffer.alloc(Number(seg.p_filesz), seg.index & 0xff)];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'corepack-writer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function save(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(dir, name);
  const fh = await open(file, 'w');
  await fh.write(bytes);
  await fh.close();
  return file;
}

describe('encodeNote', () => {
  it('pads name and descriptor to 4 bytes and counts the NUL in namesz, as the kernel does', () => {
    const b = encodeNote({ elfClass: 64, byteOrder: 'little' }, { name: 'LINUX', n_type: 0x401, desc: Buffer.from([1, 2, 3, 4, 5]) });
    // 12-byte header, "LINUX\0" padded to 8, 5 bytes of desc padded to 8.
    expect(b.length).toBe(28);
    expect([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8)]).toEqual([6, 5, 0x401]);
    expect(b.subarray(12, 20)).toEqual(Buffer.from('LINUX\0\0\0', 'latin1'));
    expect(b.subarray(20)).toEqual(Buffer.from([1, 2, 3, 4, 5, 0, 0, 0]));
  });
});

describe('planElf + writeElf', () => {
  const notes: NoteSpec[] = [
    { name: 'CORE', n_type: 0x99, desc: Buffer.from('abc') },
    { name: 'GNU', n_type: 3, desc: Buffer.from('0123456789abcdef0123', 'latin1') },
    { name: 'X', n_type: 7, desc: Buffer.alloc(0) },
  ];

  for (const shape of [{ elfClass: 64, byteOrder: 'little' }, { elfClass: 32, byteOrder: 'big' }] as const) {
    it(`writes an ELF${shape.elfClass} ${shape.byteOrder}-endian core the reader reads back field for field`, async () => {
      const plan = planElf({
        ...shape,
        e_machine: shape.elfClass === 64 ? EM.EM_X86_64 : EM.EM_PPC,
        notes,
        segments: [
          { p_type: PT.PT_LOAD, p_flags: PF.PF_R | PF.PF_X, p_vaddr: 0x400000n, p_filesz: 5000n, p_memsz: 8192n, p_align: 4096n },
          { p_type: PT.PT_LOAD, p_flags: PF.PF_R, p_vaddr: 0x600000n, p_filesz: 0n, p_memsz: 4096n, p_align: 4096n },
          { p_type: PT.PT_LOAD, p_flags: PF.PF_R | PF.PF_W, p_vaddr: 0x700000n, p_filesz: 3n, p_memsz: 4096n, p_align: 4096n },
        ],
      });
      const bytes = await toBuffer(plan, fill);
      expect(BigInt(bytes.length)).toBe(plan.fileSize);
      const elf = await ElfFile.open(new BufferReader(bytes));
      expect(elf.header).toEqual(plan.header);
      expect(elf.header.e_type).toBe(ET.ET_CORE);
      expect(elf.progs).toEqual(plan.progs);
      expect(elf.progs.map((p) => p.p_offset % 4096n)).toEqual([BigInt(elf.progs[0]!.p_offset), 0n, 0n, 0n]);
      const noteSeg = elf.progs[0]!;
      const parsed = parseNotes(elf.decoder(await elf.segmentBytes(noteSeg, 'notes'), noteSeg.p_offset, 'notes'));
      expect(parsed.map((n) => [n.name, n.n_type, Buffer.from(n.desc)])).toEqual(notes.map((n) => [n.name, n.n_type, Buffer.from(n.desc)]));
      const seg = elf.progs[1]!;
      expect(await elf.segmentBytes(seg, 'load')).toEqual(Buffer.alloc(5000, seg.index));
    });
  }

  it('is read by eu-readelf -l and -n', async () => {
    const plan = planElf({
      elfClass: 64,
      byteOrder: 'little',
      e_machine: EM.EM_X86_64,
      notes,
      segments: [{ p_type: PT.PT_LOAD, p_flags: PF.PF_R, p_vaddr: 0x10000n, p_filesz: 100n, p_memsz: 4096n, p_align: 4096n }],
    });
    const file = await save('small.core', await toBuffer(plan, fill));
    const l = await execa('eu-readelf', ['-l', file]);
    expect(l.stdout).toMatch(/NOTE\s+0x0000b0 0x0+ 0x0+ 0x00004c 0x000000 R\s+0x4/);
    expect(l.stdout).toMatch(/LOAD\s+0x001000 0x0+10000 0x0+ 0x000064 0x001000 R\s+0x1000/);
    const n = await execa('eu-readelf', ['-n', file]);
    // In a core eu-readelf names types by the core numbering whatever the owner.
    expect(n.stdout).toMatch(/Note segment of 76 bytes at offset 0xb0:/);
    expect(n.stdout).toMatch(/CORE\s+3\s+<unknown>: 153/);
    expect(n.stdout).toMatch(/GNU\s+20\s+PRPSINFO/);
    expect(n.stdout).toMatch(/X\s+0\s/);
  });

  it('escapes 70000 program headers with PN_XNUM (count in section header 0 sh_info), which the reader and eu-readelf follow', async () => {
    const count = 70000;
    const plan = planElf({
      elfClass: 64,
      byteOrder: 'little',
      e_machine: EM.EM_X86_64,
      notes,
      segments: Array.from({ length: count }, (_, i) => ({ p_type: PT.PT_LOAD, p_flags: PF.PF_R, p_vaddr: BigInt(0x10000 + i * 4096), p_filesz: i % 7000 === 0 ? 64n : 0n, p_memsz: 4096n, p_align: 4096n })),
    });
    expect(plan.header.e_phnum).toBe(PN_XNUM);
    expect(plan.phnum).toBe(count + 1);
    const bytes = await toBuffer(plan, fill);
    const elf = await ElfFile.open(new BufferReader(bytes));
    expect(elf.phnum).toBe(count + 1);
    expect(elf.progs.filter((p) => p.p_type === PT.PT_LOAD)).toHaveLength(count);
    expect(elf.progs[count]!.p_vaddr).toBe(BigInt(0x10000 + (count - 1) * 4096));
    const file = await save('xnum.core', bytes);
    const h = await execa('eu-readelf', ['-h', file]);
    expect(h.stdout).toMatch(/Number of program headers entries: 65535 \(70001 in \[0\]\.sh_info\)/);
    const l = await execa('eu-readelf', ['-l', file]);
    expect(l.stdout.split('\n').filter((line) => /^\s+LOAD\s/.test(line))).toHaveLength(count);
  });

  it('uses PN_XNUM from exactly 65535 headers on, since 0xffff itself is the escape', () => {
    const seg = { p_type: PT.PT_LOAD, p_flags: PF.PF_R, p_vaddr: 0n, p_filesz: 0n, p_memsz: 0n, p_align: 1n };
    expect(planElf({ elfClass: 32, byteOrder: 'little', e_machine: EM.EM_386, segments: Array(65534).fill(seg) }).header.e_phnum).toBe(65534);
    const at = planElf({ elfClass: 32, byteOrder: 'little', e_machine: EM.EM_386, segments: Array(65535).fill(seg) });
    expect([at.header.e_phnum, at.header.e_shnum, at.phnum]).toEqual([PN_XNUM, 1, 65535]);
  });

  it('refuses a source that gives fewer or more bytes than p_filesz, naming the segment', async () => {
    const plan = planElf({ elfClass: 64, byteOrder: 'little', e_machine: EM.EM_X86_64, segments: [{ p_type: PT.PT_LOAD, p_flags: PF.PF_R, p_vaddr: 0n, p_filesz: 10n, p_memsz: 10n, p_align: 4096n }] });
    await expect(toBuffer(plan, () => [Buffer.alloc(9)])).rejects.toThrow(/segment 0: the source gave 9 bytes, p_filesz is 10/);
    await expect(toBuffer(plan, () => [Buffer.alloc(6), Buffer.alloc(6)])).rejects.toThrow(EncodeError);
  });

  it('refuses an offset that does not fit an ELF32 field instead of wrapping it', () => {
    expect(() =>
      planElf({ elfClass: 32, byteOrder: 'little', e_machine: EM.EM_386, segments: [{ p_type: PT.PT_LOAD, p_flags: 0, p_vaddr: 0x1_0000_0000n, p_filesz: 0n, p_memsz: 0n, p_align: 1n }] }),
    ).toThrow(/p_vaddr 0x100000000 does not fit its 32-bit field/);
  });
});

describe('a mini core streamed by range from a real kernel core', () => {
  const env = useCrash('segv-thread');

  it('reads back with the same summary, and eu-readelf reads its notes and segments', async () => {
    const src = await CoreFile.open(env.crash.core);
    let mini: string;
    try {
      const elf = src.elf;
      const loads = elf.progs.filter((p) => p.p_type === PT.PT_LOAD);
      // The original note segment, copied verbatim (it is small); the loads streamed.
      const noteBytes = Buffer.concat(await Promise.all(elf.progs.filter((p) => p.p_type === PT.PT_NOTE).map((p) => elf.segmentBytes(p, 'notes'))));
      const plan = planElf({
        elfClass: elf.elfClass,
        byteOrder: elf.byteOrder,
        e_machine: elf.header.e_machine,
        e_flags: elf.header.e_flags,
        ei_osabi: elf.header.ei_osabi,
        notes: noteBytes,
        segments: loads,
      });
      const CHUNK = 1 << 20;
      let largestChunk = 0;
      const source: SegmentSource = async function* (seg) {
        const from = Number(loads[seg.segment]!.p_offset);
        for (let done = 0; done < Number(seg.p_filesz); done += CHUNK) {
          const chunk = await elf.reader.read(from + done, Math.min(CHUNK, Number(seg.p_filesz) - done), 'copy');
          largestChunk = Math.max(largestChunk, chunk.length);
          yield chunk;
        }
      };
      mini = path.join(dir, 'mini.core');
      const fh = await open(mini, 'w');
      try {
        await writeElf(plan, async (c) => void (await fh.write(c)), source);
      } finally {
        await fh.close();
      }
      expect(largestChunk).toBeLessThanOrEqual(CHUNK);
    } finally {
      await src.close();
    }

    const [before, after] = await Promise.all([readCore(env.crash.core), readCore(mini)]);
    expect(after).toEqual(before);
    expect(after.threads.length).toBeGreaterThan(1);

    const n = await execa('eu-readelf', ['-n', mini]);
    expect(n.stdout).toMatch(/CORE\s+\d+\s+PRSTATUS/);
    expect(n.stdout).toMatch(/CORE\s+\d+\s+FILE/);
    const [lMini, lOrig] = await Promise.all([execa('eu-readelf', ['-l', mini]), execa('eu-readelf', ['-l', env.crash.core])]);
    const loadsOf = (out: string) => out.split('\n').filter((line) => /^\s+LOAD\s/.test(line)).map((line) => line.trim().split(/\s+/).slice(2).join(' '));
    expect(loadsOf(lMini.stdout)).toEqual(loadsOf(lOrig.stdout));
    expect(loadsOf(lMini.stdout).length).toBeGreaterThan(5);
  });
});
