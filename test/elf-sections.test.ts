/**
 * src/elf/sections.ts against readelf on real objects built here (with DWARF,
 * stripped, with a .gnu_debuglink), FormatError on lying headers, and the
 * debug-file lookups replay reports (build-id dir, debuglink with its CRC).
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFile } from '../src/elf/file.js';
import { ELF_LAYOUT } from '../src/elf/layout.js';
import { FormatError } from '../src/elf/errors.js';
import { BufferReader, FileReader } from '../src/elf/reader.js';
import { readSections, summarizeDebugSections } from '../src/elf/sections.js';
import { findDebugInfo, withDebuginfod } from '../src/replay/debuginfo.js';
import type { BuildIdCheck } from '../src/bundle/verify.js';

let dir: string;
let withDwarf: string; // gcc -g
let stripped: string; // strip --strip-all, then --add-gnu-debuglink=lib.debug
let debugFile: string; // objcopy --only-keep-debug

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-sections-'));
  const src = path.join(dir, 'lib.c');
  await fs.writeFile(src, 'int answer(void) { return 42; }\n');
  withDwarf = path.join(dir, 'lib.so');
  await execa('gcc', ['-g', '-O0', '-fPIC', '-shared', '-Wl,--build-id', '-o', withDwarf, src]);
  debugFile = path.join(dir, 'lib.debug');
  await execa('objcopy', ['--only-keep-debug', withDwarf, debugFile]);
  // In a directory of its own: gdb (and replay) look for the debuglink target next to the file first.
  stripped = path.join(dir, 'lib', 'stripped.so');
  await fs.mkdir(path.dirname(stripped));
  await execa('strip', ['--strip-all', '-o', stripped, withDwarf]);
  await execa('objcopy', [`--add-gnu-debuglink=${debugFile}`, stripped], { cwd: dir });
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function sectionsOf(file: string) {
  const reader = await FileReader.open(file);
  try {
    return await readSections(await ElfFile.open(reader));
  } finally {
    await reader.close();
  }
}

async function summary(file: string) {
  const reader = await FileReader.open(file);
  try {
    return await summarizeDebugSections(reader);
  } finally {
    await reader.close();
  }
}

describe('readSections', () => {
  it('names every section as readelf does', async () => {
    const { stdout } = await execa('readelf', ['-S', '-W', withDwarf]);
    const names = [...stdout.matchAll(/^\s*\[\s*\d+\]\s+(\S*)\s+[A-Z_]+\s/gm)].map((m) => m[1]);
    const ours = (await sectionsOf(withDwarf)).map((s) => s.name);
    expect(ours.slice(1)).toEqual(names.filter((n) => n !== 'NULL' && n !== ''));
    expect(ours).toContain('.debug_info');
  });

  it('tells DWARF, stripped and debuglink apart', async () => {
    expect(await summary(withDwarf)).toMatchObject({ hasDebugInfo: true, hasSymtab: true, debugLink: undefined });
    const s = await summary(stripped);
    expect(s).toMatchObject({ hasDebugInfo: false, hasSymtab: false, debugLink: { file: 'lib.debug' } });
    expect(await summary(debugFile)).toMatchObject({ hasDebugInfo: true });
  });

  it('refuses lying headers with FormatError, never a RangeError', async () => {
    const good = await fs.readFile(withDwarf);
    // Field offsets from the layout table, itself pinned to <elf.h> in elf-layout.test.ts.
    const E = ELF_LAYOUT[64].ehdr.fields;
    const S = ELF_LAYOUT[64].shdr;
    const shoff = Number(good.readBigUInt64LE(E.e_shoff.offset));
    const shnum = good.readUInt16LE(E.e_shnum.offset);
    const shstrndx = good.readUInt16LE(E.e_shstrndx.offset);
    const variants: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['e_shoff past the end', (b) => b.writeBigUInt64LE(BigInt(b.length - 10), E.e_shoff.offset), /truncated/],
      ['e_shentsize too small', (b) => b.writeUInt16LE(8, E.e_shentsize.offset), /smaller than a section header/],
      ['e_shstrndx out of range', (b) => b.writeUInt16LE(shnum + 5, E.e_shstrndx.offset), /names no section/],
      ['name offset past the name table', (b) => b.writeUInt32LE(0x7fffffff, shoff + S.size + S.fields.sh_name.offset), /past the end of the section name table/],
      ['name table size lies', (b) => b.writeBigUInt64LE(0xffffffffffn, shoff + shstrndx * S.size + S.fields.sh_size.offset), /implausibly large|past the end/],
      ['count in section 0 lies', (b) => (b.writeUInt16LE(0, E.e_shnum.offset), b.writeBigUInt64LE(1n << 40n, shoff + S.fields.sh_size.offset)), /out of range|implausible section count/],
    ];
    for (const [what, corrupt, re] of variants) {
      const b = Buffer.from(good);
      corrupt(b);
      const run = async () => readSections(await ElfFile.open(new BufferReader(b)));
      await expect(run(), what).rejects.toThrow(FormatError);
      await expect(run(), what).rejects.toThrow(re);
    }
  });

  it('an object without section headers has none', async () => {
    const b = Buffer.from(await fs.readFile(withDwarf));
    b.writeBigUInt64LE(0n, ELF_LAYOUT[64].ehdr.fields.e_shoff.offset);
    expect(await readSections(await ElfFile.open(new BufferReader(b)))).toEqual([]);
  });
});

describe('findDebugInfo', () => {
  const check = (localPath: string, module: string, id: string | null): BuildIdCheck => ({
    module,
    kind: 'library',
    inCore: id,
    inBundle: id,
    manifestPath: module,
    localPath,
    status: 'ok',
    message: null,
  });

  it('finds a debug file by build ID, and by debuglink with a matching CRC only', async () => {
    const { stdout } = await execa('readelf', ['-n', withDwarf]);
    const id = /Build ID: ([0-9a-f]+)/.exec(stdout)![1]!;
    const bundleDebug = path.join(dir, 'bundle-debug');
    // By build ID in the bundle's debug dir.
    const byId = path.join(bundleDebug, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`);
    await fs.mkdir(path.dirname(byId), { recursive: true });
    await fs.copyFile(debugFile, byId);
    let [r] = await findDebugInfo([check(stripped, '/opt/app/lib/stripped.so', id)], { bundleDebugDir: bundleDebug, hostDebugDirs: [], debuginfod: false });
    expect(r).toMatchObject({ status: 'separate', via: 'build-id', from: 'bundle', debugFile: byId });
    await fs.rm(byId);
    // By debuglink, under <debugdir>/<the customer's directory>/.
    const byLink = path.join(bundleDebug, 'opt/app/lib/lib.debug');
    await fs.mkdir(path.dirname(byLink), { recursive: true });
    await fs.copyFile(debugFile, byLink);
    [r] = await findDebugInfo([check(stripped, '/opt/app/lib/stripped.so', null)], { bundleDebugDir: bundleDebug, hostDebugDirs: [], debuginfod: false });
    expect(r).toMatchObject({ status: 'separate', via: 'debuglink', debugFile: byLink });
    // A file of that name whose CRC differs is what gdb would reject too.
    await fs.copyFile(withDwarf, byLink);
    [r] = await findDebugInfo([check(stripped, '/opt/app/lib/stripped.so', id)], { bundleDebugDir: bundleDebug, hostDebugDirs: [], debuginfod: true });
    expect(r!.status).toBe('none');
    expect(r!.hint).toContain(`build ID ${id}`);
    // corepack asks the configured servers itself; withDebuginfod then says what they answered.
    expect(r!.hint).not.toMatch(/debuginfod/);
    const [notFound] = withDebuginfod([r!], new Map([[id, { status: 'not-found', asked: ['http://d.example'] }]]));
    expect(notFound!.hint).toMatch(/not on the debuginfod server \(http:\/\/d\.example\) either$/);
    const [fetched] = withDebuginfod([r!], new Map([[id, { status: 'fetched', file: '/c/x/debuginfo', url: 'http://d.example/buildid/x/debuginfo', bytes: 1 }]]));
    expect(fetched).toMatchObject({ status: 'separate', from: 'debuginfod', via: 'build-id', debugFile: '/c/x/debuginfo', hint: null });
    [r] = await findDebugInfo([check(stripped, '/opt/app/lib/stripped.so', id)], { bundleDebugDir: bundleDebug, hostDebugDirs: [], debuginfod: false });
    expect(r!.hint).toContain('--debuginfod URL, or DEBUGINFOD_URLS');
    [r] = await findDebugInfo([check(withDwarf, '/opt/app/lib/lib.so', id)], { bundleDebugDir: bundleDebug, hostDebugDirs: [], debuginfod: false });
    expect(r!.status).toBe('embedded');
  });
});
