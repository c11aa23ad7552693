/**
 * FreeBSD core notes ("FreeBSD"): prstatus_t, thrmisc_t, prpsinfo_t, the
 * NT_PROCSTAT_* records, each decoded once into its kernel struct, then
 * mapped onto the process model.
 */
import { NT_FREEBSD, nameOf } from '../../elf/constants.js';
import { ELF_LAYOUT } from '../../elf/layout.js';
import { pcAndSp } from '../../elf/registers.js';
import { decodeFbsdAuxv, decodeFbsdPrPsInfo, decodeFbsdPrStatus, decodeFbsdThrMisc, decodeVmmap, fbsdRegisterSet, KVME_PROT, KVME_TYPE_VNODE } from '../../elf/freebsd.js';
import { emptyDecoded, makeSignal, newThread, tryNote, type DecodedNotes, type NotesInput } from './decoded.js';

/** kve_protection as "r-x". */
function protection(p: number): string {
  return `${p & KVME_PROT.KVME_PROT_READ ? 'r' : '-'}${p & KVME_PROT.KVME_PROT_WRITE ? 'w' : '-'}${p & KVME_PROT.KVME_PROT_EXEC ? 'x' : '-'}`;
}

export function decodeFreebsdNotes({ elf, notes, arch }: NotesInput): DecodedNotes {
  const regs = fbsdRegisterSet(elf.header.e_machine, ELF_LAYOUT[elf.elfClass].wordSize);
  const out = emptyDecoded();
  for (const n of notes) {
    if (n.name !== 'FreeBSD') continue;
    const d = elf.decoder(n.desc, n.descOffset, nameOf(NT_FREEBSD, n.n_type));
    switch (n.n_type) {
      case NT_FREEBSD.NT_PRSTATUS: {
        const st = tryNote(out.warnings, 'NT_PRSTATUS', () => decodeFbsdPrStatus(d, regs));
        if (!st) break;
        const { pc, sp } = regs ? pcAndSp(regs, st.pr_reg) : { pc: undefined, sp: undefined };
        out.threads.push(newThread(st.pr_pid, st.pr_cursig, st.pr_reg, pc, sp));
        break;
      }
      case NT_FREEBSD.NT_THRMISC: {
        // Each NT_THRMISC follows the NT_PRSTATUS of the thread it names.
        const misc = tryNote(out.warnings, 'NT_THRMISC', () => decodeFbsdThrMisc(d));
        const t = out.threads[out.threads.length - 1];
        if (t && misc !== undefined) t.name = misc.pr_tname;
        break;
      }
      case NT_FREEBSD.NT_PRPSINFO: {
        const ps = tryNote(out.warnings, 'NT_PRPSINFO', () => decodeFbsdPrPsInfo(d));
        if (ps) out.process = { ...out.process, pid: ps.pr_pid, fname: ps.pr_fname, psargs: ps.pr_psargs };
        break;
      }
      case NT_FREEBSD.NT_PROCSTAT_AUXV:
        out.auxv = tryNote(out.warnings, 'NT_PROCSTAT_AUXV', () => decodeFbsdAuxv(d)) ?? [];
        break;
      case NT_FREEBSD.NT_PROCSTAT_VMMAP:
        for (const e of tryNote(out.warnings, 'NT_PROCSTAT_VMMAP', () => decodeVmmap(d)) ?? []) {
          if (e.kve_type !== KVME_TYPE_VNODE || e.kve_path === '') continue;
          out.mappings.push({ start: e.kve_start, end: e.kve_end, fileOffset: e.kve_offset, path: e.kve_path, deleted: false, protection: protection(e.kve_protection) });
        }
        break;
    }
  }
  const first = out.threads[0];
  if (out.process.pid === undefined && first) out.process.pid = first.tid;
  if (first && first.cursig > 0) {
    first.crashed = true;
    out.signal = makeSignal(first.cursig, undefined, undefined, 'freebsd', arch);
  }
  return out;
}
