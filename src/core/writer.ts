/**
 * Which program wrote a core, when its notes tell. qemu-user's core writer
 * (linux-user/elfload.c) writes an NT_PRSTATUS per thread, NT_PRPSINFO and
 * NT_AUXV, and nothing else; the kernel has written NT_FILE and NT_SIGINFO
 * since Linux 3.7, and NT_FPREGSET always, and gdb's gcore writes NT_FILE.
 *
 * It matters for --root: qemu -L DIR looks a path up under DIR and falls back
 * to the host's own path when DIR lacks it (util/path.c), where a container
 * or chroot never leaves its root.
 */
import { NT_LINUX } from '../elf/constants.js';
import type { Note } from '../elf/notes.js';
import type { OsName } from './model.js';

export type CoreWriter = 'qemu-user';

const QEMU_NOTES: ReadonlySet<number> = new Set([NT_LINUX.NT_PRSTATUS, NT_LINUX.NT_PRPSINFO, NT_LINUX.NT_AUXV]);

/** 'qemu-user' for a Linux core whose CORE notes are only the three qemu-user writes; undefined otherwise. */
export function coreWriter(os: OsName, notes: readonly Note[]): CoreWriter | undefined {
  if (os !== 'linux') return undefined;
  const core = notes.filter((n) => n.name === 'CORE');
  if (!core.some((n) => n.n_type === NT_LINUX.NT_PRSTATUS)) return undefined;
  return core.every((n) => QEMU_NOTES.has(n.n_type)) ? 'qemu-user' : undefined;
}
