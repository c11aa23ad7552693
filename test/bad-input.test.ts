/**
 * Bad input gets one line naming the problem and a nonzero exit: never a
 * stack trace, never a hang. Cores are cut and corrupted from a real one.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCrash } from './helpers/crash.js';
import { corepack, expectOneLineError } from './helpers/cli.js';
import { CoreFile } from '../src/core/open.js';
import { FormatError } from '../src/elf/errors.js';

const env = useCrash('segv-main', 'corepack-bad-');
let dir: string;
let core: Buffer;

beforeAll(async () => {
  dir = env.work;
  core = await readFile(env.crash.core);
});

async function file(name: string, bytes: Buffer | string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, bytes);
  return p;
}

/** Offsets of interest in the real core, from its own headers (ELF64 LE). */
function layout(buf: Buffer) {
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  const phdrs = Array.from({ length: phnum }, (_, i) => {
    const o = phoff + i * phentsize;
    return { type: buf.readUInt32LE(o), offset: Number(buf.readBigUInt64LE(o + 8)), filesz: Number(buf.readBigUInt64LE(o + 32)) };
  });
  const note = phdrs.find((p) => p.type === 4)!;
  const loads = phdrs.filter((p) => p.type === 1 && p.filesz > 0);
  return { phoff, phend: phoff + phnum * phentsize, note, lastLoad: loads[loads.length - 1]! };
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

  const cuts: Array<[string, (l: ReturnType<typeof layout>) => number, RegExp]> = [
    ['inside the ELF identification', () => 10, /not an ELF file/],
    ['inside the ELF header', () => 40, /ELF header.*too short|truncated/],
    ['inside the program headers', (l) => l.phoff + 30, /program header table.*truncated/],
    ['inside the notes', (l) => l.note.offset + 100, /truncated/],
  ];
  for (const [where, at, message] of cuts) {
    it(`a core truncated ${where}`, async () => {
      const p = await file(`cut-${at(layout(core))}`, core.subarray(0, at(layout(core))));
      const run = await corepack(['inspect', p]);
      expect(run.exitCode).toBe(3);
      expect(expectOneLineError(run)).toMatch(message);
      const out = join(dir, `cut-${at(layout(core))}.tbz2`);
      const col = await corepack(['collect', p, '-o', out]);
      expect(col.exitCode).toBe(3);
      expectOneLineError(col);
    });
  }

  it('a core truncated inside the memory segments (notes complete) is read, with a warning saying what is missing', async () => {
    const p = await file('cut-mem', core.subarray(0, layout(core).lastLoad.offset + 10));
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
    const { note } = layout(bad);
    bad.writeUInt32LE(0xffffffff, note.offset + 4);
    const run = await corepack(['inspect', await file('lying-note', bad)]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/note descriptor size 4294967295 .* the size lies \(at byte offset 0x[0-9a-f]+\)/);
  });

  it('reports the lying field as a FormatError with its byte offset', async () => {
    const bad = Buffer.from(core);
    const { note } = layout(bad);
    bad.writeUInt32LE(0xffffffff, note.offset + 4);
    const p = await file('lying-note-2', bad);
    const err = await CoreFile.open(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).offset).toBe(note.offset + 4);
  });

  it('a program header count that points past the end of the file', async () => {
    const bad = Buffer.from(core.subarray(0, 4096));
    bad.writeUInt16LE(0xfffe, 56); // e_phnum
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

  it('the core is never modified', async () => {
    const before = await readFile(env.crash.core);
    await corepack(['collect', env.crash.core, '-o', join(dir, 'ok.tar.gz')]);
    expect((await readFile(env.crash.core)).equals(before)).toBe(true);
    await copyFile(env.crash.core, join(dir, 'copy')); // the core is still readable and whole
  });
});
