/**
 * Replacing a file so that a reader sees the old one or the new one, never a
 * half-written one: write beside it under a temporary name, then rename.
 */
import * as fs from 'node:fs/promises';

/** The temporary name beside `file`; the pid keeps two concurrent writers apart. */
export function temporaryBeside(file: string): string {
  return `${file}.tmp-${process.pid}`;
}

export async function writeFileAtomically(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = temporaryBeside(file);
  try {
    await fs.writeFile(temp, data, { mode });
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

/** Points `link` at `target`, replacing whatever `link` was. */
export async function replaceSymlink(target: string, link: string): Promise<void> {
  const temp = temporaryBeside(link);
  await fs.rm(temp, { force: true });
  await fs.symlink(target, temp);
  await fs.rename(temp, link);
}
