/**
 * ELF notes: the generic (namesz, descsz, type, name, desc) records found in
 * PT_NOTE segments. OS-specific decoding of the descriptors lives in
 * linux.ts, freebsd.ts and netbsd.ts.
 */
import { Decoder } from './decoder.js';
import { FormatError } from './errors.js';
import { NT_GNU } from './constants.js';
import { ELF_LAYOUT, alignUp as align, decodeStruct } from './layout.js';
import { hex } from '../util/text.js';

export interface Note {
  /** The owner's name without its NUL ("CORE", "LINUX", "FreeBSD", "GNU", "NetBSD-CORE@12"). */
  name: string;
  n_type: number;
  /** Descriptor bytes (a view into the segment buffer). */
  desc: Buffer;
  /** File (or memory) offset of the note header, for error messages. */
  offset: number | bigint;
  /** Offset of desc[0], for error messages from descriptor decoders. */
  descOffset: number | bigint;
}


/**
 * Splits a note segment into notes. A note whose sizes run past the segment is
 * a FormatError (the "note whose size lies" case), never a read past the end.
 * `alignment` is 4 for cores; 8 only for 8-aligned PT_NOTE segments in objects.
 */
export function parseNotes(seg: Decoder, alignment: 4 | 8 = 4): Note[] {
  const notes: Note[] = [];
  const nhdr = ELF_LAYOUT[seg.elfClass].nhdr;
  let off = 0;
  while (off < seg.length) {
    if (seg.length - off < nhdr.size) {
      // Trailing padding shorter than a note header is tolerated only if zero.
      if (seg.buf.subarray(off).every((b) => b === 0)) break;
      throw new FormatError(`note header truncated: ${seg.length - off} bytes left in the segment`, seg.at(off));
    }
    const { n_namesz: namesz, n_descsz: descsz, n_type: type } = decodeStruct(seg, nhdr, off);
    const nameOff = off + nhdr.size;
    const descOff = nameOff + align(namesz, alignment);
    if (namesz > seg.length - nameOff || descOff > seg.length) {
      throw new FormatError(`note name size ${namesz} runs past the end of the note segment (${seg.length} bytes)`, seg.at(off));
    }
    if (descsz > seg.length - descOff) {
      throw new FormatError(
        `note descriptor size ${descsz} (type ${hex(type)}) runs past the end of the note segment (${seg.length - descOff} bytes left): the size lies`,
        seg.at(off + nhdr.fields.n_descsz.offset),
      );
    }
    // Names are NUL-terminated; some writers omit the NUL, so cut at namesz too.
    let name = seg.buf.toString('latin1', nameOff, nameOff + namesz);
    const nul = name.indexOf('\0');
    if (nul >= 0) name = name.slice(0, nul);
    notes.push({
      name,
      n_type: type,
      desc: seg.buf.subarray(descOff, descOff + descsz),
      offset: seg.at(off),
      descOffset: seg.at(descOff),
    });
    const next = descOff + align(descsz, alignment);
    if (next <= off) break; // cannot happen with the checks above; guards against a loop regardless
    off = next;
  }
  return notes;
}

/** The NT_GNU_BUILD_ID among `notes`, as lower-case hex, if present. */
export function findBuildId(notes: Note[]): { id: string; note: Note } | undefined {
  for (const note of notes) {
    if (note.name === 'GNU' && note.n_type === NT_GNU.NT_GNU_BUILD_ID && note.desc.length > 0 && note.desc.length <= 64) {
      return { id: note.desc.toString('hex'), note };
    }
  }
  return undefined;
}
