/**
 * Bad input gets one line naming the problem and a nonzero exit: never a
 * stack trace, never a hang. Cores are cut and corrupted from a real one.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCrash } from './helpers/crash.js';
import { corepack, expectOneLineError } from './helpers/cli.js';
import { CoreFile } from '../src/core/open.js';
import { FormatError } from '../src/elf/errors.js';
import { ElfFile, type ProgHeader } from '../src/elf/file.js';
import { PT } from '../src/elf/constants.js';
import { BufferReader } from '../src/elf/reader.js';
import { fieldOffset } from '../src/elf/layout.js';

const env = useCrash('segv-main', 'corepack-bad-');
let dir: string;
let core: Buffer;

beforeAll(async () => {
  dir = env.work;
  core = await readFile(env.crash.core);
  l = await layout(core);
});

async function file(name: string, bytes: Buffer | string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

interface Layout {
  phoff: number;
  note: { offset: number; filesz: number };
  lastLoad: { offset: number; filesz: number };
}
let l: Layout;

/** Offsets of interest in the real core, read by the ELF reader (the core is valid). */
async function layout(buf: Buffer): Promise<Layout> {
  const elf = await ElfFile.open(new BufferReader(buf));
  const seg = (p: ProgHeader) => ({ offset: Number(p.p_offset), filesz: Number(p.p_filesz) });
  const loads = elf.progs.filter((p) => p.p_type === PT.PT_LOAD && p.p_filesz > 0n);
  return { phoff: Number(elf.header.e_phoff), note: seg(elf.progs.find((p) => p.p_type === PT.PT_NOTE)!), lastLoad: seg(loads[loads.length - 1]!) };
}

describe('bad input to inspect and collect', () => {
  it('an empty file', async () => {
    const run = await corepack(['inspect', await file('empty', '')]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/the file is empty/);
  });

  it('a text file', async () => {
    const run = await corepack(['inspect', await file('text', 'hello, this is not a core\n'.repeat(10))]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/not an ELF file/);
  });

  it('an executable where a core is expected', async () => {
    const run = await corepack(['inspect', env.program.exe]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/not a core file: the ELF type is ET_DYN/);
  });

  it('a missing file and a directory', async () => {
    const missing = await corepack(['inspect', join(dir, 'nope')]);
    expect(missing.exitCode).toBe(3);
    expect(expectOneLineError(missing)).toMatch(/no such file/);
    const isDir = await corepack(['inspect', dir]);
    expect(isDir.exitCode).toBe(3);
    expectOneLineError(isDir);
  });

  const cuts: Array<[string, (l: Layout) => number, RegExp]> = [
    ['inside the ELF identification', () => 10, /not an ELF file/],
    ['inside the ELF header', () => 40, /ELF header.*too short|truncated/],
    ['inside the program headers', (l) => l.phoff + 30, /program header table.*truncated/],
    ['inside the notes', (l) => l.note.offset + 100, /truncated/],
  ];
  for (const [where, at, message] of cuts) {
    it(`a core truncated ${where}`, async () => {
      const p = await file(`cut-${at(l)}`, core.subarray(0, at(l)));
      const run = await corepack(['inspect', p]);
      expect(run.exitCode).toBe(3);
      expect(expectOneLineError(run)).toMatch(message);
      const out = join(dir, `cut-${at(l)}.tbz2`);
      const col = await corepack(['collect', p, '-o', out]);
      expect(col.exitCode).toBe(3);
      expectOneLineError(col);
    });
  }

  it('a core truncated inside the memory segments (notes complete) is read, with a warning saying what is missing', async () => {
    const p = await file('cut-mem', core.subarray(0, (await layout(core)).lastLoad.offset + 10));
    const run = await corepack(['inspect', p]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/the core is cut at [\d.]+ [kMG]B of [\d.]+ [kMG]B: .* missing/);
    const out = join(dir, 'cut-mem.tbz2');
    const col = await corepack(['collect', p, '-o', out]);
    expect(col.exitCode, col.stderr).toBe(4);
    expect(col.stderr).toMatch(/warning: the core is cut at/);
  });

  it('a note whose size lies (descsz 0xffffffff)', async () => {
    const bad = Buffer.from(core);
    const { note } = l;
    bad.writeUInt32LE(0xffffffff, note.offset + 4);
    const run = await corepack(['inspect', await file('lying-note', bad)]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/note descriptor size 4294967295 .* the size lies \(at byte offset 0x[0-9a-f]+\)/);
  });

  it('reports the lying field as a FormatError with its byte offset', async () => {
    const bad = Buffer.from(core);
    const { note } = l;
    bad.writeUInt32LE(0xffffffff, note.offset + 4);
    const p = await file('lying-note-2', bad);
    const err = await CoreFile.open(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).offset).toBe(note.offset + 4);
  });

  it('a program header count that points past the end of the file', async () => {
    const bad = Buffer.from(core.subarray(0, 4096));
    bad.writeUInt16LE(0xfffe, fieldOffset(64, 'ehdr', 'e_phnum'));
    const run = await corepack(['inspect', await file('phnum', bad)]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/program header table \(65534 entries/);
  });

  it('collect leaves no bundle behind for a bad core', async () => {
    const p = await file('text-core', 'not a core');
    const out = join(dir, 'text-core.tbz2');
    const run = await corepack(['collect', p, '-o', out]);
    expect(run.exitCode).toBe(3);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
  });

  it('usage errors exit 2', async () => {
    expect((await corepack(['inspect'])).exitCode).toBe(2);
    expect((await corepack(['frobnicate'])).exitCode).toBe(2);
    const badName = await corepack(['collect', env.crash.core, '-o', join(dir, 'bundle.rar')]);
    expect(badName.exitCode).toBe(2);
    expect(badName.stderr).toMatch(/cannot tell the bundle format.*\n.*\.tbz2/);
  });

  it('the core is never modified by a collect that reads it whole', async () => {
    const before = await readFile(env.crash.core);
    const statBefore = await stat(env.crash.core);
    const out = join(dir, 'ok.tar.gz');
    const run = await corepack(['collect', env.crash.core, '-o', out]);
    // Only a collect that succeeded has read and bundled the whole core.
    expect(run.exitCode, run.stderr).toBe(0);
    expect((await stat(out)).size).toBeGreaterThan(0);
    const after = await readFile(env.crash.core);
    expect(after.length).toBe(before.length);
    expect(after.equals(before), 'the core\'s bytes changed').toBe(true);
    expect((await stat(env.crash.core)).mtimeMs).toBe(statBefore.mtimeMs);
  });
});
