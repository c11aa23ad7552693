/**
 * Writing a mini core: the full core's ELF header fields and every note,
 * unchanged, plus corepack's own note saying what it was cut from, then one
 * PT_LOAD per kept range, streamed from the full core by range (never read
 * whole). Memory that was not kept has no program header at all: gdb then
 * says it cannot access it, whereas a PT_LOAD with p_filesz < p_memsz would
 * make gdb read zeros there, which would look like real data.
 */
import { open } from 'node:fs/promises';
import { PT } from '../../elf/constants.js';
import { encodeNote, planElf, writeElf, type SegmentSource, type SegmentSpec } from '../../elf/writer.js';
import type { CoreFile } from '../../core/open.js';
import { encodeMiniCoreNote, type MiniCoreNote } from '../../core/minicore.js';
import type { KeptRange } from './select.js';
import { hex } from '../../util/text.js';

/** Reads from the full core in pieces of at most this size. */
const CHUNK = 1 << 20;
/**
 * File alignment of each segment's bytes. The kernel page-aligns them, but
 * nothing that reads cores needs that, and a mini core has hundreds of small
 * segments: 8 keeps words aligned without pages of padding.
 */
const SEGMENT_ALIGN = 8;

export interface WrittenMiniCore {
  size: number;
  segments: number;
}

/** A mini core laid out and ready to stream: its size is known before the first byte. */
export interface MiniCoreLayout {
  size: number;
  segments: number;
  /** The mini core's bytes, in file order, read from the full core by range. */
  bytes(): AsyncIterable<Uint8Array>;
}

/**
 * Lays out the mini core of `core` keeping `ranges` (from selectMiniCoreRanges:
 * sorted, disjoint, each inside one segment). Nothing is read until bytes()
 * is iterated, and then never more than a chunk at a time.
 */
export async function layOutMiniCore(core: CoreFile, ranges: readonly KeptRange[], about: MiniCoreNote): Promise<MiniCoreLayout> {
  const { elf, memory } = core;
  const noteBytes = Buffer.concat([
    ...(await Promise.all(elf.progs.filter((p) => p.p_type === PT.PT_NOTE).map((p) => elf.segmentBytes(p, 'PT_NOTE segment')))),
  ]);
  const origin = ranges.map((r) => {
    const seg = memory.segmentAt(r.start);
    if (!seg || r.end > seg.vaddr + seg.filesz) throw new RangeError(`kept range ${hex(r.start)}-${hex(r.end)} is not inside one dumped segment`);
    return { seg, offset: seg.offset + (r.start - seg.vaddr) };
  });
  const segments: SegmentSpec[] = ranges.map((r, i) => ({
    p_type: PT.PT_LOAD,
    p_flags: origin[i]!.seg.flags,
    p_vaddr: r.start,
    p_filesz: r.end - r.start,
    p_memsz: r.end - r.start,
    p_align: 1n,
  }));
  const shape = { elfClass: elf.elfClass, byteOrder: elf.byteOrder };
  const plan = planElf({
    ...shape,
    e_machine: elf.header.e_machine,
    e_flags: elf.header.e_flags,
    ei_osabi: elf.header.ei_osabi,
    notes: Buffer.concat([noteBytes, encodeNote(shape, encodeMiniCoreNote(about))]),
    segments,
    segmentAlign: SEGMENT_ALIGN,
  });
  const source: SegmentSource = async function* (seg) {
    const from = origin[seg.segment]!.offset;
    for (let done = 0n; done < seg.p_filesz; done += BigInt(CHUNK)) {
      const left = seg.p_filesz - done;
      yield await elf.reader.read(Number(from + done), Number(left < BigInt(CHUNK) ? left : BigInt(CHUNK)), 'kept memory');
    }
  };
  return {
    size: Number(plan.fileSize),
    segments: segments.length,
    async *bytes() {
      // writeElf pushes into a sink; turned into a pull here, one chunk in flight.
      const queue: Uint8Array[] = [];
      let wake: (() => void) | undefined;
      let done = false;
      let failure: unknown;
      let release: (() => void) | undefined;
      const writing = writeElf(
        plan,
        (chunk) =>
          new Promise<void>((resolve) => {
            queue.push(Buffer.from(chunk));
            release = resolve;
            wake?.();
          }),
        source,
      ).then(
        () => {
          done = true;
          wake?.();
        },
        (err: unknown) => {
          failure = err;
          done = true;
          wake?.();
        },
      );
      for (;;) {
        if (queue.length) {
          yield queue.shift()!;
          const r = release;
          release = undefined;
          r?.();
          continue;
        }
        if (done) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      await writing;
      if (failure) throw failure;
    },
  };
}

/**
 * Writes the mini core of `core` keeping `ranges` to `path`, which must not exist.
 */
export async function writeMiniCore(core: CoreFile, ranges: readonly KeptRange[], about: MiniCoreNote, path: string): Promise<WrittenMiniCore> {
  const layout = await layOutMiniCore(core, ranges, about);
  // Only collect's temporary (the tar entry gets its own mode): core memory, private as the kernel writes cores (0600).
  const fh = await open(path, 'wx', 0o600);
  try {
    for await (const chunk of layout.bytes()) await fh.write(chunk);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { size: layout.size, segments: layout.segments };
}
