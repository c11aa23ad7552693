/**
 * The layout tables against <elf.h> as glibc declares it: sizes and the
 * offsets of the fields the readers and error messages use. A wrong entry
 * here would misread every file, so the numbers are written out by hand.
 */
import { describe, expect, it } from 'vitest';
import { ELF_LAYOUT, fieldOffset } from '../src/elf/layout.js';

describe('ELF layout tables', () => {
  it('have the sizes of Elf32_* and Elf64_* structures', () => {
    expect([ELF_LAYOUT[32].ehdr.size, ELF_LAYOUT[32].phdr.size, ELF_LAYOUT[32].shdr.size, ELF_LAYOUT[32].nhdr.size]).toEqual([52, 32, 40, 12]);
    expect([ELF_LAYOUT[64].ehdr.size, ELF_LAYOUT[64].phdr.size, ELF_LAYOUT[64].shdr.size, ELF_LAYOUT[64].nhdr.size]).toEqual([64, 56, 64, 12]);
  });

  it('place the header fields where <elf.h> puts them', () => {
    const ehdr = (cls: 32 | 64) => Object.fromEntries(Object.entries(ELF_LAYOUT[cls].ehdr.fields).map(([k, f]) => [k, f.offset]));
    expect(ehdr(64)).toEqual({ e_type: 16, e_machine: 18, e_version: 20, e_entry: 24, e_phoff: 32, e_shoff: 40, e_flags: 48, e_ehsize: 52, e_phentsize: 54, e_phnum: 56, e_shentsize: 58, e_shnum: 60, e_shstrndx: 62 });
    expect(ehdr(32)).toEqual({ e_type: 16, e_machine: 18, e_version: 20, e_entry: 24, e_phoff: 28, e_shoff: 32, e_flags: 36, e_ehsize: 40, e_phentsize: 42, e_phnum: 44, e_shentsize: 46, e_shnum: 48, e_shstrndx: 50 });
  });

  it('keep Elf32_Phdr and Elf64_Phdr member orders apart (p_flags moves)', () => {
    expect(fieldOffset(32, 'phdr', 'p_flags')).toBe(24);
    expect(fieldOffset(64, 'phdr', 'p_flags')).toBe(4);
    expect(fieldOffset(32, 'phdr', 'p_filesz')).toBe(16);
    expect(fieldOffset(64, 'phdr', 'p_filesz')).toBe(32);
    expect(ELF_LAYOUT[32].phdr.fields.p_filesz).toEqual({ offset: 16, size: 4, wide: true });
  });

  it('put sh_info (the PN_XNUM count) at 28 and 44', () => {
    expect(fieldOffset(32, 'shdr', 'sh_info')).toBe(28);
    expect(fieldOffset(64, 'shdr', 'sh_info')).toBe(44);
    expect(ELF_LAYOUT[64].shdr.fields.sh_flags).toEqual({ offset: 8, size: 8, wide: true });
  });
});

describe('architecture names (one union, KnownArch | machine-N)', () => {
  it('every e_machine with a register layout names a known architecture, which gdb and the signal table know', async () => {
    const { archName, isKnownArch, KNOWN_ARCHES } = await import('../src/elf/arch.js');
    const { EM } = await import('../src/elf/constants.js');
    const { gdbArchitecture } = await import('../src/replay/arch.js');
    const named = new Set<string>();
    for (const m of Object.values(EM)) {
      for (const cls of [32, 64] as const) {
        for (const [flags, prstatus] of [[0, undefined], [0x20, 440]] as const) {
          const a = archName(m, cls, flags, prstatus);
          if (isKnownArch(a)) named.add(a);
          else expect(a).toBe(`machine-${m}`);
        }
      }
    }
    // Every name the table declares is one some core gets, and none is left without gdb's name for it.
    expect([...named].sort()).toEqual([...KNOWN_ARCHES].sort());
    for (const a of KNOWN_ARCHES) expect(gdbArchitecture(a), a).toMatch(/\S/);
    expect(archName(EM.EM_LOONGARCH, 64, 0)).toBe(`machine-${EM.EM_LOONGARCH}`);
    expect(gdbArchitecture(`machine-${EM.EM_LOONGARCH}`)).toBeUndefined();
  });

  it('Linux numbers signals per architecture family: MIPS (o32, n32, n64) and SPARC differ from the rest', async () => {
    const { signalName } = await import('../src/elf/signals.js');
    expect(signalName(10, 'linux', 'x86_64')).toBe('SIGUSR1');
    for (const mips of ['mips', 'mipsn32', 'mips64'] as const) expect(signalName(18, 'linux', mips), mips).toBe('SIGCHLD');
    for (const sparc of ['sparc', 'sparc64'] as const) expect(signalName(10, 'linux', sparc), sparc).toBe('SIGBUS');
    expect(signalName(10, 'linux', 'machine-258')).toBe('SIGUSR1');
  });
});
