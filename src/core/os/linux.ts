/**
 * Linux core notes ("CORE" and "LINUX"): each descriptor decoded once into its
 * kernel struct (elf_prstatus, elf_prpsinfo, siginfo_t, the auxv, NT_FILE),
 * then mapped onto the process model.
 */
import { EM, NT_LINUX, nameOf } from '../../elf/constants.js';
import type { Note } from '../../elf/notes.js';
import { registerLayout } from '../../elf/arch.js';
import { pcAndSp } from '../../elf/registers.js';
import { decodeAuxv, decodeNtFile, decodePrPsInfo, decodePrStatus, decodeSigInfo, type NtFileEntry, type SigInfo } from '../../elf/linux.js';
import type { FileMapping } from '../model.js';
import { emptyDecoded, makeSignal, newThread, tryNote, type DecodedNotes, type NotesInput } from './decoded.js';

/** Size of the first NT_PRSTATUS: it tells MIPS n32 from o32 (see registerLayout). */
export function firstPrStatusSize(notes: readonly Note[]): number | undefined {
  return notes.find((n) => n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRSTATUS)?.desc.length;
}

const DELETED = ' (deleted)';

/** An NT_FILE entry as a mapping: offset in bytes, the " (deleted)" the kernel appends taken off. */
function fileMapping(e: NtFileEntry, page_size: bigint): FileMapping {
  const deleted = e.filename.endsWith(DELETED);
  return {
    start: e.start,
    end: e.end,
    fileOffset: e.file_ofs * page_size,
    path: deleted ? e.filename.slice(0, -DELETED.length) : e.filename,
    deleted,
    protection: undefined,
  };
}

export function decodeLinuxNotes({ elf, notes, arch }: NotesInput): DecodedNotes {
  const h = elf.header;
  const regs = registerLayout(h.e_machine, h.elfClass, h.e_flags, firstPrStatusSize(notes));
  const out = emptyDecoded();
  let firstPpid: number | undefined;
  let siginfo: SigInfo | undefined;
  for (const n of notes) {
    if (n.name !== 'CORE' && n.name !== 'LINUX') continue;
    const d = elf.decoder(n.desc, n.descOffset, nameOf(NT_LINUX, n.n_type));
    if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRSTATUS) {
      const st = tryNote(out.warnings, 'NT_PRSTATUS', () => decodePrStatus(d, regs));
      if (!st) continue;
      const { pc, sp } = regs ? pcAndSp(regs.set, st.pr_reg) : { pc: undefined, sp: undefined };
      out.threads.push(newThread(st.pr_pid, st.pr_cursig, st.pr_reg, pc, sp));
      firstPpid ??= st.pr_ppid;
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRPSINFO) {
      const ps = tryNote(out.warnings, 'NT_PRPSINFO', () => decodePrPsInfo(d));
      if (ps) out.process = { pid: ps.pr_pid, ppid: ps.pr_ppid, uid: ps.pr_uid, gid: ps.pr_gid, fname: ps.pr_fname, psargs: ps.pr_psargs };
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_SIGINFO) {
      const si = tryNote(out.warnings, 'NT_SIGINFO', () => decodeSigInfo(d, h.e_machine === EM.EM_MIPS));
      siginfo ??= si;
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_AUXV) {
      out.auxv = tryNote(out.warnings, 'NT_AUXV', () => decodeAuxv(d)) ?? [];
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_FILE) {
      const nf = tryNote(out.warnings, 'NT_FILE', () => decodeNtFile(d));
      // A loop, not push(...): NT_FILE may list more entries than a call takes arguments.
      for (const e of nf?.entries ?? []) out.mappings.push(fileMapping(e, nf!.page_size));
    }
  }
  // Without NT_PRPSINFO, the first thread's status still names the process.
  if (out.process.pid === undefined && out.threads[0]) out.process = { ...out.process, pid: out.threads[0].tid, ppid: firstPpid };
  // The kernel writes the dumping (crashing) thread's NT_PRSTATUS first.
  const first = out.threads[0];
  const signo = siginfo?.si_signo ?? first?.cursig ?? 0;
  if (signo > 0) {
    out.signal = makeSignal(signo, siginfo?.si_code, siginfo?.si_addr, 'linux', arch);
    if (first) first.crashed = true;
  }
  return out;
}
