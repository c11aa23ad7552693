/**
 * Opening a core: the ELF container, its notes and its memory. What they say
 * about the process is built by summary.ts, per OS through os/table.ts.
 * Reads are random-access; nothing proportional to the core's size is ever
 * held in memory.
 */
import { FileReader, type RandomAccessReader } from '../elf/reader.js';
import { ElfFile } from '../elf/file.js';
import { FormatError } from '../elf/errors.js';
import { ET, PT } from '../elf/constants.js';
import { fieldOffset } from '../elf/layout.js';
import { parseNotes, type Note } from '../elf/notes.js';
import { CoreMemory } from './memory.js';
import type { CoreSummary } from './model.js';
import { summarize } from './summary.js';
import { moduleFiles } from './files.js';
import { coreWriter } from './writer.js';
import { coreOsOf } from './os/table.js';
import type { ProcessRoot } from '../util/rootfs.js';

export interface OpenOptions {
  /**
   * Accept a core whose memory segments run past the end of the file (the
   * missing memory then reads as "not in the core"), as long as its notes are
   * complete; describeTruncation (truncation.ts) says what is missing. Off by
   * default: callers that accept one must tell the user.
   */
  allowTruncated?: boolean;
  /**
   * The executable's file on this machine (-e). Read only when the core lacks
   * its program headers; without it, the core's AT_EXECFN is tried under `root`.
   */
  executable?: string | undefined;
  /**
   * The directory the process saw as `/` (a container's root, qemu -L). When
   * given (or with `executable`: then HOST_ROOT), link_map names the core's
   * memory cannot place are looked up there, and only there; for a core
   * qemu-user wrote, under it first and then on this machine, as qemu -L does.
   */
  root?: ProcessRoot | undefined;
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
      throw new FormatError(`not a core file: the ELF type is ${elf.typeName}, not ET_CORE (an executable or library was given where a core was expected?)`, fieldOffset(elf.elfClass, 'ehdr', 'e_type'));
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
    // qemu-user's cores are looked up as qemu -L did (files.ts).
    const writer = coreWriter(coreOsOf(elf.header.ei_osabi, notes).os, notes);
    const summary = await summarize(elf, notes, memory, moduleFiles(opts, writer));
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
