/**
 * apport's .crash reports (/var/crash/*.crash), read streaming: the core in a
 * report can be GiB of base64.
 *
 * The format (apport's problem_report.py): RFC 822-style "Key: value" lines,
 * continuation lines begin with a space. A binary value is "Key: base64"
 * followed by continuation lines, each the base64 of one chunk of a
 * compressed stream: gzip with apport's own header (FNAME = the key), raw
 * deflate, CRC-32 and size; bare zlib in old reports; a systemd-coredump
 * .zst embedded as it is in reports made from one. The stream's magic says
 * which.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { ReportError } from './errors.js';
import { feedDecompressor, feedZlib, type FedDecompressor, type PlainStream } from './decompress.js';
import { compressedFormOf } from './form.js';

/** Text fields kept for the manifest; the rest (ProcMaps, ...) are long and not needed. */
export const APPORT_FIELDS = ['ProblemType', 'Date', 'ExecutablePath', 'ProcCmdline', 'Signal', 'Package', 'DistroRelease', 'Uname', 'Architecture', 'ProcCwd', 'ProcStatus'] as const;
const MAX_FIELD = 64 * 1024;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

export type CoreChunkHandler = (chunk: Buffer) => Promise<void> | void;

export interface ApportScan {
  fields: Record<string, string>;
  /** The report has a CoreDump key. */
  hasCore: boolean;
  /** The first decoded bytes of CoreDump (their magic says how it is compressed). */
  coreHead: Buffer | undefined;
}

interface ScanOptions {
  /** Receives CoreDump's decoded bytes; without it the scan stops after CoreDump's first line. */
  onCore?: CoreChunkHandler;
  /** Polled between lines: true ends the scan early. */
  stopped?: () => boolean;
}

/** Reads a report line by line; never holds more than one line and the short text fields. */
export async function scanApport(path: string, opts: ScanOptions = {}): Promise<ApportScan> {
  const input = createReadStream(path);
  const rl = createInterface({ input, crlfDelay: Infinity });
  const fields: Record<string, string> = {};
  let key: string | undefined;
  let binary = false;
  let hasCore = false;
  let coreHead: Buffer | undefined;
  let lineNo = 0;
  try {
    for await (const line of rl) {
      lineNo++;
      if (opts.stopped?.()) break;
      if (line.startsWith(' ')) {
        if (key === undefined) throw new ReportError(path, 'a continuation line before any key: not an apport report', lineNo);
        if (!binary) {
          if (fields[key] !== undefined && fields[key]!.length < MAX_FIELD) fields[key] += `\n${line.slice(1)}`;
          continue;
        }
        if (key !== 'CoreDump') continue;
        const text = line.trim();
        if (!BASE64_LINE.test(text) || text.length % 4 !== 0) throw new ReportError(path, 'CoreDump holds a line that is not valid base64: the report is corrupt', lineNo);
        if (!text.length) continue;
        const bytes = Buffer.from(text, 'base64');
        coreHead ??= bytes.subarray(0, 8);
        if (!opts.onCore) break;
        await opts.onCore(bytes);
        continue;
      }
      if (line === '') continue;
      const m = /^([A-Za-z0-9_.-]+):(?: (.*))?$/.exec(line);
      if (!m) throw new ReportError(path, `${JSON.stringify(line.slice(0, 40))} is not a "Key: value" line: not an apport report`, lineNo);
      key = m[1]!;
      const value = m[2] ?? '';
      binary = value.trim() === 'base64';
      if (!binary && (APPORT_FIELDS as readonly string[]).includes(key)) fields[key] = value;
      if (key === 'CoreDump') {
        if (!binary) throw new ReportError(path, 'CoreDump is not base64 data (a report stripped of its core?)', lineNo);
        hasCore = true;
      }
    }
  } finally {
    rl.close();
    input.destroy();
  }
  return { fields, hasCore, coreHead };
}

/**
 * The core embedded in a report, decompressed, as a stream; and the text
 * fields read on the way (all before the binary keys, as apport writes them).
 */
export function apportCoreStream(path: string): { stream: PlainStream; scan: Promise<ApportScan> } {
  let dec: FedDecompressor | undefined;
  let stopped = false;
  let decReady!: (d: FedDecompressor | undefined) => void;
  const decPromise = new Promise<FedDecompressor | undefined>((r) => (decReady = r));
  let pending = Buffer.alloc(0);

  const feed = async (chunk: Buffer): Promise<void> => {
    if (!dec) {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 4) return;
      const form = compressedFormOf(pending);
      if (form === 'gzip') dec = feedZlib(path, 'gzip');
      else if (form === 'zstd') dec = await feedDecompressor(path, 'zstd');
      else if (pending[0] === 0x78) dec = feedZlib(path, 'zlib');
      else throw new ReportError(path, `CoreDump is neither gzip, zlib nor zstd data (it starts ${pending.subarray(0, 4).toString('hex')})`);
      decReady(dec);
      chunk = pending;
    }
    if (!dec.input.write(chunk)) await Promise.race([once(dec.input, 'drain'), once(dec.input, 'close')]);
  };

  const scan = scanApport(path, { onCore: feed, stopped: () => stopped }).then(
    (r) => {
      if (!r.hasCore) throw new ReportError(path, 'the report has no CoreDump (apport leaves it out for packaged programs unless asked, or it was removed)');
      if (!dec && !stopped) throw new ReportError(path, 'CoreDump is empty');
      dec?.input.end();
      return r;
    },
    (err: unknown) => {
      // Fail the decompressor's output with the report's own problem, so the
      // consumer sees that rather than a decompressor complaining of a cut stream.
      dec?.input.destroy(err as Error);
      throw err;
    },
  );
  // Wake the consumer when the scan fails before any core byte came.
  scan.then(
    () => decReady(dec),
    () => decReady(dec),
  );
  scan.catch(() => undefined);

  async function* bytes(): AsyncGenerator<Buffer> {
    const d = await decPromise;
    if (!d) {
      await scan; // throws the report's problem
      return;
    }
    yield* d.stream.bytes as AsyncIterable<Buffer>;
  }

  const done = (async () => {
    await scan.catch((err: unknown) => {
      if (!stopped) throw err;
    });
    const d = await decPromise;
    await d?.stream.done;
  })();
  done.catch(() => undefined);

  return {
    scan,
    stream: {
      bytes: bytes(),
      done,
      stop: () => {
        stopped = true;
        dec?.stream.stop();
      },
    },
  };
}
