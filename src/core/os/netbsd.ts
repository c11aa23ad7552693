/**
 * NetBSD core notes: "NetBSD-CORE" (netbsd_elfcore_procinfo, the auxv) and
 * one "NetBSD-CORE@<lwpid>" group per LWP holding its struct reg.
 */
import { NT_NETBSD } from '../../elf/constants.js';
import { decodeAuxv } from '../../elf/linux.js';
import { decodeNetbsdProcInfo, netbsdLwpId, netbsdRegs } from '../../elf/netbsd.js';
import { ELF_LAYOUT } from '../../elf/layout.js';
import { decodeRegisters, pcAndSp } from '../../elf/registers.js';
import type { Thread } from '../model.js';
import { emptyDecoded, makeSignal, newThread, tryNote, type DecodedNotes, type NotesInput } from './decoded.js';

export function decodeNetbsdNotes({ elf, notes, arch }: NotesInput): DecodedNotes {
  const out = emptyDecoded();
  let siglwp = 0;
  const byLwp = new Map<number, Thread>();
  const regs = netbsdRegs(elf.header.e_machine, ELF_LAYOUT[elf.elfClass].wordSize);
  for (const n of notes) {
    const d = elf.decoder(n.desc, n.descOffset, `${n.name} note`);
    if (n.name === 'NetBSD-CORE' && n.n_type === NT_NETBSD.ELF_NOTE_NETBSD_CORE_PROCINFO) {
      const pi = tryNote(out.warnings, 'NetBSD procinfo', () => decodeNetbsdProcInfo(d));
      if (!pi) continue;
      out.process = { pid: pi.cpi_pid, ppid: pi.cpi_ppid, uid: pi.cpi_ruid, gid: pi.cpi_rgid, fname: pi.cpi_name, psargs: undefined };
      siglwp = pi.cpi_siglwp;
      if (pi.cpi_signo > 0) out.signal = makeSignal(pi.cpi_signo, undefined, undefined, 'netbsd', arch);
    } else if (n.name === 'NetBSD-CORE' && n.n_type === NT_NETBSD.ELF_NOTE_NETBSD_CORE_AUXV) {
      out.auxv = tryNote(out.warnings, 'NetBSD auxv', () => decodeAuxv(d)) ?? [];
    } else {
      const lwp = netbsdLwpId(n.name);
      if (lwp === undefined) continue;
      let t = byLwp.get(lwp);
      if (!t) {
        t = newThread(lwp, 0, {}, undefined, undefined);
        byLwp.set(lwp, t);
        out.threads.push(t);
      }
      if (regs && n.n_type === regs.type) {
        Object.assign(t.registers, decodeRegisters(d, 0, regs.set));
        ({ pc: t.pc, sp: t.sp } = pcAndSp(regs.set, t.registers));
      }
    }
  }
  for (const t of out.threads) {
    if (!out.signal) break;
    // cpi_siglwp 0: the signal was sent to the process, not to one LWP.
    if (siglwp === 0 || t.tid === siglwp) t.cursig = out.signal.signo;
    if (t.tid === siglwp) t.crashed = true;
  }
  return out;
}
