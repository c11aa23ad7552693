/**
 * `collect --stacks-only`: cut a mini core out of the full one, into a file
 * the caller names and removes. The full core is only read, by range.
 */
import { CoreFile } from '../../core/open.js';
import type { MiniCoreNote } from '../../core/minicore.js';
import { sha256File, type DigestOptions } from '../../util/digest.js';
import { selectMiniCoreRanges, type KeptRange } from './select.js';
import { writeMiniCore } from './write.js';

export interface MiniCoreOptions {
  /** Most bytes kept of one thread's stack (the innermost ones); null: whole. */
  stackCap: number | null;
}

export interface MadeMiniCore {
  path: string;
  size: number;
  /** What it was cut from; `path` is where collect found the core. */
  cutFrom: MiniCoreNote['cutFrom'];
  ranges: KeptRange[];
  bytes: number;
  warnings: string[];
}

/**
 * Writes the mini core of the core at `corePath` to `outPath` (which must not
 * exist). `foundAt` is the name the core is known by (its place in a crash
 * store, before any unpacking).
 */
export async function makeMiniCore(corePath: string, foundAt: string, outPath: string, opts: MiniCoreOptions, digest: DigestOptions = {}): Promise<MadeMiniCore> {
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
    const written = await writeMiniCore(core, sel.ranges, { cutFrom, ranges: sel.ranges.length, bytes: sel.bytes, stackCap: opts.stackCap }, outPath);
    return { path: outPath, size: written.size, cutFrom, ranges: sel.ranges, bytes: sel.bytes, warnings: sel.warnings };
  } finally {
    await core.close();
  }
}
