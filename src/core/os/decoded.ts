/**
 * What an OS note decoder hands the summary: the process, its threads and
 * signal, the raw auxv and the kernel's file mappings, plus warnings for
 * notes that could not be decoded. Shared helpers for the decoders too.
 */
import type { ElfFile } from '../../elf/file.js';
import { FormatError } from '../../elf/errors.js';
import type { Note } from '../../elf/notes.js';
import type { AuxvPair } from '../../elf/auxv.js';
import type { OsName } from '../../elf/os.js';
import type { ArchName } from '../../elf/arch.js';
import { FAULT_SIGNALS, signalName, siCodeName } from '../../elf/signals.js';
import type { FileMapping, ProcessInfo, SignalInfo, Thread } from '../model.js';

export interface DecodedNotes {
  process: ProcessInfo;
  threads: Thread[];
  signal: SignalInfo | undefined;
  auxv: AuxvPair[];
  mappings: FileMapping[];
  warnings: string[];
}

/** The input every OS decoder takes. */
export interface NotesInput {
  elf: ElfFile;
  notes: readonly Note[];
  /** Architecture name (signal numbering differs per architecture on Linux). */
  arch: ArchName;
}

export type NotesDecoder = (input: NotesInput) => DecodedNotes;

export function emptyDecoded(): DecodedNotes {
  return {
    process: { pid: undefined, ppid: undefined, uid: undefined, gid: undefined, fname: undefined, psargs: undefined },
    threads: [],
    signal: undefined,
    auxv: [],
    mappings: [],
    warnings: [],
  };
}

export function makeSignal(signo: number, code: number | undefined, addr: bigint | undefined, os: OsName, arch: ArchName): SignalInfo {
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
export function tryNote<T>(warnings: string[], what: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    warnings.push(`${what}: ${err.message}`);
    return undefined;
  }
}

/** A thread before anything marks it as the crashed one. */
export function newThread(tid: number, cursig: number, registers: Record<string, bigint>, pc: bigint | undefined, sp: bigint | undefined): Thread {
  return { tid, cursig, name: undefined, registers, pc, sp, crashed: false };
}
