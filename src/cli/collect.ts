/** `corepack collect CORE [-e EXE] [-o OUT]`: the customer-site bundle. */
import { basename } from 'node:path';
import { collect, type CollectResult } from '../collect/collect.js';
import { defaultBundleExtension } from '../bundle/formats.js';
import { EXIT } from './exit.js';
import { UsageError } from './errors.js';
import { normalizeCollectOptions, type CollectFlags, type EncryptionRequest } from './options.js';
import { createEncryptor, readRecipientsFile, type Encryptor } from '../bundle/encrypt.js';
import { BadOptionError } from '../util/errors.js';
import { readPassphrase } from './passphrase.js';
import { humanBytes, progressBar } from './progress.js';
import { interruptible } from './signals.js';
import { withLocatedCore } from './located.js';
import { defaultListDirs } from './list.js';
import { replayCommand, type KeyNeed } from './replay-command.js';
import { checkGivenExecutable } from '../core/given-executable.js';
import { latestCore, scanForCores } from '../input/scan.js';
import { NoCoreFoundError } from '../input/errors.js';

async function latestCorePath(latest: boolean | string): Promise<string> {
  const name = typeof latest === 'string' ? latest : undefined;
  const dirs = defaultListDirs();
  const found = latestCore((await scanForCores(dirs)).cores, name);
  if (!found) throw new NoCoreFoundError(dirs, name);
  process.stderr.write(`collecting the latest core: ${found.path} (${found.executable ?? 'unknown executable'}, ${found.time})\n`);
  return found.path;
}

export async function collectCommand(named: string | undefined, flags: CollectFlags): Promise<number> {
  const given = named ?? (flags.latest ? await latestCorePath(flags.latest) : undefined);
  if (given === undefined) throw new UsageError('name the core to collect, or pass --latest', 'corepack-crash list shows the cores found on this machine');
  // Without -o, a machine with no bzip2 program still writes a bundle: zstd or gzip, said in one line.
  const fallback = flags.output === undefined ? await defaultBundleExtension() : null;
  const opts = normalizeCollectOptions(given, flags, process.cwd(), fallback?.extension);
  if (fallback?.note) process.stderr.write(`corepack: ${fallback.note} (-o NAME.tbz2 insists on bzip2)\n`);
  // What the user named and cannot be used is a usage error now, before anything is written.
  if (opts.collect.executable !== null) await checkGivenExecutable(opts.collect.executable);
  // Keys are read and checked before the long part: a typo fails now.
  const encrypt = opts.encryption ? await encryptorFor(opts.encryption) : null;
  opts.collect = { ...opts.collect, layers: { ...opts.collect.layers, encrypt } };
  const bar = progressBar();
  const result = await interruptible((signal) =>
    // A compressed core, apport report or ABRT directory is unpacked once to a temporary file, removed on every exit path.
    withLocatedCore(opts.collect.core, signal, (located) => collect({ ...opts.collect, core: located.file, origin: located.origin }, {
      signal,
      onProgress: (_phase, done, total) => bar.update('bundling', done, total),
    })),
  ).finally(() => bar.done());
  if (opts.json) process.stdout.write(`${JSON.stringify(resultJson(result), null, 2)}\n`);
  else process.stderr.write(formatResult(result, opts.encryption === null ? null : opts.encryption.passphrase ? 'passphrase' : 'identity'));
  return result.exact ? EXIT.OK : EXIT.INCOMPLETE;
}

async function encryptorFor(req: EncryptionRequest): Promise<Encryptor> {
  const recipients = [...req.recipients];
  for (const file of req.recipientsFiles) {
    const found = await readRecipientsFile(file).catch((err: unknown) => {
      throw new BadOptionError('--recipients-file', file, `cannot read recipients from ${file}: ${(err as Error).message}`, 'name a file with one age1… recipient per line');
    });
    if (found.length === 0) throw new BadOptionError('--recipients-file', file, `${file} names no recipient`, 'put one age1… recipient per line in it');
    recipients.push(...found);
  }
  const passphrase = req.passphrase ? await readPassphrase(req.passphrase, true) : null;
  return createEncryptor({ recipients, passphrase }, (r, why) => new BadOptionError('--encrypt-to', r, `${JSON.stringify(r)}: ${why}`, 'pass the vendor\'s age public key (age1…), as age-keygen -y prints it'));
}

export function resultJson(r: CollectResult): object {
  return {
    output: r.output,
    written: r.files,
    size: r.size,
    format: r.format,
    compressor: r.compressor,
    exact: r.exact,
    root: r.manifest.root,
    gaps: r.manifest.gaps,
    suggestRoot: r.suggestRoot,
    executable: r.manifest.executable,
    files: r.manifest.files.map((f) => ({
      path: f.path,
      role: f.role,
      status: f.status,
      bundled: f.bundlePath !== null,
      size: f.size,
      sha256: f.bundlePath === null ? null : (r.checksums.get(f.bundlePath) ?? null),
      buildIdOnDisk: f.buildIdOnDisk,
      buildIdInCore: f.buildIdInCore,
      aliases: f.aliases,
      sources: f.sources,
      message: f.message,
    })),
    warnings: r.manifest.warnings,
    origin: r.manifest.origin ?? null,
    truncation: r.manifest.truncation ?? null,
    miniCore: r.manifest.miniCore ? { size: r.manifest.core.size, cutFrom: r.manifest.miniCore.cutFrom, bytes: r.manifest.miniCore.bytes, ranges: r.manifest.miniCore.ranges.length, stackCap: r.manifest.miniCore.stackCap } : null,
    attachments: r.manifest.attachments ?? [],
  };
}

/** The usual way to find a container's root on the host. */
export const ROOT_HINT =
  "  hint: the core's paths look like another root's (a container, a chroot, qemu -L): pass --root DIR, the directory the process saw as /; for a docker container: --root \"$(docker inspect -f '{{.GraphDriver.Data.MergedDir}}' CONTAINER)\"";

export function formatResult(r: CollectResult, key: KeyNeed = null): string {
  const m = r.manifest;
  const lines: string[] = [];
  const bundled = m.files.filter((f) => f.bundlePath !== null);
  const extra = m.files.filter((f) => f.role === 'debug');
  if (r.files.length > 1) {
    const index = r.files[r.files.length - 1]!;
    const parts = r.files.length - 1;
    const named = parts === 1 ? `1 part ${basename(r.files[0]!)} and its index` : `${parts} parts ${basename(r.files[0]!)} … ${basename(r.files[parts - 1]!)} and their index`;
    lines.push(`wrote ${named} ${basename(index)} (${humanBytes(r.size)} in all, ${r.format} via ${r.compressor})`);
    lines.push(`  attach all ${r.files.length} files to the ticket: the index lets replay name a part that is missing or damaged`);
  } else lines.push(`wrote ${r.output} (${humanBytes(r.size)}, ${r.format} via ${r.compressor})`);
  lines.push(`  core ${basename(m.core.originalPath)} (${humanBytes(m.core.size)}${m.origin && m.origin.form !== 'raw' ? `, unpacked from ${m.origin.form}` : ''}), ${bundled.length} files, ${m.links.length} alias links`);
  if (m.miniCore) lines.push(`  mini core (--stacks-only): ${m.miniCore.ranges.length} ranges, ${humanBytes(m.miniCore.bytes)} of the ${humanBytes(m.miniCore.cutFrom.size)} core's memory kept, no heap; the manifest lists every range and why`);
  if (m.executable?.chosenBy === 'core') lines.push(`  executable taken from the core: ${m.executable.path} (pass -e to choose another)`);
  if (extra.length) lines.push(`  debug files: ${extra.length}, ${humanBytes(extra.reduce((a, f) => a + (f.size ?? 0), 0))}`);
  if (m.attachments?.length) lines.push(`  attachments: ${m.attachments.length}, ${humanBytes(m.attachments.reduce((a, f) => a + f.size, 0))} (under attachments/ in the bundle)`);
  for (const f of m.files) {
    if (f.status === 'ok') continue;
    const what = {
      'build-id-mismatch': 'REPLACED SINCE THE CRASH',
      missing: 'MISSING',
      unreadable: 'UNREADABLE',
      'deleted-at-crash': 'DELETED AT CRASH',
      'wrong-architecture': 'WRONG ARCHITECTURE',
    }[f.status];
    lines.push(`  ${what}: ${f.message ?? f.path}${f.bundlePath ? ' (bundled anyway, marked in the manifest)' : ' (not bundled)'}`);
  }
  for (const g of m.gaps ?? []) if (!m.warnings.includes(g)) lines.push(`  NOT EXACT: ${g}`);
  for (const w of m.warnings) lines.push(`  warning: ${w}`);
  if (m.root && m.rootLookup === 'qemu') {
    const found = (where: 'root' | 'host') => m.files.filter((f) => f.lookedUp === where).length;
    lines.push(`  root: a qemu-user core: every path was looked up under ${m.root} first, then at this machine's own path, as qemu -L does (${found('root')} found under it, ${found('host')} on this machine; the manifest says which for each)`);
  } else if (m.root) lines.push(`  root: every path from the core was looked up under ${m.root}`);
  if (r.suggestRoot) lines.push(ROOT_HINT);
  const replay = replayCommand(r.output, key);
  lines.push(
    r.exact
      ? `every file matches the crash exactly. Attach the bundle to the ticket; the developer runs: ${replay}`
      : `the bundle is NOT exact (see above): symbols for the files marked may be wrong. If the old versions are still around (package cache, backups), put them back and collect again; otherwise attach it as it is (the developer runs: ${replay}).`,
  );
  return `${lines.join('\n')}\n`;
}
