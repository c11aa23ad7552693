/**
 * What the user named, read once: the one probe `inspect` and `report` share.
 *
 * First the head (no decompression): a split set or an encrypted file is
 * opened once, decrypted once, and a bundle behind those layers is told by
 * its first plain bytes. Then, for a plain file, the core's own locating: a
 * file compressed the way a bundle is may be a bundle or a core stored
 * compressed (systemd-coredump's .zst), and the decompression that unpacks
 * the core is the one that tells them apart, so a compressed core is
 * decompressed once.
 */
import { detectFormat, sniffBundle, type Format } from '../bundle/magic.js';
import { openLayeredSource, type BundleSource } from '../bundle/source.js';
import type { DecryptKeys } from '../bundle/encrypt.js';
import { locateCore, locateCoreOrTar, type LocatedCore } from '../input/locate.js';
import { isErrnoError } from '../util/errors.js';

/** What the head says: a bundle read through its layers, or a plain file (that starts like a compressed bundle, or not). */
export type InputHead = { kind: 'bundle'; format: Format; source: BundleSource } | { kind: 'file'; compressed: Format | undefined };

/** What the path is once located: a bundle (its bytes are the caller's to read) or a core, unpacked when it had to be. */
export type LocatedInput = { kind: 'bundle'; format: Format } | { kind: 'core'; located: LocatedCore };

export async function readInputHead(path: string, keys: DecryptKeys): Promise<InputHead> {
  const layered = await openLayeredSource(path, { keys }).catch((err: unknown) => {
    if (isErrnoError(err)) return null; // a missing file or a directory: locating the core names it
    throw err;
  });
  if (layered) {
    const format = detectFormat(layered.head);
    if (format) return { kind: 'bundle', format, source: layered };
    layered.stream.destroy();
    return { kind: 'file', compressed: undefined };
  }
  return { kind: 'file', compressed: await sniffBundle(path).catch(() => undefined) };
}

/**
 * Locates the core behind a plain file (an apport report, an ABRT directory,
 * a compressed core: unpacked to a temporary file the caller disposes), or
 * says it is a compressed bundle, from the same decompression.
 */
export async function locateInput(path: string, head: { compressed: Format | undefined }, signal: AbortSignal): Promise<LocatedInput> {
  if (!head.compressed) return { kind: 'core', located: await locateCore(path, { signal }) };
  const found = await locateCoreOrTar(path, { signal });
  return found.kind === 'tar' ? { kind: 'bundle', format: head.compressed } : { kind: 'core', located: found.core };
}
