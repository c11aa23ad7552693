/**
 * `collect --stacks-only`: cut a mini core out of the full one, laid out and
 * ready to stream into the bundle (no file of its own: core memory in the
 * clear never lands beside a possibly encrypted output). The full core is
 * only read, by range, and stays open until close().
 */
import { CoreFile } from '../../core/open.js';
import type { MiniCoreNote } from '../../core/minicore.js';
import { sha256File, type DigestOptions } from '../../util/digest.js';
import { selectMiniCoreRanges, type KeptRange } from './select.js';
import { layOutMiniCore } from './write.js';

export interface MiniCoreOptions {
  /** Most bytes kept of one thread's stack (the innermost ones); null: whole. */
  stackCap: number | null;
}

export interface MadeMiniCore {
  /** The mini core's size, known before its first byte. */
  size: number;
  /** What it was cut from; `path` is where collect found the core. */
  cutFrom: MiniCoreNote['cutFrom'];
  ranges: KeptRange[];
  bytes: number;
  warnings: string[];
  /** Its bytes in file order, read from the full core as they are taken. */
  stream(): AsyncIterable<Uint8Array>;
  /** Closes the full core. */
  close(): Promise<void>;
}

/**
 * Lays out the mini core of the core at `corePath`. `foundAt` is the name
 * the core is known by (its place in a crash store, before any unpacking).
 * The caller streams it and calls close() (in a finally).
 */
export async function makeMiniCore(corePath: string, foundAt: string, opts: MiniCoreOptions, digest: DigestOptions = {}): Promise<MadeMiniCore> {
  const core = await CoreFile.open(corePath, { allowTruncated: true });
  try {
    const sel = await selectMiniCoreRanges(
      {
        summary: core.summary,
        memory: core.memory,
        notes: core.notes,
        decoder: (n) => core.elf.decoder(n.desc, n.descOffset, `${n.name} note`),
        fileSize: core.elf.reader.size,
      },
      opts,
    );
    // The full core's digest ties the mini core to it: "send the core whose sha256 is …".
    const cutFrom = { path: foundAt, size: core.elf.reader.size, sha256: await sha256File(corePath, digest) };
    const layout = await layOutMiniCore(core, sel.ranges, { cutFrom, ranges: sel.ranges.length, bytes: sel.bytes, stackCap: opts.stackCap });
    return { size: layout.size, cutFrom, ranges: sel.ranges, bytes: sel.bytes, warnings: sel.warnings, stream: () => layout.bytes(), close: () => core.close() };
  } catch (err) {
    await core.close();
    throw err;
  }
}
