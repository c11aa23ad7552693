/**
 * The table of core readers by operating system, tried in order (the way
 * delve's pkg/proc/core keeps its openFns): each entry says how to recognise
 * its OS from EI_OSABI and the note names, how to decode its notes, and which
 * AT_* numbering its auxv uses. Adding an OS is adding a row.
 */
import { AT, AT_FREEBSD, ELFOSABI, type ConstTable } from '../../elf/constants.js';
import type { Note } from '../../elf/notes.js';
import type { OsName } from '../../elf/os.js';
import { emptyDecoded, type NotesDecoder } from './decoded.js';
import { decodeFreebsdNotes } from './freebsd.js';
import { decodeLinuxNotes } from './linux.js';
import { decodeNetbsdNotes } from './netbsd.js';

export interface CoreOs {
  os: OsName;
  /** True when a core with this EI_OSABI and these notes is this OS's. */
  matches(ei_osabi: number, notes: readonly Note[]): boolean;
  decode: NotesDecoder;
  /** AT_* names for this OS's auxv numbering. */
  auxvNames: ConstTable;
}

const named = (notes: readonly Note[], test: (name: string) => boolean): boolean => notes.some((n) => test(n.name));

/** Read for memory and mappings only: nothing here decodes OpenBSD's notes yet. */
const decodeOpenbsdNotes: NotesDecoder = () => {
  const out = emptyDecoded();
  out.warnings.push('OpenBSD cores are read for their memory and mappings only; threads and signal are not decoded');
  return out;
};

export const CORE_OSES: readonly CoreOs[] = [
  { os: 'freebsd', matches: (abi, notes) => abi === ELFOSABI.ELFOSABI_FREEBSD || named(notes, (n) => n === 'FreeBSD'), decode: decodeFreebsdNotes, auxvNames: AT_FREEBSD },
  { os: 'netbsd', matches: (abi, notes) => abi === ELFOSABI.ELFOSABI_NETBSD || named(notes, (n) => n.startsWith('NetBSD-CORE')), decode: decodeNetbsdNotes, auxvNames: AT },
  { os: 'openbsd', matches: (abi, notes) => abi === ELFOSABI.ELFOSABI_OPENBSD || named(notes, (n) => n.startsWith('OpenBSD')), decode: decodeOpenbsdNotes, auxvNames: AT },
  { os: 'linux', matches: (_abi, notes) => named(notes, (n) => n === 'CORE' || n === 'LINUX'), decode: decodeLinuxNotes, auxvNames: AT },
];

/** A core no row claims is read as Linux's would be, since most cores are. */
const UNKNOWN: CoreOs = { os: 'unknown', matches: () => true, decode: decodeLinuxNotes, auxvNames: AT };

export function coreOsOf(ei_osabi: number, notes: readonly Note[]): CoreOs {
  return CORE_OSES.find((o) => o.matches(ei_osabi, notes)) ?? UNKNOWN;
}
