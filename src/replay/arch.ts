/**
 * How each debugger names a core's architecture. Keys are the names
 * src/elf/arch.ts gives (CoreSummary.arch).
 */
import { isKnownArch, type ArchName, type KnownArch } from '../elf/arch.js';
import type { OsName } from '../elf/os.js';

/** gdb's `set architecture` names (gdb-multiarch 13: `set architecture` with no argument lists them); one for every architecture we read. */
const GDB_ARCH: Readonly<Record<KnownArch, string>> = {
  x86_64: 'i386:x86-64',
  x32: 'i386:x64-32',
  i386: 'i386',
  aarch64: 'aarch64',
  arm: 'arm',
  ppc: 'powerpc:common',
  ppc64: 'powerpc:common64',
  s390: 's390:31-bit',
  s390x: 's390:64-bit',
  riscv32: 'riscv:rv32',
  riscv64: 'riscv:rv64',
  mips: 'mips',
  mipsn32: 'mips:isa64',
  mips64: 'mips:isa64',
  sparc: 'sparc',
  sparc64: 'sparc:v9',
  m68k: 'm68k',
};

export function gdbArchitecture(arch: ArchName): string | undefined {
  return isKnownArch(arch) ? GDB_ARCH[arch] : undefined;
}

/** The target triple lldb takes for `target create --arch`. */
export function lldbTriple(arch: ArchName, byteOrder: 'little' | 'big', os: OsName): string | undefined {
  const cpu: Partial<Record<KnownArch, string>> = {
    x86_64: 'x86_64',
    i386: 'i386',
    aarch64: byteOrder === 'big' ? 'aarch64_be' : 'aarch64',
    arm: byteOrder === 'big' ? 'armeb' : 'arm',
    ppc: 'powerpc',
    ppc64: byteOrder === 'little' ? 'powerpc64le' : 'powerpc64',
    s390x: 's390x',
    riscv32: 'riscv32',
    riscv64: 'riscv64',
    mips: byteOrder === 'little' ? 'mipsel' : 'mips',
    mips64: byteOrder === 'little' ? 'mips64el' : 'mips64',
    sparc64: 'sparcv9',
  };
  const c = isKnownArch(arch) ? cpu[arch] : undefined;
  if (!c) return undefined;
  const sys: Partial<Record<OsName, string>> = { linux: arch === 'arm' ? 'linux-gnueabihf' : 'linux-gnu', freebsd: 'freebsd', netbsd: 'netbsd', openbsd: 'openbsd' };
  return `${c}-unknown-${sys[os] ?? 'linux-gnu'}`;
}
