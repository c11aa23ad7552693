/**
 * Opening a core: the ELF container, its notes decoded for the core's OS,
 * its memory, and the process model (threads, signal, modules) built from
 * them. Reads are random-access; nothing proportional to the core's size is
 * ever held in memory.
 */
import { FileReader, type RandomAccessReader } from '../elf/reader.js';
import { ElfFile } from '../elf/file.js';
import { FormatError } from '../elf/errors.js';
import { AT, AT_FREEBSD, EM, ELFOSABI, ET, NT_FREEBSD, NT_LINUX, NT_NETBSD, PT, nameOf } from '../elf/constants.js';
import { parseNotes, type Note } from '../elf/notes.js';
import { registerLayout, archName } from '../elf/arch.js';
import { decodeAuxv, decodeNtFile, decodePrPsInfo, decodePrStatus, decodeSigInfo } from '../elf/linux.js';
import { decodeFbsdAuxv, decodeFbsdPrPsInfo, decodeFbsdPrStatus, decodeFbsdThrMisc, decodeVmmap, KVME_PROT, KVME_TYPE_VNODE } from '../elf/freebsd.js';
import { decodeNetbsdProcInfo, netbsdLwpId, netbsdRegs } from '../elf/netbsd.js';
import { FAULT_SIGNALS, signalName, siCodeName } from '../elf/signals.js';
import { CoreMemory } from './memory.js';
import { buildModules } from './modules.js';
import type { AuxvEntry, CoreSummary, FileMapping, OsName, ProcessInfo, SignalInfo, Thread } from './model.js';

export interface OpenOptions {
  /**
   * Accept a core whose memory segments run past the end of the file (the
   * missing memory then reads as "not in the core"), as long as its notes are
   * complete; describeTruncation (truncation.ts) says what is missing. Off by
   * default: callers that accept one must tell the user.
   */
  allowTruncated?: boolean;
}

export class CoreFile {
  private constructor(
    readonly elf: ElfFile,
    readonly memory: CoreMemory,
    readonly notes: readonly Note[],
    readonly summary: CoreSummary,
  ) {}

  /** Opens and decodes the core at `path`. Bad input raises FormatError. */
  static async open(path: string, opts: OpenOptions = {}): Promise<CoreFile> {
    const reader = await FileReader.open(path);
    try {
      return await CoreFile.fromReader(reader, opts);
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

  static async fromReader(reader: RandomAccessReader, opts: OpenOptions = {}): Promise<CoreFile> {
    const elf = await ElfFile.open(reader);
    if (elf.header.e_type !== ET.ET_CORE) {
      throw new FormatError(`not a core file: the ELF type is ${elf.typeName}, not ET_CORE (an executable or library was given where a core was expected?)`, 16);
    }
    const cut = elf.progs.filter((p) => p.p_type === PT.PT_LOAD && p.p_filesz > 0n && p.p_offset + p.p_filesz > BigInt(reader.size));
    // Even when a cut core is accepted, one whose notes are cut is not: without
    // them there are no threads, no signal and no mappings.
    const notesCut = elf.progs.some((p) => p.p_type === PT.PT_NOTE && p.p_offset + p.p_filesz > BigInt(reader.size));
    if (cut.length > 0 && (!opts.allowTruncated || notesCut)) {
      const need = cut.reduce((a, p) => (p.p_offset + p.p_filesz > a ? p.p_offset + p.p_filesz : a), 0n);
      throw new FormatError(
        `the core is truncated: it has ${reader.size} bytes but its segments need ${need} (was the copy or the dump interrupted? check the disk space where it was written)`,
        reader.size,
      );
    }
    const notes: Note[] = [];
    for (const ph of elf.progs) {
      if (ph.p_type !== PT.PT_NOTE) continue;
      const bytes = await elf.segmentBytes(ph, 'PT_NOTE segment');
      notes.push(...parseNotes(elf.decoder(bytes, ph.p_offset, 'PT_NOTE segment')));
    }
    const memory = new CoreMemory(elf);
    const summary = await summarize(elf, notes, memory);
    return new CoreFile(elf, memory, notes, summary);
  }

  async close(): Promise<void> {
    await this.elf.reader.close();
  }
}

/** Opens a core, decodes it and closes it again. */
export async function readCore(path: string, opts: OpenOptions = {}): Promise<CoreSummary> {
  const core = await CoreFile.open(path, opts);
  try {
    return core.summary;
  } finally {
    await core.close();
  }
}

function detectOs(elf: ElfFile, notes: readonly Note[]): OsName {
  const abi = elf.header.ei_osabi;
  if (abi === ELFOSABI.ELFOSABI_FREEBSD || notes.some((n) => n.name === 'FreeBSD')) return 'freebsd';
  if (abi === ELFOSABI.ELFOSABI_NETBSD || notes.some((n) => n.name.startsWith('NetBSD-CORE'))) return 'netbsd';
  if (abi === ELFOSABI.ELFOSABI_OPENBSD || notes.some((n) => n.name.startsWith('OpenBSD'))) return 'openbsd';
  if (notes.some((n) => n.name === 'CORE' || n.name === 'LINUX')) return 'linux';
  return 'unknown';
}

interface Decoded {
  process: ProcessInfo;
  threads: Thread[];
  signal: SignalInfo | undefined;
  auxv: Array<{ a_type: number; a_val: bigint }>;
  mappings: FileMapping[];
  warnings: string[];
}

function emptyProcess(): ProcessInfo {
  return { pid: undefined, ppid: undefined, uid: undefined, gid: undefined, fname: undefined, psargs: undefined };
}

function makeSignal(signo: number, code: number | undefined, addr: bigint | undefined, os: OsName, arch: string): SignalInfo {
  const name = signalName(signo, os, arch);
  return {
    signo,
    name,
    code,
    codeName: code === undefined ? undefined : siCodeName(name, code, os),
    // si_addr is only the fault address for kernel-generated signals (si_code > 0);
    // for kill()/tgkill() that union slot holds the sender's pid instead.
    addr: name && FAULT_SIGNALS.has(name) && (code === undefined || code > 0) ? addr : undefined,
  };
}

/** Runs one note decoder; a malformed note becomes a warning naming it, not the end of the whole core. */
function tryNote<T>(warnings: string[], what: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    warnings.push(`${what}: ${err.message}`);
    return undefined;
  }
}

function firstPrStatusSize(notes: readonly Note[]): number | undefined {
  return notes.find((n) => n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRSTATUS)?.desc.length;
}

function decodeLinux(elf: ElfFile, notes: readonly Note[], arch: string): Decoded {
  const h = elf.header;
  const regs = registerLayout(h.e_machine, h.elfClass, h.e_flags, firstPrStatusSize(notes));
  const out: Decoded = { process: emptyProcess(), threads: [], signal: undefined, auxv: [], mappings: [], warnings: [] };
  let firstPpid: number | undefined;
  let siginfo: { signo: number; code: number; addr: bigint } | undefined;
  for (const n of notes) {
    if (n.name !== 'CORE' && n.name !== 'LINUX') continue;
    const d = elf.decoder(n.desc, n.descOffset, nameOf(NT_LINUX, n.n_type));
    if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRSTATUS) {
      const st = tryNote(out.warnings, 'NT_PRSTATUS', () => decodePrStatus(d, regs));
      if (!st) continue;
      out.threads.push({
        tid: st.pr_pid,
        cursig: st.pr_cursig,
        name: undefined,
        registers: st.pr_reg,
        pc: regs ? st.pr_reg[regs.pc] : undefined,
        sp: regs ? st.pr_reg[regs.sp] : undefined,
        crashed: false,
      });
      firstPpid ??= st.pr_ppid;
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_PRPSINFO) {
      const ps = tryNote(out.warnings, 'NT_PRPSINFO', () => decodePrPsInfo(d));
      if (ps) out.process = { pid: ps.pr_pid, ppid: ps.pr_ppid, uid: ps.pr_uid, gid: ps.pr_gid, fname: ps.pr_fname, psargs: ps.pr_psargs };
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_SIGINFO) {
      const si = tryNote(out.warnings, 'NT_SIGINFO', () => decodeSigInfo(d, h.e_machine === EM.EM_MIPS));
      if (si && siginfo === undefined) siginfo = { signo: si.si_signo, code: si.si_code, addr: si.si_addr };
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_AUXV) {
      out.auxv = tryNote(out.warnings, 'NT_AUXV', () => decodeAuxv(d)) ?? [];
    } else if (n.name === 'CORE' && n.n_type === NT_LINUX.NT_FILE) {
      const nf = tryNote(out.warnings, 'NT_FILE', () => decodeNtFile(d));
      for (const e of nf?.entries ?? []) {
        const deleted = e.path.endsWith(' (deleted)');
        out.mappings.push({
          start: e.start,
          end: e.end,
          fileOffset: e.fileOffset,
          path: deleted ? e.path.slice(0, -' (deleted)'.length) : e.path,
          deleted,
          protection: undefined,
        });
      }
    }
  }
  // Without NT_PRPSINFO, the first thread's status still names the process.
  if (out.process.pid === undefined && out.threads[0]) out.process = { ...out.process, pid: out.threads[0].tid, ppid: firstPpid };
  // The kernel writes the dumping (crashing) thread's NT_PRSTATUS first.
  const first = out.threads[0];
  const signo = siginfo?.signo ?? first?.cursig ?? 0;
  if (signo > 0) {
    out.signal = makeSignal(signo, siginfo?.code, siginfo?.addr, 'linux', arch);
    if (first) first.crashed = true;
  }
  return out;
}

function decodeFreebsd(elf: ElfFile, notes: readonly Note[], arch: string): Decoded {
  const h = elf.header;
  const out: Decoded = { process: emptyProcess(), threads: [], signal: undefined, auxv: [], mappings: [], warnings: [] };
  for (const n of notes) {
    if (n.name !== 'FreeBSD') continue;
    const d = elf.decoder(n.desc, n.descOffset, nameOf(NT_FREEBSD, n.n_type));
    switch (n.n_type) {
      case NT_FREEBSD.NT_PRSTATUS: {
        const st = tryNote(out.warnings, 'NT_PRSTATUS', () => decodeFbsdPrStatus(d, h.e_machine));
        if (st) out.threads.push({ tid: st.pr_pid, cursig: st.pr_cursig, name: undefined, registers: st.pr_reg, pc: st.pc, sp: st.sp, crashed: false });
        break;
      }
      case NT_FREEBSD.NT_THRMISC: {
        // Each NT_THRMISC follows the NT_PRSTATUS of the thread it names.
        const name = tryNote(out.warnings, 'NT_THRMISC', () => decodeFbsdThrMisc(d));
        const t = out.threads[out.threads.length - 1];
        if (t && name !== undefined) t.name = name;
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
          const p = e.kve_protection;
          out.mappings.push({
            start: e.kve_start,
            end: e.kve_end,
            fileOffset: e.kve_offset,
            path: e.kve_path,
            deleted: false,
            protection: `${p & KVME_PROT.KVME_PROT_READ ? 'r' : '-'}${p & KVME_PROT.KVME_PROT_WRITE ? 'w' : '-'}${p & KVME_PROT.KVME_PROT_EXEC ? 'x' : '-'}`,
          });
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

function decodeNetbsd(elf: ElfFile, notes: readonly Note[], arch: string): Decoded {
  const h = elf.header;
  const out: Decoded = { process: emptyProcess(), threads: [], signal: undefined, auxv: [], mappings: [], warnings: [] };
  const regs = netbsdRegs(h.e_machine);
  let siglwp = 0;
  const byLwp = new Map<number, Thread>();
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
        t = { tid: lwp, cursig: 0, name: undefined, registers: {}, pc: undefined, sp: undefined, crashed: false };
        byLwp.set(lwp, t);
        out.threads.push(t);
      }
      if (regs && n.n_type === regs.type) {
        const w = d.wordSize;
        if (d.has(regs.pc * w, w)) t.pc = t.registers.pc = d.word(regs.pc * w);
        if (d.has(regs.sp * w, w)) t.sp = t.registers.sp = d.word(regs.sp * w);
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

async function summarize(elf: ElfFile, notes: readonly Note[], memory: CoreMemory): Promise<CoreSummary> {
  const os = detectOs(elf, notes);
  const h = elf.header;
  const arch = archName(h.e_machine, h.elfClass, h.e_flags, firstPrStatusSize(notes));
  let decoded: Decoded;
  if (os === 'freebsd') decoded = decodeFreebsd(elf, notes, arch);
  else if (os === 'netbsd') decoded = decodeNetbsd(elf, notes, arch);
  else if (os === 'linux' || os === 'unknown') decoded = decodeLinux(elf, notes, arch);
  else decoded = { process: emptyProcess(), threads: [], signal: undefined, auxv: [], mappings: [], warnings: [] };
  const warnings = decoded.warnings;
  if (os === 'openbsd') warnings.push('OpenBSD cores are read for their memory and mappings only; threads and signal are not decoded');
  if (notes.some((n) => n.name === 'VMCOREINFO')) warnings.push('this is a Linux kernel crash dump (vmcore), not a process core: it has no shared libraries to bundle');

  const atTable = os === 'freebsd' ? AT_FREEBSD : AT;
  const auxv: AuxvEntry[] = decoded.auxv.map((e) => ({ a_type: e.a_type, name: nameOfAux(atTable, e.a_type), a_val: e.a_val }));
  const built = await buildModules({ elf, memory, os, auxv, mappings: decoded.mappings });
  warnings.push(...built.warnings);

  return {
    os,
    arch,
    elfClass: h.elfClass,
    byteOrder: h.byteOrder,
    process: decoded.process,
    executable: built.executable,
    signal: decoded.signal,
    threads: decoded.threads,
    auxv,
    mappings: decoded.mappings,
    modules: built.modules,
    warnings,
  };
}

function nameOfAux(table: Readonly<Record<string, number>>, type: number): string | undefined {
  const n = nameOf(table, type);
  return n.startsWith('0x') ? undefined : n;
}
